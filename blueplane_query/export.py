"""``bp-query export``: processed data to JSON, CSV, Parquet or Markdown, optionally anonymized.

What is exported: the processed tables only (sessions, turns, the request ledger, API errors,
code changes, commits, insights)
within the filter, never raw events. JSON holds every table in one document (the format ``team
aggregate`` reads); CSV and Parquet write the sessions to the given file and each other table
beside it as ``<name>.<table>.<ext>``; Markdown writes a readable summary.

``--anonymize`` re-keys every identifier (session, workspace, project, branch, file, commit,
prompt and agent ids) with a random key used for this export only, so rows still relate to each
other inside the file but cannot be matched with anything outside it, not even another export of
the same data. It drops what could point at a person or a project: project folder names
(``project_label``), client versions, free-text
insight fields (titles, suggestions, phrasings, subjects), end reasons; and times are kept (team
reports need days) but nothing else about the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any

from blueplane_query.errors import BadOption, NotFound
from blueplane_query.filters import Filter
from blueplane_query.store import Store

FORMATS = ("json", "csv", "parquet", "markdown")
EXPORT_FORMAT = "blueplane-export"
EXPORT_VERSION = 1

#: identifier columns re-keyed by --anonymize (same value -> same new key inside one export).
ID_COLUMNS = frozenset(
    {
        "session_id",
        "workspace_hash",
        "project_hash",
        "git_branch_hash",
        "file_hash",
        "commit_hash",
        "prompt_id",
        "agent_id",
        "linked_session_id",
        "change_key",
        "request_key",
        "error_key",
        "request_id",
    }
)
#: columns dropped by --anonymize: free text or details that could point at someone.
DROP_COLUMNS = frozenset(
    {
        "client_version",
        "project_label",  # a folder name: a local label, never part of an anonymized export
        "end_reason",
        "title",
        "suggestion",
        "phrased",
        "subject",
    }
)

TABLES: dict[str, tuple[str, str, str | None, str | None]] = {
    # name: (table, time column, platform column, project column) -- joined to conversations
    "sessions": ("conversations", "started_at", "platform", "project_hash"),
    "turns": ("conversation_turns", "started_at", None, None),
    "requests": ("api_requests", "timestamp", "platform", "project_hash"),
    "api_errors": ("api_errors", "timestamp", "platform", "project_hash"),
    "code_changes": ("code_changes", "timestamp", None, None),
    "commits": ("commits", "timestamp", None, "workspace_hash"),
    "insights": ("insights", "updated_at", None, None),
}


def collect(store: Store, flt: Filter) -> dict[str, list[dict[str, Any]]]:
    """The rows of every processed table within the filter."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    if store.has("conversations"):
        where, params = flt.sql(time="started_at")
        out["sessions"] = store.rows(
            f"SELECT * FROM conversations WHERE {where} ORDER BY started_at", params
        )
        sub = f"SELECT session_id FROM conversations WHERE {where}"
        if store.has("conversation_turns"):
            out["turns"] = store.rows(
                f"SELECT * FROM conversation_turns WHERE session_id IN ({sub})"
                " ORDER BY session_id, turn_index",
                params,
            )
        for name in ("requests", "api_errors"):
            table = TABLES[name][0]
            if store.has(table):
                out[name] = store.rows(
                    f"SELECT * FROM {table} WHERE session_id IN ({sub}) ORDER BY session_id, at_ms",
                    params,
                )
        if store.has("code_changes"):
            out["code_changes"] = store.rows(
                f"SELECT * FROM code_changes WHERE session_id IN ({sub})"
                " ORDER BY session_id, sequence",
                params,
            )
        if store.has("insights"):
            out["insights"] = store.rows(
                f"SELECT * FROM insights WHERE session_id IS NULL OR session_id IN ({sub})"
                " ORDER BY id",
                params,
            )
    if store.has("commits") and not flt.platform:
        where, params = flt.sql(time="timestamp", platform=None, project="workspace_hash")
        out["commits"] = store.rows(
            f"SELECT * FROM commits WHERE {where} ORDER BY timestamp", params
        )
    for rows in out.values():
        for row in rows:
            for key in ("last_sequence", "first_sequence", "sequence", "updated_at", "id"):
                row.pop(key, None)  # pipeline bookkeeping, meaningless outside this database
    return out


