"""Every file Blueplane writes is 0600 and every folder 0700, whatever the user's umask."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.conftest import FIXTURES, PYTHON, REPO, _free_port, python_env


def _permissive() -> None:
    os.umask(0)  # the worst a user's shell could hand us: files 0666, folders 0777


def run(args: list[str], env: dict[str, str], stdin: bytes = b"") -> None:
    done = subprocess.run(
        args, input=stdin, env=env, capture_output=True, timeout=120, preexec_fn=_permissive
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def modes(home: Path) -> dict[str, str]:
    """Every path under ``home`` that is not private, with its mode."""
    loose = {}
    for path in [home, *home.rglob("*")]:
        if path.is_symlink() or path.is_socket():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:  # anything for the group or others
            loose[str(path.relative_to(home.parent))] = oct(mode)
    return loose


@pytest.mark.slow
def test_every_file_and_folder_is_private_under_a_permissive_umask(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path, blueplane_home: Path
) -> None:
    shutil.rmtree(blueplane_home)  # let the processes create the data folder themselves
    claude = tmp_path / "claude"
    shutil.copytree(FIXTURES / "claude_code_live" / "transcripts", claude)
    env = python_env({"BLUEPLANE_REDIS_URL": redis_url, "CLAUDE_CONFIG_DIR": str(claude)})
    hook = [PYTHON, "-I", "-S", str(REPO / "blueplane_capture/hooks/launch_claude_code.py")]
    fixture = FIXTURES / "claude_code_live" / "hooks" / "B_tools" / "04_PreToolUse.json"
    run(hook, env, fixture.read_bytes())  # delivered: creates the secret
    down = {**env, "BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"}
    run(hook, down, fixture.read_bytes())  # spooled: spool folder, spool file, hooks.log
    run([sys.executable, "-m", "blueplane_capture.transcripts", "--once"], env)  # state
    run([sys.executable, "-m", "blueplane_ingest", "--burst"], env)  # database, WAL
    run([sys.executable, "-m", "blueplane_workers.metrics", "--burst"], env)
    run([sys.executable, "-m", "blueplane_ingest.maintenance", "--once"], env)
    created = {p.name for p in blueplane_home.rglob("*")}
    assert {"secret.key", "spool", "hooks.log", "claude_transcripts.json"} <= created, created
    assert any(name.startswith("telemetry.db") for name in created), created
    assert modes(blueplane_home) == {}
