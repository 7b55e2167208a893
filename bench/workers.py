"""Metrics worker: events/s, and the lag from ingest to a visible metric under offered load.

1. Throughput: N synthetic events are ingested first, then ONE metrics worker (in-process, burst
   mode) drains the CDC stream; prints events/s.
2. Lag: a real ingester and a real metrics worker (subprocesses) run while this script offers
   events at ``--rate`` events/s for ``--seconds``; prints P50/P95 of
   * ingest -> visible: the worker's own measure (CDC entry time to the Lua apply), and
   * capture -> visible: XADD time of an event to the moment the ``events`` counter includes it
     (polled every 5 ms, so +- 5 ms).

    .venv/bin/python bench/workers.py                         # quick: 10k events, 3 s at 5k/s
    .venv/bin/python bench/workers.py --events 100000 --seconds 20

A private redis-server is used (bench/_harness.py); nothing touches the user's data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._harness import cpu_seconds, percentile, private_pipeline_home  # noqa: E402
from blueplane_core.config import KEYS  # noqa: E402


def throughput(events: int, batch_size: int = 500) -> None:
    from blueplane_core import config, db, migrations, paths, redis_conn, synthetic
    from blueplane_core.emit import Emitter
    from blueplane_core.lifecycle import tune_gc
    from blueplane_ingest.bus import IngestBus
    from blueplane_ingest.ingester import Ingester, Settings
    from blueplane_ingest.writer import BatchWriter
    from blueplane_workers.loop import Settings as WorkerSettings
    from blueplane_workers.metrics import build_worker

    cfg = config.load()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    emitter = Emitter(client)
    source = synthetic.take(events, seed=3)
    batch: list[dict] = []
    for event in source:
        batch.append(event)
        if len(batch) == 1000:
            emitter.emit_many(batch)
            batch = []
    if batch:
        emitter.emit_many(batch)
    Ingester(IngestBus(client, "bench-ingest"), BatchWriter(conn), Settings(idle_block_ms=20)).run(
        burst=True
    )
    worker = build_worker(
        cfg,
        "bench-metrics",
        conn,
        client,
        settings=WorkerSettings(idle_block_ms=20, batch_size=batch_size),
    )
    tune_gc()  # as the worker process does once started (loop.main_for)
    redis_started = _redis_cpu_us(client)
    started = time.perf_counter()
    cpu_started = time.process_time()
    counters = worker.run(burst=True)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    redis_us = _redis_cpu_us(client) - redis_started
    n = max(1, counters.applied)
    print(
        f"metrics worker throughput: {counters.applied} events in {elapsed:.2f}s = "
        f"{counters.applied / elapsed:,.0f} events/s (batch {batch_size}, one process)"
    )
    # CPU time is what a busy machine distorts least: the worker's own and redis-server's. The
    # worker loads the next batch while Redis runs a script, so with a core each the slower of
    # the two sets the pace; on one core they add up.
    redis_s = redis_us / 1e6
    print(
        f"  cpu per event: worker {cpu / n * 1e6:.1f} us, redis {redis_us / n:.1f} us "
        f"-> {n / max(cpu, redis_s):,.0f} events/s with a core each, "
        f"{n / (cpu + redis_s):,.0f} on one (load {os.getloadavg()[0]:.1f})"
    )
    conn.close()


def _redis_cpu_us(client: Any) -> float:
    """CPU microseconds the redis-server process has used (user + system, from /proc).

    Not ``INFO commandstats``: its ``usec`` is wall time, which a busy machine inflates.
    """
    info = client.execute_command("INFO", "server")
    text = info.decode() if isinstance(info, bytes) else str(info)
    pid = int(text.split("process_id:", 1)[1].split()[0])
    return cpu_seconds(pid) * 1e6


def lag(rate: int, seconds: float, workers: int) -> None:
    from blueplane_core import config, metric_keys, redis_conn, streams, synthetic
    from blueplane_core.emit import Emitter

    cfg = config.load()
    client = redis_conn.connect(cfg)
    stale = list(client.scan_iter(match=metric_keys.PREFIX + "*"))
    if stale:
        client.delete(*stale)
    base = int(client.hget(metric_keys.counters_key("all"), "events") or 0)
    env = dict(os.environ, PYTHONPATH=str(REPO), BLUEPLANE_LOG_LEVEL="WARNING")
    names = [("blueplane_ingest", "lag-ingest")]
    names += [("blueplane_workers.metrics", f"lag-metrics-{i}") for i in range(workers)]
    procs = [
        subprocess.Popen([sys.executable, "-m", module, "--consumer", name], env=env)
        for module, name in names
    ]
    total = int(rate * seconds)
    source = synthetic.take(total, seed=int(time.time()))
    sent: list[tuple[int, float]] = []  # (cumulative events, time sent)
    visible: dict[int, float] = {}
    done = threading.Event()

    def poll() -> None:
        poller = redis_conn.connect(cfg)
        index = 0
        while not done.is_set() or index < len(sent):
            count = int(poller.hget(metric_keys.counters_key("all"), "events") or 0) - base
            now = time.perf_counter()
            while index < len(sent) and sent[index][0] <= count:
                visible[index] = now
                index += 1
            if done.is_set() and time.perf_counter() > deadline:
                break
            time.sleep(0.005)

    time.sleep(1.0)  # let both processes start (import time is not lag)
    deadline = float("inf")
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    emitter = Emitter(client)
    step = max(1, rate // 200)  # a batch every 5 ms
    started = time.perf_counter()
    count = 0
    batch: list[dict] = []
    for event in source:
        batch.append(event)
        if len(batch) < step:
            continue
        target = started + count / rate
        pause = target - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        emitter.emit_many(batch)
        count += len(batch)
        sent.append((count, time.perf_counter()))
        batch = []
    offered = count / (time.perf_counter() - started)
    deadline = time.perf_counter() + 30
    done.set()
    thread.join(35)
    stats = client.hgetall(streams.stats_key("lag-metrics-0"))
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(20)
    lags = [(visible[i] - t) * 1000 for i, (_n, t) in enumerate(sent) if i in visible]
    print(
        f"offered {offered:,.0f} events/s for {seconds:g}s ({count} events); "
        f"{len(lags)}/{len(sent)} batches became visible"
    )
    print(
        f"capture -> visible metric: P50 {percentile(lags, 0.5):.0f} ms,"
        f" P95 {percentile(lags, 0.95):.0f} ms, "
        f"max {max(lags, default=float('nan')):.0f} ms"
    )
    worker = {k.decode(): v.decode() for k, v in stats.items()}
    print(
        f"ingest -> visible (worker's measure): P50 {worker.get('lag_p50_ms', '?')} ms, "
        f"P95 {worker.get('lag_p95_ms', '?')} ms"
    )
    if lags:
        print(f"mean capture -> visible {statistics.fmean(lags):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events for the throughput run")
    parser.add_argument("--rate", type=int, default=5_000, help="offered events/s for the lag run")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the lag run")
    parser.add_argument("--workers", type=int, default=1, help="metrics processes in the lag run")
    parser.add_argument(
        "--batch",
        type=int,
        default=next(k.default for k in KEYS if k.name == "workers.batch_size"),
        help="CDC entries per worker batch (default: the pipeline's own, workers.batch_size)",
    )
    args = parser.parse_args()
    with private_pipeline_home():
        throughput(args.events, args.batch)
    with private_pipeline_home():
        lag(args.rate, args.seconds, args.workers)


if __name__ == "__main__":
    main()
