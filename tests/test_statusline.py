"""``bp-query statusline`` as Claude Code runs it (a real process, JSON on stdin) and
``blueplane install statusline`` on a real settings file."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from blueplane_capture.installers import statusline as statusline_installer
from tests.conftest import PYTHON, python_env
from tests.query_data import SESSIONS, fill
from tests.service_harness import free_port

S1 = SESSIONS[0][0]
CLIENT = {
    "session_id": S1,
    "model": {"id": "claude-sonnet-4-5-20250929", "display_name": "Sonnet 4.5"},
    "workspace": {"current_dir": "/tmp/p", "project_dir": "/tmp/p"},
    "cost": {"total_cost_usd": 0.4213, "total_duration_ms": 1000},
}


#: the two ways the line starts: ``bp-query statusline`` and the command ``blueplane install
#: statusline`` writes (``python -I -S .../launch_statusline.py``, the hooks' way).
COMMANDS = {
    "bp-query": [PYTHON, "-m", "blueplane_query.cli", "statusline"],
    "installed": shlex.split(statusline_installer.command()),
}


@pytest.fixture(params=sorted(COMMANDS))
def started(request: pytest.FixtureRequest) -> list[str]:
    return COMMANDS[request.param]


def statusline(
    stdin: bytes, *args: str, env: dict[str, str] | None = None, command: list[str] | None = None
) -> str:
    done = subprocess.run(
        [*(command or COMMANDS["bp-query"]), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=python_env(env),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr.decode(), done
    return lines[0]


def test_the_line_shows_today_the_block_and_the_session(
    redis_client: redis.Redis, started: list[str]
) -> None:
    fill(redis_client)
    # The sample: 4 requests of claude-sonnet-4-5, each 1000 input ($3/M) + 500 output ($15/M)
    # + 200 cache write ($3.75/M) + 4000 cache read ($0.30/M) = 0.003 + 0.0075 + 0.00075
    # + 0.0012 = $0.01245; 4 of them = $0.0498, all within the last 90 minutes (one block).
    line = statusline(json.dumps(CLIENT).encode(), command=started)
    assert line.startswith("Sonnet 4.5 · today $0.05 · block $0.05 (")
    assert "left" in line and "/h" in line
    assert line.endswith("session $0.42")  # the client's own figure: official
    # without the client's figure: Blueplane's computed cost of the session (2 requests)
    line = statusline(json.dumps({**CLIENT, "cost": {}}).encode(), command=started)
    assert line.endswith("session $0.02 (computed)")  # 2 x 0.01245 = 0.0249


def test_never_fails_and_shows_the_clients_figures_when_blueplane_is_down(
    started: list[str],
) -> None:
    down = {"BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    line = statusline(json.dumps(CLIENT).encode(), env=down, command=started)
    assert line == "Sonnet 4.5 · session $0.42 · Blueplane not running"
    for junk in (b"", b"not json", b"[1, 2]", b'{"cost": {"total_cost_usd": "x"}}', b"\xff\xfe"):
        assert statusline(junk, env=down, command=started)
    bad_config = {"BLUEPLANE_REDIS_SOCKET_TIMEOUT_S": "soon"}
    assert statusline(json.dumps(CLIENT).encode(), env=bad_config, command=started).endswith(
        "session $0.42 · Blueplane not running"
    )


def test_a_chained_status_line_follows_ours(started: list[str]) -> None:
    down = {"BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    # the chained command gets the same JSON on stdin
    script = "import json,sys; print('theirs', json.load(sys.stdin)['session_id'][:8])"
    theirs = f'{shlex_python()} -c "{script}"'
    line = statusline(json.dumps(CLIENT).encode(), "--chain", theirs, env=down, command=started)
    assert line == f"Sonnet 4.5 · session $0.42 · Blueplane not running │ theirs {S1[:8]}"


def shlex_python() -> str:
    import shlex

    return shlex.quote(sys.executable)


def blueplane(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("blueplane", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args],
        env=python_env({"HOME": str(home)}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_chains_the_users_own_line_and_uninstall_restores_it(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    mine = {"type": "command", "command": "~/bin/my line.sh --fancy", "padding": 1}
    original = {"model": "opus", "statusLine": mine, "hooks": {}}
    settings.write_text(json.dumps(original, indent=2))
    done = blueplane(tmp_path, "install", "statusline")
    assert done.returncode == 0, done.stderr
    assert "chaining your own" in done.stdout and "backup" in done.stdout
    installed = json.loads(settings.read_text())
    assert installed["model"] == "opus" and installed["hooks"] == {}
    line = installed["statusLine"]
    assert line["padding"] == 1 and line["type"] == "command"
    assert "launch_statusline.py --chain" in line["command"]
    backups = list(settings.parent.glob("settings.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == original
    again = blueplane(tmp_path, "install", "statusline")
    assert "already installed" in again.stdout
    assert json.loads(settings.read_text()) == installed  # idempotent
    # the installed command really runs both lines (their script is missing: ours still shows)
    shown = subprocess.run(
        line["command"],
        shell=True,
        input=json.dumps(CLIENT).encode(),
        capture_output=True,
        env=python_env({"BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}),
        timeout=60,
    )
    assert shown.returncode == 0 and shown.stdout.decode().startswith("Sonnet 4.5 ·")
    removed = blueplane(tmp_path, "uninstall", "statusline")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(settings.read_text()) == original  # theirs back, exactly
    assert (
        "not installed" in blueplane(tmp_path, "uninstall", "statusline").stdout + "not installed"
    )


def test_install_without_a_line_of_ones_own_and_a_broken_file(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    done = blueplane(tmp_path, "install", "statusline")
    assert done.returncode == 0, done.stderr
    assert "--chain" not in json.loads(settings.read_text())["statusLine"]["command"]
    assert blueplane(tmp_path, "uninstall", "statusline").returncode == 0
    assert json.loads(settings.read_text()) == {}
    settings.write_text("{ not json")
    refused = blueplane(tmp_path, "install", "statusline")
    assert refused.returncode == 1 and "not valid JSON" in refused.stderr
    assert settings.read_text() == "{ not json"


@pytest.mark.parametrize("argv", [["--help"], ["statusline", "--help"]])
def test_the_command_is_listed_in_help(argv: list[str]) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "blueplane_query.cli", *argv],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=60,
    )
    assert done.returncode == 0 and "statusline" in done.stdout.lower()
