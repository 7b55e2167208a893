"""Capture survives any one bad file, folder or record (issue 12): it logs one line without
paths or payload, counts it in its heartbeat, skips or sets it aside, retries it later, and
every other file goes on.

Unreadable files need a process that file permissions apply to: as root, the real process runs
without CAP_DAC_OVERRIDE (``setpriv``), so a mode-000 file raises PermissionError as it would
for a user.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from blueplane_core import paths, streams
from tests.conftest import FIXTURES, python_env
from tests.helpers import ingest_all, wait_for
from tests.test_transcripts import stored, usage_totals

LIVE_PROJECT = (
    FIXTURES / "claude_code_live" / "transcripts" / "projects" / "-tmp-ccdemo-demo-project"
)


def unprivileged() -> list[str]:
    """A command prefix under which file permissions apply (empty for a normal user)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def bad_project(root: Path) -> tuple[Path, list[Path]]:
    """A projects folder with real transcripts around every kind of bad entry; returns the
    unreadable file and the good ones (one of which sorts after every bad entry)."""
    folder = root / "projects" / "-home-someone-secret-project"
    folder.mkdir(parents=True)
    # responses per fixture file, counted by hand (distinct message ids with usage):
    # a2485af1: 1, 67d3dcc7: 2, f43a179b: 6, bd679c62: 2
    first = folder / "0-first.jsonl"
    last = folder / "z-last.jsonl"
    shutil.copy(LIVE_PROJECT / "a2485af1-bc26-4aa1-a0cf-9eff122a615c.jsonl", first)
    shutil.copy(LIVE_PROJECT / "67d3dcc7-5f77-45e8-b542-197673fd6749.jsonl", last)
    with last.open("ab") as handle:  # bad bytes: not UTF-8, a NUL, a JSON list
        handle.write(b'{"type": "user", "message": "\xff\xfe"}\n\x00\x00\n[1]\n')
    unreadable = folder / "m-unreadable.jsonl"
    shutil.copy(LIVE_PROJECT / "f43a179b-38ec-4b6d-9936-a897f46d022a.jsonl", unreadable)
    unreadable.chmod(0)
    (folder / "n-folder.jsonl").mkdir()
    os.mkfifo(folder / "o-fifo.jsonl")
    (folder / "p-loop.jsonl").symlink_to(folder / "p-loop.jsonl")
    (folder / "q-dangling.jsonl").symlink_to(folder / "nowhere.jsonl")
    locked = folder / "r-locked"
    locked.mkdir()
    shutil.copy(
        LIVE_PROJECT / "bd679c62-c03a-4da5-9a9f-8706819352f4.jsonl", locked / "inside.jsonl"
    )
    locked.chmod(0)
    return unreadable, [first, last]


@pytest.mark.slow
def test_capture_claude_reads_every_good_transcript_around_bad_ones(
    redis_client, redis_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "claude"
    unreadable, _good = bad_project(root)
    env = python_env(
        {"BLUEPLANE_REDIS_URL": redis_url, "CLAUDE_CONFIG_DIR": str(root), "HOME": str(tmp_path)}
    )
    command = [*unprivileged(), sys.executable, "-m", "blueplane_capture.transcripts", "--once"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=120)
    log = done.stderr.decode()
    assert done.returncode == 0, log[-2000:]
    assert "Traceback" not in log
    # one line for the unreadable file, naming it without the folders (no home path, no project)
    assert log.count("~/claude/projects/…/m-unreadable.jsonl skipped: PermissionError") == 1, log
    assert "secret-project" not in log and str(tmp_path) not in log
    assert "\\xff" not in log and "message" not in log  # no payload of the bad lines
    ingest_all()
    # the good files, one sorting before and one after every bad entry: 1 + 2 responses
    assert len(usage_totals(stored())) == 3

    unreadable.chmod(0o600)  # fixed: the next run reads it too, and adds nothing twice
    (root / "projects" / "-home-someone-secret-project" / "r-locked").chmod(0o700)
    again = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert "skipped" not in again.stderr.decode()
    ingest_all()
    assert len(usage_totals(stored())) == 3 + 6 + 2  # the two set right, the others once
    assert redis_client.xlen(streams.DLQ_STREAM) == 0


def test_transcript_monitor_skips_what_vanishes_or_is_no_file(redis_client, tmp_path: Path) -> None:
    from tests.test_transcripts import make_monitor

    root = tmp_path / "claude"
    folder = root / "projects" / "p"
    folder.mkdir(parents=True)
    (folder / "dir.jsonl").mkdir()
    os.mkfifo(folder / "fifo.jsonl")
    (folder / "loop.jsonl").symlink_to(folder / "loop.jsonl")
    shutil.copy(LIVE_PROJECT / "1189de7f-c18e-4d0e-a2d0-66786fad77d7.jsonl", folder / "z.jsonl")
    monitor = make_monitor(root, redis_client, tmp_path / "state")
    # what a watcher reports can be anything by the time it is read: never block, never raise
    named = [folder / n for n in ("dir.jsonl", "fifo.jsonl", "loop.jsonl", "gone.jsonl")]
    assert monitor.poll(named, flush=True) == 0
    assert monitor.faults.count == 1  # the loop (ELOOP); the others are simply not files
    assert monitor.poll(flush=True) > 0  # the good file
    assert monitor.faults.failing == 0  # a path that no longer lists is forgotten


SPOOL = "capture-spool"


@pytest.mark.slow
def test_capture_spool_sets_aside_what_it_cannot_read_and_drains_the_rest(
    redis_client, redis_url: str
) -> None:
    from tests.test_spool import spool_some

    files = spool_some(4)
    assert len(files) == 4
    files[1].chmod(0)  # an unreadable spooled event between good ones
    (paths.spool_dir() / "0-folder.json").mkdir()  # a folder named like an event
    env = python_env({"BLUEPLANE_REDIS_URL": redis_url, "HOME": str(paths.home().parent)})
    proc = subprocess.Popen(
        [*unprivileged(), sys.executable, "-m", "blueplane_capture.spool"],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: redis_client.xlen(streams.EVENTS_STREAM) == 3, 30, what="3 pushed")
        wait_for(
            lambda: b"skipped=1" in (redis_client.hget(streams.HEARTBEATS_KEY, SPOOL) or b""),
            30,
            what="the unreadable file counted in the heartbeat",
        )
        assert proc.poll() is None, "the drainer is still running"
        files[1].chmod(0o600)  # readable again: a later retry pushes it (retry every minute)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    log = err.decode()
    assert proc.returncode == 0, log[-2000:]
    assert "Traceback" not in log
    assert log.count(f"{files[1].name} skipped: PermissionError (EACCES)") == 1, log
    assert str(paths.home()) not in log and "draining ~/bp-home/spool" in log
    ingest_all()
    # the readable three are stored; the fourth waits in the spool, not lost
    assert files[1].exists()
    client = redis.Redis.from_url(redis_url)
    assert client.xlen(streams.DLQ_STREAM) == 0
