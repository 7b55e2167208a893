"""The metrics worker: every number of a mixed workload, exactly once, and rebuild = live."""

from __future__ import annotations

import random
import time

import pytest
import redis

from blueplane_core import config, pricing, redis_conn, streams
from blueplane_core import metric_keys as mk
from blueplane_core.emit import Emitter
from blueplane_core.events import format_timestamp, make_event
from blueplane_core.lifecycle import Shutdown
from blueplane_workers.cdc import CdcReader
from blueplane_workers.loop import Settings
from blueplane_workers.metrics import build_worker
from blueplane_workers.rebuild import rebuild_metrics
from tests.helpers import ingest_all
from tests.workloads import OPUS, W1, W2, generated, mixed


def run_metrics(cfg, conn, client, consumer="m-test", **settings) -> dict:
    worker = build_worker(
        cfg, consumer, conn, client, settings=Settings(idle_block_ms=20, **settings)
    )
    return worker.run(burst=True).as_dict()


def counters(client: redis.Redis, scope: str = "all", period: str = "total") -> dict[str, int]:
    return mk.decode_counters(client.hgetall(mk.counters_key(scope, period)))


def snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every metric a reader can see (counters, indexes, series), as plain values."""
    out: dict[bytes, object] = {}
    for key in client.scan_iter(match=mk.PREFIX + "*"):
        for kind in (b":c:", b":min:"):
            if kind in key:
                out[key] = {f: int(v) for f, v in client.hgetall(key).items() if int(v)}
        if b":idx:" in key:
            out[key] = dict(client.zrange(key, 0, -1, withscores=True))
    return {k: v for k, v in out.items() if v}


@pytest.fixture
def mixed_metrics(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    stats = run_metrics(cfg, writer_conn, redis_client)
    assert stats["applied"] == len(mixed())
    return redis_client


def test_mixed_workload_totals_match_hand_computed_numbers(mixed_metrics):
    c = counters(mixed_metrics)
    # r1 (OTel wins over the transcript's partial output), r2 (1 h cache write), r3 (OTel only)
    # and session B's unpriced request.
    assert c["requests"] == 4
    assert c["input_tokens"] == 100 + 50 + 1000 + 10
    assert c["output_tokens"] == 200 + 60 + 100 + 20
    assert c["cache_write_tokens"] == 1000 + 200
    assert c["cache_read_tokens"] == 5000 + 1000
    # opus-4-8: r1 = 100*5 + 200*25 + 1000*6.25 + 5000*0.5 = 14250 uUSD; r2 = 50*5 + 60*25 +
    # 200*(2*5) + 1000*0.5 = 4250; r3 = 1000*5 + 100*25 = 7500 (USD per million tokens).
    assert c["cost_nusd"] == (14250 + 4250 + 7500) * 1000
    assert c["unpriced_requests"] == 1
    assert c["reported_cost_nusd"] == 14_250_000
    assert c["prompts"] == 3  # p1 seen by hook and OTel counts once
    assert c["tool_calls"] == 3 and c["tool_errors"] == 1
    assert c["lines_added"] == 15 and c["lines_removed"] == 3
    assert c["edits_accepted"] == 2 and c["edits_rejected"] == 2
    assert c["compactions"] == 1  # pre + post hook and OTel: one compaction
    assert c["commits"] == 2 and c["agent_assisted_commits"] == 1
    assert c["sessions"] == 2  # git repositories are not sessions
    assert c["events"] == len(mixed())
    # A: gaps 10,10,1,9,1,9,10,2 then idle 348 s, then 10,10,5,5 = 82 s; B: 5,5,1,1 = 12 s
    assert c["active_ms"] == 94_000


def test_mixed_workload_breakdowns_by_dimension_and_period(mixed_metrics):
    client = mixed_metrics
    a = counters(client, mk.scope("session", "sess-a"))
    assert (a["prompts"], a["requests"], a["active_ms"], a["compactions"]) == (2, 3, 82_000, 1)
    b = counters(client, mk.scope("platform", "cursor"))
    assert (b["requests"], b["unpriced_requests"], b["cost_nusd"]) == (1, 1, 0)
    assert mk.cost_usd(b) is None  # unknown, never 0
    opus = counters(client, mk.scope("model", OPUS))
    assert opus["cost_nusd"] == 26_000_000 and mk.cost_usd(opus) == pytest.approx(0.026)
    edit = counters(client, mk.scope("tool", "Edit"))
    assert (edit["tool_calls"], edit["edits_accepted"], edit["edits_rejected"]) == (2, 1, 1)
    bash = counters(client, mk.scope("tool", "Bash"))
    assert (bash["tool_calls"], bash["tool_errors"]) == (1, 1)
    w1 = counters(client, mk.scope("workspace", W1))
    assert (w1["commits"], w1["agent_assisted_commits"]) == (1, 1)
    # r1's numbers come from OTel, its workspace from the transcript; r3 was seen by OTel only
    assert w1["cost_nusd"] == (14250 + 4250) * 1000 and w1["output_tokens"] == 260
    assert counters(client, mk.scope("workspace", W2))["agent_assisted_commits"] == 0
    day = counters(client, "all", mk.day_period("2026-11-20"))
    assert day["requests"] == 4 and day["sessions"] == 2
    hour10 = counters(client, "all", mk.hour_period("2026-11-20T10"))
    hour11 = counters(client, "all", mk.hour_period("2026-11-20T11"))
    assert (hour10["requests"], hour11["requests"]) == (3, 1)
    assert (hour10["active_ms"], hour11["active_ms"]) == (82_000, 12_000)
    models = {m.decode() for m in client.zrange(mk.index_key("model"), 0, -1)}
    assert models == {OPUS, "claude-mystery-1"}


def test_the_worker_writes_the_documented_key_kinds_only(mixed_metrics):
    """Layout 3 (metric_keys): counters, distinct-session sets, indexes, the minute series and
    the worker's own bookkeeping; no duration histograms (``hist:``), which nothing read."""
    kinds = {
        key.decode()[len(mk.PREFIX) :].split(":", 1)[0]
        for key in mixed_metrics.scan_iter(match=mk.PREFIX + "*")
    }
    # (the workload's events are more than a day old: no per-minute series, ``min:``)
    assert kinds == {
        "c", "distinct", "idx", "meta",
        "applied", "fact", "active", "wsact", "wscommit", "assisted", "committargets",
    }  # fmt: skip


