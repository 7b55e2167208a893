"""Query-side latency: every bp-query command as a fresh process, and every MCP tool call.

Fills a BLUEPLANE_HOME through the real pipeline (synthetic events -> Emitter -> ingester ->
metrics, conversations and insights workers in burst mode; the last event lands about now), then
prints, per command (``--json`` and human output), wall P50/P95 and the process's CPU time, with
``python -c pass`` measured in the same run as the reference and the load average beside each
row; then MCP server start + initialize and every tool call over a real stdio session (the SDK's
client), with the server's own CPU time per call. Targets (issue 14): every command and tool
P95 <= 300 ms at 1,000,000 events, initialize <= 500 ms.

    .venv/bin/python bench/query.py                                  # 20k events, quick
    .venv/bin/python bench/query.py --events 1000000 --cache /work/data-query

``--cache``: the filled home (its database checkpointed, and a snapshot of its Redis, whose
metrics the live block reads) is kept under the cache folder, keyed by the generator's source,
the seed, the size and FILL_VERSION, and reused; a reused home is brought to this tree's
migrations as an upgrade would. At 1M events a fill takes ~25 minutes on a loaded 2-core
machine (ingest ~1-1.5k events/s there, then each worker), so fill once, early. The events end
at the fill time: "today" and "the last 7 days" empty out as the cache ages (its age is
printed). A private redis-server is started unless ``--redis-url`` is given; the events stream
is trimmed after each ingested chunk so Redis memory stays bounded.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._harness import cpu_seconds, percentile, start_redis_server  # noqa: E402

COMMANDS: list[list[str]] = [
    ["metrics"],
    ["sessions"],
    ["sessions", "--platform", "cursor", "--page", "3"],
    ["session", "<SID>"],
    ["tools"],
    ["costs"],
    ["costs", "--by", "week"],
    ["costs", "--by", "month"],
    ["costs", "--by", "model"],
    ["costs", "--by", "project"],
    ["costs", "--by", "block", "--since", "30d"],
    ["requests"],
    ["requests", "--session", "<SID>"],
    ["commits"],
    ["insights"],
    ["status"],
]
MCP_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_current_metrics", {}),
    ("get_session_metrics", {}),
    ("get_session_metrics", {"session_id": "<SID>"}),
    ("get_tool_performance", {}),
    ("analyze_acceptance", {}),
    ("get_error_patterns", {}),
    ("get_costs", {"by": "day"}),
    ("get_costs", {"by": "model"}),
    ("get_costs", {"by": "block", "since": "30d"}),
    ("search_sessions", {"tools": ["Edit", "Bash"], "file_extensions": [".py"], "size": "medium"}),
    ("search_sessions", {}),
    ("get_insights", {}),
    ("log_decision", {"category": "tooling", "confidence": 0.5}),
    ("log_outcome", {"result": "success"}),
]


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_ms(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """(wall ms, CPU ms of the child: user + system, done) of one fresh process."""
    # this tree's code, whichever tree the venv was installed from
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env)
    wall = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu, done


def child_pid(module: str) -> int | None:
    """The pid of this process's child running ``python -m module`` (the MCP server)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and module.encode() in cmdline:
            return int(entry.name)
    return None


def span_seconds(total: int) -> float:
    """Seconds from the generator's start to its last event among the first ``total`` (a dry
    run: the generator's times are offsets from its start)."""
    from blueplane_core import synthetic

    events = itertools.islice(synthetic.sessions(seed=FILL_SEED, start_unix=0), total)
    last = max(e["timestamp"] for e in events)
    return datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()


