"""capture-otlp end to end: Claude Code's real OTLP exports and the real OpenTelemetry SDK exporter.

emit -> Redis -> a real ingester -> raw_traces; HTTP over loopback, no mocks.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from blueplane_capture import otlp
from blueplane_capture import otlp_mapping as mapping
from blueplane_core import db, paths, streams
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests.conftest import FIXTURES
from tests.helpers import ingest_all

OTLP_DIR = FIXTURES / "claude_code_live" / "otlp_http_json"
LOG_BODIES = sorted(OTLP_DIR.glob("*/*_v1_logs.json"))
METRIC_BODIES = sorted(OTLP_DIR.glob("*/*_v1_metrics.json"))


class Running:
    """A receiver served on a free loopback port."""

    def __init__(self, client: redis.Redis, state_file: Path | None = None) -> None:
        state = mapping.CumulativeState(state_file)
        self.receiver = otlp.Receiver(Emitter(client), state)
        self.server = otlp.OtlpServer(("127.0.0.1", 0), self.receiver)
        self.port = self.server.server_address[1]
        otlp.serve(self.server)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(redis_client: redis.Redis) -> Iterator[Running]:
    running = Running(redis_client)
    yield running
    running.close()


def post(
    port: int,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    chunked: bool = True,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """POST like Claude Code 2.1.197 does: chunked by default."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if chunked:
            conn.request(
                "POST",
                path,
                body=iter([body[: len(body) // 2], body[len(body) // 2 :]]),
                headers=all_headers,
                encode_chunked=True,
            )
        else:
            conn.request("POST", path, body=body, headers=all_headers)
        response = conn.getresponse()
        # header names are case-insensitive (uvicorn sends them lower-case)
        return response.status, response.read(), {k.title(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def stored() -> list[dict[str, Any]]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


def fixture_records(name: str) -> list[dict[str, Any]]:
    """Attributes of every log record called ``name`` in the fixtures (read independently)."""
    found = []
    for file in LOG_BODIES:
        for resource in json.loads(file.read_text())["resourceLogs"]:
            for scope in resource["scopeLogs"]:
                for record in scope["logRecords"]:
                    attrs = {
                        a["key"]: next(iter(a["value"].values())) for a in record["attributes"]
                    }
                    if attrs["event.name"] == name:
                        found.append(attrs)
    return found


def fixture_metric_total(metric: str) -> float:
    total = 0.0
    for file in METRIC_BODIES:
        for resource in json.loads(file.read_text())["resourceMetrics"]:
            for scope in resource["scopeMetrics"]:
                for m in scope["metrics"]:
                    if m["name"] == metric:
                        total += sum(p["asDouble"] for p in m["sum"]["dataPoints"])
    return total


def test_real_claude_code_exports_reach_raw_traces(receiver: Running) -> None:
    for file in LOG_BODIES + METRIC_BODIES:
        status, body, _ = post(
            receiver.port, "/v1/" + file.stem.rsplit("_", 1)[1], file.read_bytes()
        )
        assert (status, body) == (200, b"{}"), file
    ingest_all()
    events = stored()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["event_type"], []).append(event)

    requests = fixture_records("api_request")
    assert len(by_type["api_request"]) == len(requests) == 17
    assert sum(e["payload"]["input_tokens"] for e in by_type["api_request"]) == sum(
        int(r["input_tokens"]) for r in requests
    )
    assert sum(e["payload"]["cost_usd"] for e in by_type["api_request"]) == pytest.approx(
        sum(float(r["cost_usd"]) for r in requests)
    )
    first = by_type["api_request"][0]
    assert first["source"] == "otlp" and first["platform"] == "claude_code"
    assert first["payload"]["request_id"].startswith("req_")
    assert {"model", "duration_ms", "query_source", "speed"} <= first["payload"].keys()

    prompts = by_type["user_prompt"]
    assert len(prompts) == len(fixture_records("user_prompt"))
    assert all(isinstance(p["payload"]["prompt_length"], int) for p in prompts)

    (error,) = by_type["api_error"]
    assert error["payload"]["status_code"] == 400
    assert error["payload"]["error_type"] == "invalid_request_error"

    results = {e["payload"]["tool_use_id"]: e["payload"] for e in by_type["tool_result"]}
    failed = [p for p in results.values() if p["success"] is False]
    assert len(failed) == 1 and failed[0]["program"] == "ls"
    assert failed[0]["error_type"] == "ShellError" and failed[0]["duration_ms"] == 22

    edits = by_type["edit_decision"]
    assert sorted(e["payload"]["tool_name"] for e in edits) == ["Edit", "Write"]
    rejected = [e for e in by_type["tool_use"] if e["payload"]["decision"] == "reject"]
    assert sorted(e["payload"]["decision_source"] for e in rejected) == ["hook", "user_reject"]

    tokens = [
        e for e in by_type["metric"] if e["payload"]["metric_name"] == "claude_code.token.usage"
    ]
    assert sum(e["payload"]["value"] for e in tokens) == fixture_metric_total(
        "claude_code.token.usage"
    )
    assert {"type", "model"} <= tokens[0]["payload"]["attributes"].keys()
    names = {e["payload"]["metric_name"] for e in by_type["metric"]}
    assert {
        "claude_code.session.count",
        "claude_code.cost.usage",
        "claude_code.commit.count",
        "claude_code.lines_of_code.count",
        "claude_code.code_edit_tool.decision",
        "claude_code.active_time.total",
    } <= names


def test_resumed_session_reusing_sequence_numbers_keeps_every_record(receiver: Running) -> None:
    # F_compact resumed the B_tools session: event.sequence restarted under the same session.id
    for file in sorted((OTLP_DIR / "B_tools").glob("*logs.json")) + sorted(
        (OTLP_DIR / "F_compact").glob("*logs.json")
    ):
        assert post(receiver.port, "/v1/logs", file.read_bytes())[0] == 200
    counters = ingest_all()
    total = sum(
        len(scope["logRecords"])
        for d in ("B_tools", "F_compact")
        for f in (OTLP_DIR / d).glob("*logs.json")
        for r in json.loads(f.read_text())["resourceLogs"]
        for scope in r["scopeLogs"]
    )
    assert len(stored()) == total, counters


def test_prompt_response_and_tool_text_never_leave_the_receiver(receiver: Running) -> None:
    # B_tools ran with OTEL_LOG_USER_PROMPTS=1 and OTEL_LOG_TOOL_DETAILS=1: the text is in the body
    bodies = [f.read_bytes() for f in sorted((OTLP_DIR / "B_tools").glob("*logs.json"))]
    assert any(b"SCENARIO_TOOLS" in b for b in bodies) and any(b"ccdemo" in b for b in bodies)
    for body in bodies:
        assert post(receiver.port, "/v1/logs", body)[0] == 200
    on_the_bus = b"".join(
        fields[streams.EVENT_FIELD.encode()]
        for _, fields in receiver.receiver.emitter._client.xrange(streams.EVENTS_STREAM)
    )
    for secret in (
        b"SCENARIO_TOOLS",
        b"ccdemo",
        b"nonexistent_dir",
        b"Shell command failed",
        b"add notes",
        b"line one",
    ):
        assert secret not in on_the_bus


def test_retried_export_is_stored_once(receiver: Running) -> None:
    logs = (OTLP_DIR / "A_hello" / "0002_v1_logs.json").read_bytes()
    metrics = (OTLP_DIR / "A_hello" / "0003_v1_metrics.json").read_bytes()
    for _ in range(2):
        assert post(receiver.port, "/v1/logs", logs)[0] == 200
        assert post(receiver.port, "/v1/metrics", metrics)[0] == 200
    ingest_all()
    events = stored()
    assert len(events) == len({e["event_id"] for e in events})
    assert receiver.receiver.counters.events == 2 * len(events)


def test_malformed_body_gets_400_with_reason_and_nothing_else_is_affected(
    receiver: Running,
) -> None:
    good = (OTLP_DIR / "A_hello" / "0003_v1_metrics.json").read_bytes()
    status, body, _ = post(receiver.port, "/v1/logs", b'{"resourceLogs": [ oops')
    assert status == 400 and b"not JSON" in body
    status, body, _ = post(
        receiver.port, "/v1/metrics", b"\x0a\xff\xff garbage", content_type="application/x-protobuf"
    )
    assert status == 400 and b"ExportMetricsServiceRequest" in body
    status, body, _ = post(
        receiver.port, "/v1/logs", b"not gzip", headers={"Content-Encoding": "gzip"}
    )
    assert status == 400 and b"gzip" in body
    assert post(receiver.port, "/v1/logs", b'{"resourceLogs": {}}')[0] == 400
    assert receiver.receiver.emitter._client.xlen(streams.EVENTS_STREAM) == 0
    # the server is still fine and the next good request is taken whole
    status, _, _ = post(
        receiver.port,
        "/v1/metrics",
        gzip.compress(good),
        chunked=False,
        headers={"Content-Encoding": "gzip"},
    )
    assert status == 200
    ingest_all()
    assert {e["event_type"] for e in stored()} == {"metric"}
    assert receiver.receiver.counters.rejected == 4


def test_redis_down_answers_503_and_the_retry_counts_once(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead = redis.Redis(
        port=dead_port, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    state_file = tmp_path / "cumulative.json"
    down = Running(dead, state_file)
    body = cumulative_body(value=10, time_s=100)
    try:
        status, reply, headers = post(down.port, "/v1/metrics", body)
        assert status == 503 and headers.get("Retry-After") and b"retry" in reply
    finally:
        down.close()
    assert not state_file.exists()  # nothing was counted as delivered
    up = Running(redis_client, state_file)
    try:
        assert post(up.port, "/v1/metrics", body)[0] == 200
    finally:
        up.close()
    ingest_all()
    assert [e["payload"]["value"] for e in stored()] == [10]


def cumulative_body(value: float, time_s: int, start_s: int = 50) -> bytes:
    """A minimal OTLP/JSON cumulative sum, the shape the spec and SDKs use."""
    return orjson.dumps(
        {
            "resourceMetrics": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]
                    },
                    "scopeMetrics": [
                        {
                            "scope": {"name": "s"},
                            "metrics": [
                                {
                                    "name": "requests",
                                    "unit": "1",
                                    "sum": {
                                        "aggregationTemporality": 2,
                                        "isMonotonic": True,
                                        "dataPoints": [
                                            {
                                                "attributes": [
                                                    {
                                                        "key": "session.id",
                                                        "value": {"stringValue": "sess-1"},
                                                    },
                                                    {
                                                        "key": "user.email",
                                                        "value": {"stringValue": "a@b.c"},
                                                    },
                                                ],
                                                "startTimeUnixNano": str(start_s * 10**9),
                                                "timeUnixNano": str(time_s * 10**9),
                                                "asInt": str(value),
                                            }
                                        ],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )


def test_cumulative_series_become_increments_across_a_restart(
    redis_client: redis.Redis,
) -> None:
    first = Running(redis_client)
    try:
        for value, when in ((5, 100), (8, 160), (8, 220)):
            assert post(first.port, "/v1/metrics", cumulative_body(value, when))[0] == 200
    finally:
        first.close()
    second = Running(redis_client)  # a new process: state comes back from state_dir()
    try:
        assert post(second.port, "/v1/metrics", cumulative_body(8, 160))[0] == 200  # a retry
        assert post(second.port, "/v1/metrics", cumulative_body(12, 280))[0] == 200
        assert post(second.port, "/v1/metrics", cumulative_body(2, 340, start_s=300))[0] == 200
    finally:
        second.close()
    ingest_all()
    events = stored()
    assert [e["payload"]["value"] for e in events] == [5, 3, 4, 2]
    assert all(e["session_id"] == "sess-1" for e in events)
    assert all("user.email" not in e["payload"]["attributes"] for e in events)


def test_real_otel_sdk_exporter_over_protobuf_and_gzip(receiver: Running) -> None:
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": "claude-code", "service.version": "9.9.9"})
    # The SDK's default temporality for counters is CUMULATIVE: each export repeats the total.
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=receiver.base + "/v1/metrics", compression=Compression.Gzip, timeout=5
        ),
        export_interval_millis=3_600_000,
    )
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    counter = meters.get_meter("com.anthropic.claude_code").create_counter(
        "claude_code.token.usage", unit="tokens"
    )
    attrs = {
        "session.id": "sdk-session",
        "type": "input",
        "model": "claude-test-1",
        "user.account_uuid": "acct-secret",
    }
    counter.add(5, attrs)
    assert reader.force_flush(10_000)
    counter.add(3, attrs)
    assert reader.force_flush(10_000)
    meters.shutdown()

    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=receiver.base + "/v1/logs", timeout=5))
    )
    logs.get_logger("com.anthropic.claude_code.events").emit(
        LogRecord(
            body="claude_code.user_prompt",
            attributes={
                "event.name": "user_prompt",
                "session.id": "sdk-session",
                "event.sequence": 1,
                "prompt_length": "11",
                "prompt": "hello world",
                "user.email": "dev@example.com",
            },
        )
    )
    logs.shutdown()

    ingest_all()
    events = stored()
    values = [e["payload"]["value"] for e in events if e["event_type"] == "metric"]
    assert values == [5, 3]
    metric = next(e for e in events if e["event_type"] == "metric")
    assert metric["payload"]["temporality"] == "cumulative"
    assert metric["payload"]["attributes"] == {"type": "input", "model": "claude-test-1"}
    (prompt,) = [e for e in events if e["event_type"] == "user_prompt"]
    assert prompt["payload"] == {"prompt_length": 11}
    assert prompt["session_id"] == "sdk-session"
    assert prompt["metadata"]["client_version"] == "9.9.9"
    assert b"hello world" not in orjson.dumps(events) and b"example.com" not in orjson.dumps(events)


def test_unknown_log_events_are_kept_as_generic_without_text() -> None:
    request = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1795375532397000000",
                                "attributes": [
                                    {
                                        "key": "event.name",
                                        "value": {"stringValue": "brand_new_event"},
                                    },
                                    {"key": "session.id", "value": {"stringValue": "s"}},
                                    {"key": "count", "value": {"intValue": "3"}},
                                    {
                                        "key": "user_prompt_text",
                                        "value": {"stringValue": "secret words"},
                                    },
                                    {"key": "kind", "value": {"stringValue": "x"}},
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    (event,) = mapping.log_events(request).events
    assert event["event_type"] == "generic"
    assert event["payload"] == {
        "original_type": "brand_new_event",
        "attributes": {"count": 3},  # a string attribute not on the allow-list is dropped
    }


def test_otel_settings_merge_keeps_the_users_values_and_unmerge_restores_them(
    tmp_path: Path,
) -> None:
    from blueplane_capture.installers import otel

    settings = tmp_path / "settings.json"
    original = {
        "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "mine"}]}]},
        "env": {"FOO": "1", "OTEL_METRIC_EXPORT_INTERVAL": "5000"},
    }
    settings.write_text(json.dumps(original))
    change = otel.install(settings, port=14318)
    assert change.conflicts == {"OTEL_METRIC_EXPORT_INTERVAL": "5000"}
    env = json.loads(settings.read_text())["env"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:14318"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1" and env["FOO"] == "1"
    assert "OTEL_LOG_USER_PROMPTS" not in env
    assert otel.install(settings, port=14318).added == []  # twice changes nothing
    otel.uninstall(settings, port=14318)
    assert json.loads(settings.read_text()) == original


@pytest.mark.slow
def test_capture_otlp_process_serves_and_stops_cleanly_on_sigterm(
    redis_client: redis.Redis,
) -> None:
    import signal
    import subprocess

    from tests.conftest import PYTHON, python_env
    from tests.helpers import wait_for

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = python_env({"BLUEPLANE_CAPTURE_OTLP_PORT": str(port)})
    proc = subprocess.Popen(
        [PYTHON, "-m", "blueplane_capture.otlp"], env=env, stderr=subprocess.DEVNULL
    )
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(listening, 20, what="capture-otlp to listen")
        body = (OTLP_DIR / "A_hello" / "0003_v1_metrics.json").read_bytes()
        assert post(port, "/v1/metrics", body)[0] == 200
        assert redis_client.xlen(streams.EVENTS_STREAM) > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_bad_port_in_config_exits_with_the_config_code() -> None:
    import subprocess

    from blueplane_core import config
    from tests.conftest import PYTHON, python_env

    done = subprocess.run(
        [PYTHON, "-m", "blueplane_capture.otlp"],
        capture_output=True,
        env=python_env({"BLUEPLANE_CAPTURE_OTLP_PORT": "not-a-port"}),
        timeout=30,
    )
    assert done.returncode == config.EXIT_CONFIG
    assert b"capture.otlp_port" in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_fact_seen_by_the_hook_and_by_otel_is_stored_once(receiver: Running) -> None:
    from blueplane_capture import claude_code_mapping
    from blueplane_core import privacy

    hooks = FIXTURES / "claude_code_live" / "hooks" / "B_tools"
    emitter = receiver.receiver.emitter
    for name in ("02_UserPromptSubmit.json", "13_PostToolUse.json"):
        hook_payload = json.loads((hooks / name).read_text())
        emitter.emit(claude_code_mapping.map_hook(hook_payload, privacy.load_secret()))
    for file in sorted((OTLP_DIR / "B_tools").glob("*logs.json")):
        assert post(receiver.port, "/v1/logs", file.read_bytes())[0] == 200
    ingest_all()
    events = stored()
    prompts = [e for e in events if e["event_type"] == "user_prompt"]
    assert [e["source"] for e in prompts] == ["hook"]  # OTel's copy had the same id
    commit = [
        e
        for e in events
        if e["event_type"] == "tool_result"
        and e["payload"]["tool_use_id"] == "toolu_d8bb8bd6cc9a460ab7beb18c"
    ]
    assert [e["source"] for e in commit] == ["hook"]
    assert len([e for e in events if e["event_type"] == "tool_result"]) == 5  # 4 more from OTel
