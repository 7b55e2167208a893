"""A Claude Code history of any size made of the real fixture transcripts, in the real layout.

Each copy of a fixture session becomes a NEW session: a fresh session id (its file and its
``<session>/subagents/`` folder renamed with it), fresh message, request, tool, prompt and line
ids (so every response is a new fact for Blueplane and for ccusage alike), and its times shifted
by a few hours per copy, so the history covers many days and some sessions cross midnight.
Subagent transcripts stay in their session's ``subagents/`` folder with their ``.meta.json``;
sessions are spread over several project folders. Used by ``bench/history.py`` (the ~200 MB
comparison with ccusage) and by ``tests/test_ccusage_parity.py`` (a small one).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "real"
#: how far each copy is moved in time (5 h 37 min: copies walk across days and midnights),
#: wrapping after WRAP copies (about 14 months) so a big history stays within recent dates.
SHIFT = timedelta(hours=5, minutes=37)
WRAP = 1800
#: a long session (``turns`` > 1) resumes its fixture's lines this much later each time.
TURN_GAP = timedelta(minutes=23)
PROJECTS = 7
_ID_KEYS = ("requestId", "uuid", "parentUuid", "promptId", "leafUuid", "toolUseID")


@dataclass
class Session:
    """One fixture session: its main file's lines and its subagent files (name -> lines)."""

    session_id: str
    lines: list[dict[str, Any]]
    subagents: dict[str, list[dict[str, Any]]]
    metas: dict[str, bytes]


def _read(path: Path) -> list[dict[str, Any]]:
    out = []
    for raw in path.read_bytes().splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(line, dict):
            out.append(line)
    return out


def fixture_sessions() -> list[Session]:
    """The live 2.1.197 sessions (with their subagent folders) and the public 2.0.x ones."""
    sessions = []
    live = FIXTURES / "claude_code_live" / "transcripts" / "projects"
    for path in sorted(live.glob("*/*.jsonl")):
        folder = path.with_suffix("") / "subagents"
        subagents = {p.name: _read(p) for p in sorted(folder.glob("*.jsonl"))}
        metas = {p.name: p.read_bytes() for p in sorted(folder.glob("*.meta.json"))}
        sessions.append(Session(path.stem, _read(path), subagents, metas))
    for path in sorted((FIXTURES / "claude_code_public").glob("*.jsonl")):
        lines = _read(path)
        ids = [v for x in lines if isinstance(v := x.get("sessionId"), str)]
        sessions.append(Session(ids[0] if ids else path.stem, lines, {}, {}))
    return sessions


def _shift(value: Any, by: timedelta) -> Any:
    if not isinstance(value, str) or not value.endswith("Z"):
        return value
    try:
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + by
    except ValueError:
        return value
    return moved.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}Z"


def _tagged(value: Any, tag: str) -> Any:
    return f"{value}_{tag}" if isinstance(value, str) and value else value


def _copy_line(line: dict[str, Any], session: str, tag: str, by: timedelta) -> dict[str, Any]:
    line = dict(line)
    if "sessionId" in line:
        line["sessionId"] = session
    line["timestamp"] = _shift(line.get("timestamp"), by)
    for key in _ID_KEYS:
        if key in line:
            line[key] = _tagged(line[key], tag)
    message = line.get("message")
    if isinstance(message, dict):
        message = dict(message)
        message["id"] = _tagged(message.get("id"), tag)
        content = message.get("content")
        if isinstance(content, list):
            blocks = []
            for block in content:
                if isinstance(block, dict):
                    block = dict(block)
                    for key in ("id", "tool_use_id"):
                        if key in block:
                            block[key] = _tagged(block[key], tag)
                blocks.append(block)
            message["content"] = blocks
        line["message"] = message
    return line


def _dump(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


def _repeated(
    lines: list[dict[str, Any]], session: str, tag: str, by: timedelta, turns: int
) -> bytes:
    """A fixture file's lines ``turns`` times in a row, each round with ids of its own and later
    times (round 0 is the plain copy)."""
    return b"".join(
        _dump(
            [
                _copy_line(x, session, tag if n == 0 else f"{tag}r{n}", by + TURN_GAP * n)
                for x in lines
            ]
        )
        for n in range(turns)
    )


_TIMESTAMP = re.compile(rb'"timestamp":\s*"([^"]+)"')


def _write_transcript(path: Path, data: bytes) -> None:
    """Write ``data`` and date the file at its last line's time, as the client leaves it.

    A monitor holds a file's last streamed response until the file has been quiet for a while
    (``TranscriptMonitor.settle_s``); a history written a moment ago would look like live
    sessions, which a real first start sees only for the one or two sessions still open.
    """
    path.write_bytes(data)
    stamps = _TIMESTAMP.findall(data)
    if stamps:
        at = datetime.fromisoformat(stamps[-1].decode().replace("Z", "+00:00")).timestamp()
        at = min(at, time.time() - 3600)
        os.utime(path, (at, at))


def generate(root: Path, megabytes: float, seed: int = 9, turns: int = 1) -> dict[str, int]:
    """Write copies of the fixture sessions under ``root/projects`` until ``megabytes``.

    ``turns`` > 1 makes long sessions: each file holds its fixture's lines that many times (a
    real history's files average about 150 kB; the fixtures' about 15 kB). Returns counts:
    bytes, files, sessions, subagent files."""
    sessions = fixture_sessions()
    target = int(megabytes * 1024 * 1024)
    written = files = copies = subagent_files = 0
    while written < target:
        for source in sessions:
            copies += 1
            tag = f"h{copies}"
            by = SHIFT * (copies % WRAP)
            new_id = str(uuid.uuid5(uuid.UUID(int=seed), f"{source.session_id}:{copies}"))
            project = root / "projects" / f"-bench-history-project-{copies % PROJECTS}"
            project.mkdir(parents=True, exist_ok=True)
            data = _repeated(source.lines, new_id, tag, by, turns)
            _write_transcript(project / f"{new_id}.jsonl", data)
            written += len(data)
            files += 1
            if source.subagents:
                folder = project / new_id / "subagents"
                folder.mkdir(parents=True)
                for name, lines in source.subagents.items():
                    data = _repeated(lines, new_id, tag, by, turns)
                    _write_transcript(folder / name, data)
                    written += len(data)
                    files += 1
                    subagent_files += 1
                for name, meta in source.metas.items():
                    (folder / name).write_bytes(meta)
            if written >= target:
                break
    return {
        "bytes": written,
        "files": files,
        "sessions": copies,
        "subagent_files": subagent_files,
    }