def fill(total: int, chunk: int) -> None:
    """Synthetic sessions ending about now, through the real pipeline.

    Each chunk is emitted and ingested, then the events stream is trimmed (the ingesters' group
    has acknowledged all of it); the workers then run once over the whole CDC stream, as a
    pipeline catching up would.
    """
    from blueplane_core import config, db, migrations, paths, redis_conn, streams, synthetic
    from blueplane_core.emit import Emitter
    from blueplane_ingest.bus import IngestBus
    from blueplane_ingest.ingester import Ingester, Settings
    from blueplane_ingest.writer import BatchWriter

    cfg = config.load()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    emitter = Emitter(client)
    # the last event lands about now, so "today" and "the last 7 days" hold data
    source = synthetic.sessions(seed=FILL_SEED, start_unix=time.time() - span_seconds(total))
    ingester = Ingester(
        IngestBus(client, "bench-ingest"), BatchWriter(conn), Settings(idle_block_ms=20)
    )
    done = 0
    started = time.perf_counter()
    while done < total:
        batch = [next(source) for _ in range(min(chunk, total - done))]
        emitter.emit_many(batch)
        ingester.run(burst=True)
        client.xtrim(streams.EVENTS_STREAM, maxlen=0)  # acknowledged by its only group
        done += len(batch)
        rate = done / (time.perf_counter() - started)
        print(f"\r  ingested {done:,}/{total:,} events ({rate:,.0f}/s)", end="", flush=True)
    print()
    for kind in ("metrics", "conversations", "insights"):
        try:
            module = importlib.import_module(f"blueplane_workers.{kind}")
        except ImportError:
            print(f"  (no blueplane_workers.{kind} in this tree: its data stays empty)")
            continue
        from blueplane_workers.loop import Settings as WorkerSettings

        t0 = time.perf_counter()
        # a client of its own, as a real worker process has (the ingester's bus changes how
        # its client parses XREADGROUP replies)
        worker_client = redis_conn.connect(cfg)
        worker = module.build_worker(
            cfg, f"bench-{kind}", conn, worker_client, settings=WorkerSettings(idle_block_ms=20)
        )
        try:
            worker.run(burst=True)
        except Exception as exc:  # a worker bug must not hide the query numbers
            print(f"  {kind} worker FAILED ({type(exc).__name__}: {exc}); its data is partial")
            continue
        finally:
            worker_client.close()
        print(f"  {kind} worker caught up in {time.perf_counter() - t0:.1f} s")
    # what the maintenance process does on a running pipeline: the WAL folded into the file
    db.checkpoint(conn, "TRUNCATE")
    conn.close()
    # the metrics live in Redis too (the live block of `metrics` reads them): keep a snapshot,
    # without the CDC entries every worker has acknowledged (maintenance trims them too)
    client.xtrim(streams.CDC_STREAM, maxlen=0, approximate=False)
    import redis

    # SAVE of a 1M-event Redis outlasts the client's socket timeout on a loaded machine
    redis.Redis.from_url(redis_conn.redis_url(cfg), socket_timeout=None).save()
    redis_dir = Path(client.execute_command("CONFIG", "GET", "dir")[1].decode())  # small client
    shutil.copy(redis_dir / "dump.rdb", paths.home() / REDIS_SNAPSHOT)
    client.close()


FILL_SEED = 11
#: bump when the fill itself changes what it stores (the generator's source is in the key too).
FILL_VERSION = 2
#: the fill's Redis, saved beside its database, loaded into the bench's redis-server on reuse.
REDIS_SNAPSHOT = "redis.rdb"


def fill_key(events: int) -> str:
    """The cache key of a filled home: the generator's source (its version), the seed and size.

    The pipeline's own code is not in the key: opening a cached home runs the migrations, as an
    upgraded installation does, so a new index or table lands on the cached data the same way it
    lands on a user's.
    """
    generator = (REPO / "blueplane_core" / "synthetic.py").read_bytes()
    digest = hashlib.sha256(
        generator + f"|fill={FILL_VERSION}|seed={FILL_SEED}|events={events}".encode()
    )
    return f"{events}-{digest.hexdigest()[:12]}"


def cached_home(cache: Path, events: int, chunk: int) -> Path:
    """A home filled with ``events`` events through the real pipeline, built once per key.

    Built in a temporary folder next to the cache and renamed into place when complete, so an
    interrupted fill never leaves a half-filled home that a later run would trust. A cached
    home's Redis snapshot must already be loaded (:func:`main` starts Redis with it).
    """
    home = cache / f"fill-{fill_key(events)}"
    if (home / "fill.json").exists():
        meta = json.loads((home / "fill.json").read_text())
        age_h = (time.time() - meta["filled_at"]) / 3600
        print(f"using the cached fill {home} ({age_h:.1f} h old; events end at the fill time)")
        return home
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
    print(f"filling {events:,} events into {building} (cached as {home.name})")
    os.environ["BLUEPLANE_HOME"] = str(building)
    started = time.time()
    fill(events, chunk)
    meta = {
        "events": events,
        "seed": FILL_SEED,
        "filled_at": started,
        "fill_seconds": time.time() - started,
    }
    (building / "fill.json").write_text(json.dumps(meta))
    building.rename(home)
    return home


def migrate(home: Path) -> None:
    """Bring a cached home's schema to this tree's migrations (what an upgrade does)."""
    from blueplane_core import db, migrations

    conn = db.connect_writer(home / "telemetry.db")
    try:
        migrations.migrate(conn)
        db.checkpoint(conn, "TRUNCATE")
    finally:
        conn.close()


def some_session_id() -> str:
    from blueplane_query.store import Store

    with Store() as store:
        if not store.has("conversations"):
            return "none"
        return str(
            store.scalar(
                "SELECT session_id FROM conversations ORDER BY started_at DESC LIMIT 1 OFFSET 10"
            )
            or "none"
        )


