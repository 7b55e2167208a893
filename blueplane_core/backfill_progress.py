"""A capture process's first-start backfill, published where ``blueplane up`` and ``status`` see it.

A new user's first start reads their whole history (hundreds of MB); without a bar they only see
a pipeline that shows nothing yet. The capture process writes its progress into one Redis hash
(``streams.BACKFILL_KEY``), a field per process, value = numbers only (bytes and files done and
in total, start and last-update times, done or not): no path, no project or file name. The bar
reads it; a process that died mid-backfill leaves a record whose ``updated_unix`` stops moving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from blueplane_core import redis_conn, streams

#: a finished backfill's record stays this long (``status`` shows how long the first start took).
KEEP_DONE_S = 7 * 24 * 3600
_FIELDS = ("bytes_done", "bytes_total", "files_done", "files_total")


@dataclass
class BackfillProgress:
    """How far one capture process's backfill is."""

    bytes_total: int
    files_total: int
    bytes_done: int = 0
    files_done: int = 0
    started_unix: float = 0.0
    updated_unix: float = 0.0
    done: bool = False

    def elapsed_s(self) -> float:
        return max(self.updated_unix - self.started_unix, 0.0)

    def mb_per_s(self) -> float:
        """Bytes read per second so far, in MB (0 before the first second)."""
        elapsed = self.elapsed_s()
        return self.bytes_done / 1e6 / elapsed if elapsed > 0 else 0.0

    def encode(self) -> bytes:
        numbers = [getattr(self, k) for k in _FIELDS]
        return (
            " ".join(str(int(n)) for n in numbers)
            + f" {self.started_unix:.3f} {self.updated_unix:.3f} {int(self.done)}"
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> BackfillProgress | None:
        parts = raw.decode("ascii", "replace").split()
        if len(parts) != 7:
            return None
        try:
            done, total, files_done, files_total = (int(p) for p in parts[:4])
            return cls(
                bytes_total=total,
                files_total=files_total,
                bytes_done=done,
                files_done=files_done,
                started_unix=float(parts[4]),
                updated_unix=float(parts[5]),
                done=parts[6] == "1",
            )
        except ValueError:
            return None


class Publisher:
    """Writes one process's progress at most every ``every_s`` (and always at start and end);
    best effort: a Redis hiccup never stops the backfill it reports on."""

    def __init__(self, client: Any, process: str, every_s: float = 0.5) -> None:
        self._client = client
        self._process = process
        self._every = every_s
        self._last = 0.0
        self.progress: BackfillProgress | None = None

    def start(self, bytes_total: int, files_total: int) -> None:
        now = time.time()
        self.progress = BackfillProgress(
            bytes_total, files_total, started_unix=now, updated_unix=now
        )
        self._write(force=True)

    def advance(self, nbytes: int) -> None:
        if self.progress is not None:
            self.progress.bytes_done += nbytes
            self._write()

    def file_done(self) -> None:
        if self.progress is not None:
            self.progress.files_done += 1
            self._write()

    def finish(self) -> None:
        if self.progress is None:
            return
        self.progress.done = True
        self._write(force=True)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._every:
            return
        self._last = now
        assert self.progress is not None
        self.progress.updated_unix = time.time()
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hset(streams.BACKFILL_KEY, self._process, self.progress.encode())
            pipe.expire(streams.BACKFILL_KEY, KEEP_DONE_S)
            pipe.execute()
        except redis_conn.errors():
            pass


def read_all(client: Any) -> dict[str, BackfillProgress]:
    """Every capture process's backfill record (process name -> progress)."""
    out: dict[str, BackfillProgress] = {}
    for name, raw in (client.hgetall(streams.BACKFILL_KEY) or {}).items():
        progress = BackfillProgress.decode(raw)
        if progress is not None:
            out[name.decode() if isinstance(name, bytes) else str(name)] = progress
    return out
