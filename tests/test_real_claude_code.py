"""The real Claude Code client, end to end: installed hooks, transcript, OpenTelemetry.

The npm package ``@anthropic-ai/claude-code`` runs against a loopback stand-in of the Messages
API (formats.md section 7), with Blueplane installed by its own installer. Whatever the client
really emits must land in raw_traces as sanitized events. Skipped where npm or the registry is
not available.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

from blueplane_core import db, paths
from blueplane_core.raw_traces import RawEvents
from tests.conftest import PYTHON, python_env
from tests.helpers import ingest_all, wait_for
from tests.query_data import run_workers

pytestmark = pytest.mark.slow

CLIENT = "@anthropic-ai/claude-code@2.1.197"
PROMPT = "please say hello to the secret-project-zebra"
USAGE = {
    "input_tokens": 21,
    "output_tokens": 7,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 300,
    # 60 of the 100 written for one hour (2 x input price instead of 1.25 x)
    "cache_creation": {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60},
}


@pytest.fixture(scope="module")
def claude_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    prefix = tmp_path_factory.mktemp("claude-npm")
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", CLIENT],
            capture_output=True,
            text=True,
            timeout=240,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {CLIENT} did not finish in 240 s")
    binary = prefix / "node_modules" / ".bin" / "claude"
    if done.returncode != 0 or not binary.exists():
        pytest.skip(f"npm install {CLIENT} failed: {done.stderr.strip()[-300:]}")
    return binary


class MessagesStandIn(BaseHTTPRequestHandler):
    """Answers every Messages API call with one short streamed text reply."""

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            asked = json.loads(body).get("model")
        except ValueError:
            asked = None
        if "count_tokens" in self.path:
            body = json.dumps({"input_tokens": 12}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.server.requests += 1  # type: ignore[attr-defined]
        n = self.server.requests  # type: ignore[attr-defined]
        message = {
            "id": f"msg_standin{n:04d}",
            "type": "message",
            "role": "assistant",
            # the model asked for, as the real API answers (the client prices by it)
            "model": asked if isinstance(asked, str) else "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**USAGE, "output_tokens": 1},
        }
        events = [
            ("message_start", {"type": "message_start", "message": message}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hello there."},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": USAGE["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
        payload = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("request-id", f"req_standin{n:04d}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), MessagesStandIn)
    server.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_client_fires_hooks_writes_transcripts_and_otel_into_raw_traces(
    claude_bin: Path, api: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    project = tmp_path / "demo-project"
    home.mkdir()
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    otlp_port = free_port()
    env = python_env(
        {
            "HOME": str(home),
            "PATH": f"{claude_bin.parent}{os.pathsep}{os.environ['PATH']}",
            "BLUEPLANE_CAPTURE_OTLP_PORT": str(otlp_port),
            # The hooks inherit this from the client: on a loaded machine the default 50 ms bound
            # spools events, and this test reads the stream, not the spool.
            "BLUEPLANE_CAPTURE_HOOK_TIMEOUT_MS": "500",
        }
    )
    installed = subprocess.run(
        [PYTHON, "-m", "blueplane.cli", "install", "claude-code", "--otel"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    receiver = subprocess.Popen(
        [PYTHON, "-m", "blueplane_capture.otlp"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def receiver_up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", otlp_port)) == 0

        wait_for(receiver_up, 30, what="the OTLP receiver")
        client_env = dict(
            env,
            ANTHROPIC_API_KEY="sk-ant-api03-fake-key-for-local-test-only",
            ANTHROPIC_BASE_URL=api,
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_AUTOUPDATER="1",
            DISABLE_ERROR_REPORTING="1",
            OTEL_METRIC_EXPORT_INTERVAL="1000",
            OTEL_LOGS_EXPORT_INTERVAL="500",
        )
        run = subprocess.run(
            [str(claude_bin), "-p", PROMPT],
            cwd=project,
            env=client_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Hello there." in run.stdout
        monitor = subprocess.run(
            [PYTHON, "-m", "blueplane_capture.transcripts", "--once", "--no-progress"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert monitor.returncode == 0, monitor.stderr

        def stored() -> dict[tuple[str, str], list[dict]]:
            ingest_all()
            conn = db.connect_writer(paths.database())
            try:
                found: dict[tuple[str, str], list[dict]] = {}
                for _, event in RawEvents(conn).iterate():
                    found.setdefault((event["source"], event["event_type"]), []).append(event)
                return found
            finally:
                conn.close()

        # OTLP exports are asynchronous: wait until the client's api_request has arrived too.
        found = wait_for(
            lambda: (f := stored()) and ("otlp", "api_request") in f and f,
            60,
            interval=0.5,
            what="hook, transcript and OTel events",
        )
    finally:
        receiver.terminate()
        receiver.wait(30)

    hook_log = paths.log_dir() / "hooks.log"
    hook_lines = hook_log.read_text() if hook_log.exists() else "(no hooks.log)"
    for kind in ("session_start", "user_prompt", "session_end"):
        assert ("hook", kind) in found, (sorted(found), hook_lines)
    (usage,) = found[("transcript", "token_usage")]
    payload = usage["payload"]
    assert (payload["input_tokens"], payload["output_tokens"]) == (21, 7)
    assert payload["cache_creation_tokens"] == 100 and payload["cache_read_tokens"] == 300
    request = found[("otlp", "api_request")][0]["payload"]
    assert request["request_id"] == payload["request_id"] == "req_standin0001"
    prompt = found[("hook", "user_prompt")][0]["payload"]
    assert prompt["prompt_length"] == len(PROMPT)
    # Privacy at capture: neither the prompt, nor the project path, nor the home is stored.
    everything = json.dumps([e for events in found.values() for e in events])
    for secret in ("secret-project-zebra", str(project), str(home)):
        assert secret not in everything

    # One fact, one count: the API request seen by the transcript and by OTel counts once.
    run_workers()
    shown = subprocess.run(
        [PYTHON, "-m", "blueplane_query.cli", "metrics", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    figures = json.loads(shown.stdout)["figures"]
    assert figures["sessions"]["value"] == 1 and figures["prompts"]["value"] == 1
    assert (figures["input_tokens"]["value"], figures["output_tokens"]["value"]) == (21, 7)
    assert figures["cache_write_tokens"]["value"] == 100
    assert figures["cache_read_tokens"]["value"] == 300
    live = json.loads(shown.stdout)["live"]
    assert live["available"] and live["total"]["requests"] == 1
    # The request ledger: one row, seen by OTel and the transcript; the transcript's 5m/1h split
    # survives the OTel winner, so the computed cost equals the client's own cost_usd.
    conn = db.connect_writer(paths.database())
    try:
        ((sources, cost, official, write_5m, write_1h),) = conn.execute(
            "SELECT sources, cost_nusd, official_cost_nusd, cache_write_5m_tokens,"
            " cache_write_1h_tokens FROM api_requests"
        ).fetchall()
    finally:
        conn.close()
    assert sources == "otlp,transcript" and (write_5m, write_1h) == (40, 60)
    assert official == round(request["cost_usd"] * 1e9)
    assert cost == official
