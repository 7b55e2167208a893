"""An ingester process: ``python -m blueplane_ingest [--consumer NAME] [--burst]``."""

from __future__ import annotations

import argparse
import gc
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
)
from blueplane_ingest.bus import IngestBus
from blueplane_ingest.ingester import Ingester, Settings
from blueplane_ingest.writer import BatchWriter

#: allocations between two young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


def quiet_collector() -> None:
    """Keep the cyclic garbage collector from re-walking what the loop holds.

    A batch is a few thousand new dicts and lists that live until the batch is done, and none
    of them forms a cycle: at the default threshold the collector ran every 700 allocations,
    walking the batch again each time, and now and then everything imported at start-up too
    (about 5% of an ingester's CPU, perf). Start-up objects are frozen out of its sight and the
    young generation is collected 30 times less often; cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


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
    quiet_collector()
    ingester.run(burst=args.burst)
    conn.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
