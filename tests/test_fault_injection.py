"""One deterministic test per delivery safety rule (issue 12). Each injects its fault at the one
instant that matters, so it fails on EVERY run when its rule is broken (the random chaos tests
catch these only sometimes):

1. nothing is acknowledged before its SQLite commit (a crash between the two loses nothing and
   stores nothing twice);
2. two metrics consumers racing on one fact count it once (the Lua script refuses a batch whose
   fact state changed after it was read);
3. an event delivered twice is stored once (``UNIQUE(event_id)``).

Each was checked by breaking its rule on purpose: moving ``bus.finish`` before the SQLite write
in ``Committer.commit``, deleting the fact check from ``metrics_store._APPLY_LUA``, and
dropping ``UNIQUE (event_id)`` from migration 1 each make the matching test fail.
"""

from __future__ import annotations

import copy

import pytest
import redis

from blueplane_core import config, db, pricing, streams, synthetic
from blueplane_core import metric_keys as mk
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from blueplane_ingest.bus import IngestBus, Outcome
from blueplane_ingest.ingester import Ingester, Settings
from blueplane_ingest.writer import BatchWriter, Stored
from blueplane_workers.metrics import MetricsApplier
from blueplane_workers.metrics_store import MetricsStore
from blueplane_workers.rebuild import rebuild_metrics
from tests.helpers import ingest_all
from tests.workloads import OPUS, ev


class Crash(BaseException):
    """The process dies here (BaseException: no loop catches it, as no loop survives a kill)."""


class CrashingBus(IngestBus):
    """The Redis epilogue (CDC + XACK) never runs: death right after the SQLite commit."""

    def finish(self, outcome: Outcome) -> int:
        raise Crash


class CrashingWriter(BatchWriter):
    """Death inside the write, before its transaction commits."""

    def store(self, batch: list, rows: list) -> list[Stored]:
        raise Crash


def _ingester(client: redis.Redis, conn, bus_class=IngestBus, writer_class=BatchWriter):
    settings = Settings(idle_block_ms=20, batch_size=100)
    writer = writer_class(conn, db.write_lock_for(conn))
    return Ingester(bus_class(client, "ingest-a"), writer, settings)


def _rows(conn) -> int:
    return int(conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0])


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(streams.EVENTS_STREAM, streams.INGEST_GROUP)["pending"])


def test_a_crash_before_the_commit_acknowledges_nothing(redis_client, writer_conn) -> None:
    Emitter(redis_client).emit_many(synthetic.take(40, seed=5))
    ingester = _ingester(redis_client, writer_conn, writer_class=CrashingWriter)
    ingester.bus.setup()
    with pytest.raises(Crash):
        ingester.step()
    assert _rows(writer_conn) == 0
    assert _pending(redis_client) == 40  # not one acknowledged: all will be read again
    assert redis_client.xlen(streams.CDC_STREAM) == 0
    ingest_all("ingest-a")  # the restarted consumer finishes its own pending entries
    assert _rows(writer_conn) == 40 and _pending(redis_client) == 0


def test_a_crash_between_commit_and_ack_loses_and_duplicates_nothing(
    redis_client, writer_conn
) -> None:
    sample = synthetic.take(40, seed=6)
    Emitter(redis_client).emit_many(sample)
    ingester = _ingester(redis_client, writer_conn, bus_class=CrashingBus)
    ingester.bus.setup()
    with pytest.raises(Crash):
        ingester.step()
    assert _rows(writer_conn) == 40  # committed
    assert _pending(redis_client) == 40  # but not acknowledged, and no CDC entry yet
    assert redis_client.xlen(streams.CDC_STREAM) == 0
    ingest_all("ingest-a")  # redelivered: rows exist, their CDC entries are sent now
    assert _rows(writer_conn) == 40 and _pending(redis_client) == 0
    sequences = [
        int(f[streams.CDC_SEQUENCE.encode()]) for _, f in redis_client.xrange(streams.CDC_STREAM)
    ]
    assert sorted(sequences) == list(range(1, 41))  # every stored row announced once


