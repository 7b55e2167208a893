"""Fast-path throughput: a pre-filled stream drained by 1 and 2 real ingester processes.

The events are the realistic mix of the real fixtures (``tests/real_mix.py``: every hook,
transcript, OTLP, Cursor and Copilot fixture through its capture mapping, scaled up in a working
day's proportions); ``--mix synthetic`` uses ``blueplane_core.synthetic`` instead.

Prints, per run: sustained events/s end to end (stream entries handled per second: stream ->
SQLite -> CDC -> ACK), CPU microseconds per event of the ingesters and of redis-server (machine
load does not inflate these), per-batch write latency P50/P95/P99, stored bytes per event
against the envelope JSON per platform/source and overall (a fact several sources share is
stored once: counted with the first one's JSON), peak RSS per process, and the load average.
Targets (architecture contract): >= 25,000 events/s for one ingester, batch P95 <= 8 ms,
stored bytes <= 1/4 of the JSON on real events.

    python bench/ingest.py --events 200000
    python bench/ingest.py --processes 1 --archived 0 1000000   # dedupe look-ups vs a long history
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import orjson
import redis

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench._harness import cpu_seconds, peak_rss_mb, private_pipeline_home
from blueplane_core import db, migrations, paths, streams, synthetic
from tests import real_mix


def mix_events(kind: str, count: int) -> list[dict]:
    if kind == "synthetic":
        return synthetic.take(count, seed=42)
    with tempfile.TemporaryDirectory() as home:
        old = os.environ.get("BLUEPLANE_HOME")
        os.environ["BLUEPLANE_HOME"] = home  # the fixtures' hashes: a throwaway secret
        try:
            found = real_mix.fixture_events()
        finally:
            if old is not None:
                os.environ["BLUEPLANE_HOME"] = old
    return real_mix.Mix(found, seed=42).take(count)


def prefill(client: redis.Redis, sample: list[dict]) -> dict[str, int]:
    """XADD the events; returns the JSON bytes per platform/source of the first event of each
    id (the one that is stored)."""
    json_bytes: dict[str, int] = defaultdict(int)
    seen: set[str] = set()
    batch: list[bytes] = []
    for event in sample:
        data = orjson.dumps(event)
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            json_bytes[real_mix.source_of(event)] += len(data)
        batch.append(data)
        if len(batch) == 1000:
            _flush(client, batch)
            batch = []
    if batch:
        _flush(client, batch)
    return json_bytes


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


def run(processes: int, sample: list[dict], maintenance: bool, archived: int = 0) -> None:
    events = len(sample)
    with private_pipeline_home() as (_home, url):
        client = redis.Redis.from_url(url)
        conn = db.connect_writer(paths.database())
        migrations.migrate(conn)
        prefill_archived(conn, archived)
        client.xgroup_create(streams.EVENTS_STREAM, streams.INGEST_GROUP, id="0", mkstream=True)
        json_bytes = prefill(client, sample)
        redis_pid = int(client.info("server")["process_id"])
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
        cpu_start: dict[int, float] = {}
        rss: dict[int, float] = {}
        while True:
            info = {g["name"]: g for g in client.xinfo_groups(streams.EVENTS_STREAM)}[
                streams.INGEST_GROUP.encode()
            ]
            done = info["lag"] == 0 and info["pending"] == 0
            if started is None and (info["entries-read"] or 0) > 0:
                started = time.monotonic()
                cpu_start = {p: cpu_seconds(p) for p in [redis_pid] + [q.pid for q in procs]}
            for p in procs:
                rss[p.pid] = max(rss.get(p.pid, 0.0), peak_rss_mb(p.pid))
            if done:
                break
            time.sleep(0.01)
        elapsed = time.monotonic() - (started or time.monotonic())
        cpu = {
            p: cpu_seconds(p) - cpu_start.get(p, 0.0) for p in [redis_pid] + [q.pid for q in procs]
        }
        load = os.getloadavg()
        for p in procs:
            rss[p.pid] = max(rss.get(p.pid, 0.0), peak_rss_mb(p.pid))
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        if chores is not None:
            chores.send_signal(signal.SIGTERM)
            chores.wait(30)
        stats = [client.hgetall(streams.stats_key(f"bench-{i}")) for i in range(processes)]
        per_source = {
            f"{platform}/{source}": (int(n), int(size))
            for platform, source, n, size in conn.execute(
                "SELECT platform, source, count(*), sum(length(event_data)) FROM raw_traces"
                " GROUP BY platform, source"
            )
        }
        rows = sum(n for n, _ in per_source.values())
        stored = sum(size for _, size in per_source.values())
        cdc = client.xlen(streams.CDC_STREAM)
        print(
            f"ingesters={processes} events={events:,} rows={rows:,} cdc_entries={cdc:,}"
            f" maintenance={'on' if maintenance else 'off'} archived_ids={archived:,}"
            f" load={load[0]:.2f},{load[1]:.2f}"
        )
        ingest_cpu = sum(cpu[p.pid] for p in procs)
        print(
            f"  throughput: {events / elapsed:,.0f} events/s ({elapsed:.2f}s)"
            f"  CPU/event: ingesters {ingest_cpu / events * 1e6:.1f} us,"
            f" redis-server {cpu[redis_pid] / events * 1e6:.1f} us"
        )
        for i, s in enumerate(stats):
            p50, p95, p99 = (
                float(s[k.encode()]) for k in ("batch_p50_ms", "batch_p95_ms", "batch_p99_ms")
            )
            print(
                f"  ingester {i}: batch write P50 {p50:.2f} ms  P95 {p95:.2f} ms  P99 {p99:.2f} ms"
                f"  batches {int(float(s[b'batches'])):,}"
            )
        total_json = sum(json_bytes.values())
        for source, (n, size) in sorted(per_source.items()):
            print(
                f"  bytes/event {source:24s} {n:8,} rows  JSON {json_bytes[source] / n:5.0f}"
                f"  stored {size / n:6.1f}  (1/{json_bytes[source] / size:.2f} of the JSON)"
            )
        print(
            f"  bytes/event {'overall':24s} {rows:8,} rows  JSON {total_json / rows:5.0f}"
            f"  stored {stored / rows:6.1f}  (1/{total_json / stored:.2f} of the JSON)"
        )
        print("  peak RSS: " + ", ".join(f"{v:.0f} MB" for v in rss.values()))
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--mix", choices=("real", "synthetic"), default="real", help="which events (see above)"
    )
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
    sample = mix_events(args.mix, args.events)
    print(f"mix={args.mix}")
    for n in args.processes:
        for archived in args.archived:
            run(n, sample, maintenance=not args.no_maintenance, archived=archived)


if __name__ == "__main__":
    main()
