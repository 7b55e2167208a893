"""The spool: events a hook could not hand to Redis are pushed later, each stored once."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import orjson

from blueplane_capture.spool import SpoolDrainer
from blueplane_core import db, lifecycle, paths, streams
from blueplane_core.emit import Emitter
from tests.conftest import FIXTURES, python_env
from tests.helpers import ingest_all, wait_for
from tests.test_claude_hook import run_hook

HOOKS = FIXTURES / "claude_code_live" / "hooks" / "B_tools"


def _down_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


def spool_some(count: int = 5) -> list[Path]:
    down = _down_url()
    for path in sorted(HOOKS.glob("*.json"))[:count]:
        assert run_hook(path.read_bytes(), {"BLUEPLANE_REDIS_URL": down}).returncode == 0
    return sorted(paths.spool_dir().glob("*.json"))


def stored_ids() -> list[str]:
    conn = db.connect_writer(paths.database())
    try:
        return [row[0].hex() for row in conn.execute("SELECT event_id FROM raw_traces")]
    finally:
        conn.close()


def test_spooled_events_are_drained_exactly_once(redis_client) -> None:
    files = spool_some(5)
    assert len(files) == 5
    drainer = SpoolDrainer(Emitter(redis_client))
    assert drainer.run(lifecycle.Shutdown(), burst=True) == 5
    assert list(paths.spool_dir().glob("*.json")) == []
    ingest_all()
    ids = stored_ids()
    assert len(ids) == 5
    assert {f.stem.replace("-", "") for f in files} == set(ids)


def test_a_crash_between_xadd_and_delete_still_stores_once(redis_client, tmp_path: Path) -> None:
    files = spool_some(3)
    kept = tmp_path / "kept"
    kept.mkdir()
    for f in files:
        shutil.copy(f, kept / f.name)
    SpoolDrainer(Emitter(redis_client)).drain_once()
    for f in kept.iterdir():  # as if the drainer died after XADD, before unlink
        shutil.copy(f, paths.spool_dir() / f.name)
    assert SpoolDrainer(Emitter(redis_client)).drain_once() == 3
    assert redis_client.xlen(streams.EVENTS_STREAM) == 6
    ingest_all()
    assert len(stored_ids()) == 3


def test_redis_down_keeps_files_spooled(blueplane_home: Path) -> None:
    import redis

    spool_some(2)
    client = redis.Redis.from_url(_down_url(), socket_connect_timeout=0.2, socket_timeout=0.2)
    drainer = SpoolDrainer(Emitter(client))
    try:
        drainer.drain_once()
        raise AssertionError("expected a Redis error")
    except redis.RedisError:
        pass
    assert len(list(paths.spool_dir().glob("*.json"))) == 2


def test_invalid_spooled_file_is_set_aside(redis_client) -> None:
    spool = paths.ensure_private_dir(paths.spool_dir())
    (spool / "garbage.json").write_bytes(b"{not json")
    bad = {
        "schema": 1,
        "event_id": "0190a0a0-0000-7000-8000-000000000000",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "platform": "claude_code",
        "source": "hook",
        "session_id": "s",
        "event_type": "user_prompt",
        "hook_type": None,
        "metadata": {},
        "payload": {"prompt": "private"},
    }
    (spool / "bad.json").write_bytes(orjson.dumps(bad))
    spool_some(1)
    drainer = SpoolDrainer(Emitter(redis_client))
    assert drainer.drain_once() == 1
    assert drainer.rejected == 2
    assert sorted(p.name for p in (spool / "rejected").iterdir()) == ["bad.json", "garbage.json"]
    assert redis_client.xlen(streams.EVENTS_STREAM) == 1


def test_capture_spool_process_drains_and_stops_on_sigterm(redis_client, redis_url: str) -> None:
    spool_some(4)
    proc = subprocess.Popen(
        [sys.executable, "-m", "blueplane_capture.spool"],
        env=python_env({"BLUEPLANE_REDIS_URL": redis_url}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: not list(paths.spool_dir().glob("*.json")), 20, what="spool drained")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    ingest_all()
    assert len(stored_ids()) == 4
