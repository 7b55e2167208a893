"""The maintenance process: the chores that must stay off the ingesters' hot path.

- WAL checkpoints: ingesters run with auto-checkpoint off (checkpoints inside their
  transactions caused the batch P99 spikes), so this process checkpoints for everyone: PASSIVE
  every interval (never waits on writers), TRUNCATE when the WAL has grown past a bound.
- Stream trimming below what every group acknowledged (see ``trim``).
- Dictionary retraining once enough real events exist, and archiving raw traces past the
  retention to Parquet once every worker has applied them (see ``retention``).

Run with ``python -m blueplane_ingest.maintenance`` (``--once`` does one round and exits).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from blueplane_core import config, db, migrations, paths, redis_conn
from blueplane_core.lifecycle import EXIT_OK, Heartbeat, Shutdown, setup_logging
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_ingest import dictionary, retention, trim

log = logging.getLogger("blueplane.maintenance")
T = TypeVar("T")

#: WAL size past which a PASSIVE checkpoint runs while ingesters keep writing.
WAL_CHECKPOINT_BYTES = 32 * 1024 * 1024
#: WAL size past which a TRUNCATE checkpoint is attempted even while busy.
WAL_TRUNCATE_BYTES = 256 * 1024 * 1024
SLOW_CHORES_EVERY_S = 300.0


class Maintenance:
    def __init__(
        self, client: ConsumerClient, conn: sqlite3.Connection, retention_days: int
    ) -> None:
        self.client = client
        self.conn = conn
        self.retention_days = retention_days
        self._next_slow = 0.0
        self._last_wal_size = -1
        self.failures = 0
        self._failing: dict[str, str] = {}

    def round(self) -> dict[str, int]:
        """One round of every chore; returns what it did (for logs and tests).

        Each chore runs on its own: one that fails (Redis gone, a full disk, a race with a
        consumer) is logged, counted in ``failures`` and tried again next round, and never
        stops the others or the process.
        """
        done: dict[str, int] = {}
        if (trimmed := self._chore("trim", lambda: trim.trim_all(self.client))) is not None:
            for stream, removed in trimmed.items():
                done[f"trimmed {stream}"] = removed
        done["checkpointed"] = self._chore("checkpoint", self.checkpoint) or 0
        now = time.monotonic()
        if now >= self._next_slow:
            self._next_slow = now + SLOW_CHORES_EVERY_S
            new_id = self._chore("dictionary", self.retrain_dictionary)
            if new_id:
                done["dictionary"] = new_id
            archived = self._chore("retention", self.archive)
            if archived:
                log.info("archived %d raw traces older than %d days", archived, self.retention_days)
            done["archived"] = archived or 0
        return done

    def _chore(self, name: str, run: Callable[[], T]) -> T | None:
        try:
            result = run()
        except Exception as exc:  # a chore is retried next round, never fatal
            self.failures += 1
            if self._failing.get(name) != type(exc).__name__:  # one line per streak
                log.warning(
                    "%s failed (%s: %s); retrying every round",
                    name,
                    type(exc).__name__,
                    str(exc)[:200],
                )
            self._failing[name] = type(exc).__name__
            if isinstance(exc, sqlite3.Error) and self.conn.in_transaction:
                self.conn.rollback()
            return None
        if self._failing.pop(name, None):
            log.info("%s works again", name)
        return result

    def retrain_dictionary(self) -> int | None:
        if not dictionary.needs_retraining(self.conn):
            return None
        new_id = dictionary.retrain(self.conn)
        log.info("trained compression dictionary %d on real events", new_id)
        return new_id

    def heartbeat_info(self) -> str:
        return f"failures={self.failures} failing={len(self._failing)}"

    def archive(self) -> int:
        """Archive one chunk of raw traces past the retention that every worker has applied
        (a Redis that cannot say what the workers applied fails the chore: nothing moves)."""
        if self.retention_days == 0:
            return 0
        bound = retention.applied_bound(self.client, self.conn)
        return retention.archive_old(self.conn, self.retention_days, bound)

    def checkpoint(self) -> int:
        """Checkpoint when the WAL is big, or when writing has paused; returns pages moved.

        Checkpointing every round while ingesters write copied the same hot pages (index roots,
        the table's last leaf) again and again and cost the ingesters a fifth of their
        throughput; so: PASSIVE (never waits for writers) once the WAL passes
        WAL_CHECKPOINT_BYTES, TRUNCATE past WAL_TRUNCATE_BYTES or as soon as it stops growing.
        """
        wal = paths.database().with_name(paths.database().name + "-wal")
        size = wal.stat().st_size if wal.exists() else 0
        idle = size == self._last_wal_size
        self._last_wal_size = size
        if size == 0 or (size < WAL_CHECKPOINT_BYTES and not idle):
            return 0
        mode = "TRUNCATE" if idle or size > WAL_TRUNCATE_BYTES else "PASSIVE"
        try:
            _busy, _pages, moved = db.checkpoint(self.conn, mode)
        except sqlite3.OperationalError as exc:
            log.warning("checkpoint skipped: %s", exc)
            return 0
        if mode == "TRUNCATE":
            self._last_wal_size = -1
        return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="blueplane-maintenance", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run one round and exit")
    args = parser.parse_args(argv)
    cfg = config.load_or_exit("blueplane-maintenance")
    setup_logging("maintenance")
    shutdown = Shutdown().install()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database(), cache_size_mb=8)
    migrations.migrate(conn)
    chores = Maintenance(client, conn, cfg["storage.retention_days"])
    heartbeat = Heartbeat(client, "maintenance")
    heartbeat.beat("starting")
    log.info("started")
    while True:
        chores.round()
        heartbeat.beat(chores.heartbeat_info())
        if args.once or shutdown.wait(cfg["maintenance.interval_s"]):
            break
    heartbeat.clear()
    conn.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
