"""``blueplane install claude-code``: register bp-hook for every Claude Code hook event.

The hook entries are merged into ``~/.claude/settings.json`` (or the project's
``.claude/settings.json``) next to whatever the user has: their hooks, matchers and other
settings are kept as they are. Each entry runs
``<interpreter> -I -S <.../hooks/launch_claude_code.py>`` with the interpreter's resolved
absolute path (a pyenv shim adds ~110 ms per call) and a small ``timeout``. Blueplane's handlers
are recognised by the hook script in their command, so uninstall removes exactly them (also
after the interpreter changed), and install run twice changes nothing. Before changing a file,
a copy is kept as ``settings.json.bak-<UTC time>``. A file that is not valid JSON is refused.

Which events: a Claude Code that does not know a hook event name rejects the WHOLE settings
file ("Invalid key in record"; the user's other settings are then ignored too), while newer
clients only warn. So the full list, read from the 2.1.197 binary, is registered only when the
installed client is at least that version (``claude --version``, else the newest transcript's
``version``); otherwise the nine events every 1.x/2.x client knows. ``--all-events`` overrides.
Never registered: ``WorktreeCreate`` / ``WorktreeRemove`` (such hooks replace how Claude Code
creates worktrees and must print a path) and ``FileChanged`` (its matcher names files to watch).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blueplane_capture.installers.json_file import SettingsError, read_object, write_object

#: events every Claude Code since 1.0 accepts in its settings.
BASE_EVENTS: tuple[str, ...] = (
    "SessionStart",
    "SessionEnd",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Notification",
    "Stop",
    "SubagentStop",
    "PreCompact",
)
#: the client version whose event list ``EVENTS`` is (formats.md 1.1, from its binary).
FULL_EVENTS_SINCE = (2, 1, 197)
#: hook events of Claude Code 2.1.197 that bp-hook records.
EVENTS: tuple[str, ...] = (
    "SessionStart",
    "SessionEnd",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "PermissionRequest",
    "PermissionDenied",
    "Notification",
    "MessageDisplay",
    "Stop",
    "StopFailure",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PostCompact",
    "Setup",
    "TeammateIdle",
    "TaskCreated",
    "TaskCompleted",
    "Elicitation",
    "ElicitationResult",
    "ConfigChange",
    "InstructionsLoaded",
    "CwdChanged",
)
#: seconds Claude Code waits at most for one fire (the hook itself takes milliseconds).
TIMEOUT_S = 5
#: what identifies a Blueplane handler, whatever interpreter or checkout runs it (the launcher,
#: or the module itself as earlier installs and ``bp-hook`` users may have written).
HOOK_MARKS = (
    "blueplane_capture/hooks/launch_claude_code.py",
    "blueplane_capture/hooks/claude_code.py",
)

__all__ = ["BASE_EVENTS", "EVENTS", "Change", "SettingsError", "install", "status", "uninstall"]

_VERSION_RE = re.compile(rb'"version":"(\d+)\.(\d+)\.(\d+)')


def client_version() -> tuple[int, int, int] | None:
    """The installed Claude Code's version: ``claude --version``, else the newest transcript."""
    try:
        done = subprocess.run(
            ["claude", "--version"], capture_output=True, timeout=15, check=False, text=True
        )
        found = re.match(r"\s*(\d+)\.(\d+)\.(\d+)", done.stdout or "")
        if done.returncode == 0 and found:
            return (int(found[1]), int(found[2]), int(found[3]))
    except (OSError, subprocess.SubprocessError):
        pass
    newest: tuple[float, Path] | None = None
    projects = Path.home() / ".claude" / "projects"
    for path in projects.glob("*/*.jsonl") if projects.is_dir() else ():
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if newest is None or mtime > newest[0]:
            newest = (mtime, path)
    if newest is not None:
        try:
            with newest[1].open("rb") as handle:
                handle.seek(max(newest[1].stat().st_size - 65536, 0))
                versions = _VERSION_RE.findall(handle.read())
        except OSError:
            versions = []
        if versions:
            return tuple(int(x) for x in versions[-1])  # type: ignore[return-value]
    return None


def events_for(version: tuple[int, int, int] | None) -> tuple[str, ...]:
    """The events a client of ``version`` accepts (the safe base set when unknown)."""
    return EVENTS if version is not None and version >= FULL_EVENTS_SINCE else BASE_EVENTS


def hook_script() -> Path:
    """The hook file of this installation (a tiny launcher: see its docstring)."""
    return Path(__file__).resolve().parent.parent / "hooks" / "launch_claude_code.py"


def interpreter() -> str:
    """This interpreter's real path (never a shim or a symlink)."""
    return os.path.realpath(sys.executable)


def launch_command(script: Path) -> str:
    """``<this interpreter> -I -S <script>``, quoted: how the hooks and the status line start
    (resolved paths, no PATH lookup, no site-packages scan)."""
    return " ".join(shlex.quote(p) for p in (interpreter(), "-I", "-S", str(script)))


def hook_command() -> str:
    return launch_command(hook_script())


def handler() -> dict[str, Any]:
    return {"type": "command", "command": hook_command(), "timeout": TIMEOUT_S}


