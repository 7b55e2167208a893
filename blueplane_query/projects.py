"""Projects by name: the folder-name labels this machine keeps, and what ``--project`` matches.

A project is stored as a keyed hash; capture also keeps its folder name (``project_label``,
see ``blueplane_core.privacy.project_label``) when ``privacy.project_labels = "basename"`` (the
default). Reports show the label; ``--project`` takes a name, a path or a hash (or its first
characters). With ``"hash"`` reports show no label and ``--project`` takes paths and hashes only.

A path is matched by hashing it the way capture did (the installation's secret key never leaves
this machine, so a path given here is hashed, never stored or compared as text). A name or path
that matches no captured project is an error that says so, not an empty answer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from blueplane_query.errors import NotFound
from blueplane_query.store import Store

_HEX = re.compile(r"^[0-9a-f]{4,64}$")


def labels_enabled() -> bool:
    """Whether the config keeps (and so reports show) project folder names."""
    from blueplane_core import config

    try:
        return bool(config.load()["privacy.project_labels"] == "basename")
    except config.ConfigError:
        return False


def has_labels(store: Store) -> bool:
    return store.has("conversations", "project_label") and labels_enabled()


def label_sql(store: Store, column: str = "project_label") -> str:
    """The label column to select, or NULL where labels are off or not in this schema."""
    return column if has_labels(store) else "NULL"


def labels(store: Store) -> dict[str, str]:
    """project hash -> folder name, for the projects that have one."""
    if not has_labels(store):
        return {}
    rows = store.rows(
        "SELECT project_hash, MAX(project_label) AS label FROM conversations"
        " WHERE project_hash IS NOT NULL AND project_label IS NOT NULL GROUP BY project_hash"
    )
    return {r["project_hash"]: r["label"] for r in rows}


@dataclass(frozen=True)
class Match:
    """What a ``--project`` value matched: project hashes and the workspace hashes of the same
    folders (git commits are keyed by workspace)."""

    projects: tuple[str, ...]
    workspaces: tuple[str, ...]


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith(("~", "."))


def _path_hashes(text: str, kind: str) -> set[str]:
    from blueplane_core import privacy

    try:
        secret = privacy.load_secret(create=False)
    except OSError:
        return set()
    expanded = os.path.expanduser(text)
    candidates = {
        expanded.rstrip("/") or "/",
        os.path.abspath(expanded),
        os.path.realpath(expanded),
    }
    return {privacy.keyed_hash(secret, c, kind) for c in candidates}


def resolve(store: Store, text: str) -> Match:
    """The projects ``text`` names (a path, a folder name, a hash or a hash prefix)."""
    if not store.has("conversations"):
        raise NotFound(f"no project matches {text!r}: no sessions have been processed yet")
    value = text.strip()
    found: list[dict[str, Any]] = []
    if _looks_like_path(value):
        hashes = sorted(_path_hashes(value, "project"))
        marks = ",".join("?" * len(hashes))
        found = store.rows(
            "SELECT DISTINCT project_hash, workspace_hash FROM conversations"
            f" WHERE project_hash IN ({marks})",
            hashes,
        )
        workspaces = _path_hashes(value, "workspace")
        if not found:
            raise NotFound(
                f"no project at the path {text!r} has been captured (a path must be the "
                "folder a session ran in; see the project column of `bp-query sessions`)"
            )
        return Match(
            tuple(sorted({r["project_hash"] for r in found})),
            tuple(sorted(workspaces | {r["workspace_hash"] for r in found if r["workspace_hash"]})),
        )
    lowered = value.lower()
    if has_labels(store):
        found = store.rows(
            "SELECT DISTINCT project_hash, workspace_hash FROM conversations"
            " WHERE project_label = ? COLLATE NOCASE AND project_hash IS NOT NULL",
            (value,),
        )
    if not found and _HEX.match(lowered):
        found = store.rows(
            "SELECT DISTINCT project_hash, workspace_hash FROM conversations"
            " WHERE project_hash >= ? AND project_hash < ?",
            (lowered, lowered + "g"),
        )
        if not found and store.has("commits"):  # a repository with commits but no sessions
            commits = store.rows(
                "SELECT DISTINCT workspace_hash FROM commits"
                " WHERE workspace_hash >= ? AND workspace_hash < ?",
                (lowered, lowered + "g"),
            )
            if commits:
                return Match((), tuple(sorted(r["workspace_hash"] for r in commits)))
    if not found:
        names = sorted(set(labels(store).values()))
        known = f" (known: {', '.join(names[:10])})" if names else ""
        raise NotFound(
            f"no project matches {text!r}: give a folder name, a path or a project hash{known}"
        )
    return Match(
        tuple(sorted({r["project_hash"] for r in found})),
        tuple(sorted({r["workspace_hash"] for r in found if r["workspace_hash"]})),
    )