def test_redelivered_and_duplicate_entries_change_nothing(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    run_metrics(cfg, writer_conn, redis_client)
    before = snapshot(redis_client)
    # The ingester may send a sequence's CDC entry twice: replay every entry once more.
    for _id, fields in redis_client.xrange(streams.CDC_STREAM):
        redis_client.xadd(streams.CDC_STREAM, fields)
    stats = run_metrics(cfg, writer_conn, redis_client, "m-other")
    assert stats["skipped"] == len(mixed()) and stats["applied"] == 0
    assert snapshot(redis_client) == before
    assert redis_client.xpending(streams.CDC_STREAM, streams.METRICS_GROUP)["pending"] == 0


def test_entries_of_a_dead_consumer_are_reclaimed_and_counted_once(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    # "dead" reads every entry and dies before applying anything.
    dead = CdcReader(redis_client, streams.METRICS_GROUP, "dead")
    assert len(dead.read_new(1000, 10)) == len(mixed())
    run_metrics(cfg, writer_conn, redis_client, "rescuer", claim_idle_ms=1)
    assert counters(redis_client)["requests"] == 4
    assert counters(redis_client)["events"] == len(mixed())


def test_entry_delivered_too_often_is_dead_lettered(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(mixed()[:3])
    ingest_all()
    for _ in range(3):  # three consumers read it and die
        CdcReader(redis_client, streams.METRICS_GROUP, "dead").reclaim(0, 100) or CdcReader(
            redis_client, streams.METRICS_GROUP, "dead"
        ).read_new(100, 10)
    redis_client.xadd(streams.CDC_STREAM, {"type": "bogus"})  # no sequence: malformed
    run_metrics(cfg, writer_conn, redis_client, "m", claim_idle_ms=1, max_deliveries=1)
    dlq = redis_client.xrange(streams.DLQ_STREAM)
    reasons = [fields[streams.DLQ_REASON.encode()].decode() for _, fields in dlq]
    assert any("no valid 'seq'" in r for r in reasons)
    assert any("delivered" in r for r in reasons)
    assert redis_client.xpending(streams.CDC_STREAM, streams.METRICS_GROUP)["pending"] == 0


def test_rebuild_gives_the_same_numbers_as_live_processing(cfg, redis_client, writer_conn):
    workload = mixed() + generated(1500, seed=3)
    Emitter(redis_client).emit_many(workload)
    ingest_all()
    # live: two consumers taking turns on small batches, so facts meet across batches
    w1 = build_worker(
        cfg, "m1", writer_conn, redis_client, settings=Settings(idle_block_ms=5, batch_size=37)
    )
    w2 = build_worker(
        cfg, "m2", writer_conn, redis_client, settings=Settings(idle_block_ms=5, batch_size=53)
    )
    while w1.step() + w2.step():
        pass
    live = snapshot(redis_client)
    assert counters(redis_client)["events"] == len(workload)
    prices = pricing.load()
    rebuild_metrics(writer_conn, redis_client, prices)
    assert snapshot(redis_client) == live
    # and in a shuffled order
    order = [r[0] for r in writer_conn.execute("SELECT sequence FROM raw_traces")]
    random.Random(5).shuffle(order)
    rebuild_metrics(writer_conn, redis_client, prices, order=order)
    assert snapshot(redis_client) == live


def test_live_reading_ahead_during_the_script_equals_rebuild(cfg, redis_client, writer_conn):
    """The shared RESP client sends the next batch's XREADGROUP ahead of each script and the
    worker loads that batch meanwhile: facts met across batches (the same request from OTel and
    the transcript), duplicate CDC entries and two consumers still count once each."""
    workload = mixed() + generated(1500, seed=3)
    Emitter(redis_client).emit_many(workload)
    ingest_all()
    for _id, fields in redis_client.xrange(streams.CDC_STREAM, count=300):
        redis_client.xadd(streams.CDC_STREAM, fields)  # duplicates, read ahead like the rest
    clients = [redis_conn.connect(cfg), redis_conn.connect(cfg)]
    sent_ahead = [0]
    for client in clients:
        send = client.send_ahead

        def counted(commands, send=send):
            sent_ahead[0] += 1
            return send(commands)

        client.send_ahead = counted  # type: ignore[method-assign]
    w1, w2 = (
        build_worker(cfg, name, writer_conn, client, settings=Settings(idle_block_ms=5, **s))
        for name, client, s in (
            ("m1", clients[0], {"batch_size": 37}),
            ("m2", clients[1], {"batch_size": 53}),
        )
    )
    while w1.step() + w2.step():
        pass
    done = [w.counters for w in (w1, w2)]
    assert sum(c.applied for c in done) == len(workload)
    assert sum(c.skipped for c in done) == 300
    assert sent_ahead[0] >= len(workload) // 53  # nearly every batch read the next one ahead
    assert redis_client.xpending(streams.CDC_STREAM, streams.METRICS_GROUP)["pending"] == 0
    live = snapshot(redis_client)
    assert counters(redis_client)["events"] == len(workload)
    rebuild_metrics(writer_conn, redis_client, pricing.load())
    assert snapshot(redis_client) == live


def test_a_fact_met_in_the_next_batch_is_read_after_the_script(cfg, redis_client, writer_conn):
    """One event per batch: each batch's applied bits and fact states are read behind the
    previous script (same connection, replies with its reply), so they see what it stored: the
    OTel request that beats the transcript's in the next batch is never refused."""
    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    worker = build_worker(
        cfg, "m", writer_conn, redis_conn.connect(cfg), settings=Settings(batch_size=1)
    )
    stats = worker.run(burst=True)
    assert stats.applied == len(mixed()) and stats.retries == 0
    assert counters(redis_client)["requests"] == 4
    assert counters(redis_client)["output_tokens"] == 200 + 60 + 100 + 20


def test_rebuild_after_live_leaves_pending_entries_uncounted_twice(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    rebuild_metrics(writer_conn, redis_client, pricing.load())
    rebuilt = snapshot(redis_client)
    stats = run_metrics(cfg, writer_conn, redis_client)
    assert stats["skipped"] == len(mixed())
    assert snapshot(redis_client) == rebuilt


def test_worker_main_exits_with_config_code_on_bad_value(monkeypatch):
    from blueplane_workers import metrics

    monkeypatch.setenv("BLUEPLANE_WORKERS_BATCH_SIZE", "lots")
    assert metrics.main(["--burst"]) == config.EXIT_CONFIG


def test_shutdown_stops_the_loop(cfg, redis_client, writer_conn):
    shutdown = Shutdown()
    shutdown.request()
    worker = build_worker(cfg, "m", writer_conn, redis_client, shutdown=shutdown)
    assert worker.run().batches == 0


def test_rebuild_commands_recompute_metrics_and_conversations(cfg, redis_client, writer_conn):
    from typer.testing import CliRunner

    from blueplane_workers.cli import rebuild_app

    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    run_metrics(cfg, writer_conn, redis_client)
    live = snapshot(redis_client)
    redis_client.hset(mk.counters_key("all"), "requests", 999)  # damage
    result = CliRunner().invoke(rebuild_app, ["metrics"])
    assert result.exit_code == 0, result.output
    assert f"from {len(mixed())} events" in result.output
    assert snapshot(redis_client) == live
    result = CliRunner().invoke(rebuild_app, ["conversations"])
    assert result.exit_code == 0, result.output
    assert writer_conn.execute("SELECT count(*) FROM conversations").fetchone()[0] == 2


def test_event_seconds_parse_like_the_envelope_clock() -> None:
    from blueplane_workers.metric_effects import _unix

    for stamp in (
        "2026-11-23T18:04:05.123Z",
        "2026-11-23T23:59:59.999Z",
        "2024-02-29T00:00:00Z",
        "2026-11-23T18:04:05.123+00:00",
    ):
        assert _unix(stamp) == mk.unix_seconds(stamp), stamp


def test_recent_requests_are_kept_per_minute_for_the_live_block(cfg, redis_client, writer_conn):
    now = int(time.time())
    minute = now - now % 60 - 120  # two minutes ago: inside the day the series keeps
    old = now - 3 * 86400  # older than the series keeps: counted, but not per minute
    batch = [
        make_event(
            event_type="api_request",
            platform="claude_code",
            source="otlp",
            session_id="minute-session",
            payload={"request_id": f"min{i}", "input_tokens": 10 * (i + 1), "output_tokens": 5},
            metadata={"model": OPUS},
            timestamp=format_timestamp(at),
        )
        for i, at in enumerate((minute + 1, minute + 30, minute + 59, old))
    ]
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_metrics(cfg, writer_conn, redis_client)
    hour = minute - minute % mk.MINUTE_CHUNK_S
    for scope in ("all", mk.scope("platform", "claude_code")):
        key = mk.minute_chunk_key(scope, hour)
        fields = {mk.parse_minute_field(f): int(v) for f, v in redis_client.hgetall(key).items()}
        # three requests in one minute: 10 + 20 + 30 input tokens, 3 x 5 output tokens
        assert fields[(minute, "requests")] == 3
        assert fields[(minute, "input_tokens")] == 60 and fields[(minute, "output_tokens")] == 15
        assert {m for m, _ in fields} == {minute}
        ttl = redis_client.ttl(key)
        assert 0 < ttl <= mk.MINUTE_CHUNK_S + mk.MINUTE_RETENTION_S
    assert not list(redis_client.scan_iter(match=mk.PREFIX + "min:model*"))
    assert counters(redis_client)["requests"] == 4


def test_live_numbers_of_a_project_sum_its_workspaces(cfg, redis_client, redis_url, writer_conn):
    """``--project`` reaches the live block too: its counters and per-minute block are the sums
    of the workspaces of the folders it matched; with a platform as well it says it cannot."""
    from blueplane_query.filters import Filter
    from blueplane_query.live import Unfilterable, snapshot
    from blueplane_query.projects import Match
    from blueplane_query.redis_reader import RedisReader

    now = int(time.time())
    minute = now - now % 60 - 60
    w1, w2, w3 = "a1" * 12, "b2" * 12, "c3" * 12
    batch = [
        make_event(
            event_type="api_request",
            platform="claude_code",
            source="otlp",
            session_id=f"project-session-{i}",
            payload={"request_id": f"pr{i}", "input_tokens": tokens, "output_tokens": 1},
            metadata={"model": OPUS, "workspace_hash": workspace},
            timestamp=format_timestamp(minute + i),
        )
        for i, (workspace, tokens) in enumerate(((w1, 100), (w2, 20), (w3, 3), (w1, 1000)))
    ]
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_metrics(cfg, writer_conn, redis_client)
    project = Filter(project="p", match=Match(projects=("p",), workspaces=(w1, w2)))
    with RedisReader(redis_url) as reader:
        live = snapshot(reader, project, now=now)
        everything = snapshot(reader, Filter(), now=now)
        with pytest.raises(Unfilterable):
            snapshot(reader, Filter(platform="claude_code", project="p", match=project.match))
    # w1 and w2: 100 + 1000 + 20 input tokens in 3 requests; w3's 3 tokens are another project's
    assert (live["today"]["requests"], live["today"]["input_tokens"]) == (3, 1120)
    assert (live["block"]["requests"], live["block"]["input_tokens"]) == (3, 1120)
    assert (everything["today"]["requests"], everything["block"]["input_tokens"]) == (4, 1123)


def test_live_today_is_the_local_day_and_counts_a_session_once(
    cfg, redis_client, redis_url, writer_conn
):
    """In a zone five hours east of UTC, "today" at 2026-11-20 08:00 local began at 19:00 UTC
    the day before: it holds the requests at 19:10 and 02:00 UTC (one session, in two hours)
    and not the one at 18:30 UTC (23:30 local, yesterday)."""
    from datetime import UTC, datetime

    from blueplane_query.filters import Filter
    from blueplane_query.live import snapshot
    from blueplane_query.periods import zone
    from blueplane_query.redis_reader import RedisReader

    def at(text: str) -> float:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    batch = [
        make_event(
            event_type="api_request",
            platform="claude_code",
            source="otlp",
            session_id=session,
            payload={"request_id": f"tz{i}", "input_tokens": tokens, "output_tokens": 1},
            metadata={"model": OPUS},
            timestamp=format_timestamp(at(stamp)),
        )
        for i, (stamp, session, tokens) in enumerate(
            (
                ("2026-11-19T18:30:00", "tz-yesterday", 1),
                ("2026-11-19T19:10:00", "tz-today", 10),
                ("2026-11-20T02:00:00", "tz-today", 100),
            )
        )
    ]
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_metrics(cfg, writer_conn, redis_client)
    now = at("2026-11-20T03:00:00")
    with RedisReader(redis_url) as reader:
        east = snapshot(reader, Filter(zone=zone("+05:00")), now=now)
        utc = snapshot(reader, Filter(zone=zone("UTC")), now=now)
    assert (east["today"]["requests"], east["today"]["input_tokens"]) == (2, 110)
    assert east["today"]["sessions"] == 1
    assert (utc["today"]["requests"], utc["today"]["input_tokens"]) == (1, 100)
    assert east["total"]["requests"] == utc["total"]["requests"] == 3
