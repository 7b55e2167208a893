"""The insight worker: each rule fires on the pattern it names, from metadata only."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from blueplane_core import streams
from blueplane_core.emit import Emitter
from blueplane_workers import conversations, insight_phrasing, insights
from blueplane_workers.insight_rules import Insight
from blueplane_workers.loop import Settings
from blueplane_workers.metrics import build_worker as build_metrics
from tests.helpers import ingest_all
from tests.workloads import OPUS, W1, ev

NOW = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
HAIKU = "claude-haiku-4-5-20251001"


def workload() -> list[dict]:
    out = []
    s1, s2, s3 = "ins-1", "ins-2", "ins-3"
    # s1: opus, 10 prompts each with an expensive request that barely uses the cache
    for i in range(10):
        t = i * 60
        out.append(ev("user_prompt", t, session=s1, prompt_id=f"a{i}"))
        for j in range(2):
            out.append(
                ev(
                    "api_request",
                    t + 1 + j,
                    session=s1,
                    source="otlp",
                    model=OPUS,
                    request_id=f"ra{i}-{j}",
                    input_tokens=20_000,
                    output_tokens=100,
                    cache_read_tokens=100,
                )
            )
    # s1: pytest fails three times in a row; Bash fails 4 of 10 times overall
    for i in range(10):
        out.append(
            ev(
                "tool_use",
                700 + i * 2,
                session=s1,
                tool_name="Bash",
                tool_use_id=f"b{i}",
                program="pytest" if i < 3 else "ls",
            )
        )
        out.append(
            ev(
                "tool_result",
                701 + i * 2,
                session=s1,
                tool_name="Bash",
                tool_use_id=f"b{i}",
                success=i >= 3 and i != 9,
                program="pytest" if i < 3 else "ls",
                duration_ms=50,
            )
        )
    # s1: three edit proposals never answered (rejected in a row), on files never read
    for i in range(3):
        out.append(
            ev(
                "tool_use",
                800 + i,
                session=s1,
                tool_name="Edit",
                tool_use_id=f"e{i}",
                file_hash=f"f{i}",
            )
        )
    for i in range(3, 6):  # plus three applied edits, also unread
        out.append(
            ev(
                "tool_result",
                810 + i,
                session=s1,
                tool_name="Edit",
                tool_use_id=f"e{i}",
                success=True,
                lines_added=1,
                file_hash=f"f{i}",
            )
        )
    # s1: write -> delete -> write of one file
    out.append(
        ev(
            "tool_result",
            900,
            session=s1,
            tool_name="Write",
            tool_use_id="w1",
            success=True,
            file_hash="churn",
        )
    )
    out.append(ev("file_edit", 901, session=s1, file_hash="churn", operation="delete"))
    out.append(
        ev(
            "tool_result",
            902,
            session=s1,
            tool_name="Write",
            tool_use_id="w2",
            success=True,
            file_hash="churn",
        )
    )
    # s2: haiku, 10 cheap prompts
    for i in range(10):
        out.append(ev("user_prompt", 2000 + i * 60, session=s2, prompt_id=f"h{i}"))
        out.append(
            ev(
                "api_request",
                2001 + i * 60,
                session=s2,
                source="otlp",
                model=HAIKU,
                request_id=f"rh{i}",
                input_tokens=100,
                output_tokens=10,
            )
        )
    # s3: compacted three times
    for i in range(3):
        out.append(ev("compaction", 3000 + i * 600, session=s3, phase="post"))
    out.append(
        ev(
            "commit",
            960,
            session="repo",
            platform="git",
            source="git_hook",
            commit_hash="c9",
            workspace=W1,
        )
    )
    return out


def run_all(cfg, conn, client) -> insights.InsightWorker:
    Emitter(client).emit_many(workload())
    ingest_all()
    fast = Settings(idle_block_ms=20)
    build_metrics(cfg, "m", conn, client, settings=fast).run(burst=True)
    conversations.build_worker(cfg, "c", conn, client, settings=fast).run(burst=True)
    worker = insights.build_worker(cfg, "i", conn, client, settings=fast, now=NOW)
    worker.run(burst=True)
    return worker


def rows(conn) -> dict[tuple[str, str], dict]:
    cursor = conn.execute("SELECT * FROM insights")
    names = [d[0] for d in cursor.description]
    out = {}
    for row in cursor:
        item = dict(zip(names, row, strict=True))
        item["evidence"] = json.loads(item["evidence"])
        out[(item["kind"], item["subject"])] = item
    return out


def test_every_rule_fires_on_its_pattern_with_evidence(cfg, redis_client, writer_conn):
    worker = run_all(cfg, writer_conn, redis_client)
    assert worker.runs >= 1
    found = rows(writer_conn)
    bash = found[("error_prone_tool", "Bash")]
    assert bash["evidence"] == {"tool_calls": 10, "tool_errors": 4, "error_rate": 0.4}
    assert bash["severity"] == "critical" and bash["heuristic"] == 0
    cache = found[("low_cache_hit_ratio", "")]
    assert cache["evidence"]["requests"] == 30 and cache["evidence"]["cache_hit_ratio"] < 0.3
    # today's 2 USD has no baseline (no spend in the week before): no ratio, no spike
    assert ("cost_spike", "2026-11-20") not in found
    assert found[("repeated_compaction", "ins-3")]["evidence"]["compactions"] == 3
    assert found[("rejected_edits_in_a_row", "ins-1")]["evidence"] == {"longest_rejected_streak": 3}
    assert found[("costlier_model", OPUS)]["evidence"]["compared_with"] == HAIKU
    retry = found[("shell_retry_loop", "ins-1:pytest")]
    assert (
        retry["evidence"] == {"program": "pytest", "runs_in_a_row": 3} and retry["heuristic"] == 1
    )
    assert found[("write_delete_write", "ins-1")]["evidence"] == {"files": 1}
    rbe = found[("low_read_before_edit", "ins-1")]
    assert rbe["evidence"]["edits_after_read"] == 0 and rbe["evidence"]["edits"] >= 5
    commits = found[("sessions_linked_to_commits", "")]
    assert commits["evidence"] == {"commits": 1, "agent_assisted_commits": 1, "linked_sessions": 1}
    assert all(item["phrased"] is None for item in found.values())  # provider off
    assert all(item["suggestion"] for item in found.values())


def _spend(session: str, t: float, model: str, request: str, **tokens: int) -> dict:
    return ev(
        "api_request", t, session=session, source="otlp", model=model, request_id=request, **tokens
    )


def test_cost_spike_needs_a_baseline_of_days_with_spend(cfg, redis_client, writer_conn):
    day = 86_400
    batch = [
        # Haiku 4.5 input is 1 USD per million tokens (Anthropic's price list): 1.00 USD a day
        # on three of the seven days before; the other four days spend nothing
        *(_spend("sp-old", -k * day, HAIKU, f"old{k}", input_tokens=1_000_000) for k in (1, 2, 4)),
        # today: Opus 4.x input is 5 USD per million: 2 x 250,000 tokens = 2.50 USD
        *(_spend("sp-now", 60 + i, OPUS, f"now{i}", input_tokens=250_000) for i in range(2)),
    ]
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    fast = Settings(idle_block_ms=20)
    build_metrics(cfg, "m", writer_conn, redis_client, settings=fast).run(burst=True)
    conversations.build_worker(cfg, "c", writer_conn, redis_client, settings=fast).run(burst=True)
    insights.build_worker(cfg, "i", writer_conn, redis_client, settings=fast, now=NOW).run(
        burst=True
    )
    spike = rows(writer_conn)[("cost_spike", "2026-11-20")]
    # the median of the three days with spend is 1.00 USD (the four empty days do not pull it
    # to 0); 2.50 USD is 2.5 times that
    assert spike["evidence"]["median_cost_usd_7d"] == 1.0
    assert spike["evidence"]["days_with_spend_7d"] == 3
    assert spike["evidence"]["cost_usd_today"] == 2.5
    assert spike["title"].startswith("Cost today is 2.5x the median of the 3 days")


def test_recomputing_keeps_rows_and_first_seen_time(cfg, redis_client, writer_conn):
    worker = run_all(cfg, writer_conn, redis_client)
    before = rows(writer_conn)
    worker.recompute()
    after = rows(writer_conn)
    assert before.keys() == after.keys()
    for key in before:
        assert after[key]["created_at"] == before[key]["created_at"]
        assert after[key]["evidence"] == before[key]["evidence"]


def test_insight_that_no_longer_holds_is_removed(writer_conn):
    item = Insight("repeated_compaction", "s", "info", "t", {"compactions": 3}, "x")
    insights.store_insights(writer_conn, [item])
    insights.store_insights(writer_conn, [])
    assert writer_conn.execute("SELECT count(*) FROM insights").fetchone()[0] == 0


def test_llm_prompt_is_built_from_metadata_only():
    item = Insight(
        "shell_retry_loop",
        "secret-session:pytest",
        "warning",
        "`pytest` run 3 times",
        {"program": "pytest", "runs_in_a_row": 3},
        "step in",
        session_id="sess-xyz",
    )
    prompt = insight_phrasing.build_prompt(item)
    facts = json.loads(prompt.split("\n", 1)[1])
    assert set(facts) == {"kind", "severity", "heuristic", "title", "evidence", "suggestion"}
    assert "sess-xyz" not in prompt and "secret-session" not in prompt
    request = insight_phrasing.HttpPhraser("anthropic", "", "").request(prompt)
    assert json.loads(request.data)["messages"][0]["content"] == prompt


def test_provider_off_never_phrases():
    assert (
        insight_phrasing.from_config("off").phrase(Insight("k", "", "info", "t", {}, "s")) is None
    )


def test_stale_mark_survives_a_crash_between_ack_and_recompute(cfg, redis_client, writer_conn):
    fast = _workload_through_the_workers(cfg, redis_client, writer_conn)
    first = insights.build_worker(cfg, "i", writer_conn, redis_client, settings=fast, now=NOW)
    first.interval_s = 3600
    first._last_run = time.monotonic()  # it just ran: the next run is due much later
    first.reader.setup()
    while first.step():
        pass  # acknowledges every entry, recomputes nothing yet; then "crashes"
    assert redis_client.xpending(streams.CDC_STREAM, streams.INSIGHTS_GROUP)["pending"] == 0
    assert insights.stale_since(writer_conn) is not None
    assert not rows(writer_conn)
    second = insights.build_worker(cfg, "i", writer_conn, redis_client, settings=fast, now=NOW)
    second.run(burst=True)
    assert ("error_prone_tool", "Bash") in rows(writer_conn)
    assert insights.stale_since(writer_conn) is None


def test_a_quiet_stream_after_a_burst_recomputes_before_the_interval(
    cfg, redis_client, writer_conn, monkeypatch
):
    """A first start's backfill: once the stream goes quiet its insights are computed at once;
    a few live changes still wait for the interval."""
    fast = _workload_through_the_workers(cfg, redis_client, writer_conn)
    entries = redis_client.xlen(streams.CDC_STREAM)
    for threshold, recomputed in ((entries + 1, False), (entries, True)):
        redis_client.xgroup_destroy(streams.CDC_STREAM, streams.INSIGHTS_GROUP)
        writer_conn.execute("DELETE FROM insights")
        monkeypatch.setattr(insights, "CATCH_UP_ENTRIES", threshold)
        worker = insights.build_worker(cfg, "i", writer_conn, redis_client, settings=fast, now=NOW)
        worker.interval_s = 3600
        worker._last_run = time.monotonic()  # it just ran: the interval is far off
        worker.reader.setup()
        while worker.step():
            pass
        worker.idle()  # the stream is quiet
        assert (insights.stale_since(writer_conn) is None) is recomputed
        assert bool(rows(writer_conn)) is recomputed


def test_a_burst_waits_for_the_workers_the_rules_read(cfg, redis_client, writer_conn):
    """Quiet after a burst, but the conversation worker is still behind: no recomputation yet
    (it would miss the last rows); once it caught up, the next quiet moment recomputes."""
    fast = _workload_through_the_workers(cfg, redis_client, writer_conn, fold=False)
    worker = insights.build_worker(cfg, "i", writer_conn, redis_client, settings=fast, now=NOW)
    worker.interval_s = 3600
    worker._last_run = time.monotonic()
    worker.reader.setup()
    while worker.step():
        pass
    conv = conversations.build_worker(cfg, "c", writer_conn, redis_client, settings=fast)
    conv.reader.setup()  # its group exists and has read nothing
    worker._burst = insights.CATCH_UP_ENTRIES
    worker.idle()
    assert insights.stale_since(writer_conn) is not None and not rows(writer_conn)
    conv.run(burst=True)
    worker.idle()
    assert insights.stale_since(writer_conn) is None and rows(writer_conn)


def test_while_the_sources_catch_up_the_quiet_stream_is_read_again_soon(
    cfg, redis_client, writer_conn
):
    """Quiet after a burst with the conversation worker behind: the next read of the quiet
    stream blocks CATCH_UP_POLL_S, not the idle block (1 s by default), so the recomputation
    follows the sources' catching up at once; then reads block the whole idle block again."""
    _workload_through_the_workers(cfg, redis_client, writer_conn, fold=False)
    settings = Settings(idle_block_ms=200)
    worker = insights.build_worker(cfg, "i", writer_conn, redis_client, settings=settings, now=NOW)
    worker.interval_s = 3600
    worker._last_run = time.monotonic()
    conv = conversations.build_worker(
        cfg, "c", writer_conn, redis_client, settings=Settings(idle_block_ms=20)
    )
    conv.reader.setup()  # its group exists and has read nothing
    worker._burst = insights.CATCH_UP_ENTRIES
    worker.idle()
    assert worker.collector.idle_block_ms == insights.CATCH_UP_POLL_S * 1000 < 200
    conv.run(burst=True)
    worker.idle()
    assert worker.collector.idle_block_ms == 200


