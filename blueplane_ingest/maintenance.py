"""The maintenance process: the chores that must stay off the ingesters' hot path.

- WAL checkpoints: ingesters run with auto-checkpoint off (checkpoints inside their
  transactions caused the batch P99 spikes), so this process checkpoints for everyone: PASSIVE
  every interval (never waits on writers), TRUNCATE when the WAL has grown past a bound.
- Stream trimming below what every group acknowledged (see ``trim``).
- Dictionary retraining once enough real events exist, and retention archiving to Parquet.

Run with ``python -m blueplane_ingest.maintenance`` (``--once`` does one round and exits).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import time

import redis

from blueplane_core import config, db, migrations, paths, redis_conn
from blueplane_core.lifecycle import EXIT_OK, Heartbeat, Shutdown, setup_logging
from blueplane_ingest import dictionary, retention, trim

log = logging.getLogger("blueplane.maintenance")

#: WAL size past which a PASSIVE checkpoint runs while ingesters keep writing.
WAL_CHECKPOINT_BYTES = 32 * 1024 * 1024
#: WAL size past which a TRUNCATE checkpoint is attempted even while busy.
WAL_TRUNCATE_BYTES = 256 * 1024 * 1024
SLOW_CHORES_EVERY_S = 300.0


class Maintenance:
    def __init__(self, client: redis.Redis, conn: sqlite3.Connection, retention_days: int) -> None:
        self.client = client
        self.conn = conn
        self.retention_days = retention_days
        self._next_slow = 0.0
        self._last_wal_size = -1

    def round(self) -> dict[str, int]:
        """One round of every chore; returns what it did (for logs and tests)."""
        done: dict[str, int] = {}
        try:
            for stream, removed in trim.trim_all(self.client).items():
                done[f"trimmed {stream}"] = removed
        except redis.RedisError as exc:
            log.warning("trim skipped: %s", exc)
        done["checkpointed"] = self.checkpoint()
        now = time.monotonic()
        if now >= self._next_slow:
            self._next_slow = now + SLOW_CHORES_EVERY_S
            if dictionary.needs_retraining(self.conn):
                new_id = dictionary.retrain(self.conn)
                log.info("trained compression dictionary %d on real events", new_id)
                done["dictionary"] = new_id
            archived = retention.archive_old(self.conn, self.retention_days)
            if archived:
                log.info("archived %d raw traces older than %d days", archived, self.retention_days)
            done["archived"] = archived
        return done

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
    cfg = config.load_or_exit("blueplane maintenance")
    setup_logging("maintenance")
    shutdown = Shutdown().install()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database(), cache_size_mb=8)
    migrations.migrate(conn)
    chores = Maintenance(client, conn, cfg["storage.retention_days"])
    heartbeat = Heartbeat(client, "maintenance")
    log.info("started")
    while True:
        chores.round()
        heartbeat.beat()
        if args.once or shutdown.wait(cfg["maintenance.interval_s"]):
            break
    heartbeat.clear()
    conn.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
