"""The Parquet archive of raw events: its one schema, writing a file, reading events back.

Raw events older than ``storage.retention_days`` leave ``raw_traces`` for Parquet files under
``<home>/archive/`` (maintenance, ``blueplane_ingest.retention``). They stay part of the history:
refolds and rebuilds read them back through ``blueplane_core.stored_events``. The columns are
typed (times are timestamps, counts are integers) so users can query the files with DuckDB,
pandas or pyarrow directly; docs/archive.md documents the schema, which is :data:`COLUMNS`.

pyarrow is imported inside the functions: a process that never touches the archive (an idle
worker, the maintenance process between rounds) does not carry its ~50 MB.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from blueplane_core.events import SCHEMA_VERSION

#: bump when the columns change; stored in each file's metadata under :data:`SCHEMA_KEY`.
ARCHIVE_SCHEMA = 1
SCHEMA_KEY = b"blueplane.archive_schema"

#: (column, Arrow type name, nullable) in file order; docs/archive.md describes each one.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("sequence", "int64", False),
    ("event_id", "string", False),
    ("timestamp", "timestamp[us, tz=UTC]", False),
    ("timestamp_text", "string", True),
    ("ingested_at", "timestamp[ms, tz=UTC]", False),
    ("platform", "string", False),
    ("source", "string", False),
    ("session_id", "string", False),
    ("event_type", "string", False),
    ("hook_type", "string", True),
    ("workspace_hash", "string", True),
    ("model", "string", True),
    ("tool_name", "string", True),
    ("duration_ms", "int64", True),
    ("input_tokens", "int64", True),
    ("output_tokens", "int64", True),
    ("cache_read_tokens", "int64", True),
    ("cache_write_tokens", "int64", True),
    ("lines_added", "int64", True),
    ("lines_removed", "int64", True),
    ("success", "bool", True),
    ("metadata", "string", False),
    ("payload", "string", False),
)

#: the raw_traces columns copied as they are (the other columns come from the envelope).
COPIED = (
    "sequence",
    "platform",
    "source",
    "session_id",
    "event_type",
    "hook_type",
    "workspace_hash",
)

#: payload key of each integer column (``cache_write_tokens`` is the undivided cache creation).
_INTEGERS = (
    ("duration_ms", "duration_ms"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_tokens", "cache_creation_tokens"),
    ("lines_added", "lines_added"),
    ("lines_removed", "lines_removed"),
)


def typed_columns(event: dict[str, Any]) -> dict[str, Any]:
    """The columns an archive file types out of an event's metadata and payload so that users
    can filter on them (model, tool name, duration, tokens, lines, success); None where the
    event has no such value of the column's type. ``raw_traces`` does not keep them: ingest
    would bind them for every event, and nothing reads them there."""
    payload = event["payload"]
    get = payload.get
    model = event["metadata"].get("model") or get("model")
    tool_name = get("tool_name")
    success = get("success")
    out: dict[str, Any] = {
        "model": model if type(model) is str else None,
        "tool_name": tool_name if type(tool_name) is str else None,
        "success": success if type(success) is bool else None,
    }
    for column, key in _INTEGERS:
        value = get(key)
        out[column] = value if type(value) is int else None
    return out


def file_name(first_sequence: int, last_sequence: int) -> str:
    """A file is named by the sequence range it holds: writing the same rows again after a
    crash replaces the same file instead of adding a second copy."""
    return f"raw_traces_{first_sequence:012d}_{last_sequence:012d}.parquet"


def canonical(moment: datetime) -> str:
    """The envelope's usual text for a time (ms precision, ``Z``); exact when it round-trips."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[:-3] if moment.microsecond % 1000 == 0 else text) + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def schema() -> Any:
    """The Arrow schema of an archive file (with the schema version in its metadata)."""
    import pyarrow as pa

    types = {
        "int64": pa.int64(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
        "timestamp[ms, tz=UTC]": pa.timestamp("ms", tz="UTC"),
    }
    fields = [pa.field(name, types[kind], nullable) for name, kind, nullable in COLUMNS]
    return pa.schema(fields, metadata={SCHEMA_KEY: str(ARCHIVE_SCHEMA).encode()})


def write(folder: Path, records: list[dict[str, Any]], name: str | None = None) -> tuple[Path, int]:
    """Write ``records`` (one dict per event, :data:`COLUMNS`' values) to one durable file,
    named by their sequence range unless ``name`` is given.

    Written to a temporary name, fsynced, then renamed: a crash leaves either no file or a
    complete one. Returns (path, size in bytes).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: [r[name] for r in records] for name, _kind, _null in COLUMNS}
    table = pa.table(columns, schema=schema())
    target = folder / (name or file_name(records[0]["sequence"], records[-1]["sequence"]))
    tmp = Path(f"{target}.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=10_000)
    os.chmod(tmp, 0o600)  # raw events: readable by the user only, as the database
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return target, target.stat().st_size


def record(row: dict[str, Any], event: dict[str, Any], ingested_at_ms: int) -> dict[str, Any]:
    """The archive record of one raw_traces row (``row``: its :data:`COPIED` columns) and its
    decoded envelope."""
    moment = parse_time(event["timestamp"])
    out = {name: row[name] for name in COPIED}
    out.update(typed_columns(event))
    out.update(
        event_id=event["event_id"],
        timestamp=moment,
        timestamp_text=None if canonical(moment) == event["timestamp"] else event["timestamp"],
        ingested_at=datetime.fromtimestamp(ingested_at_ms / 1000, tz=UTC),
        metadata=orjson.dumps(event["metadata"]).decode(),
        payload=orjson.dumps(event["payload"]).decode(),
    )
    return out


def envelope(item: dict[str, Any]) -> dict[str, Any]:
    """The original envelope of one archived row (as ``pyarrow`` ``to_pylist`` gives it)."""
    text = item["timestamp_text"] or canonical(item["timestamp"])
    return {
        "schema": SCHEMA_VERSION,
        "event_id": item["event_id"],
        "timestamp": text,
        "platform": item["platform"],
        "source": item["source"],
        "session_id": item["session_id"],
        "event_type": item["event_type"],
        "hook_type": item["hook_type"],
        "metadata": orjson.loads(item["metadata"]),
        "payload": orjson.loads(item["payload"]),
    }


def event_id_bytes(event_id: str) -> bytes:
    return uuid.UUID(event_id).bytes


def read(path: Path) -> Any:
    """One archive file as an Arrow table."""
    import pyarrow.parquet as pq

    return pq.read_table(path)
