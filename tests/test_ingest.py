"""The fast-path ingester against a real Redis and a real SQLite file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator

import orjson
import pytest
import redis

from blueplane_core import config, db, events, migrations, paths, streams, synthetic
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from blueplane_ingest.bus import IngestBus
from blueplane_ingest.ingester import Ingester, Settings
from blueplane_ingest.writer import BatchWriter
from tests.conftest import PYTHON, python_env
from tests.helpers import ingest_all, wait_for


@pytest.fixture
def make_ingester(redis_client: redis.Redis) -> Iterator:
    """Factory for an in-process ingester on the test's Redis and database."""
    conns: list[sqlite3.Connection] = []

    def make(consumer: str = "ingest-test", **settings: int) -> Ingester:
        conn = db.connect_writer(paths.database())
        migrations.migrate(conn)
        conns.append(conn)
        client = redis.Redis.from_url(config.load()["redis.url"])
        merged = {"idle_block_ms": 20, **settings}
        ingester = Ingester(IngestBus(client, consumer), BatchWriter(conn), Settings(**merged))
        ingester.bus.setup()
        return ingester

    yield make
    for conn in conns:
        conn.close()


def rows() -> int:
    conn = db.connect_writer(paths.database())
    try:
        return int(conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0])
    finally:
        conn.close()


def cdc_sequences(client: redis.Redis) -> list[int]:
    return [
        int(fields[streams.CDC_SEQUENCE.encode()])
        for _, fields in client.xrange(streams.CDC_STREAM)
    ]


def push_raw(client: redis.Redis, data: bytes) -> bytes:
    return client.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: data})


def dead_letters(client: redis.Redis) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in client.xrange(streams.DLQ_STREAM)]


def test_batches_fill_to_size_then_the_rest(redis_client: redis.Redis, make_ingester) -> None:
    Emitter(redis_client).emit_many(synthetic.take(250, seed=1))
    ingester = make_ingester()
    assert [len(ingester.collector.collect()) for _ in range(3)] == [100, 100, 50]


def test_a_partial_batch_closes_after_the_batch_timeout(
    redis_client: redis.Redis, make_ingester
) -> None:
    ingester = make_ingester(idle_block_ms=4_000, batch_timeout_ms=100)
    ingester.collector.collect()  # nothing yet: leaves own-pending mode
    Emitter(redis_client).emit_many(synthetic.take(5, seed=2))
    started = time.monotonic()
    batch = ingester.collector.collect()
    # Without the 100 ms batch timeout this read would wait out the 4 s idle block.
    assert len(batch) == 5 and time.monotonic() - started < 3


def test_events_are_stored_with_cdc_entries_and_acknowledged(redis_client: redis.Redis) -> None:
    sample = synthetic.take(300, seed=3)
    Emitter(redis_client).emit_many(sample)
    counters = ingest_all()
    assert counters["stored"] == 300 and rows() == 300
    sequences = cdc_sequences(redis_client)
    assert len(sequences) == 300 and len(set(sequences)) == 300
    assert redis_client.xpending(streams.EVENTS_STREAM, streams.INGEST_GROUP)["pending"] == 0
    entry = redis_client.xrange(streams.CDC_STREAM, count=1)[0][1]
    assert entry[streams.CDC_EVENT_TYPE.encode()] == b"session_start"
    assert entry[streams.CDC_PRIORITY.encode()] == b"4"


def test_stored_events_decode_to_the_original_envelope(redis_client: redis.Redis) -> None:
    sample = synthetic.take(50, seed=4)
    Emitter(redis_client).emit_many(sample)
    ingest_all()
    conn = db.connect_writer(paths.database())
    decoded = [event for _, event in RawEvents(conn).iterate()]
    assert decoded == sample
    json_bytes, stored = 0, 0
    for event, (blob,) in zip(
        sample, conn.execute("SELECT event_data FROM raw_traces ORDER BY sequence"), strict=True
    ):
        json_bytes += len(orjson.dumps(event))
        stored += len(blob)
    assert stored * 3 < json_bytes  # compressed with the trained dictionary, not stored raw


def test_duplicate_delivery_is_stored_once(redis_client: redis.Redis) -> None:
    event = synthetic.take(1, seed=5)[0]
    emitter = Emitter(redis_client)
    emitter.emit(event)
    emitter.emit(event)
    counters = ingest_all()
    assert rows() == 1
    assert counters["stored"] == 1 and counters["duplicates"] == 1
    assert len(set(cdc_sequences(redis_client))) == 1


def test_redelivery_after_commit_still_sends_cdc(redis_client: redis.Redis, make_ingester) -> None:
    """A crash between the SQLite commit and the XACK: the rows exist, the CDC entries don't."""
    Emitter(redis_client).emit_many(synthetic.take(40, seed=6))
    crashed = make_ingester("ingest-host-0")
    entries = crashed.collector.collect()
    batch = crashed.prepare(entries)
    crashed.writer.store(batch.events, batch.rows)  # committed ... and then the process died
    assert rows() == 40 and redis_client.xlen(streams.CDC_STREAM) == 0

    restarted = make_ingester("ingest-host-0")  # same name: supervisord's process number
    restarted.run(burst=True)
    assert rows() == 40
    assert sorted(set(cdc_sequences(redis_client))) == list(range(1, 41))
    assert redis_client.xpending(streams.EVENTS_STREAM, streams.INGEST_GROUP)["pending"] == 0


