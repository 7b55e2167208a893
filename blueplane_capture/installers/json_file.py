"""Reading and rewriting a tool's JSON settings file without ever leaving it half-written.

Installers edit files the user owns (``~/.claude/settings.json``, ``~/.cursor/hooks.json``): a
file that is not a JSON object is refused with one clear line instead of being overwritten, and
the new content replaces the old atomically (tmp + rename) with the file's mode kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class SettingsError(Exception):
    """The settings file cannot be edited safely; the message names the file and the fix."""


def read_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when the file does not exist or is empty."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"{path}: not valid JSON ({exc}); fix or move it, then retry") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{path}: expected a JSON object at the top level")
    return value


def write_object(path: Path, value: dict[str, Any]) -> None:
    """Replace ``path`` with ``value`` (2-space JSON), atomically, keeping its permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