def test_an_event_delivered_twice_is_stored_once(redis_client, writer_conn) -> None:
    sample = synthetic.take(10, seed=7)
    emitter = Emitter(redis_client)
    emitter.emit_many([*sample, copy.deepcopy(sample[3])])  # a duplicate in the same batch
    ingest_all()
    emitter.emit_many([copy.deepcopy(sample[3]), copy.deepcopy(sample[8])])  # in a later one
    ingest_all()
    assert _rows(writer_conn) == 10
    ids = [bytes(r[0]) for r in writer_conn.execute("SELECT event_id FROM raw_traces")]
    assert len(set(ids)) == 10
    sequences = {
        int(f[streams.CDC_SEQUENCE.encode()]) for _, f in redis_client.xrange(streams.CDC_STREAM)
    }
    assert sequences == set(range(1, 11))  # the duplicates re-announce existing rows only


class RaceAfterRead(MetricsStore):
    """A metrics store that lets another consumer apply its batch in the one window that
    matters: after this consumer read the shared fact's state, before its script runs."""

    def __init__(self, *args, other=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.other = other

    def apply(self, effects, ack, stream=streams.CDC_STREAM, ahead=None):
        if self.other is not None:
            other, self.other = self.other, None
            other()
        return super().apply(effects, ack, stream, ahead)


def test_two_metrics_consumers_racing_on_one_fact_count_it_once(
    cfg, redis_client, writer_conn
) -> None:
    # One request seen by two sources: OTel (output 200) and the transcript (output 150, a
    # partial figure). One fact: OTel's numbers win, counted once.
    otel = ev(
        "api_request", 20, session="s1", source="otlp", workspace=None, model=OPUS,
        request_id="r1", input_tokens=100, output_tokens=200, cache_creation_tokens=0,
        cache_read_tokens=0, duration_ms=1500,
    )  # fmt: skip
    transcript = ev(
        "token_usage", 21, session="s1", source="transcript", model=OPUS, request_id="r1",
        message_id="m1", input_tokens=100, output_tokens=150, cache_creation_tokens=0,
        cache_read_tokens=0,
    )  # fmt: skip
    Emitter(redis_client).emit_many([otel, transcript])
    ingest_all()
    prices = pricing.load(config.load()["pricing.file"] or None)
    raw = RawEvents(writer_conn)
    group = streams.METRICS_GROUP
    # (ingest created every worker group at the start of the CDC stream)
    (a_entry,) = redis_client.xreadgroup(group, "m-a", {streams.CDC_STREAM: ">"}, count=1)[0][1]
    (b_entry,) = redis_client.xreadgroup(group, "m-b", {streams.CDC_STREAM: ">"}, count=1)[0][1]
    seq = streams.CDC_SEQUENCE.encode()

    b = MetricsApplier(MetricsStore(redis_client, group, "m-b"), raw, prices)

    def b_applies_first() -> None:
        b.apply({int(b_entry[1][seq]): [b_entry[0]]}, [], [b_entry[0]])

    store_a = RaceAfterRead(redis_client, group, "m-a", other=b_applies_first)
    a = MetricsApplier(store_a, raw, prices)
    applied, _skipped, retries = a.apply({int(a_entry[1][seq]): [a_entry[0]]}, [], [a_entry[0]])
    assert applied == 1 and retries == 1  # refused once (stale state), then recomputed
    totals = mk.decode_counters(redis_client.hgetall(mk.counters_key("all", "total")))
    assert totals["requests"] == 1
    assert totals["input_tokens"] == 100 and totals["output_tokens"] == 200  # not 350
    live = {k: v for k, v in totals.items() if v}
    rebuild_metrics(writer_conn, redis_client, prices)
    rebuilt = mk.decode_counters(redis_client.hgetall(mk.counters_key("all", "total")))
    assert {k: v for k, v in rebuilt.items() if v} == live
    assert not redis_client.xpending(streams.CDC_STREAM, group)["pending"]
