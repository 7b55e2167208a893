"""Raw traces older than the retention move to the Parquet archive, once every worker applied them.

Archived events stay part of the history: the workers' refolds and ``blueplane rebuild`` read
them back (``blueplane_core.stored_events``), and the ingester recognises one sent again
(``archived_events``). So archiving never changes a number.

When a row may go (all of these):

* it is older than ``storage.retention_days`` (0 = keep raw traces for ever);
* every consumer group on the CDC stream has applied it (:func:`applied_bound`): a worker that
  has not yet read an event must still find it in ``raw_traces``, and must not refold a session
  while half of it is on its way to the archive.

Crash safety: the file is written and fsynced first under a name made of its sequence range,
then ONE transaction records it (``archive_files``, ``archived_events``, ``archive_sessions``)
and deletes the rows. A crash in between leaves a file nothing records; the next round deletes
such files before archiving (their rows are still in ``raw_traces``), so the folder never holds
an event twice. Files the first archiver wrote (before the archive had a schema) are adopted
into the history the same way (:func:`settle_folder`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from blueplane_core import archive, db, paths, redis_conn, streams
from blueplane_core.raw_traces import RawEvents
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_ingest.writer import COLUMN_NAMES, BatchWriter

log = logging.getLogger("blueplane.maintenance")

CHUNK = 50_000
#: rows ingested less than this before the ingesters' oldest pending entry was added wait a
#: round more: ``ingested_at`` is the ingester's clock, entry ids are Redis's.
CLOCK_MARGIN_MS = 60_000

_COLUMNS = ("sequence", "ingested_at", *archive.COPIED[1:])


@dataclass(frozen=True)
class Bound:
    """Rows every consumer group has applied: ``sequence < below`` and
    ``ingested_at < ingested_before_ms``."""

    below: int
    ingested_before_ms: int


def cutoff(retention_days: int, now: float | None = None) -> str:
    """The timestamp before which events are archived (same format as the envelope's)."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC)
    return (moment - timedelta(days=retention_days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _first_unapplied(client: ConsumerClient) -> str | None:
    """The CDC id from which some group has not acknowledged everything (None: unknown)."""
    try:
        groups = redis_conn.groups_by_name(client, streams.CDC_STREAM)
    except redis_conn.reply_errors():
        return None  # no CDC stream yet: nothing was announced, so nothing is applied
    if any(name not in groups for name in streams.CDC_GROUPS):
        return None  # a worker kind never started: it has applied nothing
    candidates = []
    for name, info in groups.items():  # every group on the stream, ours or not
        if int(info["pending"]) > 0:
            candidates.append(_text(client.xpending(streams.CDC_STREAM, name)["min"]))
        else:
            ms, seq = _id_key(_text(info["last-delivered-id"]))
            candidates.append(f"{ms}-{seq + 1}")
    return min(candidates, key=_id_key)


def applied_bound(client: ConsumerClient, conn: sqlite3.Connection) -> Bound | None:
    """Which raw rows every consumer group on the CDC stream has applied (None: none known).

    A row's CDC entry is announced after its commit and acknowledged by each group after the
    group made its effects durable. Entries below the groups' first unacknowledged id are done
    by all; every entry from there on is still in the stream (trimming keeps it), so rows below
    the smallest sequence those entries announce are done too — provided they were announced
    at all. A row committed by an ingester that has not yet sent its CDC entry belongs to an
    entry still pending on the events stream: with none pending, every row committed before the
    check (sequence up to the maximum read first) was announced; with some pending, rows
    ingested after the oldest of them was added wait (``ingested_at``, with a clock margin).
    """
    committed = int(conn.execute("SELECT coalesce(max(sequence), 0) FROM raw_traces").fetchone()[0])
    ingested_before_ms = 2**62
    try:
        pending = client.xpending(streams.EVENTS_STREAM, streams.INGEST_GROUP)
        if int(pending["pending"]) > 0:
            ingested_before_ms = _id_key(_text(pending["min"]))[0] - CLOCK_MARGIN_MS
    except redis_conn.reply_errors():
        pass  # no events stream or group: no ingester holds anything unannounced
    start = _first_unapplied(client)
    if start is None:
        return None
    below = committed + 1
    while True:
        entries = client.xrange(streams.CDC_STREAM, min=start, count=10_000)
        for _entry_id, fields in entries:
            raw = fields.get(streams.CDC_SEQUENCE.encode())
            try:
                below = min(below, int(raw)) if raw is not None else below
            except ValueError:
                continue
        if len(entries) < 10_000:
            break
        ms, seq_part = _id_key(_text(entries[-1][0]))
        start = f"{ms}-{seq_part + 1}"
    return Bound(below=below, ingested_before_ms=ingested_before_ms)


def settle_folder(conn: sqlite3.Connection) -> None:
    """Before archiving: finish or undo what a crash interrupted, and adopt the first archiver's
    files.

    * ``*.tmp``: half-written, deleted.
    * ``<name>.converted`` (an adopted file rewritten in the current schema): put in place if its
      record was committed, else deleted (the original is still there).
    * a current-schema file nothing records: written, then a crash before the transaction that
      records it; its events are still in ``raw_traces``, so it is deleted.
    * a file of the first archiver (one JSON column, no schema version): adopted (:func:`_adopt`).
    """
    folder = paths.archive_dir()
    if not folder.exists():
        return
    for tmp in folder.glob("raw_traces_*.tmp"):
        tmp.unlink(missing_ok=True)
    known = {r[0] for r in conn.execute("SELECT name FROM archive_files")}
    for converted in folder.glob(f"raw_traces_*.parquet{CONVERTED}"):
        original = converted.with_name(converted.name[: -len(CONVERTED)])
        if original.name in known:
            os.replace(converted, original)
        else:
            converted.unlink()
    unknown = [p for p in sorted(folder.glob("raw_traces_*.parquet")) if p.name not in known]
    if not unknown:
        return
    import pyarrow.parquet as pq

    for path in unknown:
        try:
            metadata = pq.read_schema(path).metadata or {}
        except (OSError, ValueError) as exc:  # never delete what cannot be read
            log.warning("archive file %s is unreadable (%s); left as it is", path.name, exc)
            continue
        if archive.SCHEMA_KEY in metadata:
            path.unlink()
        else:
            _adopt(conn, path)


#: suffix of an adopted file's rewrite until it replaces the original.
CONVERTED = ".converted"


def _adopt(conn: sqlite3.Connection, path: Path) -> int:
    """Make a file of the first archiver (``event_json`` holding each envelope) part of the
    history: rewrite it in the current schema, record it, then replace the original. Returns
    its events (0: not a Blueplane archive, left alone)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if not {"sequence", "event_json"} <= set(table.column_names):
        log.warning("%s is not a Blueplane archive file; left as it is", path.name)
        return 0
    writer = BatchWriter(conn)  # the same columns raw_traces rows get
    ingested_ms = int(path.stat().st_mtime * 1000)  # the first archiver kept no ingest time
    records = []
    for item in sorted(table.to_pylist(), key=lambda i: int(i["sequence"])):
        event = orjson.loads(item["event_json"])
        row = dict(zip(COLUMN_NAMES, writer.row(event, b"", ingested_ms), strict=True))
        row["sequence"] = int(item["sequence"])
        records.append(archive.record(row, event, ingested_ms))
    if not records:
        return 0
    converted, size = archive.write(path.parent, records, name=path.name + CONVERTED)
    with db.write_transaction(conn, db.write_lock_for(conn)):
        _record(conn, path.name, size, records)
    os.replace(converted, path)
    log.info("adopted %d archived events from %s (first archive format)", len(records), path.name)
    return len(records)


def _record(conn: sqlite3.Connection, name: str, size: int, records: list[dict[str, Any]]) -> None:
    """Record one archive file (inside the caller's transaction): its range and size, the ids of
    its events (dedupe) and the sessions it holds (refolds)."""
    times = sorted(archive.canonical(r["timestamp"]) for r in records)
    sessions: dict[str, int] = {}
    for r in records:
        sessions[r["session_id"]] = max(sessions.get(r["session_id"], 0), r["sequence"])
    file_id = conn.execute(
        "INSERT INTO archive_files (name, first_sequence, last_sequence, events, bytes,"
        " first_timestamp, last_timestamp, created_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            name,
            min(r["sequence"] for r in records),
            max(r["sequence"] for r in records),
            len(records),
            size,
            times[0],
            times[-1],
            int(time.time() * 1000),
        ),
    ).lastrowid
    conn.executemany(
        "INSERT OR IGNORE INTO archived_events (event_id, sequence) VALUES (?, ?)",
        [(archive.event_id_bytes(r["event_id"]), r["sequence"]) for r in records],
    )
    conn.executemany(
        "INSERT INTO archive_sessions (session_id, file_id, last_sequence) VALUES (?,?,?)",
        [(sid, file_id, last) for sid, last in sessions.items()],
    )


def archive_old(
    conn: sqlite3.Connection, retention_days: int, bound: Bound | None, now: float | None = None
) -> int:
    """Archive and delete one chunk of expired, applied rows; returns how many rows it moved."""
    if retention_days == 0 or bound is None:
        return 0
    settle_folder(conn)
    cursor = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM raw_traces WHERE timestamp < ? AND sequence < ?"
        " AND ingested_at < ? ORDER BY sequence LIMIT ?",
        (cutoff(retention_days, now), bound.below, bound.ingested_before_ms, CHUNK),
    )
    rows = [dict(zip(_COLUMNS, r, strict=True)) for r in cursor.fetchall()]
    if not rows:
        return 0
    decoded = RawEvents(conn).by_sequence(r["sequence"] for r in rows)
    records = [archive.record(r, decoded[r["sequence"]], r["ingested_at"]) for r in rows]
    folder = paths.ensure_private_dir(paths.archive_dir())
    path, size = archive.write(folder, records)
    with db.write_transaction(conn, db.write_lock_for(conn)):
        _record(conn, path.name, size, records)
        conn.executemany(
            "DELETE FROM raw_traces WHERE sequence = ?", [(r["sequence"],) for r in records]
        )
    return len(records)
