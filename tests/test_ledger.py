"""The request ledger: one row per API request, fields merged across sources (issue 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blueplane_core import events
from blueplane_core.emit import Emitter
from tests import real_runs
from tests.helpers import ingest_all
from tests.test_conversations import run_conversations

OPUS = "claude-opus-4-8"  # USD/Mtok: input 5, output 25, 5m write 6.25, read 0.50 (1h = 2x input)


def rows(conn, sql: str, *args: Any) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor]


def otel_requests() -> dict[str, dict[str, Any]]:
    """Every OTel api_request of the real runs, read straight from the export bodies."""
    found: dict[str, dict[str, Any]] = {}
    for body in sorted((real_runs.LIVE / "otlp_http_json").glob("*/*_v1_logs.json")):
        for resource in json.loads(body.read_text())["resourceLogs"]:
            for scope in resource["scopeLogs"]:
                for record in scope["logRecords"]:
                    attrs = {
                        a["key"]: next(iter(a["value"].values())) for a in record["attributes"]
                    }
                    if attrs.get("event.name") == "api_request":
                        found[attrs["request_id"]] = attrs
    return found


def test_real_runs_one_row_per_request_with_the_clients_own_cost(
    cfg, redis_client, writer_conn, tmp_path: Path
) -> None:
    real_runs.replay(redis_client, tmp_path)
    run_conversations(cfg, writer_conn, redis_client)
    ledger = {r["request_key"]: r for r in rows(writer_conn, "SELECT * FROM api_requests")}
    expected = otel_requests()
    # every request the client reported, once, whichever sources saw it
    assert set(ledger) == {f"api:{rid}" for rid in expected}
    for rid, attrs in expected.items():
        row = ledger[f"api:{rid}"]
        official = round(float(attrs["cost_usd"]) * 1e9)
        assert row["official_cost_nusd"] == official
        assert row["cost_nusd"] == official, rid  # computed = the client's own cost_usd
        assert row["model"] == attrs["model"]
        assert row["output_tokens"] == int(attrs["output_tokens"])
    # the /compact summary and the session title exist only in OTel; the rest also in transcripts
    only_otel = {r["query_source"] for r in ledger.values() if r["sources"] == "otlp"}
    assert only_otel == {"compact", "generate_session_title"}
    # a Haiku title request inside an Opus session keeps its own model and cost
    haiku = [r for r in ledger.values() if r["model"].startswith("claude-haiku")]
    assert [h["official_cost_nusd"] for h in haiku] == [3_096_350]
    # session totals are sums of the ledger
    for conv in rows(writer_conn, "SELECT * FROM conversations"):
        mine = [r for r in ledger.values() if r["session_id"] == conv["session_id"]]
        assert conv["requests"] == len(mine)
        assert conv["cost_nusd"] == sum(r["cost_nusd"] for r in mine)


def test_subagent_requests_count_on_the_turn_that_launched_them(
    cfg, redis_client, writer_conn, tmp_path: Path
) -> None:
    real_runs.replay(redis_client, tmp_path)
    run_conversations(cfg, writer_conn, redis_client)
    session = "822ed26f-d450-4065-b267-42865b9072c9"  # run C_agent: one Agent call
    turns = rows(
        writer_conn,
        "SELECT turn_index, kind, prompt_id, parent_turn_index, started_at"
        " FROM conversation_turns WHERE session_id = ? ORDER BY turn_index",
        session,
    )
    assert [t["started_at"] for t in turns] == sorted(t["started_at"] for t in turns)
    (prompt,) = [t for t in turns if t["kind"] == "prompt"]
    (sub,) = [t for t in turns if t["kind"] == "subagent"]
    assert sub["parent_turn_index"] == prompt["turn_index"]
    ledger = rows(
        writer_conn,
        "SELECT agent, agent_id, turn_index, prompt_id FROM api_requests WHERE session_id = ?",
        session,
    )
    # the subagent file of the run holds exactly one API response (agent a5791327c8364a295)
    assert sorted(r["agent"] for r in ledger) == ["main", "main", "subagent"]
    assert {r["turn_index"] for r in ledger} == {prompt["turn_index"]}
    assert {r["prompt_id"] for r in ledger} == {prompt["prompt_id"]}
    assert [r["agent_id"] for r in ledger if r["agent"] == "subagent"] == ["a5791327c8364a295"]


def usage_events(order: str) -> list[dict[str, Any]]:
    """One request seen by the transcript (with the 5m/1h split) and by OTel (total only).

    By hand: 10 in x 5 + 200 out x 25 + 1000 5m-writes x 6.25 + 2000 1h-writes x 10
    + 5000 reads x 0.5 = 50 + 5000 + 6250 + 20000 + 2500 = 33800 USD/Mtok = 0.0338 USD
    (at the 5-minute rate for all 3000 writes it would be 0.0263 USD).
    """
    common = {"session_id": "sess-1h", "platform": "claude_code"}
    transcript = events.make_event(
        event_type="token_usage",
        source="transcript",
        metadata={"model": OPUS, "workspace_hash": "ab" * 12, "project_hash": "cd" * 12},
        payload={
            "model": OPUS,
            "request_id": "req_1h",
            "message_id": "msg_1h",
            "input_tokens": 10,
            "output_tokens": 200,
            "cache_creation_tokens": 3000,
            "cache_creation_5m_tokens": 1000,
            "cache_creation_1h_tokens": 2000,
            "cache_read_tokens": 5000,
        },
        timestamp="2026-11-22T23:59:59.900Z",
        **common,
    )
    otel = events.make_event(
        event_type="api_request",
        source="otlp",
        metadata={"model": OPUS},
        payload={
            "model": OPUS,
            "request_id": "req_1h",
            "prompt_id": "p-1h",
            "input_tokens": 10,
            "output_tokens": 200,
            "cache_creation_tokens": 3000,
            "cache_read_tokens": 5000,
            "cost_usd": 0.0338,
        },
        timestamp="2026-11-23T00:00:00.300Z",
        **common,
    )
    prompt = events.make_event(
        event_type="user_prompt",
        source="hook",
        payload={"prompt_id": "p-1h", "prompt_length": 5},
        timestamp="2026-11-22T23:59:58.000Z",
        **common,
    )
    return [prompt, otel, transcript] if order == "otel-first" else [prompt, transcript, otel]


@pytest.mark.parametrize("order", ["otel-first", "transcript-first"])
def test_one_hour_cache_writes_survive_an_otel_winner(
    order: str, cfg, redis_client, writer_conn
) -> None:
    from blueplane_core import metric_keys as mk
    from tests.test_metrics import run_metrics

    for event in usage_events(order):  # separate batches: the second source arrives later
        Emitter(redis_client).emit_many([event])
        ingest_all()
        run_conversations(cfg, writer_conn, redis_client)
        run_metrics(cfg, writer_conn, redis_client)
    (row,) = rows(writer_conn, "SELECT * FROM api_requests")
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (1000, 2000)
    assert row["cost_nusd"] == row["official_cost_nusd"] == 33_800_000
    assert row["sources"] == "otlp,transcript"
    # the request's own time is the transcript's (the day ccusage puts it on)
    assert row["timestamp"] == "2026-11-22T23:59:59.900Z"
    # the live counters agree: the same merge decides the Redis cost
    totals = redis_client.hgetall(mk.counters_key("all", "total"))
    assert int(totals[b"cost_nusd"]) == 33_800_000
    assert int(totals[b"requests"]) == 1


def test_one_failure_is_one_error_with_or_without_otel(
    cfg, redis_client, writer_conn, tmp_path: Path
) -> None:
    session = "1189de7f-c18e-4d0e-a2d0-66786fad77d7"  # run E_api_error: HTTP 400
    real_runs.replay(redis_client, tmp_path, otel=False)
    run_conversations(cfg, writer_conn, redis_client)
    (error,) = rows(writer_conn, "SELECT * FROM api_errors WHERE session_id = ?", session)
    # the hook's StopFailure (no request id) and the transcript's error line are one failure
    assert error["sources"] == "hook,transcript"
    assert error["status_code"] == 400
    Emitter(redis_client).emit_many(real_runs.otlp_events(["E_api_error"]))
    ingest_all()
    run_conversations(cfg, writer_conn, redis_client)
    (error,) = rows(writer_conn, "SELECT * FROM api_errors WHERE session_id = ?", session)
    assert error["sources"] == "hook,otlp,transcript"
    assert error["request_id"] == "req_969e811f293a46b7aeca8cdc"
    conv = rows(writer_conn, "SELECT api_errors FROM conversations WHERE session_id = ?", session)
    assert conv == [{"api_errors": 1}]


def test_only_activity_makes_a_session(cfg, redis_client, writer_conn) -> None:
    def make(session: str, event_type: str, source: str, **extra: Any) -> dict[str, Any]:
        return events.make_event(
            event_type=event_type,
            source=source,
            session_id=session,
            platform=extra.pop("platform", "claude_code"),
            timestamp="2026-11-22T10:00:00.000Z",
            **extra,
        )

    Emitter(redis_client).emit_many(
        [
            # `claude --continue`: start-up telemetry under a fresh session id
            make("startup", "generic", "otlp", payload={"original_type": "hook_registered"}),
            make("startup", "metric", "otlp", payload={"metric_name": "claude_code.session.count"}),
            # `claude mcp list`: a SessionEnd and nothing else
            make("mcp-list", "session_end", "hook", payload={"reason": "other"}),
            # an MCP tracking call naming no session, and one naming a real session
            make("mcp-1234", "decision", "mcp", platform="blueplane", payload={"confidence": 1}),
            make("real", "user_prompt", "hook", payload={"prompt_id": "p1"}),
            make("real", "decision", "mcp", platform="blueplane", payload={"confidence": 1}),
        ]
    )
    ingest_all()
    run_conversations(cfg, writer_conn, redis_client)
    sessions = rows(writer_conn, "SELECT session_id, event_count FROM conversations")
    assert sessions == [{"session_id": "real", "event_count": 2}]
    # the live counters agree: one session
    from blueplane_core import metric_keys as mk
    from tests.test_metrics import run_metrics

    run_metrics(cfg, writer_conn, redis_client)
    totals = redis_client.hgetall(mk.counters_key("all", "total"))
    assert int(totals[b"sessions"]) == 1


def test_copilot_reports_are_rows_not_sessions_and_reach_metrics(
    cfg, redis_client, writer_conn
) -> None:
    from blueplane_capture import copilot
    from blueplane_core import paths
    from blueplane_query.filters import Filter
    from blueplane_query.reports.overview import current_metrics
    from blueplane_query.store import Store
    from tests.conftest import FIXTURES

    metrics_file = FIXTURES / "copilot" / "metrics_api_org_response.json"
    copilot.import_file(metrics_file, Emitter(redis_client))
    ingest_all()
    run_conversations(cfg, writer_conn, redis_client)
    assert rows(writer_conn, "SELECT * FROM conversations") == []  # no zero-filled sessions
    days = json.loads(metrics_file.read_text())
    stored = rows(writer_conn, "SELECT day, active_users FROM copilot_usage ORDER BY day")
    assert [(r["day"], r["active_users"]) for r in stored] == sorted(
        (d["date"], d["total_active_users"]) for d in days
    )
    # the report's own numbers, summed independently from the vendor's file
    suggestions = sum(
        lang.get("total_code_suggestions", 0)
        for day in days
        for editor in day.get("copilot_ide_code_completions", {}).get("editors", [])
        for model in editor.get("models", [])
        for lang in model.get("languages", [])
    )
    first, last = min(d["date"] for d in days), max(d["date"] for d in days)
    flt = Filter.parse(since=first, until=last)
    with Store(paths.database()) as store:
        answer = current_metrics(store, flt)
        assert answer["copilot"]["suggestions"] == suggestions
        assert answer["copilot"]["days"] == len(days)
        assert answer["copilot"]["provenance"] == "official"
        # Copilot's reports belong to no project: a project filter shows none of them
        by_project = current_metrics(store, Filter.parse(since=first, project="feed"))
    assert by_project["copilot"] is None
