"""``blueplane install statusline``: Blueplane's line in Claude Code's status bar.

Claude Code runs ``statusLine.command`` (``{"type": "command", "command": ...}``) in
``~/.claude/settings.json`` and shows its first line. Install sets it to ``bp-query
statusline``, started as the hooks are (``<python> -I -S .../launch_statusline.py``: no
site-packages scan, so the line answers within 50 ms); a status line the user already had is
kept by chaining it: ours gets ``--chain '<their command>'``, which shows their line after ours (and
theirs alone still shows when Blueplane is down). Uninstall puts their command back exactly
(its other keys, such as ``padding``, are never touched), or removes ``statusLine`` when there
was none. Every change keeps a ``settings.json.bak-<UTC time>`` copy, as the hooks installer
does; a file that is not valid JSON is refused and left alone. Nothing is stored elsewhere:
their command lives only in their own settings file.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from blueplane_capture.installers.claude_code import Change, _backup, launch_command, settings_path
from blueplane_capture.installers.json_file import read_object, write_object

KEY = "statusLine"
MARKER = "statusline"


#: the file the command runs (``bp-query statusline`` without the console script's start-up).
LAUNCHER = "launch_statusline.py"


def launcher() -> Path:
    """The query stage's launcher, found beside this package rather than imported: a capture
    module imports nothing of another stage (tests/test_layout.py)."""
    return Path(__file__).resolve().parents[2] / "blueplane_query" / LAUNCHER


def command() -> str:
    """``<this interpreter> -I -S <.../launch_statusline.py>``: resolved paths, no PATH lookup,
    the hooks' way of starting (``installers.claude_code.launch_command``)."""
    return launch_command(launcher())


def parse(value: Any) -> tuple[bool, str | None]:
    """(whether a statusLine value is ours, the chained command it carries)."""
    text = value.get("command") if isinstance(value, dict) else None
    if not isinstance(text, str):
        return False, None
    try:
        words = shlex.split(text)
    except ValueError:
        return False, None
    ours = any(w.endswith("/" + LAUNCHER) for w in words) or (  # or as installed before
        any(w.endswith("bp-query") or w == "blueplane_query.cli" for w in words) and MARKER in words
    )
    if not ours:
        return False, None
    chained = words[words.index("--chain") + 1] if "--chain" in words[:-1] else None
    return True, chained


def install(path: Path | None = None) -> Change:
    target = path or settings_path()
    settings = read_object(target)
    change = Change(target)
    current = settings.get(KEY)
    ours, chained = parse(current)
    if not ours and isinstance(current, dict) and isinstance(current.get("command"), str):
        chained = current["command"]  # the user's own line: chain it
    wanted_command = command() + (f" --chain {shlex.quote(chained)}" if chained else "")
    wanted = {**(current if isinstance(current, dict) else {}), "type": "command"}
    wanted["command"] = wanted_command
    if current == wanted:
        return change
    settings[KEY] = wanted
    (change.updated if current is not None else change.added).append(KEY)
    change.backup = _backup(target)
    write_object(target, settings)
    return change


def uninstall(path: Path | None = None) -> Change:
    target = path or settings_path()
    change = Change(target)
    if not target.exists():
        return change
    settings = read_object(target)
    ours, chained = parse(settings.get(KEY))
    if not ours:
        return change
    if chained:
        settings[KEY] = {**settings[KEY], "command": chained}
    else:
        del settings[KEY]
    change.removed.append(KEY)
    change.backup = _backup(target)
    write_object(target, settings)
    return change


def status(path: Path | None = None) -> str:
    target = path or settings_path()
    try:
        ours, chained = parse(read_object(target).get(KEY)) if target.exists() else (False, None)
    except Exception:
        return "unreadable settings"
    if not ours:
        return "not installed"
    return "installed (chaining your own status line)" if chained else "installed"