def bench_cli(runs: int, sid: str, only: list[str] | None = None) -> None:
    script = Path(sys.executable).parent / "bp-query"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "blueplane_query.cli"]
    print(
        f"\nbp-query, fresh process each run ({runs} runs): wall P50/P95 and CPU P50, ms; {load()}"
    )
    print(
        f"  {'command':40} {'--json P50':>10} {'P95':>5} {'cpu':>5}"
        f" {'human P50':>10} {'P95':>5} {'cpu':>5}  load"
    )
    reference = [sys.executable, "-c", "pass"]
    chosen = [c for c in COMMANDS if not only or any(w in " ".join(c) for w in only)]
    for command in [["<REFERENCE>"], *chosen]:
        args = [sid if a == "<SID>" else a for a in command]
        row = []
        for extra in (["--json"], []):
            walls, cpus = [], []
            for _ in range(runs):
                argv = reference if args == ["<REFERENCE>"] else [*base, *args, *extra]
                wall, cpu, done = timed_ms(argv)
                walls.append(wall)
                cpus.append(cpu)
            row.append(
                f"{statistics.median(walls):10.0f} {percentile(walls, 0.95):5.0f}"
                f" {statistics.median(cpus):5.0f}"
            )
            if done.returncode != 0:  # status exits 3 without a running pipeline: expected
                print(f"  ({' '.join(args)} exited {done.returncode}: {done.stderr[:60]!r})")
        label = "python -c pass (reference)" if args == ["<REFERENCE>"] else " ".join(args)
        print(f"  {label[:40]:40} {' '.join(row)}  {os.getloadavg()[0]:.2f}", flush=True)


def bench_mcp(runs: int, sid: str) -> None:
    import anyio
    from mcp import Client, StdioServerParameters

    env = {k: v for k, v in os.environ.items() if k.startswith("BLUEPLANE_")}
    env["PYTHONPATH"] = str(REPO)
    env["BLUEPLANE_LOG_LEVEL"] = "WARNING"  # one log line per call would drown the table
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "blueplane_query.mcp_server"], env=env
    )

    async def start_times() -> list[float]:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            async with Client(params, read_timeout_seconds=120):
                times.append((time.perf_counter() - t0) * 1000)
        return times

    async def run() -> None:
        times = await start_times()
        print(
            f"\nMCP server start + initialize ({runs} runs): P50 {statistics.median(times):.0f} "
            f"P95 {percentile(times, 0.95):.0f} ms; {load()}"
        )
        async with Client(params, read_timeout_seconds=120) as client:
            server = child_pid("blueplane_query.mcp_server")
            print(f"MCP tool calls over stdio ({runs} runs): wall P50/P95, server CPU mean, ms:")
            for name, raw_args in MCP_CALLS:
                args = {k: (sid if v == "<SID>" else v) for k, v in raw_args.items()}
                times = []
                error = ""
                cpu0 = cpu_seconds(server) * 1000 if server else float("nan")
                for _ in range(runs):
                    t1 = time.perf_counter()
                    result = await client.call_tool(name, args)
                    times.append((time.perf_counter() - t1) * 1000)
                    if result.is_error:
                        error = str(getattr(result.content[0], "text", ""))[:50]
                cpu = ((cpu_seconds(server) * 1000 if server else float("nan")) - cpu0) / runs
                label = f"{name} {args}"[:56]
                print(
                    f"  {label:56} P50 {statistics.median(times):5.0f}  P95 "
                    f"{percentile(times, 0.95):5.0f}  cpu {cpu:5.0f}  load "
                    f"{os.getloadavg()[0]:.2f} {error}",
                    flush=True,
                )

    anyio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events to fill (default 20k)")
    parser.add_argument(
        "--runs", type=int, default=10, help="runs per command / tool call (0: fill only)"
    )
    parser.add_argument("--chunk", type=int, default=20_000, help="events per fill round")
    parser.add_argument("--redis-url", help="use this Redis instead of a private one")
    parser.add_argument(
        "--cache",
        type=Path,
        help="keep filled homes here, one per generator version and size, and reuse them "
        "(default: fill a temporary home and delete it)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="time only the bp-query commands whose text contains TEXT (repeatable; "
        "e.g. --only costs --only tools), and no MCP calls",
    )
    args = parser.parse_args()

    home = None if args.cache else Path(tempfile.mkdtemp(prefix="bp-bench-query-"))
    redis_proc = folder = None
    if args.redis_url:
        os.environ["BLUEPLANE_REDIS_URL"] = args.redis_url
    else:
        folder = Path(tempfile.mkdtemp(prefix="bp-bench-redis-"))
        snapshot = (
            (args.cache / f"fill-{fill_key(args.events)}" / REDIS_SNAPSHOT) if args.cache else None
        )
        if snapshot is not None and snapshot.exists():
            shutil.copy(snapshot, folder / "dump.rdb")  # redis-server loads it on start
        redis_proc, url = start_redis_server(folder)
        os.environ["BLUEPLANE_REDIS_URL"] = url
    try:
        if home is None:
            home = cached_home(args.cache, args.events, args.chunk)
        else:
            os.environ["BLUEPLANE_HOME"] = str(home)
            print(f"filling {args.events:,} events into {home}")
            fill(args.events, args.chunk)
        os.environ["BLUEPLANE_HOME"] = str(home)
        migrate(home)
        size = sum(p.stat().st_size for p in home.glob("telemetry.db*"))
        print(f"database: {size / 1e6:.1f} MB")
        sid = some_session_id()
        if args.runs:
            bench_cli(args.runs, sid, args.only)
            if not args.only:
                bench_mcp(args.runs, sid)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
            shutil.rmtree(folder or "", ignore_errors=True)
        if args.cache is None and home is not None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