def test_full_batches_do_not_recompute_until_the_stream_eases(cfg, redis_client, writer_conn):
    """A backfill: while every batch comes full (more is waiting), an interval that has passed
    does not recompute (the rules would read tables still filling); the first batch that is not
    full does."""
    _workload_through_the_workers(cfg, redis_client, writer_conn)
    entries = redis_client.xlen(streams.CDC_STREAM)
    assert entries > 2
    size = entries - 1  # one full batch, then one entry
    worker = insights.build_worker(
        cfg, "i", writer_conn, redis_client, settings=Settings(idle_block_ms=20, batch_size=size)
    )
    worker.interval_s = 1.0
    worker.runs = 1  # it ran before ...
    worker._last_run = time.monotonic() - 5.0  # ... and the interval has passed
    worker.reader.setup()
    assert worker.step() == size
    assert worker.runs == 1 and insights.stale_since(writer_conn) is not None
    assert worker.step() == 1  # not full: recomputed
    assert worker.runs == 2 and insights.stale_since(writer_conn) is None


def test_a_burst_recomputed_midway_still_recomputes_when_it_ends(
    cfg, redis_client, writer_conn, monkeypatch
):
    """A recomputation in the middle of a burst (its interval passed) does not make the burst's
    last entries wait for the next interval: the quiet after the burst recomputes at once."""
    _workload_through_the_workers(cfg, redis_client, writer_conn)
    entries = redis_client.xlen(streams.CDC_STREAM)
    monkeypatch.setattr(insights, "CATCH_UP_ENTRIES", entries)
    size = entries - 1
    worker = insights.build_worker(
        cfg, "i", writer_conn, redis_client, settings=Settings(idle_block_ms=20, batch_size=size)
    )
    worker.interval_s = 1.0
    worker.runs = 1
    worker._last_run = time.monotonic() - 100 * worker.interval_s  # long overdue
    worker.reader.setup()
    assert worker.step() == size and worker.runs == 2  # recomputed midway
    assert worker.step() == 1  # the burst's last entry: the interval has not passed again
    assert worker.runs == 2 and insights.stale_since(writer_conn) is not None
    assert worker.step() == 0
    worker.idle()  # the stream is quiet
    assert worker.runs == 3 and insights.stale_since(writer_conn) is None


def _workload_through_the_workers(cfg, redis_client, writer_conn, *, fold=True):
    """The workload stored and counted by the metrics worker (and, unless told otherwise, folded
    by the conversation worker), each drained in burst mode; returns their fast settings."""
    Emitter(redis_client).emit_many(workload())
    ingest_all()
    fast = Settings(idle_block_ms=20)
    build_metrics(cfg, "m", writer_conn, redis_client, settings=fast).run(burst=True)
    if fold:
        conversations.build_worker(cfg, "c", writer_conn, redis_client, settings=fast).run(
            burst=True
        )
    return fast
