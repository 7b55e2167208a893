"""Read positions of tailed files, persisted atomically so a restart resumes exactly.

One JSON document per monitor under ``paths.state_dir()``: for every file, its inode, the byte
offset just past the last complete line read (malformed lines included, so a bad line is never
re-read forever), the number of lines read (for log locations) and the parser's own cursor.
The document is replaced with write-to-temp + fsync + rename: a crash leaves the old state or the
new one, never half of either. Events are emitted BEFORE the state that covers them is saved, so
a crash in between re-reads some lines, whose deterministic event ids make the re-read harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from blueplane_core import paths

log = logging.getLogger("blueplane.capture.offsets")


@dataclass
class FilePosition:
    """Where reading one file stopped."""

    inode: int = 0
    offset: int = 0
    lines: int = 0
    ended_at: int = -1  # offset at which a session end was reported (-1: not yet)
    head: str = ""  # hex of the file's first bytes: a file rewritten in place is re-read
    cursor: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "inode": self.inode,
            "offset": self.offset,
            "lines": self.lines,
            "ended_at": self.ended_at,
            "head": self.head,
            "cursor": self.cursor,
        }

    def copy(self) -> FilePosition:
        """A deep copy: the reader goes on moving its own position (and the parser its cursor's
        dicts) while this one waits for the events it covers to be sent."""
        return FilePosition.from_json(orjson.loads(orjson.dumps(self.to_json())))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FilePosition:
        return cls(
            inode=int(data.get("inode", 0)),
            offset=int(data.get("offset", 0)),
            lines=int(data.get("lines", 0)),
            ended_at=int(data.get("ended_at", -1)),
            head=str(data.get("head", "")),
            cursor=dict(data.get("cursor") or {}),
        )


class OffsetStore:
    """The positions of every file one monitor reads, keyed by what the monitor chooses (a keyed
    hash of the path: the state file names no folder)."""

    def __init__(self, name: str, folder: Path | None = None) -> None:
        self.file = (folder or paths.state_dir()) / f"{name}.json"
        self.positions: dict[str, FilePosition] = {}
        self.existed = False
        self.dirty = False

    def load(self) -> OffsetStore:
        try:
            raw = orjson.loads(self.file.read_bytes())
        except FileNotFoundError:
            return self
        except (OSError, orjson.JSONDecodeError) as exc:
            # Unreadable or damaged positions: read everything again (fixed event ids make the
            # re-read add nothing) rather than stop capture for good.
            log.warning(
                "read positions %s unusable (%s); reading all files again",
                self.file.name,
                type(exc).__name__,
            )
            self.existed = True
            self.dirty = True
            return self
        self.existed = True
        files = raw.get("files", {}) if isinstance(raw, dict) else {}
        self.positions = {
            path: FilePosition.from_json(data)
            for path, data in files.items()
            if isinstance(data, dict)
        }
        return self

    def get(self, path: str) -> FilePosition:
        return self.positions.get(path) or FilePosition()

    def put(self, path: str, position: FilePosition) -> None:
        self.positions[path] = position
        self.dirty = True

    def forget_missing(self, existing: set[str]) -> None:
        """Drop positions of files that no longer exist (kept as long as the file exists)."""
        for path in [p for p in self.positions if p not in existing]:
            del self.positions[path]
            self.dirty = True

    def save(self) -> None:
        """Write the positions if anything changed since the last save."""
        if not self.dirty and self.existed:
            return
        data = orjson.dumps(
            {"version": 1, "files": {p: pos.to_json() for p, pos in self.positions.items()}}
        )
        paths.write_private(self.file, data)
        self.existed = True
        self.dirty = False
