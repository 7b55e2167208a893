"""blueplane install / uninstall claude-code: merge, idempotence, exact removal, backups."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blueplane_capture import cli
from blueplane_capture.installers import claude_code
from blueplane_core import paths, streams
from tests.conftest import FIXTURES

USER_SETTINGS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test:*)"]},
    "env": {"FOO": "1"},
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/guard.sh"}]}
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "say done", "timeout": 3}]}],
    },
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME: the real ~/.claude is never touched."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


def write_settings(home: Path, value: object) -> Path:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=4))
    return path


def ours(settings: dict, event: str) -> list[dict]:
    return [
        h for g in settings["hooks"].get(event, []) for h in g["hooks"] if claude_code.is_ours(h)
    ]


def test_install_keeps_user_hooks_and_uninstall_restores_exactly(home: Path) -> None:
    path = write_settings(home, USER_SETTINGS)
    done = claude_code.install(events=claude_code.EVENTS)
    assert done.path == path and sorted(done.added) == sorted(claude_code.EVENTS)
    assert done.backup is not None and json.loads(done.backup.read_text()) == USER_SETTINGS
    settings = json.loads(path.read_text())
    for event in claude_code.EVENTS:
        (entry,) = ours(settings, event)
        assert entry["timeout"] == claude_code.TIMEOUT_S
    assert settings["hooks"]["PreToolUse"][0] == USER_SETTINGS["hooks"]["PreToolUse"][0]
    assert settings["hooks"]["Stop"][0] == USER_SETTINGS["hooks"]["Stop"][0]
    assert {k: settings[k] for k in ("model", "permissions", "env")} == {
        k: USER_SETTINGS[k] for k in ("model", "permissions", "env")
    }
    assert "WorktreeCreate" not in settings["hooks"]  # would replace worktree creation

    removed = claude_code.uninstall()
    assert sorted(removed.removed) == sorted(claude_code.EVENTS)
    assert json.loads(path.read_text()) == USER_SETTINGS


def test_install_twice_changes_nothing(home: Path) -> None:
    path = write_settings(home, USER_SETTINGS)
    claude_code.install()
    before = path.read_bytes()
    backups = sorted(path.parent.glob("settings.json.bak-*"))
    again = claude_code.install()
    assert not again.changed and again.backup is None
    assert path.read_bytes() == before
    assert sorted(path.parent.glob("settings.json.bak-*")) == backups
    assert claude_code.uninstall().changed
    assert not claude_code.uninstall().changed  # a second one finds nothing


def test_install_creates_missing_settings_and_uninstall_leaves_an_empty_object(home: Path) -> None:
    done = claude_code.install()
    assert done.backup is None and done.path.exists()
    claude_code.uninstall()
    assert json.loads(done.path.read_text()) == {}


def test_invalid_settings_file_is_left_untouched(home: Path) -> None:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"hooks": {,}')
    with pytest.raises(claude_code.SettingsError, match="not valid JSON"):
        claude_code.install()
    result = CliRunner().invoke(cli.install_app, ["claude-code"])
    assert result.exit_code == 1
    assert "not valid JSON" in result.output
    assert path.read_text() == '{"hooks": {,}'
    assert list(path.parent.glob("settings.json.bak-*")) == []
    assert claude_code.status().startswith("settings not readable")


def test_command_uses_the_resolved_interpreter_isolated(home: Path) -> None:
    claude_code.install()
    settings = json.loads(claude_code.settings_path().read_text())
    (entry,) = ours(settings, "PostToolUse")
    command = entry["command"]
    interpreter, flags1, flags2, script = command.split(" ")
    assert interpreter == os.path.realpath(interpreter) and os.path.isabs(interpreter)
    assert (flags1, flags2) == ("-I", "-S")
    assert Path(script) == claude_code.hook_script() and Path(script).exists()


def test_installed_command_runs_the_hook(home: Path, redis_client, redis_url: str) -> None:
    """The exact command line from settings.json, through a shell as Claude Code runs it."""
    claude_code.install()
    settings = json.loads(claude_code.settings_path().read_text())
    command = ours(settings, "PreToolUse")[0]["command"]
    payload = (
        FIXTURES / "claude_code_live" / "hooks" / "B_tools" / "04_PreToolUse.json"
    ).read_bytes()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        command, shell=True, input=payload, capture_output=True, env=env, timeout=30
    )
    assert done.returncode == 0 and done.stdout == b""
    assert redis_client.xlen(streams.EVENTS_STREAM) == 1
    assert not paths.spool_dir().exists()


def test_outdated_handler_is_refreshed_not_duplicated(home: Path) -> None:
    old = {
        "type": "command",
        "timeout": 5,
        "command": "/usr/bin/python3 -I -S /old/checkout/blueplane_capture/hooks/claude_code.py",
    }
    write_settings(home, {"hooks": {"Stop": [{"matcher": "*", "hooks": [old]}]}})
    assert claude_code.status().startswith("outdated")
    done = claude_code.install(events=claude_code.EVENTS)
    assert done.updated == ["Stop"]
    settings = json.loads(claude_code.settings_path().read_text())
    assert ours(settings, "Stop") == [claude_code.handler()]
    assert claude_code.status() == f"installed ({len(claude_code.EVENTS)} events)"


def test_project_install_and_status_rows(home: Path, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    result = CliRunner().invoke(cli.install_app, ["claude-code", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert (project / ".claude" / "settings.json").exists()
    assert not claude_code.settings_path().exists()
    monkeypatch.chdir(project)
    rows = dict(cli.integration_status())
    assert rows["claude-code hooks (~/.claude/settings.json)"] == "not installed"
    assert rows["claude-code hooks (this project)"].startswith("installed")
    result = CliRunner().invoke(cli.uninstall_app, ["claude-code", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert claude_code.status(project) == "not installed"


def test_otel_option_adds_and_removes_the_telemetry_env(home: Path) -> None:
    path = write_settings(home, USER_SETTINGS)
    result = CliRunner().invoke(cli.install_app, ["claude-code", "--otel"])
    assert result.exit_code == 0, result.output
    env = json.loads(path.read_text())["env"]
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1" and env["FOO"] == "1"
    result = CliRunner().invoke(cli.uninstall_app, ["claude-code", "--otel"])
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text()) == USER_SETTINGS


def fake_claude(folder: Path, version: str) -> None:
    script = folder / "claude"
    script.write_text(f"#!/bin/sh\necho '{version} (Claude Code)'\n")
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.0.14", claude_code.BASE_EVENTS),
        ("2.1.197", claude_code.EVENTS),
        ("2.2.0", claude_code.EVENTS),
        (None, claude_code.BASE_EVENTS),
    ],
)
def test_the_client_version_decides_which_events_are_registered(
    version: str | None, expected: tuple, home: Path, tmp_path: Path, monkeypatch
) -> None:
    """An event name the client does not know makes it skip the whole settings file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if version:
        fake_claude(bin_dir, version)
    monkeypatch.setenv("PATH", str(bin_dir))
    result = CliRunner().invoke(cli.install_app, ["claude-code"])
    assert result.exit_code == 0, result.output
    settings = json.loads(claude_code.settings_path().read_text())
    assert sorted(settings["hooks"]) == sorted(expected)


def test_transcript_version_is_used_when_claude_is_not_on_path(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    transcript = home / ".claude" / "projects" / "-p" / "s.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text('{"type":"user","version":"2.1.200","sessionId":"s"}\n')
    assert claude_code.client_version() == (2, 1, 200)


def test_reinstall_for_an_older_client_takes_blueplane_off_unknown_events(home: Path) -> None:
    user_hook = {"type": "command", "command": "notify-send failed"}
    write_settings(home, {"hooks": {"StopFailure": [{"hooks": [user_hook]}]}})
    claude_code.install(events=claude_code.EVENTS)
    done = claude_code.install(events=claude_code.BASE_EVENTS)
    settings = json.loads(claude_code.settings_path().read_text())
    assert sorted(settings["hooks"]) == sorted([*claude_code.BASE_EVENTS, "StopFailure"])
    assert settings["hooks"]["StopFailure"] == [{"hooks": [user_hook]}]
    assert "PostCompact" in done.removed
