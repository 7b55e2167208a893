"""``search_sessions``: past sessions that look like a described task, from metadata alone.

No text is ever stored, so "similar" means: the same tools (Jaccard overlap of tool names), the
same kinds of files (Jaccard of edited file extensions), a similar size (prompts, on a log
scale) and, when asked for, the same outcome (``clean``: no errors and edits accepted;
``errors``: tool or API errors; ``rejected``: some edit rejected). Weights are in ``WEIGHTS``;
the score is 0..1 and each match lists the parts of its score.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from blueplane_query.errors import BadOption
from blueplane_query.filters import Filter
from blueplane_query.reports.sessions import session_select, shape
from blueplane_query.store import Store

WEIGHTS = {"tools": 0.4, "extensions": 0.3, "size": 0.2, "outcome": 0.1}
OUTCOMES = ("clean", "errors", "rejected")
SIZES = {"small": 2, "medium": 6, "large": 15}  # prompts
#: sessions looked at (newest first): keeps the answer fast on years of history.
CANDIDATES = 3000


def outcome_of(row: dict[str, Any]) -> str:
    if row["tool_errors"] or row["api_errors"]:
        return "errors"
    if row["edits_rejected"]:
        return "rejected"
    return "clean"


def _jaccard(a: set[str], b: set[str]) -> float | None:
    if not a:
        return None  # not asked: does not count
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def search_sessions(
    store: Store,
    flt: Filter,
    *,
    tools: list[str] | None = None,
    file_extensions: list[str] | None = None,
    size: str | int | None = None,
    outcome: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    if outcome is not None and outcome not in OUTCOMES:
        raise BadOption(f"outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    if isinstance(size, str):
        if size not in SIZES:
            raise BadOption(f"size {size!r}: use small, medium, large or a number of prompts")
        size = SIZES[size]
    want_tools = {t.strip() for t in tools or [] if t.strip()}
    want_ext = {("." + e.strip().lstrip(".")).lower() for e in file_extensions or [] if e.strip()}
    query = {
        "tools": sorted(want_tools),
        "file_extensions": sorted(want_ext),
        "size": size,
        "outcome": outcome,
    }
    result: dict[str, Any] = {
        "filter": flt.as_dict(),
        "query": query,
        "weights": WEIGHTS,
        "candidates": 0,
        "matches": [],
        "provenance": "estimated",
    }
    if not store.has("conversations"):
        return result
    where, params = flt.sql(time="started_at")
    # the candidates with only what scoring reads; whole rows only for the matches shown
    rows = store.rows(
        "SELECT session_id, started_at, prompts, tool_errors, api_errors, edits_rejected"
        f" FROM conversations WHERE {where} ORDER BY started_at DESC LIMIT ?",
        [*params, CANDIDATES],
    )
    result["candidates"] = len(rows)
    if not rows:
        return result
    oldest = rows[-1]["started_at"]
    # tool and extension sets of every candidate only when the query compares them
    tool_sets = _tool_sets(store, "c.started_at >= ?", [oldest]) if want_tools else {}
    ext_sets = _extension_sets(store, "c.started_at >= ?", [oldest]) if want_ext else {}

    scored = []
    for row in rows:
        sid = row["session_id"]
        parts: dict[str, float | None] = {
            "tools": _jaccard(want_tools, tool_sets.get(sid, set())),
            "extensions": _jaccard(want_ext, ext_sets.get(sid, set())),
            "size": None,
            "outcome": None,
        }
        if size:
            gap = abs(math.log1p(row["prompts"]) - math.log1p(int(size)))
            parts["size"] = max(0.0, 1 - gap / math.log(10))
        if outcome:
            parts["outcome"] = 1.0 if outcome_of(row) == outcome else 0.0
        used = {k: v for k, v in parts.items() if v is not None}
        weight = sum(WEIGHTS[k] for k in used)
        score = sum(WEIGHTS[k] * v for k, v in used.items()) / weight if weight else 0.0
        scored.append((score, row, parts))
    scored.sort(key=lambda s: -s[0])  # stable: ties stay newest first
    shown = [row["session_id"] for _score, row, _parts in scored[:limit]]
    if shown:
        marks = ", ".join("?" * len(shown))
        in_shown = f"c.session_id IN ({marks})"
        if not want_tools:
            tool_sets = _tool_sets(store, in_shown, shown)
        if not want_ext:
            ext_sets = _extension_sets(store, in_shown, shown)
        whole = {
            r["session_id"]: r
            for r in store.rows(
                f"SELECT {session_select(store)} FROM conversations c WHERE {in_shown}", shown
            )
        }
    for score, row, parts in scored[:limit]:
        sid = row["session_id"]
        result["matches"].append(
            {
                "score": score,
                "score_parts": dict(parts),
                "outcome": outcome_of(row),
                "tools": sorted(tool_sets.get(sid, set())),
                "file_extensions": sorted(ext_sets.get(sid, set())),
                "session": shape(whole[sid]),
            }
        )
    return result


def _tool_sets(store: Store, where: str, params: list[Any]) -> dict[str, set[str]]:
    """session id -> the tools its turns called, for the sessions ``where`` (over ``c``) picks."""
    sets: dict[str, set[str]] = {}
    if store.has("conversation_turns"):
        for r in store.rows(
            "SELECT session_id AS sid, tools FROM conversation_turns WHERE session_id IN"
            f" (SELECT session_id FROM conversations c WHERE {where})"
            " AND tools IS NOT NULL AND tools != '{}'",
            params,
        ):
            sets.setdefault(r["sid"], set()).update(orjson.loads(r["tools"]))
    return sets


def _extension_sets(store: Store, where: str, params: list[Any]) -> dict[str, set[str]]:
    """session id -> the file extensions it changed or read, for the sessions ``where`` picks."""
    sets: dict[str, set[str]] = {}
    if store.has("code_changes"):
        for r in store.rows(
            # the sessions drive (each one's changes by primary key), not a scan of every change
            "SELECT DISTINCT session_id AS sid, file_extension AS ext FROM code_changes"
            f" WHERE session_id IN (SELECT session_id FROM conversations c WHERE {where})"
            " AND file_extension IS NOT NULL AND file_extension != ''",
            params,
        ):
            sets.setdefault(r["sid"], set()).add(r["ext"].lower())
    return sets
