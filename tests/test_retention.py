"""Raw traces past the retention move to Parquet once every worker applied them, and stay part
of the history: refolds, rebuilds and dedupe see archived events as if they were still there."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from blueplane_core import archive, config, events, paths, pricing, streams
from blueplane_core import metric_keys as mk
from blueplane_core.emit import Emitter
from blueplane_core.stored_events import StoredEvents
from blueplane_ingest import retention
from blueplane_workers.conversations import rebuild_conversations
from blueplane_workers.rebuild import rebuild_metrics
from tests.helpers import ingest_all
from tests.query_data import run_workers, sample_events, session_events

#: 2025-10-12T12:00:00Z: long past any retention the tests use.
OLD = datetime(2025, 10, 12, 12, tzinfo=UTC).timestamp()
SID = "44444444-dddd-4ddd-8ddd-000000000004"
PROJECT = "abad1deaabad1deaabad1dea"

DERIVED = {
    "conversations": "session_id",
    "conversation_turns": "session_id, turn_index",
    "code_changes": "session_id, change_key",
    "tool_calls": "session_id, call_key",
    "commits": "commit_hash",
}


def derived(conn) -> dict[str, list[dict[str, Any]]]:
    """Every derived row (without the time it was written)."""
    out = {}
    for table, order in DERIVED.items():
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
        names = [d[0] for d in cursor.description]
        out[table] = [
            {k: v for k, v in zip(names, row, strict=True) if k != "updated_at"} for row in cursor
        ]
    return out


def metrics(client: redis.Redis) -> dict[bytes, Any]:
    """Every metric key's content (counters, histograms, series, fact states, applied bits);
    not the layout record, which ``blueplane rebuild metrics`` writes after the library call."""
    out: dict[bytes, Any] = {}
    for key in sorted(client.scan_iter(match=mk.all_keys_pattern(), count=1000)):
        if key.endswith(b":meta"):
            continue
        kind = client.type(key)
        if kind == b"hash":
            out[key] = client.hgetall(key)
        elif kind == b"string":
            out[key] = client.get(key)
        elif kind == b"zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            out[key] = sorted(client.smembers(key))
        else:
            out[key] = kind
    return out


def archive_now(conn, client: redis.Redis, days: int = 90) -> int:
    moved = 0
    while True:
        done = retention.archive_old(conn, days, retention.applied_bound(client, conn))
        if not done:
            return moved
        moved += done


def raw_count(conn) -> int:
    return int(conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0])


def test_nothing_is_archived_until_every_consumer_group_applied_it(
    redis_client: redis.Redis, writer_conn
) -> None:
    Emitter(redis_client).emit_many(sample_events(now=OLD))
    ingest_all()
    stored = raw_count(writer_conn)
    # the ingester created every worker kind's group, but no worker has read anything yet
    bound = retention.applied_bound(redis_client, writer_conn)
    assert bound is not None and bound.below == 1  # the first sequence is not applied
    assert archive_now(writer_conn, redis_client) == 0
    # a group of someone else's on the CDC stream holds archival back too
    redis_client.xgroup_create(streams.CDC_STREAM, "someone-else", id="0")
    run_workers()
    assert archive_now(writer_conn, redis_client) == 0
    redis_client.xgroup_destroy(streams.CDC_STREAM, "someone-else")
    assert archive_now(writer_conn, redis_client) == stored
    assert raw_count(writer_conn) == 0
    # an entry delivered to one group but not acknowledged holds its row back
    late = session_events(SID, "claude_code", PROJECT, OLD, 1)[:2]
    Emitter(redis_client).emit_many(late)
    ingest_all()
    redis_client.xreadgroup(streams.METRICS_GROUP, "stuck", {streams.CDC_STREAM: ">"}, count=1)
    run_workers()  # conversations and insights apply both; metrics has one pending, one done
    assert archive_now(writer_conn, redis_client) == 0
    (stuck,) = redis_client.xpending_range(
        streams.CDC_STREAM, streams.METRICS_GROUP, "-", "+", 10, consumername="stuck"
    )
    redis_client.xack(streams.CDC_STREAM, streams.METRICS_GROUP, stuck["message_id"])
    assert archive_now(writer_conn, redis_client) == 2


def test_rows_an_ingester_has_not_announced_yet_stay(redis_client, writer_conn) -> None:
    Emitter(redis_client).emit_many(sample_events(now=OLD))
    ingest_all()
    run_workers()
    # an entry read by an ingester and not yet acknowledged: its row may be committed without
    # its CDC entry, so rows ingested after the entry was added must wait
    Emitter(redis_client).emit_many(sample_events(now=OLD + 1)[:1])
    redis_client.xreadgroup(streams.INGEST_GROUP, "crashed", {streams.EVENTS_STREAM: ">"}, count=1)
    bound = retention.applied_bound(redis_client, writer_conn)
    assert bound is not None
    stuck = writer_conn.execute("SELECT max(ingested_at) FROM raw_traces").fetchone()[0]
    assert bound.ingested_before_ms < stuck  # every row was ingested within the last minute
    assert archive_now(writer_conn, redis_client) == 0


def test_archive_is_typed_parquet_that_gives_the_envelopes_back(redis_client, writer_conn) -> None:
    batch = sample_events(now=OLD)
    odd = events.make_event(  # a time in a form the envelope allows but capture never writes
        event_type="user_prompt",
        platform="claude_code",
        source="hook",
        session_id=SID,
        timestamp="2025-10-12T06:00:00.123456+00:00",
        payload={"prompt_length": 5},
    )
    batch.append(odd)
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_workers()
    before = dict(StoredEvents(writer_conn).iterate())
    assert archive_now(writer_conn, redis_client) == len(batch)
    (path,) = paths.archive_dir().glob("*.parquet")
    table = pq.read_table(path)
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("ingested_at").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("input_tokens").type == pa.int64()
    assert table.schema.field("success").type == pa.bool_()
    assert table.schema.metadata[archive.SCHEMA_KEY] == b"1"
    rows = table.to_pylist()
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in batch)
    usage = [r for r in rows if r["event_type"] == "token_usage"]
    assert usage and all(r["input_tokens"] == 1000 for r in usage)  # TOKENS in query_data
    first = min(rows, key=lambda r: r["timestamp"])
    assert first["timestamp"] == datetime(2025, 10, 12, 6, 0, 0, 123456, tzinfo=UTC)
    # the reader puts every envelope back exactly as it was sent
    after = dict(StoredEvents(writer_conn).iterate())
    assert after == before
    assert after[max(after)]["timestamp"] in {e["timestamp"] for e in batch}
    assert {e["timestamp"] for e in after.values()} == {e["timestamp"] for e in batch}
    # status facts: size and time range
    files = writer_conn.execute(
        "SELECT events, bytes, first_timestamp, last_timestamp FROM archive_files"
    ).fetchall()
    assert files == [
        (
            len(batch),
            path.stat().st_size,
            "2025-10-12T06:00:00.123456Z",
            max(e["timestamp"] for e in batch if e["timestamp"].endswith("Z")),
        )
    ]


def test_an_archived_event_sent_again_is_not_stored_twice(redis_client, writer_conn) -> None:
    batch = sample_events(now=OLD)
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_workers()
    assert archive_now(writer_conn, redis_client) == len(batch)
    cdc_before = redis_client.xlen(streams.CDC_STREAM)
    sessions_before = writer_conn.execute(
        "SELECT * FROM session_mappings ORDER BY platform_session_id"
    ).fetchall()
    Emitter(redis_client).emit_many(batch[:5])  # a re-import of old events
    counters = ingest_all()
    assert counters["duplicates"] == 5 and counters["stored"] == 0
    assert raw_count(writer_conn) == 0
    assert redis_client.xlen(streams.CDC_STREAM) == cdc_before  # nothing for workers to redo
    after = writer_conn.execute("SELECT * FROM session_mappings ORDER BY platform_session_id")
    assert after.fetchall() == sessions_before
    # a batch mixing an archived event and a new one stores only the new one
    new = session_events(SID, "claude_code", PROJECT, OLD, 1)[:1]
    Emitter(redis_client).emit_many([batch[7], *new])
    counters = ingest_all()
    assert counters["stored"] == 1 and counters["duplicates"] == 1
    assert raw_count(writer_conn) == 1


def test_late_events_of_an_archived_session_change_only_what_they_add(
    cfg, redis_client, writer_conn
) -> None:
    prices = pricing.load(cfg["pricing.file"] or None)
    base = session_events(SID, "claude_code", PROJECT, OLD, 2)
    end, body = base[-1], base[:-1]
    Emitter(redis_client).emit_many(body)
    ingest_all()
    run_workers()
    assert archive_now(writer_conn, redis_client) == len(body)
    folded = derived(writer_conn)
    assert folded["conversations"][0]["input_tokens"] == 2 * 1000  # two prompts x TOKENS
    Emitter(redis_client).emit_many([end])  # the session_end arrives after archival
    ingest_all()
    run_workers()
    after = derived(writer_conn)
    conv, conv_before = after["conversations"][0], folded["conversations"][0]
    assert conv["input_tokens"] == conv_before["input_tokens"] == 2000
    assert conv["prompts"] == conv_before["prompts"] == 2
    assert conv["end_reason"] == "other" and conv["event_count"] == len(base)
    assert after["conversation_turns"][:-1] == folded["conversation_turns"][:-1]
    assert after["tool_calls"] == folded["tool_calls"]
    live = metrics(redis_client)
    # a rebuild after archival gives exactly what live processing gave
    rebuild_conversations(writer_conn, prices)
    assert derived(writer_conn) == after
    rebuild_metrics(writer_conn, redis_client, prices)
    assert metrics(redis_client) == live


def test_retention_zero_keeps_raw_traces_for_ever(redis_client, writer_conn) -> None:
    Emitter(redis_client).emit_many(sample_events(now=OLD))
    ingest_all()
    run_workers()
    assert archive_now(writer_conn, redis_client, days=0) == 0
    assert retention.archive_old(writer_conn, 0, retention.Bound(2**62, 2**62)) == 0
    assert config.load()["storage.retention_days"] == 90
    assert raw_count(writer_conn) == len(sample_events(now=OLD))


def test_docs_archive_md_documents_the_schema_the_code_writes() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "archive.md").read_text()
    documented = re.findall(r"^\| `(\w+)` \| ([^|]+?) \| (yes|no) \|", text, re.MULTILINE)
    assert documented == [
        (name, kind, "yes" if nullable else "no") for name, kind, nullable in archive.COLUMNS
    ]
    assert [f.name for f in archive.schema()] == [name for name, _k, _n in archive.COLUMNS]


def test_files_of_the_first_archiver_are_adopted_into_the_history(
    redis_client, writer_conn
) -> None:
    """Before the archive had a schema, files held the envelope as JSON and nothing recorded
    them: they become part of the history (read back, deduped) instead of being ignored."""
    batch = sample_events(now=OLD)
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_workers()
    before = dict(StoredEvents(writer_conn).iterate())
    # what the first archiver did: one JSON column per event, then delete the rows
    sequences = sorted(before)
    folder = paths.ensure_private_dir(paths.archive_dir())
    legacy = folder / archive.file_name(sequences[0], sequences[-1])
    pq.write_table(
        pa.table(
            {
                "sequence": sequences,
                "event_id": [before[s]["event_id"] for s in sequences],
                "timestamp": [before[s]["timestamp"] for s in sequences],
                "platform": [before[s]["platform"] for s in sequences],
                "event_type": [before[s]["event_type"] for s in sequences],
                "session_id": [before[s]["session_id"] for s in sequences],
                "event_json": [orjson.dumps(before[s]).decode() for s in sequences],
            }
        ),
        legacy,
    )
    writer_conn.execute("DELETE FROM raw_traces")
    assert dict(StoredEvents(writer_conn).iterate()) == {}  # lost to the history so far
    retention.settle_folder(writer_conn)
    assert dict(StoredEvents(writer_conn).iterate()) == before
    assert pq.read_schema(legacy).metadata[archive.SCHEMA_KEY] == b"1"
    assert [p.name for p in folder.iterdir()] == [legacy.name]
    usage = [r for r in pq.read_table(legacy).to_pylist() if r["event_type"] == "token_usage"]
    assert usage and all(r["input_tokens"] == 1000 for r in usage)  # typed columns filled
    Emitter(redis_client).emit_many(batch[:3])  # and they are recognised when sent again
    assert ingest_all()["stored"] == 0
    retention.settle_folder(writer_conn)  # a second round changes nothing
    assert writer_conn.execute("SELECT count(*) FROM archive_files").fetchone()[0] == 1


def test_a_crash_between_file_and_record_loses_and_doubles_nothing(
    redis_client, writer_conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = sample_events(now=OLD)
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_workers()

    def crash(*_args: Any) -> None:
        raise RuntimeError("killed between the file and its record")

    with monkeypatch.context() as patched:
        patched.setattr(retention, "_record", crash)
        with pytest.raises(RuntimeError):
            archive_now(writer_conn, redis_client)
    assert len(list(paths.archive_dir().glob("*.parquet"))) == 1  # written, not recorded
    assert raw_count(writer_conn) == len(batch)  # the rows are still there
    assert archive_now(writer_conn, redis_client) == len(batch)
    (path,) = paths.archive_dir().iterdir()
    assert pq.read_table(path).num_rows == len(batch)
    assert len(dict(StoredEvents(writer_conn).iterate())) == len(batch)
