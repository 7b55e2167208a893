"""bp-hook wall time as Claude Code sees it: process start to exit, Redis up and Redis down.

Runs the exact command the installer writes (``<resolved python> -I -S .../hooks/claude_code.py``)
with a real PostToolUse payload on stdin. Targets (architecture contract): median <= 15 ms,
P95 <= 25 ms, in both cases. ``--cursor`` also times bp-cursor-hook on ``afterShellExecution``
(the heaviest Cursor event: it counts the call's occurrence in its per-conversation state file).

    python bench/hook.py --runs 200 [--cursor]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench._harness import REPO, percentile, private_pipeline_home
from blueplane_capture.installers import claude_code

PAYLOAD = REPO / "tests/fixtures/real/claude_code_live/hooks/B_tools/09_PostToolUse.json"
TARGET_MEDIAN_MS, TARGET_P95_MS = 15.0, 25.0


def time_runs(
    command: list[str], stdin: bytes, env: dict[str, str], runs: int, answer: bytes = b""
) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, input=stdin, stdout=subprocess.PIPE, env=env, check=False)
        times.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0 or done.stdout.strip() != answer:
            raise SystemExit(f"hook broke its contract: exit {done.returncode}, {done.stdout!r}")
    return times


def report(label: str, times: list[float]) -> None:
    median, p95 = statistics.median(times), percentile(times, 0.95)
    verdict = "ok" if median <= TARGET_MEDIAN_MS and p95 <= TARGET_P95_MS else "OVER TARGET"
    print(
        f"{label:<22} runs={len(times):<5} median={median:6.2f} ms  P95={p95:6.2f} ms  "
        f"(target <= {TARGET_MEDIAN_MS:g} / {TARGET_P95_MS:g} ms) {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="fires per case (default 30)")
    parser.add_argument("--cursor", action="store_true", help="also time the Cursor hook")
    args = parser.parse_args()
    command = [claude_code.interpreter(), "-I", "-S", str(claude_code.hook_script())]
    stdin = PAYLOAD.read_bytes()
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLUEPLANE_")}
    baseline = time_runs([command[0], "-I", "-S", "-c", "pass"], b"", base, args.runs)
    report("interpreter only", baseline)
    with private_pipeline_home() as (home, url):
        env = dict(base, BLUEPLANE_HOME=str(home), BLUEPLANE_REDIS_URL=url)
        time_runs(command, stdin, env, 3)  # warm caches and the secret key
        report("Redis up (unix socket)", time_runs(command, stdin, env, args.runs))
        down = dict(env, BLUEPLANE_REDIS_URL=f"unix://{home}/run/absent.sock")
        report("Redis down (spools)", time_runs(command, stdin, down, args.runs))
        spooled = len(list((home / "spool").glob("*.json")))
        print(f"spooled files: {spooled} (one per distinct event id)")
        if args.cursor:
            cursor = [command[0], "-I", "-S", str(REPO / "blueplane_capture/hooks/cursor.py")]
            cursor.append("afterShellExecution")
            shell = orjson.dumps(
                {
                    "hook_event_name": "afterShellExecution",
                    "conversation_id": "bench-conversation",
                    "generation_id": "bench-generation",
                    "workspace_roots": ["/tmp/bench-project"],
                    "command": "npm test",
                    "output": "ok",
                    "duration": 1200,
                }
            )
            # interleaved with the bare interpreter, so both see the same load on a busy machine
            pairs = [
                (
                    time_runs(cursor, shell, env, 1, b"{}")[0],
                    time_runs([command[0], "-I", "-S", "-c", "pass"], b"", base, 1)[0],
                )
                for _ in range(args.runs)
            ]
            report("Cursor shell, Redis up", [hook for hook, _ in pairs])
            ratio = statistics.median(hook / bare for hook, bare in pairs)
            print(f"Cursor shell / interpreter-only, paired runs: median ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
