"""``blueplane demo``: realistic synthetic sessions pushed through the real, running pipeline.

The events are marked ``source: synthetic`` so they can always be told apart from real data.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import redis

from blueplane_core import db, paths, synthetic
from blueplane_core.emit import Emitter


@dataclass
class DemoResult:
    sent: int
    stored: int
    seconds: float


def stored_synthetic() -> int:
    """Synthetic rows stored so far (0 before the ingesters created the database)."""
    try:
        conn = db.connect_writer(paths.database())
    except sqlite3.Error:
        return 0
    try:
        row = conn.execute("SELECT count(*) FROM raw_traces WHERE source = 'synthetic'").fetchone()
        return int(row[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def run(
    client: redis.Redis, count: int, seed: int | None = None, timeout: float = 120.0, progress=None
) -> DemoResult:  # type: ignore[no-untyped-def]
    """Emit ``count`` synthetic events and wait until the ingesters stored them."""
    before = stored_synthetic()
    events = synthetic.take(count, seed=int(time.time()) if seed is None else seed)
    emitter = Emitter(client)
    started = time.monotonic()
    for start in range(0, len(events), 500):
        emitter.emit_many(events[start : start + 500])
    deadline = started + timeout
    stored = 0
    while time.monotonic() < deadline:
        stored = stored_synthetic() - before
        if progress:
            progress(stored)
        if stored >= count:
            break
        time.sleep(0.2)
    return DemoResult(sent=count, stored=stored, seconds=time.monotonic() - started)
