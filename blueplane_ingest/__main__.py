"""An ingester process: ``python -m blueplane_ingest [--consumer NAME] [--burst]``."""

from __future__ import annotations

import argparse
import sqlite3
import sys

from blueplane_core import config, db, migrations, paths, redis_conn
from blueplane_core.backoff import Backoff, until_done
from blueplane_core.consumer import consumer_name
from blueplane_core.lifecycle import (
    EXIT_OK,
    Heartbeat,
    Shutdown,
    setup_logging,
    tune_gc,
)
from blueplane_ingest.bus import IngestBus
from blueplane_ingest.ingester import Ingester, Settings
from blueplane_ingest.writer import BatchWriter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="blueplane-ingest", description=__doc__)
    parser.add_argument("--consumer", help="consumer name (default: host + supervisor number)")
    parser.add_argument("--burst", action="store_true", help="exit when the stream is drained")
    args = parser.parse_args(argv)
    cfg = config.load_or_exit("blueplane-ingest")
    name = consumer_name("ingest", args.consumer)
    log = setup_logging(name)
    shutdown = Shutdown().install()
    client = redis_conn.connect(cfg)

    def open_database() -> sqlite3.Connection:
        conn = db.connect_writer(paths.database(), cache_size_mb=cfg["storage.cache_size_mb"])
        try:
            applied = migrations.migrate(conn)
        except BaseException:
            conn.close()
            raise
        if applied:
            log.info("database migrated to version %d", applied[-1])
        return conn

    # a full disk at start-up is waited out like one met later (one log line a minute)
    conn = until_done(open_database, Backoff(log, shutdown), "opening the database")
    if conn is None:
        return EXIT_OK
    ingester = Ingester(
        IngestBus(client, name),
        BatchWriter(conn, db.write_lock_for(conn)),
        Settings(
            batch_size=cfg["ingest.batch_size"],
            batch_timeout_ms=cfg["ingest.batch_timeout_ms"],
            claim_idle_ms=cfg["ingest.claim_idle_ms"],
            max_deliveries=cfg["ingest.max_deliveries"],
        ),
        shutdown,
        Heartbeat(client, name),
    )
    tune_gc()  # a batch's events hold no cycles: see lifecycle.tune_gc
    ingester.run(burst=args.burst)
    conn.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
