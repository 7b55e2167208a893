"""The query service as a real process: the REST API against the CLI, the OpenAPI document
against real answers, the live WebSockets, and the local server's security rules.

The data is put through the real pipeline (``tests/query_data.py``); the expected numbers come
from that data by hand, never from the service's own output.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import zipfile
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import redis

from blueplane_core import events
from blueplane_core.emit import Emitter
from blueplane_query import api
from blueplane_query.service import BindRefused, check_bind, is_loopback
from tests.conftest import PYTHON, python_env
from tests.helpers import bp_query_json, ingest_all, wait_for
from tests.query_data import MODEL, SESSIONS, fill, run_workers
from tests.service_harness import Service, running_service

S1 = SESSIONS[0][0]


@pytest.fixture
def service(redis_client: redis.Redis) -> Iterator[Service]:
    fill(redis_client)
    with running_service() as running:
        yield running


def _volatile(data: Any) -> Any:
    """The answer without what moves between two calls (times of "now", live counters)."""
    if isinstance(data, dict):
        return {
            k: _volatile(v)
            for k, v in data.items()
            if k not in ("period", "previous_period", "live", "checked_at", "at", "projection")
        }
    if isinstance(data, list):
        return [_volatile(v) for v in data]
    return data


# -- the API: same answers as the CLI, described by its OpenAPI document ------------------------


def test_each_endpoint_answers_what_the_cli_answers(service: Service) -> None:
    for path, cli in (
        ("/api/v1/metrics", ["metrics"]),
        ("/api/v1/sessions?limit=2&page=2", ["sessions", "--limit", "2", "--page", "2"]),
        (f"/api/v1/sessions/{S1[:8]}", ["session", S1[:8]]),
        ("/api/v1/tools?platform=claude_code", ["tools", "--platform", "claude_code"]),
        ("/api/v1/costs?by=model", ["costs", "--by", "model"]),
        ("/api/v1/costs?by=block", ["costs", "--by", "block"]),
        ("/api/v1/commits", ["commits"]),
        ("/api/v1/requests?limit=3", ["requests", "--limit", "3"]),
        ("/api/v1/insights", ["insights"]),
    ):
        assert _volatile(service.get(path)) == _volatile(bp_query_json(*cli)), path


def test_the_numbers_are_the_data_put_in(service: Service) -> None:
    # 3 sessions; 4 prompts in all (2 + 1 + 1), each one request of 1000 in + 500 out
    # + 200 cache write + 4000 cache read = 5700 tokens -> 22,800 tokens.
    costs = service.get("/api/v1/costs?by=day")
    assert costs["totals"]["total_tokens"] == 4 * 5700
    sessions = service.get("/api/v1/sessions?limit=1")
    assert sessions["total"] == 3 and len(sessions["sessions"]) == 1
    # the ledger: one row per request; session 1 made 2, each 5700 tokens at $0.01245
    # (1000 x $3/M + 500 x $15/M + 200 x $3.75/M + 4000 x $0.30/M for claude-sonnet-4-5)
    ledger = service.get("/api/v1/requests")
    assert ledger["total"] == 4
    mine = service.get(f"/api/v1/requests?session={S1}")["requests"]
    assert [r["total_tokens"] for r in mine] == [5700, 5700]
    assert [round(r["cost_usd"], 8) for r in mine] == [0.01245, 0.01245]
    # two commits, the first one minute after session 2's activity: one agent-assisted
    commits = service.get("/api/v1/commits")
    assert (commits["commits"], commits["agent_assisted"]) == (2, 1)
    # Read, Edit, Bash once per prompt: 4 calls each; every Bash call fails
    heat = service.get("/api/v1/tools/heatmap")
    by_tool = {t["tool"]: t for t in heat["tools"]}
    assert {t: (r["calls"], r["errors"]) for t, r in by_tool.items()} == {
        "Bash": (4, 4),
        "Edit": (4, 0),
        "Read": (4, 0),
    }
    assert sum(by_tool["Read"]["calls_by_hour"]) == 4 and len(heat["hours"]) == 24


def test_a_session_timeline_holds_turns_tool_calls_and_edits(service: Service) -> None:
    timeline = service.get(f"/api/v1/sessions/{S1}/timeline")
    kinds = [i["item"] for i in timeline["items"]]
    # session 1: 2 prompts, each Read + Edit + Bash (3 calls) and one accepted Edit
    turns = [i["kind"] for i in timeline["items"] if i["item"] == "turn"]
    assert turns.count("prompt") == 2
    assert kinds.count("tool_call") == 6
    edits = [i for i in timeline["items"] if i["item"] == "edit"]
    assert [e["decision"] for e in edits] == ["accepted", "accepted"]
    failed = [i for i in timeline["items"] if i["item"] == "tool_call" and i["ok"] is False]
    assert [f["tool_name"] for f in failed] == ["Bash", "Bash"]
    times = [i["at"] for i in timeline["items"]]
    assert times == sorted(times)


def test_overview_cards_put_official_beside_computed_cost(
    service: Service, redis_client: redis.Redis
) -> None:
    cards = {c["window"]: c for c in service.get("/api/v1/metrics/overview")["cards"]}
    assert set(cards) == {"today", "7d", "30d"}
    for card in cards.values():
        assert card["tokens"] == 4 * 5700 and card["sessions"] == 3
    # The sample data reports no cost of its own: official is unknown, never 0.
    assert cards["today"]["cost_official_usd"] is None
    # An OTel api_request carrying the client's cost_usd makes it known: 0.25 USD.
    otel = events.make_event(
        event_type="api_request",
        platform="claude_code",
        source="otlp",
        session_id=S1,
        payload={
            "model": MODEL,
            "request_id": "req_official",
            "cost_usd": 0.25,
            "input_tokens": 10,
            "output_tokens": 5,
        },
    )
    fill(redis_client, [otel])
    cards = {c["window"]: c for c in service.get("/api/v1/metrics/overview")["cards"]}
    assert cards["today"]["cost_official_usd"] == pytest.approx(0.25)
    assert cards["30d"]["cost_official_usd"] == pytest.approx(0.25)


def test_export_downloads_the_formats_of_the_cli(service: Service) -> None:
    status, headers, body = service.request("GET", "/api/v1/export?format=json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert "attachment" in headers["content-disposition"]
    document = json.loads(body)
    assert document["meta"]["format"] == "blueplane-export" and len(document["sessions"]) == 3
    status, headers, body = service.request("GET", "/api/v1/export?format=csv&anonymize=true")
    assert status == 200 and headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        sessions = archive.read("blueplane.csv").decode()
    assert len(sessions.strip().splitlines()) == 1 + 3  # header + 3 sessions
    assert S1 not in sessions  # anonymized: re-keyed


def test_the_openapi_document_describes_every_real_answer(service: Service) -> None:
    doc = service.get("/api/v1/openapi.json")
    assert doc["openapi"].startswith("3.1")
    assert {p.removeprefix("/api/v1") for p in doc["paths"]} == {e.path for e in api.ENDPOINTS}
    checked = 0
    for path, item in doc["paths"].items():
        op = item["get"]
        content = op["responses"]["200"]["content"]
        if "schema" not in content.get("application/json", {}):
            continue  # the export download
        url = path.replace("{session_id}", S1)
        schema = content["application/json"]["schema"]
        try:
            jsonschema.validate(service.get(url), schema)
        except jsonschema.ValidationError as exc:
            raise AssertionError(f"{url}: {exc.message}") from None
        checked += 1
        for param in op["parameters"]:
            if param["in"] == "query" and "enum" in param["schema"]:
                for value in param["schema"]["enum"]:
                    answer = service.get(f"{url}?{param['name']}={value}")
                    try:
                        jsonschema.validate(answer, schema)
                    except jsonschema.ValidationError as exc:
                        problem = f"{url} {param['name']}={value}: {exc.message}"
                        raise AssertionError(problem) from None
    assert checked == len([e for e in api.ENDPOINTS if not e.download])


def test_bad_parameters_and_unknown_sessions_are_one_line_errors(service: Service) -> None:
    for path, code in (
        ("/api/v1/costs?by=fortnight", 400),
        ("/api/v1/sessions?limit=0", 400),
        ("/api/v1/sessions?limt=5", 400),  # a typo must not silently widen the answer
        ("/api/v1/metrics?since=someday", 400),
        ("/api/v1/sessions/nope-nope", 404),
        ("/api/v1/nothing", 404),
    ):
        status, _, body = service.request("GET", path)
        assert status == code, (path, status, body)
        assert list(json.loads(body)) == ["error"]


def test_no_database_yet_is_503_and_health_still_answers(redis_client: redis.Redis) -> None:
    with running_service() as service:
        status, _, body = service.request("GET", "/api/v1/sessions")
        assert status == 503 and "no Blueplane database" in json.loads(body)["error"]
        assert service.get("/api/v1/health")["redis"]["reachable"] is True


# -- live: WebSockets -------------------------------------------------------------------------


def _receive(ws: Any, condition: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The first message satisfying ``condition`` (waits with a deadline, no sleeps)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no such message before the deadline")
        message = json.loads(ws.recv(timeout=left))
        if condition(message):
            return message


def test_events_feed_pushes_each_stored_event_as_a_sanitized_summary(
    service: Service, redis_client: redis.Redis
) -> None:
    with service.ws("/ws/events") as ws:
        secret = "SECRET-PROMPT-TEXT"
        event = events.make_event(
            event_type="token_usage",
            platform="claude_code",
            source="hook",
            session_id=S1,
            payload={
                "prompt_id": "p-live",
                "request_id": "req_live",
                "model": MODEL,
                "input_tokens": 7,
                "output_tokens": 3,
                "cache_read_tokens": 90,
            },
        )
        tool = events.make_event(
            event_type="tool_use",
            platform="claude_code",
            source="hook",
            session_id=S1,
            payload={"tool_name": "Grep", "tool_use_id": "toolu_live", "prompt_id": secret},
        )
        # the feed starts from what comes next: emit once the subscription is in place
        _wait_subscribed(service)
        Emitter(redis_client).emit_many([event, tool])
        ingest_all()
        usage = _receive(ws, lambda m: m.get("type") == "token_usage")
        call = _receive(ws, lambda m: m.get("type") == "tool_use")
    assert usage["tokens"] == 7 + 3 + 90 and usage["platform"] == "claude_code"
    assert usage["session_id"] == S1 and usage["tool"] is None
    assert call["tool"] == "Grep" and call["tokens"] == 0
    allowed = {"kind", "id", "seq", "type", "session_id", "platform", "tool", "tokens", "stored_at"}
    assert set(usage) == allowed and set(call) == allowed
    assert secret not in json.dumps(call)  # payload text never leaves


def _wait_subscribed(service: Service) -> None:
    """The hub's loop is reading: a metrics snapshot has been pushed at least once."""
    with service.ws("/ws/metrics") as ws:
        _receive(ws, lambda m: m.get("kind") == "metrics")


