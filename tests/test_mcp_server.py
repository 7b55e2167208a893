"""bp-mcp with the real MCP client over stdio (mcp.client.stdio), on pipeline-filled data."""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
import pytest
import redis

from blueplane_core import db, paths, privacy
from blueplane_core.raw_traces import RawEvents
from blueplane_query.mcp_server import TOOLS
from tests.conftest import PYTHON, REPO
from tests.helpers import ingest_all
from tests.query_data import SESSIONS, fill, worker_module


def _params() -> Any:
    from mcp import StdioServerParameters

    env = {k: v for k, v in os.environ.items() if k.startswith("BLUEPLANE_")}
    env["PYTHONPATH"] = str(REPO)
    return StdioServerParameters(command=PYTHON, args=["-m", "blueplane_query.mcp_server"], env=env)


def session_calls(calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """Start the server, list its tools, make the calls; returns (tools, results)."""
    from mcp import Client

    async def run() -> tuple[list[Any], list[Any]]:
        async with Client(_params(), read_timeout_seconds=60) as client:
            listed = await client.list_tools()
            results = [await client.call_tool(name, args) for name, args in calls]
            return listed.tools, results

    return anyio.run(run)


def body(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    data = json.loads(result.content[0].text)
    assert result.structured_content == data
    return data


def test_mcp_lists_every_tool_with_a_precise_schema(redis_client: redis.Redis) -> None:
    tools, results = session_calls(
        [
            ("get_costs", {"by": "year"}),
            ("get_current_metrics", {}),
            ("get_session_metrics", {"session_id": "nope"}),
        ]
    )
    names = [t.name for t in tools]
    assert names == list(TOOLS)
    for tool in tools:
        assert tool.description and len(tool.description) > 60
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
    by_name = {t.name: t for t in tools}
    assert by_name["get_costs"].input_schema["properties"]["by"]["enum"][-1] == "block"
    assert by_name["log_decision"].annotations.read_only_hint is False
    assert by_name["get_insights"].annotations.read_only_hint is True
    bad_args, no_db, unknown = results
    assert bad_args.is_error and "'year' is not one of" in bad_args.content[0].text
    assert no_db.is_error and "no Blueplane database" in no_db.content[0].text
    assert unknown.is_error


def test_mcp_read_tools_answer_from_processed_data(redis_client: redis.Redis) -> None:
    ran = fill(redis_client)
    calls = [(name, {}) for name in TOOLS if not name.startswith("log_")]
    calls.append(
        (
            "search_sessions",
            {
                "tools": ["Edit", "Bash"],
                "file_extensions": ["py"],
                "size": "small",
                "outcome": "errors",
            },
        )
    )
    _tools, results = session_calls(calls)
    answers = {name: body(r) for (name, _), r in zip(calls[:-1], results[:-1], strict=True)}
    search = body(results[-1])
    assert set(answers) == {n for n in TOOLS if not n.startswith("log_")}
    if worker_module("conversations") is None:
        pytest.skip("conversations worker not in this tree: only shapes were checked")
    assert answers["get_current_metrics"]["figures"]["sessions"]["value"] == len(SESSIONS)
    assert answers["get_session_metrics"]["total"] == len(SESSIONS)
    assert search["matches"] and search["matches"][0]["score"] > 0.5
    errors = answers["get_error_patterns"]
    prompts = sum(s[4] for s in SESSIONS)
    assert errors["failing_programs"] == [
        {"program": "pytest", "calls": prompts, "errors": prompts, "error_rate": 1.0}
    ]
    assert errors["errors_by_type"] == [
        {"tool": "Bash", "error_type": "exit_code", "errors": prompts}
    ]
    acceptance = answers["analyze_acceptance"]["overall"]
    assert (acceptance["accepted"], acceptance["acceptance_rate"]) == (prompts, 1.0)
    if ran.get("metrics"):
        tools = {t["tool"]: t for t in answers["get_tool_performance"]["tools"]}
        assert tools["Bash"]["errors"] == tools["Bash"]["calls"]


def test_log_decision_and_outcome_go_through_the_pipeline(redis_client: redis.Redis) -> None:
    rationale = "SECRET-RATIONALE-TEXT because sqlite is simpler"
    _tools, (decision, outcome) = session_calls(
        [
            (
                "log_decision",
                {
                    "category": "architecture",
                    "confidence": 0.8,
                    "alternatives_considered": 2,
                    "rationale": rationale,
                    "session_id": "sess-42",
                },
            ),
            ("log_outcome", {"result": "success", "tests_passed": True, "summary": "done"}),
        ]
    )
    decision_id = body(decision)["decision_id"]
    body(outcome)
    _tools, (known, free) = session_calls(
        [
            ("log_outcome", {"result": "partial", "decision_id": decision_id}),
            ("log_outcome", {"result": "failure", "decision_id": "my notes on the db choice"}),
        ]
    )
    body(known), body(free)
    ingest_all()
    conn = db.connect_writer(paths.database())
    stored = [e for _seq, e in RawEvents(conn).iterate()]
    conn.close()
    assert [e["event_type"] for e in stored] == ["decision", "outcome", "outcome", "outcome"]
    first = stored[0]
    assert first["event_id"] == decision_id
    assert (first["source"], first["platform"]) == ("mcp", "blueplane")
    # a session id not of a known form is kept only as a keyed hash (it could be any text)
    secret = privacy.load_secret()
    assert first["session_id"] == "mcp-" + privacy.keyed_hash(secret, "sess-42", "mcp_session")
    assert stored[2]["payload"]["decision_id"] == decision_id  # a real decision id is kept
    hashed = privacy.keyed_hash(secret, "my notes on the db choice", "mcp_decision")
    assert stored[3]["payload"]["decision_id"] == "mcp-" + hashed
    assert "sess-42" not in json.dumps(stored) and "notes" not in json.dumps(stored)
    assert first["payload"]["rationale_length"] == len(rationale)
    assert "SECRET" not in json.dumps(stored)
    assert stored[1]["payload"] == {"result": "success", "tests_passed": True, "summary_length": 4}


def test_handshake_and_protocol_errors_over_raw_stdio() -> None:
    """What clients other than the SDK's may send: older revisions, batches, bad lines."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k.startswith("BLUEPLANE_")}
    env["PYTHONPATH"] = str(REPO)
    lines = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2024-11-05",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "initialize",
            "params": {"protocolVersion": "1999-01-01"},
        },
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        {"jsonrpc": "2.0", "id": 4, "method": "server/discover", "params": {}},
        [
            {"jsonrpc": "2.0", "id": 5, "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}},
        ],
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"arguments": {}}},
    ]
    stdin = b"".join(json.dumps(m).encode() + b"\n" for m in lines) + b"{not json\n"
    done = subprocess.run(
        [PYTHON, "-m", "blueplane_query.mcp_server"],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert out[0]["id"] == 1 and out[0]["result"]["protocolVersion"] == "2024-11-05"
    assert out[0]["result"]["capabilities"] == {"tools": {"listChanged": False}}
    assert out[0]["result"]["serverInfo"]["name"] == "blueplane"
    assert out[1]["result"]["protocolVersion"] == "2025-11-25"  # unknown: the newest offered
    assert out[2] == {"jsonrpc": "2.0", "id": 3, "result": {}}
    assert out[3]["id"] == 4 and out[3]["error"]["code"] == -32601  # SDK clients fall back
    assert out[4] == [{"jsonrpc": "2.0", "id": 5, "result": {}}]  # the notification: no answer
    assert out[5]["id"] == 6 and out[5]["error"]["code"] == -32602
    assert out[6]["id"] is None and out[6]["error"]["code"] == -32700
    assert len(out) == 7