def test_killed_consumer_entries_are_reclaimed(redis_client: redis.Redis, make_ingester) -> None:
    Emitter(redis_client).emit_many(synthetic.take(120, seed=7))
    dead = make_ingester("ingest-dead")
    dead.collector.collect()  # read 100 entries, then "died" without acknowledging
    live = make_ingester("ingest-live", claim_idle_ms=1)
    wait_for(lambda: live.run(burst=True) is not None and rows() == 120, 20, what="reclaim")
    assert redis_client.xpending(streams.EVENTS_STREAM, streams.INGEST_GROUP)["pending"] == 0
    assert len(set(cdc_sequences(redis_client))) == 120


def test_poison_entry_is_dead_lettered_after_max_deliveries(
    redis_client: redis.Redis, make_ingester
) -> None:
    live = make_ingester("ingest-live", claim_idle_ms=1)
    emitter = Emitter(redis_client)
    poison = synthetic.take(1, seed=8)[0]
    emitter.emit(poison)
    # Three consumers each received the entry and died before acknowledging it.
    for name in ("crash-1", "crash-2", "crash-3"):
        if name == "crash-1":
            redis_client.xreadgroup(streams.INGEST_GROUP, name, {streams.EVENTS_STREAM: ">"})
        else:
            pending = redis_client.xpending_range(
                streams.EVENTS_STREAM, streams.INGEST_GROUP, "-", "+", 10
            )
            redis_client.xclaim(
                streams.EVENTS_STREAM,
                streams.INGEST_GROUP,
                name,
                0,
                [p["message_id"] for p in pending],
            )
    emitter.emit_many(synthetic.take(10, seed=9))
    live.run(burst=True)
    letters = dead_letters(redis_client)
    assert len(letters) == 1
    assert b"delivered 4 times" in letters[0][streams.DLQ_REASON.encode()]
    assert orjson.loads(letters[0][streams.DLQ_ORIGINAL.encode()]) == poison
    assert rows() == 10  # the rest flowed
    assert redis_client.xpending(streams.EVENTS_STREAM, streams.INGEST_GROUP)["pending"] == 0


def test_malformed_json_goes_to_dlq_with_reason(redis_client: redis.Redis) -> None:
    push_raw(redis_client, b'{"schema": 1, "event_id": ')
    Emitter(redis_client).emit_many(synthetic.take(3, seed=10))
    ingest_all()
    (letter,) = dead_letters(redis_client)
    assert letter[streams.DLQ_REASON.encode()].startswith(b"unparseable JSON")
    assert letter[streams.DLQ_ORIGINAL.encode()] == b'{"schema": 1, "event_id": '
    assert rows() == 3


def test_invalid_envelope_goes_to_dlq_with_reason(redis_client: redis.Redis) -> None:
    bad = synthetic.take(1, seed=11)[0] | {"event_type": "made_up"}
    push_raw(redis_client, orjson.dumps(bad))
    redis_client.xadd(streams.EVENTS_STREAM, {"wrong_field": b"x"})
    ingest_all()
    reasons = sorted(x[streams.DLQ_REASON.encode()].decode() for x in dead_letters(redis_client))
    assert reasons == ["entry has no field 'e'", "invalid envelope: unknown event_type 'made_up'"]
    assert rows() == 0
    assert redis_client.xpending(streams.EVENTS_STREAM, streams.INGEST_GROUP)["pending"] == 0


def test_session_mappings_track_first_last_and_counts(redis_client: redis.Redis) -> None:
    def at(ts: str, project: str) -> dict:
        return events.make_event(
            event_type="user_prompt",
            platform="claude_code",
            source="hook",
            session_id="s-1",
            timestamp=ts,
            metadata={"project_hash": project},
            payload={"prompt_length": 3},
        )

    p1, p2 = "1" * 24, "2" * 24  # project hashes (the allow-list admits only that shape)
    first = at("2026-11-20T10:00:00.000Z", p1)
    Emitter(redis_client).emit_many(
        [at("2026-11-20T12:00:00.000Z", p1), first, first, at("2026-11-21T09:00:00.000Z", p2)]
    )
    ingest_all()
    conn = db.connect_writer(paths.database())
    mapped = conn.execute(
        "SELECT project_hash, first_seen, last_seen, event_count, session_uuid"
        " FROM session_mappings ORDER BY project_hash"
    ).fetchall()
    assert [m[:4] for m in mapped] == [
        (p1, "2026-11-20T10:00:00.000Z", "2026-11-20T12:00:00.000Z", 2),
        (p2, "2026-11-21T09:00:00.000Z", "2026-11-21T09:00:00.000Z", 1),
    ]
    assert mapped[0][4] != mapped[1][4]


def test_sigterm_finishes_the_batch_and_exits_cleanly(redis_client: redis.Redis) -> None:
    Emitter(redis_client).emit_many(synthetic.take(20_000, seed=12))
    proc = subprocess.Popen(
        [PYTHON, "-m", "blueplane_ingest", "--consumer", "ingest-term"],
        env=python_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: redis_client.xlen(streams.CDC_STREAM) > 0, 30, what="first batch")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped" in stderr
    # Everything it read was committed and acknowledged: nothing left pending in its name.
    consumers = {
        c["name"]: c["pending"]
        for c in redis_client.xinfo_consumers(streams.EVENTS_STREAM, streams.INGEST_GROUP)
    }
    assert consumers[b"ingest-term"] == 0
    assert rows() == len(set(cdc_sequences(redis_client))) > 0


def test_ingester_consumer_names_follow_supervisor_process_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from blueplane_core.consumer import consumer_name

    monkeypatch.setenv("SUPERVISOR_PROCESS_NAME", "ingest-3")
    first = consumer_name("ingest")
    assert first.endswith("-3") and first == consumer_name("ingest")
    monkeypatch.delenv("SUPERVISOR_PROCESS_NAME")
    assert consumer_name("ingest") != first