def test_metrics_feed_pushes_today_and_the_block_when_they_change(
    service: Service, redis_client: redis.Redis
) -> None:
    with service.ws("/ws/metrics") as ws:
        first = _receive(ws, lambda m: m.get("kind") == "metrics")
        assert first["available"] is True
        before = first["today"]["requests"]
        # 4 sample requests, all within the last two hours: one active block holds them all
        assert before == 4 and first["block"]["requests"] == 4
        # the same block the report finds (one rule): it starts at the same hour
        report = service.get("/api/v1/costs?by=block")["rows"]
        assert first["block"]["start"] == [r for r in report if r["active"]][-1]["start"]
        fill(redis_client, [_request("req_live_1")])
        changed = _receive(ws, lambda m: m.get("today", {}).get("requests") == before + 1)
    assert changed["block"]["requests"] == 5
    assert changed["block"]["remaining_minutes"] <= 300


def _request(request_id: str) -> dict[str, Any]:
    return events.make_event(
        event_type="token_usage",
        platform="claude_code",
        source="hook",
        session_id=S1,
        payload={
            "prompt_id": "p-x",
            "request_id": request_id,
            "message_id": request_id,
            "model": MODEL,
            "input_tokens": 100,
            "output_tokens": 10,
        },
    )


def test_session_feed_sends_the_timeline_then_its_growth(
    service: Service, redis_client: redis.Redis
) -> None:
    with service.ws(f"/ws/sessions/{S1[:8]}") as ws:
        first = _receive(ws, lambda m: m.get("kind") == "timeline")
        assert first["session"]["session_id"] == S1
        turns = sum(1 for i in first["items"] if i.get("kind") == "prompt")
        prompt = events.make_event(
            event_type="user_prompt",
            platform="claude_code",
            source="hook",
            session_id=S1,
            payload={"prompt_id": "p-grow", "prompt_length": 5},
        )
        Emitter(redis_client).emit_many([prompt])
        ingest_all()
        event = _receive(ws, lambda m: m.get("kind") == "event")
        assert event["type"] == "user_prompt" and event["session_id"] == S1
        run_workers()
        grown = _receive(
            ws,
            lambda m: (
                m.get("kind") == "timeline"
                and sum(1 for i in m["items"] if i.get("kind") == "prompt") == turns + 1
            ),
        )
    assert grown["session"]["prompts"] == first["session"]["prompts"] + 1


