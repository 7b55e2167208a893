"""First start on a Claude Code history: `blueplane up` from an empty data folder until every
number is visible, beside `ccusage daily --offline` on the same files.

The history is the real fixture transcripts in the real layout (``tests/history.py``: sessions
with their subagent files, over many days and project folders), made of long sessions (``--turns``
rounds of a fixture per file: a real history's files average about 150 kB). Each run starts the
real process tree (supervisord, Redis, ingesters, workers, capture, query service) on a fresh
data folder whose config points capture-claude at the history, and polls until:

* capture: the backfill is done (``blueplane_core.backfill_progress``; older versions: the
  capture-claude log's ``backfill:`` line),
* ingest: the ``processors`` group has nothing pending or undelivered,
* metrics, conversations: their groups likewise, once ingest is done,
* insights: once metrics and conversations are done, its group likewise and the
  ``stale_since`` mark cleared (recomputed).

Prints the seconds from `up` to each stage, the CPU seconds each program used (utime+stime from
/proc: robust against the machine's other load), where redis-server's time went by command, the
load average, ccusage's time on the same
files, and the token totals of both as a sanity line.

    python bench/first_start.py                 # ~200 MB, two runs
    python bench/first_start.py --mb 20 --runs 1
    python bench/first_start.py --repo /work/main   # another checkout's code, same history
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import REPO, cpu_seconds
from blueplane_core import resp, streams
from tests import history

STAGES = ("capture", "ingest", "metrics", "conversations", "insights")
TOKEN_FIELDS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def ccusage(root: Path, version: str) -> tuple[float, int] | None:
    """(seconds, total tokens) of ``ccusage daily --offline --json`` on ``root``; None where npx
    is missing or ccusage fails."""
    npx = shutil.which("npx")
    if npx is None:
        return None
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(root), TZ="UTC", LOG_LEVEL="0")
    env["npm_config_update_notifier"] = "false"
    started = time.perf_counter()
    done = subprocess.run(
        [npx, "-y", f"ccusage@{version}", "daily", "--offline", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(f"ccusage failed: {done.stderr.strip()[-300:]}")
        return None
    totals = json.loads(done.stdout)["totals"]
    return elapsed, sum(int(totals[k]) for k in TOKEN_FIELDS)


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (the system's choice): two benches may run at once."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        held.append(sock)
    ports = [sock.getsockname()[1] for sock in held]
    for sock in held:
        sock.close()
    return ports


def write_config(home: Path, root: Path) -> None:
    empty = home.parent / f"{home.name}-no-cursor"
    empty.mkdir(exist_ok=True)
    home.mkdir(parents=True)
    query_port, otlp_port = free_ports(2)  # the query service's, the OTLP receiver's
    (home / "config.toml").write_text(
        f"[query]\nport = {query_port}\n\n"
        f'[capture]\notlp_port = {otlp_port}\nclaude_dirs = ["{root}"]\n'
        f'cursor_dirs = ["{empty}"]\n'
    )


def programs(env: dict[str, str]) -> dict[str, int]:
    """supervisord's programs and their pids."""
    done = subprocess.run(
        [sys.executable, "-m", "blueplane.cli", "ctl", "status"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "pid":
            out[parts[0].split(":")[-1]] = int(parts[3].rstrip(","))
    return out


class Watch:
    """Polls one running pipeline for the stages' completion."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.client = resp.Client(f"unix://{home / 'run' / 'redis.sock'}", 5.0)
        self.done: dict[str, float] = {}

    def capture_done(self) -> bool:
        raw = self.client.hget(streams.BACKFILL_KEY, "capture-claude")
        if raw:
            return raw.split()[-1] == b"1"
        log = self.home / "logs" / "capture-claude.log"
        return log.exists() and b"backfill: " in log.read_bytes()

    def group_behind(self, stream: str, group: str) -> int | None:
        try:
            groups = self.client.xinfo_groups(stream)
        except resp.RedisError:
            return None
        for info in groups:
            name = info.get("name")
            name = name.decode() if isinstance(name, bytes) else name
            if name == group:
                lag = info.get("lag")
                return int(info.get("pending") or 0) + (int(lag) if lag is not None else 1)
        return None

    def insights_fresh(self) -> bool:
        database = self.home / "telemetry.db"
        try:
            conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.2)
            try:
                row = conn.execute(
                    "SELECT 1 FROM worker_progress WHERE worker = 'insights'"
                    " AND name = 'stale_since'"
                ).fetchone()
                ran = conn.execute("SELECT count(*) FROM insights").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return False
        return row is None and ran is not None

    def poll(self, now: float) -> None:
        try:
            if "capture" not in self.done and self.capture_done():
                self.done["capture"] = now
        except (resp.RedisError, OSError):
            return
        caught_up = self.group_behind(streams.EVENTS_STREAM, streams.INGEST_GROUP) == 0
        if "capture" in self.done and "ingest" not in self.done and caught_up:
            self.done["ingest"] = now
        if "ingest" not in self.done:
            return
        for group in (streams.METRICS_GROUP, streams.CONVERSATIONS_GROUP):
            if group not in self.done and self.group_behind(streams.CDC_STREAM, group) == 0:
                self.done[group] = now
        workers = streams.METRICS_GROUP in self.done and streams.CONVERSATIONS_GROUP in self.done
        if workers and "insights" not in self.done:  # insights read the workers' tables
            behind = self.group_behind(streams.CDC_STREAM, streams.INSIGHTS_GROUP)
            if behind == 0 and self.insights_fresh():
                self.done["insights"] = now


def redis_commands(client: resp.Client) -> dict[str, tuple[int, float]]:
    """Redis's own account of where its CPU went: command -> (calls, seconds), from ``INFO
    commandstats`` (a Lua script's commands count inside its EVALSHA)."""
    raw = client.execute("INFO", "commandstats")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    out: dict[str, tuple[int, float]] = {}
    for line in text.splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, fields = line[len("cmdstat_") :].partition(":")
        values = dict(f.split("=", 1) for f in fields.split(","))
        out[name] = (int(values["calls"]), int(values["usec"]) / 1e6)
    return out


def blueplane_tokens(env: dict[str, str]) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "blueplane_query.cli",
            "costs",
            "--by",
            "day",
            "--tz",
            "UTC",
            "--since",
            "3000d",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(done.stdout)["rows"]
    keys = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
    return sum(int(r[k]) for r in rows for k in keys)


def first_start(root: Path, home: Path, repo: Path, timeout: float) -> dict[str, Any]:
    """One first start: seconds per stage, CPU seconds per program, token total."""
    write_config(home, root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLUEPLANE_", "CLAUDE_"))}
    env.update(BLUEPLANE_HOME=str(home), BLUEPLANE_DISPLAY_TIMEZONE="UTC")
    env["PYTHONPATH"] = str(repo)  # before the editable install: that checkout's code runs
    blueplane = [sys.executable, "-m", "blueplane.cli"]
    started = time.perf_counter()
    # from the checkout's folder too: `python -m` puts the working folder first on every
    # program's path, before PYTHONPATH, so another folder's code would run instead
    up = subprocess.run(
        [*blueplane, "up"], env=env, cwd=repo, capture_output=True, text=True, check=False
    )
    up_s = time.perf_counter() - started
    if up.returncode != 0:
        subprocess.run([*blueplane, "down"], env=env, cwd=repo, capture_output=True, check=False)
        raise SystemExit(f"blueplane up failed: {up.stderr[-500:]}")
    watch = Watch(home)
    cpu: dict[str, float] = {}
    pids: dict[str, int] = {}
    commands: dict[str, tuple[int, float]] = {}
    try:
        while len(watch.done) < len(STAGES):
            now = time.perf_counter() - started
            if now > timeout:
                print(f"timed out after {timeout:.0f}s; done: {watch.done}")
                break
            watch.poll(now)
            if not pids:
                pids = programs(env)
            time.sleep(0.1)  # a poll interval, not a synchronisation
        pids = programs(env) or pids
        for name, pid in pids.items():
            program = name.rsplit("-", 1)[0] if name[-1].isdigit() else name  # ingest-0, ingest-1
            cpu[program] = cpu.get(program, 0.0) + cpu_seconds(pid, reaped_children=True)
        commands = redis_commands(watch.client)
        tokens = blueplane_tokens(env)
    finally:
        subprocess.run([*blueplane, "down"], env=env, cwd=repo, capture_output=True, check=False)
        watch.client.close()
    return {"up_s": up_s, "stages": watch.done, "cpu": cpu, "tokens": tokens, "redis": commands}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="history size (default 200 MB)")
    parser.add_argument("--turns", type=int, default=11, help="fixture rounds per session file")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose code runs")
    parser.add_argument(
        "--ccusage", default="20.0.24", help="ccusage version for npx (latest: no linux-x64 binary)"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bp-first-start-") as scratch:
        root = Path(scratch) / "claude"
        counts = history.generate(root, args.mb, turns=args.turns)
        print(
            f"history: {counts['bytes'] / 1e6:.1f} MB, {counts['files']} files "
            f"({counts['sessions']} sessions, {counts['subagent_files']} subagent files)"
        )
        if shutil.which("npx"):
            ccusage(root, args.ccusage)  # fills npx's cache: the download is not timed
        for run in range(1, args.runs + 1):
            theirs = ccusage(root, args.ccusage)
            load = os.getloadavg()
            result = first_start(root, Path(scratch) / f"home-{run}", args.repo, args.timeout)
            load_after = os.getloadavg()
            stages = result["stages"]
            total = max(stages.values()) if len(stages) == len(STAGES) else float("nan")
            print(f"\nrun {run}: load {load[0]:.2f} before, {load_after[0]:.2f} after")
            print(
                f"  blueplane first start: {total:.1f} s until every number is visible "
                f"(`up` returned after {result['up_s']:.1f} s)"
            )
            print("  stage done at: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
            print(
                "  CPU seconds: "
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(result["cpu"].items()))
                + f"; total {sum(result['cpu'].values()):.1f}"
            )
            top = sorted(result["redis"].items(), key=lambda kv: -kv[1][1])[:6]
            print(
                "  redis-server's commands (seconds, calls): "
                + ", ".join(f"{name} {sec:.1f} ({calls:,})" for name, (calls, sec) in top)
            )
            if theirs is None:
                print("  ccusage: npx missing or failed, not compared")
                continue
            print(f"  ccusage daily --offline: {theirs[0]:.2f} s (same files, just before)")
            print(
                f"  tokens: blueplane {result['tokens']:,}, ccusage {theirs[1]:,}"
                f" ({'equal' if result['tokens'] == theirs[1] else 'DIFFERENT'})"
            )


if __name__ == "__main__":
    main()
