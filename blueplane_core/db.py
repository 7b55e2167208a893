"""SQLite connections: the writers' (ingest, workers) and the query side's read-only one.

Writers share one WAL file. Ingesters never checkpoint (auto-checkpoint off: checkpoints inside
their transactions caused the P99 spikes); the maintenance process checkpoints for everyone.
The read-only connection cannot read ``raw_traces`` at all: a SQLite authorizer denies it, so
even a hand-written query through the query layer fails.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

BUSY_TIMEOUT_MS = 10_000

#: tables the query side may never read: raw events stay inside the pipeline.
PRIVATE_TABLES: frozenset[str] = frozenset({"raw_traces", "codec_dictionaries"})

# Binding None or bytes makes the sqlite3 module look for an adapter the slow way: a failed
# ``__adapt__`` and a failed ``__conform__`` attribute look-up, each building an AttributeError
# (it skips that only for int, float, str and bytearray). A raw_traces row binds about ten
# NULLs and two blobs, so that was ~10% of an ingester's instructions (callgrind). Registered
# adapters are found first; these return the value itself (``bytes(b)`` is ``b``, and an empty
# dict's ``get`` answers None), so what is stored does not change. Registering them does not
# make the module adapt int, float or str (only those four types switch that on).
sqlite3.register_adapter(bytes, bytes)
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))


def connect_writer(
    path: Path, *, cache_size_mb: int = 64, auto_checkpoint: bool = False
) -> sqlite3.Connection:
    """A read-write connection for a process that owns writes (explicit transactions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False: the ingester commits on a helper thread; one thread at a time
    # uses a connection, and the sqlite3 module serialises calls anyway.
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size={-cache_size_mb * 1024}")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA wal_autocheckpoint={1000 if auto_checkpoint else 0}")
    return conn


class ReadOnlyConnection(sqlite3.Connection):
    """A connection whose every ``execute`` must finish within ``time_limit_s``.

    A progress handler aborts a statement that runs past its deadline (``interrupted``), as
    datasette does, so one pathological query cannot hang the CLI or the MCP server.
    """

    time_limit_s: float = 5.0
    _deadline: float = 0.0

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        self._deadline = time.monotonic() + self.time_limit_s
        return super().execute(sql, parameters)

    def _past_deadline(self) -> int:
        return 1 if self._deadline and time.monotonic() > self._deadline else 0


def connect_readonly(
    path: Path, *, deny: Iterable[str] = PRIVATE_TABLES, time_limit_s: float = 5.0
) -> ReadOnlyConnection:
    """A connection that can only read, and cannot read the ``deny`` tables even so.

    ``time_limit_s`` bounds each statement (0: no limit, for callers that bound it themselves).
    """
    if not path.exists():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(
        f"file:{path}?mode=ro",
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        factory=ReadOnlyConnection,
    )
    assert isinstance(conn, ReadOnlyConnection)
    denied = frozenset(deny)

    def authorizer(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
        if action == sqlite3.SQLITE_READ and arg1 in denied:
            return sqlite3.SQLITE_DENY
        if action in (sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and arg1 in {"table_info", "table_list", "user_version"}:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    conn.set_authorizer(authorizer)
    if time_limit_s > 0:
        conn.time_limit_s = time_limit_s
        conn.set_progress_handler(conn._past_deadline, 10_000)
    return conn


class WriteLock:
    """An OS file lock taken around every write transaction on the database.

    Several processes write one SQLite file. SQLite's own busy handler waits by sleeping
    1, 2, 5, 10... ms and retrying, which turned lock contention between two ingesters into
    100+ ms batch latencies; ``flock`` queues the writers in the kernel and wakes the next one
    the moment the lock is released. SQLite's locking still guarantees correctness; this only
    makes waiting cheap. (Local files only, as SQLite's WAL mode requires anyway.)
    """

    def __init__(self, database: Path) -> None:
        self._fd = os.open(f"{database}.writelock", os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> WriteLock:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


_LOCKS: dict[str, WriteLock] = {}


def write_lock_for(conn: sqlite3.Connection) -> WriteLock | None:
    """The process's WriteLock for the file ``conn`` writes (None for an in-memory database)."""
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    if not path:
        return None
    lock = _LOCKS.get(path)
    if lock is None:
        lock = _LOCKS[path] = WriteLock(Path(path))
    return lock


@contextmanager
def write_transaction(conn: sqlite3.Connection, lock: WriteLock | None) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error), under ``lock``."""
    with lock if lock is not None else nullcontext():
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> tuple[int, int, int]:
    """Run a WAL checkpoint; returns (busy, wal pages, pages checkpointed)."""
    row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(row[0]), int(row[1]), int(row[2])