# -- security of a local server ---------------------------------------------------------------


def test_requests_for_another_host_name_are_refused(service: Service) -> None:
    # DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends Host: evil.example
    for host in ("evil.example", f"evil.example:{service.port}", f"127.0.0.1:{service.port + 1}"):
        status, _, _ = service.request("GET", "/api/v1/sessions", host=host)
        assert status == 403, host
    for host in (f"localhost:{service.port}", f"127.0.0.1:{service.port}"):
        status, _, _ = service.request("GET", "/api/v1/sessions", host=host)
        assert status == 200, host


def test_websockets_from_another_origin_are_refused(service: Service) -> None:
    from websockets.exceptions import InvalidStatus

    for origin in ("http://evil.example", f"http://127.0.0.1:{service.port + 1}", "null"):
        with pytest.raises(InvalidStatus) as refused, service.ws("/ws/metrics", origin=origin):
            pass
        assert refused.value.response.status_code == 403, origin
    with service.ws("/ws/metrics", origin=f"http://localhost:{service.port}") as ws:
        assert _receive(ws, lambda m: m.get("kind") == "metrics")


def test_nothing_writes_and_bodies_and_long_targets_are_refused(service: Service) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = service.request(method, "/api/v1/sessions", body=b"{}")
        assert status == 405 and headers["allow"] == "GET, HEAD", method
    status, _, _ = service.request("GET", "/api/v1/sessions", body=b"x" * 10)
    assert status == 413
    status, _, _ = service.request("GET", "/api/v1/sessions?since=" + "7" * 4000)
    assert status == 414
    status, headers, _ = service.request("GET", "/api/v1/sessions")
    assert "connect-src 'self'" in headers["content-security-policy"]
    assert "access-control-allow-origin" not in headers


