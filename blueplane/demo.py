"""``blueplane demo``: realistic synthetic sessions pushed through the real, running pipeline.

The events are marked ``source: synthetic`` so they can always be told apart from real data.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from blueplane_core import paths, synthetic
from blueplane_core.emit import Emitter


@dataclass
class DemoResult:
    sent: int
    stored: int
    seconds: float


class StoredCounter:
    """Counts synthetic rows stored after the demo began, looking only at rows past the
    sequence that was the newest then (a range on the primary key, however big the file)."""

    def __init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._after = 0
        if self._connect():
            self._after = self._scalar("SELECT coalesce(max(sequence), 0) FROM raw_traces")

    def _connect(self) -> bool:
        if self._conn is None and paths.database().exists():
            self._conn = sqlite3.connect(f"file:{paths.database()}?mode=ro", uri=True, timeout=5)
        return self._conn is not None

    def _scalar(self, sql: str, *args: object) -> int:
        assert self._conn is not None
        try:
            return int(self._conn.execute(sql, args).fetchone()[0])
        except sqlite3.OperationalError:  # the ingesters have not created the schema yet
            return 0

    def stored(self) -> int:
        if not self._connect():
            return 0
        return self._scalar(
            "SELECT count(*) FROM raw_traces WHERE sequence > ? AND source = 'synthetic'",
            self._after,
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def run(
    client: redis.Redis,
    count: int,
    seed: int | None = None,
    timeout: float = 120.0,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Emit ``count`` synthetic events and wait until the ingesters stored them."""
    counter = StoredCounter()
    events = synthetic.take(count, seed=int(time.time()) if seed is None else seed)
    emitter = Emitter(client)
    started = time.monotonic()
    for start in range(0, len(events), 500):
        emitter.emit_many(events[start : start + 500])
    deadline = started + timeout
    stored = 0
    try:
        while time.monotonic() < deadline:
            stored = counter.stored()
            if progress:
                progress(stored)
            if stored >= count:
                break
            time.sleep(0.2)  # polling a running pipeline for the user's progress bar
    finally:
        counter.close()
    return DemoResult(sent=count, stored=stored, seconds=time.monotonic() - started)
