"""``blueplane install claude-code --otel``: point Claude Code's OpenTelemetry at capture-otlp.

Claude Code reads its telemetry switches from the ``env`` object of ``~/.claude/settings.json``
(formats.md 3.1). We add only what is needed to export metrics and log events over OTLP/HTTP
JSON (the protocol verified live with 2.1.197) to the local receiver, with DELTA temporality.
Prompt and tool-detail logging (``OTEL_LOG_USER_PROMPTS``, ``OTEL_LOG_TOOL_DETAILS``) are never
switched on; the receiver drops that text anyway.

A key the user already set to another value is left alone and reported as a conflict (they may
export to their own collector). Uninstall removes a key only while it still holds the value we
set, so a value the user changed afterwards survives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blueplane_capture.installers.json_file import SettingsError, read_object, write_object

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
#: metrics every 10 s instead of Claude Code's 60 s default, so dashboards stay fresh.
METRIC_INTERVAL_MS = "10000"


def otel_env(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> dict[str, str]:
    """The ``env`` settings that make Claude Code export to capture-otlp at ``host:port``."""
    return {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{host}:{port}",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
        "OTEL_METRIC_EXPORT_INTERVAL": METRIC_INTERVAL_MS,
    }


@dataclass
class EnvChange:
    """What a merge or unmerge did to the ``env`` object."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # key -> the user's own value


def merge_env(settings: dict[str, Any], env: dict[str, str]) -> EnvChange:
    """Add ``env`` to ``settings["env"]`` in place, never replacing a value the user set."""
    current = settings.get("env")
    if current is None:
        current = settings["env"] = {}
    if not isinstance(current, dict):
        raise SettingsError("settings 'env' is not a JSON object; fix it, then retry")
    change = EnvChange()
    for key, value in env.items():
        if key not in current:
            current[key] = value
            change.added.append(key)
        elif str(current[key]) == value:
            change.unchanged.append(key)
        else:
            change.conflicts[key] = str(current[key])
    return change


def unmerge_env(settings: dict[str, Any], env: dict[str, str]) -> EnvChange:
    """Remove from ``settings["env"]`` (in place) the keys that still hold our values."""
    change = EnvChange()
    current = settings.get("env")
    if not isinstance(current, dict):
        return change
    for key, value in env.items():
        if key in current and str(current[key]) == value:
            del current[key]
            change.removed.append(key)
    if not current:
        del settings["env"]
    return change


def settings_file() -> Path:
    """Claude Code's user settings file."""
    return Path.home() / ".claude" / "settings.json"


def install(
    path: Path | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> EnvChange:
    """Merge :func:`otel_env` into the settings file (created if missing)."""
    target = path or settings_file()
    settings = read_object(target)
    change = merge_env(settings, otel_env(host, port))
    if change.added:
        write_object(target, settings)
    return change


def uninstall(
    path: Path | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> EnvChange:
    """Remove what :func:`install` added (values the user changed stay)."""
    target = path or settings_file()
    if not target.exists():
        return EnvChange()
    settings = read_object(target)
    change = unmerge_env(settings, otel_env(host, port))
    if change.removed:
        write_object(target, settings)
    return change


def status(path: Path | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """``installed``, ``not installed``, or what differs (a user's own endpoint, say)."""
    try:
        env = read_object(path or settings_file()).get("env")
    except SettingsError:
        return "settings.json unreadable"
    env = env if isinstance(env, dict) else {}
    wanted = otel_env(host, port)
    present = [key for key, value in wanted.items() if str(env.get(key)) == value]
    if len(present) == len(wanted):
        return "installed"
    if not present:
        return "not installed"
    differing = sorted(key for key in wanted if key not in present)
    return f"partly installed (differs: {', '.join(differing)})"
