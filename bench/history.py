"""A generated Claude Code history vs ccusage: `bp-query costs --by day` against `ccusage daily`.

The history is made of the real fixture transcripts in the real layout (``tests/history.py``:
every copy a new session with its subagent files, spread over days and project folders). It goes
through the pipeline as on first start (transcript monitor -> Redis -> ingester -> conversation
worker, in-process, private Redis and data folder), then ``bp-query costs --by day --tz UTC
--json`` and ``npx ccusage@20.0.24 daily --json --offline --mode calculate`` (TZ=UTC) answer over
the same files. Prints the timings, and per day the token and cost difference (none expected;
docs/metrics.md "Parity with ccusage" lists what may differ and why).

    python bench/history.py             # ~20 MB, about a minute
    python bench/history.py --mb 200    # the issue's figure (minutes on a busy machine)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import private_pipeline_home
from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import config, db, migrations, paths, privacy, redis_conn
from blueplane_core.emit import Emitter
from tests import history

COSTS_ARGS = ("costs", "--by", "day", "--tz", "UTC", "--since", "3000d", "--json")
FIELDS = {
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "cache_write_tokens": "cacheCreationTokens",
    "cache_read_tokens": "cacheReadTokens",
}


def run_pipeline(root: Path) -> dict[str, float]:
    """Capture, ingest and fold ``root``; seconds per stage."""
    from blueplane_ingest.bus import IngestBus
    from blueplane_ingest.ingester import Ingester, Settings
    from blueplane_ingest.writer import BatchWriter
    from blueplane_workers import conversations
    from blueplane_workers.loop import Settings as WorkerSettings

    cfg = config.load()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    times: dict[str, float] = {}
    started = time.perf_counter()
    monitor = TranscriptMonitor(
        [root], Emitter(client), OffsetStore("bench", paths.home()), privacy.load_secret()
    )
    monitor.backfill(show_progress=False, flush=True)
    times["capture"] = time.perf_counter() - started
    started = time.perf_counter()
    writer = BatchWriter(conn, db.write_lock_for(conn))
    Ingester(IngestBus(client, "bench-ingest"), writer, Settings(idle_block_ms=20)).run(burst=True)
    times["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    worker = conversations.build_worker(
        cfg, "bench-conv", conn, client, settings=WorkerSettings(idle_block_ms=20)
    )
    worker.run(burst=True)
    times["conversations"] = time.perf_counter() - started
    conn.close()
    client.close()
    return times


def blueplane_daily() -> dict[str, dict[str, float]]:
    done = subprocess.run(
        [sys.executable, "-m", "blueplane_query.cli", *COSTS_ARGS],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(done.stdout)["rows"]
    return {r["period"]: {**{k: r[k] for k in FIELDS}, "cost": r["cost_usd"]} for r in rows}


def ccusage_daily(root: Path, scratch: Path) -> dict[str, dict[str, float]] | None:
    npx = shutil.which("npx")
    if npx is None:
        print("ccusage: npx is not installed, comparison skipped")
        return None
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(root), TZ="UTC")
    env["npm_config_update_notifier"] = "false"
    done = subprocess.run(
        [npx, "--yes", "ccusage@20.0.24", "daily", "--json", "--offline", "--mode", "calculate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"ccusage failed, comparison skipped: {done.stderr.strip()[-300:]}")
        return None
    return {
        d["period"]: {**{k: d[v] for k, v in FIELDS.items()}, "cost": d["totalCost"]}
        for d in json.loads(done.stdout)["daily"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="history size (default 20 MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bp-history-") as scratch:
        root = Path(scratch) / "claude"
        counts = history.generate(root, args.mb)
        print(
            f"history: {counts['bytes'] / 1e6:.1f} MB, {counts['sessions']} sessions, "
            f"{counts['subagent_files']} subagent files, {counts['files']} files"
        )
        with private_pipeline_home():
            times = run_pipeline(root)
            started = time.perf_counter()
            ours = blueplane_daily()
            times["bp-query costs"] = time.perf_counter() - started
        started = time.perf_counter()
        theirs = ccusage_daily(root, Path(scratch))
        times["ccusage daily"] = time.perf_counter() - started
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    print(f"days: blueplane {len(ours)}", end="")
    if theirs is None:
        print()
        return
    print(f", ccusage {len(theirs)}")
    differing = 0
    for day in sorted(set(ours) | set(theirs)):
        a, b = ours.get(day), theirs.get(day)
        if a is None or b is None:
            differing += 1
            print(f"  {day}: only in {'ccusage' if a is None else 'blueplane'}")
            continue
        tokens = {k: a[k] - b[k] for k in FIELDS if a[k] != b[k]}
        cost = a["cost"] - b["cost"]
        if tokens or abs(cost) > 1e-9:
            differing += 1
            print(f"  {day}: token differences {tokens}, cost difference {cost:+.9f} USD")
    total_ours = sum(sum(v[k] for k in FIELDS) for v in ours.values())
    total_theirs = sum(sum(v[k] for k in FIELDS) for v in theirs.values())
    print(
        f"days that differ: {differing} of {len(set(ours) | set(theirs))}; tokens "
        f"{total_ours:,.0f} vs {total_theirs:,.0f}; cost "
        f"{sum(v['cost'] for v in ours.values()):.6f} vs "
        f"{sum(v['cost'] for v in theirs.values()):.6f} USD"
    )


if __name__ == "__main__":
    main()
