"""The README's first command: `blueplane up` then `blueplane demo` on the embedded default."""

from __future__ import annotations

import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO, python_env

pytestmark = pytest.mark.slow


def bp_query(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("bp-query", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args], env=python_env(), capture_output=True, text=True, timeout=60
    )


def blueplane(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("blueplane", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args], env=python_env(), capture_output=True, text=True, timeout=timeout
    )


def _readme_first_command() -> list[list[str]]:
    """The README's first shell command, split at ``&&`` (each part as argv)."""
    text = (REPO / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(part) for part in block.strip().splitlines()[0].split("&&")]


def _synthetic_rows(database: Path) -> int:
    if not database.exists():
        return 0
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return int(
            conn.execute("SELECT count(*) FROM raw_traces WHERE source = 'synthetic'").fetchone()[0]
        )
    finally:
        conn.close()


def _sessions(*flags: str) -> int:
    result = bp_query(*flags, "metrics", "--since", "1y", "--json")
    assert result.returncode == 0, result.stderr
    return int(orjson.loads(result.stdout)["figures"]["sessions"]["value"] or 0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_readme_first_command_keeps_real_data_apart_from_the_demo(
    blueplane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bin/setup && .venv/bin/blueplane up && .venv/bin/blueplane demo --events 20000` (the
    README's first command; bin/setup already ran for this .venv): the real pipeline comes up,
    the demo runs in a folder and pipeline of its own, and the real numbers stay untouched."""
    setup, up_argv, demo_argv = _readme_first_command()
    assert setup == ["bin/setup"]
    assert up_argv == [".venv/bin/blueplane", "up"] and demo_argv[:2] == [
        ".venv/bin/blueplane",
        "demo",
    ]
    demo_home = blueplane_home.with_name(blueplane_home.name + "-demo")
    # other test runs share this machine: the real pipeline's listeners take free ports
    monkeypatch.setenv("BLUEPLANE_CAPTURE_OTLP_PORT", str(_free_port()))
    query_port = _free_port()
    monkeypatch.setenv("BLUEPLANE_QUERY_PORT", str(query_port))
    up = blueplane(*up_argv[1:])
    try:
        assert up.returncode == 0, up.stderr
        assert blueplane("up").returncode == 0  # idempotent
        real_before = _sessions()
        demo = blueplane(*demo_argv[1:], "--seed", "1")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        sent = int(demo_argv[demo_argv.index("--events") + 1])
        assert f"stored {sent:,}" in demo.stdout
        assert "bp-query --demo" in demo.stdout and "--clean" in demo.stdout  # what to do next

        # the real pipeline: no synthetic event, the same sessions as before, all healthy
        assert _synthetic_rows(blueplane_home / "telemetry.db") == 0
        assert _sessions() == real_before
        status = blueplane("status", "--json")
        report = orjson.loads(status.stdout)
        assert status.returncode == 0, report["problems"]
        running = {p["name"]: p["state"] for p in report["programs"]}
        assert running["redis"] == "RUNNING"
        assert running["ingest-0"] == "RUNNING"
        assert "ingest-1" not in running  # one ingester by default; ingest.processes adds more
        assert set(running.values()) == {"RUNNING"}, running  # every stage is up, none crashed
        assert report["healthy"] and all(p["healthy"] for p in report["programs"])
        alive = {p["name"] for p in report["processes"] if p["alive"]}  # their own heartbeats
        assert "maintenance" in alive and any(n.startswith("ingest-") for n in alive), alive
        socket = blueplane_home / "run" / "redis.sock"
        assert socket.exists() and (socket.parent.stat().st_mode & 0o077) == 0  # private bus
        # nothing the running pipeline wrote is open to others (supervisord, Redis and every
        # process run with umask 077), and Redis's log names no home path (relative paths)
        loose = [
            str(p)
            for p in blueplane_home.rglob("*")
            if not p.is_socket() and p.stat().st_mode & 0o077
        ]
        assert loose == []
        redis_log = (blueplane_home / "logs" / "redis.log").read_text()
        assert "ready to accept connections" in redis_log and str(blueplane_home) not in redis_log

        # the query program (started by `up`) serves the real numbers over HTTP, and the page
        base = f"http://127.0.0.1:{query_port}"
        with urllib.request.urlopen(f"{base}/api/v1/metrics?since=1y", timeout=30) as answer:
            served = orjson.loads(answer.read())["figures"]["sessions"]["value"]
        assert int(served or 0) == real_before
        with urllib.request.urlopen(f"{base}/", timeout=30) as page:
            assert b"Blueplane" in page.read()

        # the demo's own folder: every event stored and processed before `demo` returned, its
        # pipeline stopped again (no processes left behind), its sessions readable with --demo
        assert _synthetic_rows(demo_home / "telemetry.db") == sent
        assert not (demo_home / "run" / "supervisor.sock").exists()
        assert _sessions("--demo") > 0
        human = bp_query("--demo", "costs")
        assert human.returncode == 0 and "$" in human.stdout, human.stdout + human.stderr

        clean = blueplane("demo", "--clean")
        assert clean.returncode == 0, clean.stderr
        assert not demo_home.exists()
        gone = bp_query("--demo", "metrics")
        assert gone.returncode == 66 and "blueplane demo" in gone.stderr
        assert blueplane("demo", "--clean").returncode == 0  # nothing left: still fine
        assert _sessions() == real_before
    finally:
        down = blueplane("down")
        blueplane("demo", "--clean")
    assert down.returncode == 0, down.stderr
    assert not (blueplane_home / "run" / "supervisor.sock").exists() or "stopped" in down.stdout


def test_clean_refuses_a_folder_that_is_not_a_demo(
    blueplane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = blueplane_home.parent / "precious"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    monkeypatch.setenv("BLUEPLANE_DEMO_HOME", str(elsewhere))
    refused = blueplane("demo", "--clean")
    assert refused.returncode == 1 and "not a Blueplane demo folder" in refused.stderr
    assert (elsewhere / "notes.txt").read_text() == "mine"
    refused = blueplane("demo", "--events", "10")
    assert refused.returncode == 1 and "not a Blueplane demo folder" in refused.stderr