def settings_path(project: Path | None = None) -> Path:
    """``~/.claude/settings.json``, or the project's shared ``.claude/settings.json``."""
    if project is not None:
        return project / ".claude" / "settings.json"
    return Path.home() / ".claude" / "settings.json"


def is_ours(entry: Any) -> bool:
    command = entry.get("command") if isinstance(entry, dict) else None
    if not isinstance(command, str):
        return False
    command = command.replace("\\", "/")
    return any(mark in command for mark in HOOK_MARKS)


@dataclass
class Change:
    """What install / uninstall did to one settings file."""

    path: Path
    added: list[str] = field(default_factory=list)  # events that got a Blueplane handler
    updated: list[str] = field(default_factory=list)  # events whose handler was refreshed
    removed: list[str] = field(default_factory=list)
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def _hooks_table(settings: dict[str, Any], create: bool) -> dict[str, Any] | None:
    table = settings.get("hooks")
    if table is None and create:
        table = settings["hooks"] = {}
    if table is not None and not isinstance(table, dict):
        raise SettingsError("settings 'hooks' is not a JSON object; fix it, then retry")
    return table


def merge(settings: dict[str, Any], change: Change, events: tuple[str, ...] = EVENTS) -> None:
    """Add (or refresh) Blueplane's handler for each of ``events``, in place, and take it off
    any other event (one the client may not know)."""
    table = _hooks_table(settings, create=True)
    assert table is not None
    wanted = handler()
    for event in events:
        groups = table.setdefault(event, [])
        if not isinstance(groups, list):
            raise SettingsError(f"settings 'hooks.{event}' is not a list; fix it, then retry")
        ours = [
            (group, entry)
            for group in groups
            if isinstance(group, dict) and isinstance(group.get("hooks"), list)
            for entry in group["hooks"]
            if is_ours(entry)
        ]
        if not ours:
            groups.append({"matcher": "*", "hooks": [dict(wanted)]})
            change.added.append(event)
            continue
        for _, entry in ours:
            if entry != wanted:
                entry.clear()
                entry.update(wanted)
                if event not in change.updated:
                    change.updated.append(event)
    others = {event: table[event] for event in table if event not in events}
    proxy: dict[str, Any] = {"hooks": dict(others)}
    removal = Change(change.path)
    unmerge(proxy, removal)
    left = proxy.get("hooks", {})
    for event in removal.removed:
        if event in left:
            table[event] = left[event]
        else:
            del table[event]
    change.removed.extend(removal.removed)


def unmerge(settings: dict[str, Any], change: Change) -> None:
    """Remove every Blueplane handler, in place, and the containers that held only them."""
    table = _hooks_table(settings, create=False)
    if not table:
        return
    for event in list(table):
        groups = table[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        removed_here = False
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(entries, list) or not any(is_ours(e) for e in entries):
                kept_groups.append(group)
                continue
            removed_here = True
            rest = [e for e in entries if not is_ours(e)]
            if rest:
                group["hooks"] = rest
                kept_groups.append(group)
        if removed_here:
            change.removed.append(event)
            if kept_groups:
                table[event] = kept_groups
            else:
                del table[event]
    if change.removed and not table:
        del settings["hooks"]


def _backup(path: Path) -> Path | None:
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bak-{stamp}-{n}")
    shutil.copy2(path, target)
    return target


def _apply(path: Path, edit: Any) -> Change:
    settings = read_object(path)  # SettingsError: the file is left untouched
    change = Change(path)
    edit(settings, change)
    if change.changed:
        change.backup = _backup(path)
        write_object(path, settings)
    return change


def install(
    project: Path | None = None, path: Path | None = None, events: tuple[str, ...] | None = None
) -> Change:
    """Merge Blueplane's hook handlers into the settings file (created if missing), for
    ``events`` (default: what the installed client accepts, see ``events_for``)."""
    chosen = events if events is not None else events_for(client_version())
    return _apply(path or settings_path(project), lambda s, c: merge(s, c, chosen))


def uninstall(project: Path | None = None, path: Path | None = None) -> Change:
    """Remove exactly the handlers :func:`install` added."""
    target = path or settings_path(project)
    if not target.exists():
        return Change(target)
    return _apply(target, unmerge)


def status(project: Path | None = None, path: Path | None = None) -> str:
    """``installed (N events)``, ``outdated`` (an older interpreter or checkout), ``not
    installed`` or ``settings not readable: ...``."""
    target = path or settings_path(project)
    try:
        settings = read_object(target)
        table = _hooks_table(settings, create=False) or {}
    except SettingsError as exc:
        return f"settings not readable: {exc}"
    wanted = handler()
    found = current = 0
    for groups in table.values():
        entries = [
            e
            for g in (groups if isinstance(groups, list) else [])
            if isinstance(g, dict) and isinstance(g.get("hooks"), list)
            for e in g["hooks"]
            if is_ours(e)
        ]
        found += bool(entries)
        current += bool(entries) and all(e == wanted for e in entries)
    if found == 0:
        return "not installed"
    if current < found:
        return "outdated (run `blueplane install claude-code` again)"
    return f"installed ({found} events)"