READ_COMMANDS = {
    "xread",
    "xrevrange",
    "hgetall",
    "hget",
    "get",
    "mget",
    "ping",
    "smembers",
    "zrevrange",
    "zrange",
    "xinfo",
    "xinfo|groups",
    "xinfo|stream",
    "xlen",
    "xpending",
    "exists",
    "ttl",
    "info",
    "client",
    "client|setinfo",
    "hello",
    "select",
    "scan",
    "type",
}


def test_no_endpoint_writes_to_redis_or_sqlite(service: Service, redis_client: redis.Redis) -> None:
    from blueplane_core import paths

    database = paths.database()

    def files() -> dict[Any, bytes]:
        # the database and its WAL (a reader may create it empty: absent = empty); -shm is the
        # index every reader maps, SQLite's own business
        return {
            p: p.read_bytes() if p.exists() else b""
            for p in (database, database.with_name(database.name + "-wal"))
        }

    before = files()
    redis_client.config_resetstat()
    with service.ws("/ws/metrics") as ws:
        _receive(ws, lambda m: m.get("kind") == "metrics")
    for ep in api.ENDPOINTS:
        service.request("GET", "/api/v1" + ep.path.replace("{session_id}", S1))
    stats = redis_client.info("commandstats")
    used = {name.removeprefix("cmdstat_") for name in stats}
    assert used - READ_COMMANDS - {"config|resetstat", "info"} == set(), used
    assert files() == before


