"""The git post-commit hook, installed into real repositories and fired by real ``git commit``."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import orjson
import pytest
import redis

from blueplane_capture import git_hook
from blueplane_capture.installers import git as git_installer
from blueplane_core import db, events, paths, streams
from blueplane_core.raw_traces import RawEvents
from tests.conftest import PYTHON
from tests.helpers import ingest_all

SECRET_MESSAGE = "fix the thing in secret_module with api key hunter2"


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.email=dev@example.com",
            "-c",
            "user.name=Dev",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "secret-project"
    path.mkdir()
    git(path, "init", "-q", "-b", "feature/secret-branch")
    (path / "app.py").write_text("a\nb\n")
    (path / "notes.md").write_text("x\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "root")
    return path


def existing_hook(repo: Path) -> tuple[Path, str]:
    """A user's own post-commit hook that leaves a trace and fails (git ignores that)."""
    hook = repo / ".git" / "hooks" / "post-commit"
    content = '#!/bin/sh\necho "ran $#" >> "$(git rev-parse --git-dir)/user-hook-ran"\nexit 3\n'
    hook.write_text(content)
    hook.chmod(0o755)
    return hook, content


def second_commit(repo: Path) -> subprocess.CompletedProcess[str]:
    (repo / "app.py").write_text("a\nc\nd\ne\n")  # +3 -1
    (repo / "logo.bin").write_bytes(b"\x00\x01\x02")  # binary
    git(repo, "mv", "notes.md", "README.txt")
    git(repo, "add", ".")
    return git(repo, "commit", "-q", "-m", SECRET_MESSAGE)


def stored() -> list[dict]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


def test_commit_with_existing_hook_is_recorded_and_the_users_hook_still_runs(
    repo: Path, redis_client: redis.Redis
) -> None:
    hook, original = existing_hook(repo)
    result = git_installer.install(repo)  # the resolved interpreter, as users get it
    assert result.chained == hook.with_name(git_installer.PREVIOUS)
    assert result.chained.read_text() == original

    done = second_commit(repo)
    assert done.returncode == 0
    assert (repo / ".git" / "user-hook-ran").read_text() == "ran 0\n"
    assert redis_client.xlen(streams.EVENTS_STREAM) == 1

    ingest_all()
    (event,) = stored()
    assert event["event_type"] == "commit" and event["source"] == "git_hook"
    assert event["payload"]["files_changed"] == 3
    assert event["payload"]["lines_added"] == 3 and event["payload"]["lines_removed"] == 1
    assert event["payload"]["binary_files"] == 1
    assert event["payload"]["file_extensions"] == {".py": 1, ".bin": 1, ".txt": 1}
    assert event["payload"]["parent_count"] == 1 and event["payload"]["is_merge"] is False
    assert event["session_id"] == event["metadata"]["project_hash"]
    sha = git(repo, "rev-parse", "HEAD").stdout.strip()
    blob = orjson.dumps(event)
    for private in (sha.encode(), b"hunter2", b"secret", b"dev@example.com", b"app.py", b"README"):
        assert private not in blob


def test_uninstall_puts_the_users_hook_back(repo: Path) -> None:
    hook, original = existing_hook(repo)
    git_installer.install(repo, python=PYTHON)
    assert git_installer.install(repo, python=PYTHON).changed is False  # idempotent
    assert git_installer.status(repo) == "installed"
    git_installer.uninstall(repo)
    assert hook.read_text() == original and os.access(hook, os.X_OK)
    assert not hook.with_name(git_installer.PREVIOUS).exists()
    assert git_installer.status(repo) == "not installed"


def test_uninstall_without_previous_hook_removes_ours(repo: Path) -> None:
    git_installer.install(repo, python=PYTHON)
    git_installer.uninstall(repo)
    assert not (repo / ".git" / "hooks" / "post-commit").exists()


def test_commit_succeeds_and_spools_when_redis_is_down(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("BLUEPLANE_REDIS_URL", f"redis://127.0.0.1:{dead}/0")
    git_installer.install(repo, python=PYTHON)
    assert second_commit(repo).returncode == 0
    (spooled,) = paths.spool_dir().glob("*.json")
    event = events.validate(orjson.loads(spooled.read_bytes()))
    assert event["event_type"] == "commit" and event["payload"]["lines_added"] == 3


def test_same_commit_seen_twice_is_stored_once(repo: Path, redis_client: redis.Redis) -> None:
    first = git_hook.handle(str(repo))
    again = git_hook.handle(str(repo))
    assert first and again and first["event_id"] == again["event_id"]
    ingest_all()
    assert len(stored()) == 1


def test_non_repository_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(git_installer.GitInstallError, match="not a git repository"):
        git_installer.install(tmp_path)