class Rekeyer:
    """Maps identifiers to fresh opaque ids with a key that exists only during one export."""

    def __init__(self) -> None:
        self._key = os.urandom(32)

    def __call__(self, kind: str, value: Any) -> Any:
        if value is None or value == "":
            return value
        # one namespace for session ids wherever they appear, so references stay joinable
        space = "session" if kind in ("session_id", "linked_session_id") else kind
        mac = hmac.new(self._key, f"{space}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:16]


def anonymize_tables(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    rekey = Rekeyer()
    out: dict[str, list[dict[str, Any]]] = {}
    for name, rows in tables.items():
        new_rows = []
        for row in rows:
            new = {}
            for key, value in row.items():
                if key in DROP_COLUMNS:
                    continue
                if key in ID_COLUMNS:
                    value = rekey(key, value)
                elif key == "evidence":
                    value = _rekey_evidence(value, rekey)
                new[key] = value
            new_rows.append(new)
        out[name] = new_rows
    return out


def _rekey_evidence(value: Any, rekey: Rekeyer) -> Any:
    """An insight's evidence (JSON text): numbers stay, identifiers inside it are re-keyed."""
    import orjson

    try:
        data = orjson.loads(value) if isinstance(value, str | bytes) else value
    except orjson.JSONDecodeError:
        return None  # not the numbers we expect: drop rather than risk leaking
    if not isinstance(data, dict):
        return data

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: rekey(k, v) if k in ID_COLUMNS else walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return orjson.dumps(walk(data)).decode()


def export(
    store: Store, flt: Filter, *, fmt: str, output: Path, anonymize: bool = False
) -> dict[str, Any]:
    """Write the export; returns what was written (files, rows per table)."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BadOption(f"-f {fmt!r}: use one of {', '.join(FORMATS)}")
    tables = collect(store, flt)
    if not any(tables.values()):
        raise NotFound("nothing to export: no processed data matches the filter")
    if anonymize:
        tables = anonymize_tables(tables)
    meta = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "anonymized": anonymize,
        "member": os.urandom(4).hex() if anonymize else None,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "filter": flt.as_dict(),
        "rows": {name: len(rows) for name, rows in tables.items()},
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    files = _WRITERS[fmt](tables, meta, output)
    return {
        "format": fmt,
        "anonymized": anonymize,
        "files": [str(f) for f in files],
        "rows": meta["rows"],
    }


def _json(tables: dict[str, Any], meta: dict[str, Any], output: Path) -> list[Path]:
    from blueplane_query.output import dumps

    output.write_bytes(dumps({"meta": meta, **tables}))
    return [output]


def _sibling(output: Path, table: str) -> Path:
    return (
        output if table == "sessions" else output.with_name(f"{output.stem}.{table}{output.suffix}")
    )


def _csv(tables: dict[str, Any], meta: dict[str, Any], output: Path) -> list[Path]:
    import csv

    written = []
    for name, rows in tables.items():
        if not rows and name != "sessions":
            continue
        path = _sibling(output, name)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        written.append(path)
    return written


def _parquet(tables: dict[str, Any], meta: dict[str, Any], output: Path) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from blueplane_query.output import dumps

    written = []
    for name, rows in tables.items():
        if not rows and name != "sessions":
            continue
        path = _sibling(output, name)
        table = pa.Table.from_pylist(rows) if rows else pa.table({})
        table = table.replace_schema_metadata({"blueplane": dumps(meta, pretty=False)})
        pq.write_table(table, path)
        written.append(path)
    return written


def _markdown(tables: dict[str, Any], meta: dict[str, Any], output: Path) -> list[Path]:
    sessions = tables["sessions"]
    cost = sum((s.get("cost_nusd") or 0) for s in sessions) / 1e9
    unknown = sum(1 for s in sessions if s.get("cost_nusd") is None)
    accepted = sum(s.get("edits_accepted") or 0 for s in sessions)
    rejected = sum(s.get("edits_rejected") or 0 for s in sessions)
    rate = f"{accepted / (accepted + rejected) * 100:.1f}%" if accepted + rejected else "n/a"
    lines = [
        "# Blueplane export",
        "",
        f"Exported {meta['exported_at']}{' (anonymized)' if meta['anonymized'] else ''}.",
        "",
        "| figure | value | provenance |",
        "|---|---|---|",
        f"| sessions | {len(sessions)} | derived |",
        f"| prompts | {sum(s.get('prompts') or 0 for s in sessions)} | derived |",
        f"| cost | ${cost:,.2f}{f' + {unknown} sessions unpriced' if unknown else ''} |"
        f" {'estimated' if unknown else 'derived'} |",
        f"| edit acceptance | {rate} | derived |",
        f"| commits | {len(tables['commits'])} | derived |",
        "",
        "## Sessions",
        "",
        "| session | platform | started | prompts | tool calls | cost USD |",
        "|---|---|---|---|---|---|",
    ]
    for s in sessions[-200:]:
        c = s.get("cost_nusd")
        lines.append(
            f"| {str(s['session_id'])[:12]} | {s['platform']} | {s['started_at'][:16]} |"
            f" {s['prompts']} | {s['tool_calls']} |"
            f" {'unpriced' if c is None else f'{c / 1e9:.4f}'} |"
        )
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [output]


_WRITERS = {"json": _json, "csv": _csv, "parquet": _parquet, "markdown": _markdown}


#: media types of a download (several files, as CSV and Parquet write, come as one zip).
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "markdown": "text/markdown",
    "zip": "application/zip",
}
_SUFFIXES = {"json": ".json", "csv": ".csv", "parquet": ".parquet", "markdown": ".md"}


def export_download(
    store: Store, flt: Filter, *, fmt: str, anonymize: bool = False
) -> tuple[str, str, bytes]:
    """The export as one download, (file name, media type, bytes), for the HTTP API: the same
    writer as ``bp-query export`` into a private temporary folder that is deleted at once."""
    import io
    import tempfile
    import zipfile

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BadOption(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    with tempfile.TemporaryDirectory(prefix="bp-export-") as folder:
        output = Path(folder) / f"blueplane{_SUFFIXES[fmt]}"
        files = [
            Path(f)
            for f in export(store, flt, fmt=fmt, output=output, anonymize=anonymize)["files"]
        ]
        if len(files) == 1:
            return files[0].name, MEDIA_TYPES[fmt], files[0].read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for f in files:
                archive.write(f, f.name)
        return f"blueplane-{fmt}.zip", MEDIA_TYPES["zip"], buffer.getvalue()
