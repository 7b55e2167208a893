"""The README's first command: `blueplane up` then `blueplane demo` on the embedded default."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import python_env
from tests.helpers import wait_for

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


def test_up_demo_status_down_on_the_embedded_default(blueplane_home: Path) -> None:
    up = blueplane("up")
    try:
        assert up.returncode == 0, up.stderr
        assert blueplane("up").returncode == 0  # idempotent
        demo = blueplane("demo", "--events", "3000", "--seed", "1")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "stored 3,000" in demo.stdout
        status = blueplane("status", "--json")
        report = orjson.loads(status.stdout)
        assert report["database"]["events_stored"] == 3000
        assert status.returncode == 0, report["problems"]
        running = {p["name"]: p["state"] for p in report["programs"]}
        assert running["redis"] == "RUNNING"
        assert running["ingest-0"] == running["ingest-1"] == "RUNNING"
        assert set(running.values()) == {"RUNNING"}, running  # every stage is up, none crashed
        assert report["healthy"] and all(p["healthy"] for p in report["programs"])
        alive = {p["name"] for p in report["processes"] if p["alive"]}  # their own heartbeats
        assert "maintenance" in alive and any(n.startswith("ingest-") for n in alive), alive

        def sessions_visible() -> int:
            result = bp_query("metrics", "--json")
            if result.returncode != 0:
                return 0
            return int(orjson.loads(result.stdout)["figures"]["sessions"]["value"] or 0)

        # Through the workers to the read side: the demo's sessions show up in bp-query.
        assert wait_for(sessions_visible, 60, interval=0.5, what="demo sessions in bp-query")
        socket = blueplane_home / "run" / "redis.sock"
        assert socket.exists() and (socket.parent.stat().st_mode & 0o077) == 0  # private bus
    finally:
        down = blueplane("down")
    assert down.returncode == 0, down.stderr
    assert not (blueplane_home / "run" / "supervisor.sock").exists() or "stopped" in down.stdout
