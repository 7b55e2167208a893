"""What the dedupe across archival costs the ingest fast path, as a share of a batch write.

Every batch the ingester writes first asks ``archived_events`` which of its ids were archived
already (one indexed look-up per batch). This times, batch by batch in one process, the whole
``BatchWriter.store`` (the look-up included) and the look-up alone, with an empty archive and
with a long history of archived ids, and prints the look-up's share of the batch: a ratio
measured side by side, so a busy machine slows both alike.

    python bench/dedupe.py --batches 2000 --archived 0 1000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import prefill_archived
from blueplane_core import db, migrations, synthetic
from blueplane_ingest.writer import BatchWriter, _sequences_sql

BATCH = 100


def run(batches: int, archived: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bp-bench-dedupe-") as folder:
        path = Path(folder) / "telemetry.db"
        conn = db.connect_writer(path)
        migrations.migrate(conn)
        prefill_archived(conn, archived)
        writer = BatchWriter(conn, db.write_lock_for(conn))
        source = synthetic.sessions(seed=42)
        store_ms: list[float] = []
        lookup_ms: list[float] = []
        for _ in range(batches):
            batch = [next(source) for _ in range(BATCH)]
            rows = writer.rows([(e, orjson.dumps(e)) for e in batch])
            ids = [row[1] for row in rows]
            started = time.perf_counter()
            writer.store(batch, rows)
            store_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            conn.execute(_sequences_sql("archived_events", len(ids)), ids).fetchall()
            lookup_ms.append((time.perf_counter() - started) * 1000)
        conn.close()
    store, lookup = statistics.median(store_ms), statistics.median(lookup_ms)
    print(
        f"archived_ids={archived:,} batches={batches:,} x {BATCH}: store P50 {store:.3f} ms,"
        f" archived-id look-up P50 {lookup:.3f} ms = {100 * lookup / store:.1f}% of a batch"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--archived", type=int, nargs="*", default=[0, 1_000_000])
    args = parser.parse_args()
    for archived in args.archived:
        run(args.batches, archived)


if __name__ == "__main__":
    main()
