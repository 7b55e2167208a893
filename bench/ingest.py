"""Fast-path throughput: a pre-filled stream drained by 1 and 2 real ingester processes.

Prints, per run: sustained events/s end to end (stream -> SQLite -> CDC -> ACK), per-batch write
latency P50/P95/P99, stored bytes per event vs JSON bytes, and peak RSS per process.
Targets (architecture contract): >= 25,000 events/s for one ingester, batch P95 <= 8 ms,
stored bytes <= 1/5 of the JSON.

    python bench/ingest.py --events 200000
    python bench/ingest.py --processes 1 --archived 0 1000000   # dedupe look-ups vs a long history
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import time

import orjson
import redis

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench._harness import peak_rss_mb, private_pipeline_home
from blueplane_core import db, migrations, paths, streams, synthetic


def prefill(client: redis.Redis, count: int) -> int:
    """XADD ``count`` synthetic events; returns their JSON bytes."""
    total = 0
    batch: list[bytes] = []
    for event in synthetic.sessions(seed=42):
        data = orjson.dumps(event)
        total += len(data)
        batch.append(data)
        if len(batch) == 1000:
            _flush(client, batch)
            batch = []
        count -= 1
        if count == 0:
            break
    if batch:
        _flush(client, batch)
    return total


def _flush(client: redis.Redis, batch: list[bytes]) -> None:
    pipe = client.pipeline(transaction=False)
    for data in batch:
        pipe.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: data})
    pipe.execute()


def prefill_archived(conn: sqlite3.Connection, count: int) -> None:
    """``count`` ids of archived events, as a long history leaves them: every ingested batch is
    checked against this table (dedupe across archival), so its size must not slow ingest."""
    rng = random.Random(7)
    conn.execute("BEGIN")
    for start in range(0, count, 100_000):
        conn.executemany(
            "INSERT INTO archived_events (event_id, sequence) VALUES (?, ?)",
            [(rng.randbytes(16), -(i + 1)) for i in range(start, min(count, start + 100_000))],
        )
    conn.execute("COMMIT")


def run(processes: int, events: int, maintenance: bool, archived: int = 0) -> None:
    with private_pipeline_home() as (_home, url):
        client = redis.Redis.from_url(url)
        conn = db.connect_writer(paths.database())
        migrations.migrate(conn)
        prefill_archived(conn, archived)
        client.xgroup_create(streams.EVENTS_STREAM, streams.INGEST_GROUP, id="0", mkstream=True)
        json_bytes = prefill(client, events)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "blueplane_ingest", "--consumer", f"bench-{i}"],
                stderr=subprocess.DEVNULL,
            )
            for i in range(processes)
        ]
        # As in production: the maintenance process checkpoints the WAL (ingesters never do),
        # which keeps the WAL, and the ingesters' look-ups in it, small.
        chores = (
            subprocess.Popen(
                [sys.executable, "-m", "blueplane_ingest.maintenance"], stderr=subprocess.DEVNULL
            )
            if maintenance
            else None
        )
        started = None
        rss: dict[int, float] = {}
        while True:
            info = {g["name"]: g for g in client.xinfo_groups(streams.EVENTS_STREAM)}[
                streams.INGEST_GROUP.encode()
            ]
            done = info["lag"] == 0 and info["pending"] == 0
            if started is None and (info["entries-read"] or 0) > 0:
                started = time.monotonic()
            for p in procs:
                rss[p.pid] = max(rss.get(p.pid, 0.0), peak_rss_mb(p.pid))
            if done:
                break
            time.sleep(0.01)
        elapsed = time.monotonic() - (started or time.monotonic())
        for p in procs:
            rss[p.pid] = max(rss.get(p.pid, 0.0), peak_rss_mb(p.pid))
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        if chores is not None:
            chores.send_signal(signal.SIGTERM)
            chores.wait(30)
        stats = [client.hgetall(streams.stats_key(f"bench-{i}")) for i in range(processes)]
        rows, stored = conn.execute(
            "SELECT count(*), sum(length(event_data)) FROM raw_traces"
        ).fetchone()
        cdc = client.xlen(streams.CDC_STREAM)
        print(
            f"ingesters={processes} events={events:,} rows={rows:,} cdc_entries={cdc:,}"
            f" maintenance={'on' if maintenance else 'off'} archived_ids={archived:,}"
        )
        print(f"  throughput: {rows / elapsed:,.0f} events/s ({elapsed:.2f}s)")
        for i, s in enumerate(stats):
            p50, p95, p99 = (
                float(s[k.encode()]) for k in ("batch_p50_ms", "batch_p95_ms", "batch_p99_ms")
            )
            print(
                f"  ingester {i}: batch write P50 {p50:.2f} ms  P95 {p95:.2f} ms  P99 {p99:.2f} ms"
                f"  batches {int(float(s[b'batches'])):,}"
            )
        print(
            f"  bytes/event: JSON {json_bytes / events:.0f}, stored {stored / rows:.0f}"
            f" (1/{json_bytes / stored:.2f} of the JSON)"
        )
        print("  peak RSS: " + ", ".join(f"{v:.0f} MB" for v in rss.values()))
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2])
    parser.add_argument(
        "--no-maintenance",
        action="store_true",
        help="without the maintenance process (no WAL checkpoints, no trimming while measuring)",
    )
    parser.add_argument(
        "--archived",
        type=int,
        nargs="*",
        default=[0],
        help="ids of archived events to pre-fill, one run per value (e.g. 0 1000000)",
    )
    args = parser.parse_args()
    for n in args.processes:
        for archived in args.archived:
            run(n, args.events, maintenance=not args.no_maintenance, archived=archived)


if __name__ == "__main__":
    main()
