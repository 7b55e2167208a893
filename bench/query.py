"""Query-side latency: every bp-query command as a fresh process, and every MCP tool call.

Fills a private BLUEPLANE_HOME through the real pipeline (synthetic events -> Emitter -> ingester
-> workers in burst mode), then prints P50/P95 wall time per command (``--json`` and human
output) and per MCP tool call over a real stdio session. Target: P95 <= 300 ms per command with
1,000,000 events stored (``--events 1000000``; the default is a quick smoke run).

    .venv/bin/python bench/query.py                 # 20k events, a few seconds of filling
    .venv/bin/python bench/query.py --events 1000000 --runs 20

A private redis-server is started unless ``--redis-url`` is given. Streams are trimmed after
each chunk has been ingested and processed by every worker (this bench's own data only), so
Redis memory stays bounded at 1M events.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._harness import percentile, start_redis_server  # noqa: E402

COMMANDS: list[list[str]] = [
    ["metrics"],
    ["sessions"],
    ["sessions", "--platform", "cursor", "--page", "3"],
    ["session", "<SID>"],
    ["tools"],
    ["costs"],
    ["costs", "--by", "model"],
    ["costs", "--by", "block", "--since", "30d"],
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
    ("get_costs", {"by": "block", "since": "30d"}),
    ("search_sessions", {"tools": ["Edit", "Bash"], "file_extensions": [".py"], "size": "medium"}),
    ("get_insights", {}),
]


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
    # ~35 events per session, one session every ~5 minutes: start far enough back to end ~now
    span_s = total / 35 * 330
    source = synthetic.sessions(seed=11, start_unix=time.time() - span_s)
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
    conn.close()
    client.close()


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


def bench_cli(runs: int, sid: str) -> None:
    script = Path(sys.executable).parent / "bp-query"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "blueplane_query.cli"]
    print(f"\nbp-query, fresh process each run ({runs} runs), ms:")
    print(f"  {'command':44} {'json P50':>9} {'P95':>6} {'human P50':>10} {'P95':>6}")
    for command in COMMANDS:
        args = [sid if a == "<SID>" else a for a in command]
        row = []
        for extra in (["--json"], []):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                done = subprocess.run([*base, *args, *extra], capture_output=True)
                times.append((time.perf_counter() - t0) * 1000)
            if done.returncode != 0:
                row.append(f"exit {done.returncode}: {done.stderr.decode().strip()[:40]}")
            row.append(f"{statistics.median(times):9.0f} {percentile(times, 0.95):6.0f}")
        print(f"  {' '.join(args)[:44]:44} {' '.join(row)}")


def bench_mcp(runs: int, sid: str) -> None:
    import anyio
    from mcp import Client, StdioServerParameters

    env = {k: v for k, v in os.environ.items() if k.startswith("BLUEPLANE_")}
    env["PYTHONPATH"] = str(REPO)
    env["BLUEPLANE_LOG_LEVEL"] = "WARNING"  # one log line per call would drown the table
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "blueplane_query.mcp_server"], env=env
    )

    async def run() -> None:
        t0 = time.perf_counter()
        async with Client(params, read_timeout_seconds=120) as client:
            print(f"\nMCP server start + initialize: {(time.perf_counter() - t0) * 1000:.0f} ms")
            print(f"MCP tool calls over stdio ({runs} runs), ms:")
            for name, raw_args in MCP_CALLS:
                args = {k: (sid if v == "<SID>" else v) for k, v in raw_args.items()}
                times = []
                error = ""
                for _ in range(runs):
                    t1 = time.perf_counter()
                    result = await client.call_tool(name, args)
                    times.append((time.perf_counter() - t1) * 1000)
                    if result.is_error:
                        error = result.content[0].text[:50]
                label = f"{name} {args}"[:56]
                print(
                    f"  {label:56} P50 {statistics.median(times):6.0f}  P95 "
                    f"{percentile(times, 0.95):6.0f}  {error}"
                )

    anyio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events to fill (default 20k)")
    parser.add_argument("--runs", type=int, default=10, help="runs per command / tool call")
    parser.add_argument("--chunk", type=int, default=20_000, help="events per fill round")
    parser.add_argument("--redis-url", help="use this Redis instead of a private one")
    parser.add_argument("--home", type=Path, help="keep the data here (default: a temp folder)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="bp-bench-query-"))
    os.environ["BLUEPLANE_HOME"] = str(home)
    redis_proc = folder = None
    if args.redis_url:
        os.environ["BLUEPLANE_REDIS_URL"] = args.redis_url
    else:
        folder = Path(tempfile.mkdtemp(prefix="bp-bench-redis-"))
        redis_proc, url = start_redis_server(folder)
        os.environ["BLUEPLANE_REDIS_URL"] = url
    try:
        db_file = home / "telemetry.db"
        if not db_file.exists():
            print(f"filling {args.events:,} events into {home}")
            fill(args.events, args.chunk)
        size = sum(p.stat().st_size for p in home.glob("telemetry.db*"))
        print(f"database: {size / 1e6:.1f} MB")
        sid = some_session_id()
        bench_cli(args.runs, sid)
        bench_mcp(args.runs, sid)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
            shutil.rmtree(folder or "", ignore_errors=True)
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
