"""``blueplane install cursor``: register bp-cursor-hook in Cursor's ``hooks.json``.

Cursor runs every hooks.json it finds (user ``~/.cursor/hooks.json``, a project's
``.cursor/hooks.json``, enterprise; formats.md 4), so installing into one of them never replaces
the user's own hooks: our entry is appended to each event's list and recognised later by the hook
script's path in its command. Uninstall removes exactly those entries, and events or the file's
``hooks`` object left empty by that. Installing twice refreshes our entries in place.

Events registered: the ten the design names plus the session, subagent and compaction events and
``postToolUseFailure`` (failures are otherwise invisible). ``preToolUse``/``postToolUse`` are left
out because they repeat the shell, MCP, read and edit events; Tab events because they fire on
every completion.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blueplane_capture.hooks import cursor as cursor_hook
from blueplane_capture.installers.claude_code import interpreter as resolved_interpreter
from blueplane_capture.installers.json_file import SettingsError, read_object, write_object

__all__ = ["EVENTS", "CursorChange", "SettingsError", "install", "status", "uninstall"]

EVENTS: tuple[str, ...] = (
    "sessionStart",
    "sessionEnd",
    "beforeSubmitPrompt",
    "afterAgentResponse",
    "afterAgentThought",
    "beforeShellExecution",
    "afterShellExecution",
    "beforeMCPExecution",
    "afterMCPExecution",
    "beforeReadFile",
    "afterFileEdit",
    "postToolUseFailure",
    "subagentStart",
    "subagentStop",
    "preCompact",
    "stop",
)
#: every command we write contains this (the hook's launcher, ``hooks/launch_cursor.py``: the
#: hook's own module then loads from cached bytecode), and nothing else does
SCRIPT = str(Path(cursor_hook.__file__).resolve().parent / "launch_cursor.py")
#: what commands written before the launcher ran: still recognised (install replaces them)
_DIRECT_SCRIPT = str(Path(cursor_hook.__file__).resolve())


@dataclass
class CursorChange:
    file: Path
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def hooks_file(project: Path | None = None) -> Path:
    """``<project>/.cursor/hooks.json``, or the user's ``~/.cursor/hooks.json``."""
    base = project if project is not None else Path.home()
    return base / ".cursor" / "hooks.json"


def command(event: str, python: str | None = None) -> str:
    return f"{shlex.quote(python or resolved_interpreter())} -I -S {shlex.quote(SCRIPT)} {event}"


def is_ours(entry: Any) -> bool:
    command = str(entry.get("command", "")) if isinstance(entry, dict) else ""
    return SCRIPT in command or _DIRECT_SCRIPT in command


def merge(config: dict[str, Any], python: str | None = None) -> list[str]:
    """Add our entry to every event in ``config`` (in place); returns the events changed."""
    hooks = config.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError("hooks.json: 'hooks' is not an object; fix it, then retry")
    config.setdefault("version", 1)
    changed = []
    for event in EVENTS:
        entries = hooks.setdefault(event, [])
        if not isinstance(entries, list):
            raise SettingsError(f"hooks.json: hooks.{event} is not a list; fix it, then retry")
        wanted = {"command": command(event, python)}
        ours = [i for i, entry in enumerate(entries) if is_ours(entry)]
        if ours and entries[ours[0]] == wanted and len(ours) == 1:
            continue
        for index in reversed(ours):
            del entries[index]
        entries.append(wanted)
        changed.append(event)
    return changed


def unmerge(config: dict[str, Any]) -> list[str]:
    """Remove our entries (in place); returns the events changed."""
    hooks = config.get("hooks")
    if not isinstance(hooks, dict):
        return []
    changed = []
    for event in list(hooks):
        entries = hooks[event]
        if not isinstance(entries, list) or not any(is_ours(e) for e in entries):
            continue
        hooks[event] = [e for e in entries if not is_ours(e)]
        changed.append(event)
        if not hooks[event]:
            del hooks[event]
    return changed


def install(project: Path | None = None, python: str | None = None) -> CursorChange:
    target = hooks_file(project)
    config = read_object(target)
    change = CursorChange(target, added=merge(config, python))
    if change.added:
        write_object(target, config)
    return change


def uninstall(project: Path | None = None) -> CursorChange:
    target = hooks_file(project)
    if not target.exists():
        return CursorChange(target)
    config = read_object(target)
    change = CursorChange(target, removed=unmerge(config))
    if change.removed:
        write_object(target, config)
    return change


def status(project: Path | None = None) -> str:
    try:
        config = read_object(hooks_file(project))
    except SettingsError:
        return "hooks.json unreadable"
    hooks = config.get("hooks")
    tables = hooks.values() if isinstance(hooks, dict) else []
    found = sum(
        1 for entries in tables if isinstance(entries, list) and any(is_ours(e) for e in entries)
    )
    if not found:
        return "not installed"
    return "installed" if found == len(EVENTS) else f"partly installed ({found}/{len(EVENTS)})"