def test_connection_counts_are_bounded(redis_client: redis.Redis) -> None:
    fill(redis_client)
    with running_service({"BLUEPLANE_QUERY_MAX_CONNECTIONS": "4"}) as service:
        # live clients: half of the connections (2); a third is told to come back later
        with service.ws("/ws/metrics") as a, service.ws("/ws/events") as b:
            from websockets.exceptions import ConnectionClosed

            with service.ws("/ws/events") as third, pytest.raises(ConnectionClosed) as closed:
                third.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            del a, b
        # HTTP: with 4 connections open, the next request is answered 503 at once
        idle = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(4)]
        try:
            status, _, _ = service.request("GET", "/api/v1/health")
            assert status == 503
        finally:
            for s in idle:
                s.close()
        wait_for(lambda: service.request("GET", "/api/v1/health")[0] == 200, 10)


def test_it_listens_on_loopback_only_unless_allowed(redis_client: redis.Redis) -> None:
    from blueplane_core import config

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(BindRefused):
        check_bind(config.load({"BLUEPLANE_QUERY_HOST": "0.0.0.0"}))
    allowed = {"BLUEPLANE_QUERY_HOST": "0.0.0.0", "BLUEPLANE_QUERY_ALLOW_REMOTE": "true"}
    assert check_bind(config.load(allowed))[0] == "0.0.0.0"
    # the real process refuses to start, with one line and the configuration exit code
    done = subprocess.run(
        [PYTHON, "-m", "blueplane_query.service"],
        env=python_env({"BLUEPLANE_QUERY_HOST": "0.0.0.0", "BLUEPLANE_QUERY_PORT": "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == config.EXIT_CONFIG
    assert "not a loopback address" in done.stderr and "Traceback" not in done.stderr


def test_blueplane_open_prints_the_url_and_says_when_nothing_answers(
    redis_client: redis.Redis,
) -> None:
    import shutil
    import sys
    from pathlib import Path

    exe = shutil.which("blueplane", path=str(Path(sys.executable).parent))
    assert exe

    def blueplane_open(port: int) -> subprocess.CompletedProcess[str]:
        env = python_env({"BLUEPLANE_QUERY_PORT": str(port), "DISPLAY": ""})
        return subprocess.run([exe, "open"], env=env, capture_output=True, text=True, timeout=60)

    with running_service() as service:
        done = blueplane_open(service.port)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"http://127.0.0.1:{service.port}/"
        port = service.port
    done = blueplane_open(port)  # stopped: the URL, and what to do
    assert done.returncode == 1 and f"http://127.0.0.1:{port}/" in done.stdout
    assert "blueplane up" in done.stderr
