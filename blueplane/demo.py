"""``blueplane demo``: realistic synthetic sessions pushed through a real pipeline of its own.

The demo never writes into the user's data: it runs its own supervisord, Redis, ingesters and
workers in its own folder (``paths.demo_home()``, ``~/.blueplane-demo``), without the capture
programs (they would read the user's real transcripts into it and take the real OTLP port).
``bp-query --demo metrics`` (any command after ``--demo``) reads it; ``blueplane demo --clean``
stops it and removes the folder. The events are also marked ``source: synthetic``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blueplane_core import paths, redis_conn, streams, synthetic
from blueplane_core.emit import Emitter
from blueplane_core.resp_consumer import ConsumerClient

#: a file in the demo folder that says it is one: ``--clean`` removes no folder without it.
MARKER = ".blueplane-demo"


class DemoError(RuntimeError):
    """The demo folder cannot be used or removed; the message says why."""


def use_demo_home(*, create: bool) -> Path:
    """Point this process (and the processes it starts) at the demo's own data folder.

    Sets ``BLUEPLANE_HOME`` and drops ``BLUEPLANE_REDIS_URL``: the demo always has its own
    embedded Redis, even when the real pipeline uses an external one.
    """
    target = paths.demo_home()
    real = paths.home()
    if target.resolve() == real.resolve():
        raise DemoError(
            f"the demo folder {target} is the data folder itself; set BLUEPLANE_DEMO_HOME "
            "to another folder"
        )
    if create:
        if target.exists() and any(target.iterdir()) and not (target / MARKER).exists():
            raise DemoError(f"{target} exists and is not a Blueplane demo folder; not using it")
        paths.ensure_private_dir(target)
        (target / MARKER).touch(mode=0o600)
    os.environ["BLUEPLANE_HOME"] = str(target)
    os.environ.pop("BLUEPLANE_REDIS_URL", None)
    return target


def remove(target: Path) -> bool:
    """Delete the demo folder (only one marked as such); False if there was none."""
    if not target.exists():
        return False
    if not (target / MARKER).exists():
        raise DemoError(f"{target} is not a Blueplane demo folder (no {MARKER}); not removing it")
    shutil.rmtree(target)
    return True


def wait_processed(client: ConsumerClient, timeout: float) -> bool:
    """True once every worker group has been handed every CDC entry and acknowledged it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = client.xinfo_stream(streams.CDC_STREAM)["last-generated-id"]
            groups = {g["name"]: g for g in client.xinfo_groups(streams.CDC_STREAM)}
        except redis_conn.reply_errors():  # no CDC stream or groups yet
            groups, last = {}, None
        done = last is not None and all(
            (g := groups.get(name.encode()) or groups.get(name)) is not None
            and _id(g["last-delivered-id"]) >= _id(last)
            and int(g["pending"]) == 0
            for name in streams.CDC_GROUPS
        )
        if done or time.monotonic() > deadline:
            return done
        time.sleep(0.2)  # polling a running pipeline for the user, not a test's synchronisation


def _id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


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
    client: ConsumerClient,
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
