"""bp-hook wall time as Claude Code sees it: process start to exit, Redis up and Redis down.

Runs the exact command the installer writes (``<python> -I -S .../hooks/launch_claude_code.py``)
with a real PostToolUse payload on stdin, its tool_use_id new in each fire. Targets
(architecture contract): median <= 15 ms, P95 <= 25 ms, in both cases, and a median within
1.25x of ``python -I -S -c pass`` measured in the same run. The bare interpreter and the hook
fire in alternation, so a machine busy in one part of the run weighs on both sides of the ratio
alike. ``--cursor`` also times bp-cursor-hook on ``afterShellExecution`` (the heaviest Cursor
event: it counts the call's occurrence in its per-conversation state file).

    python bench/hook.py --runs 200 [--cursor]
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench._harness import REPO, percentile, private_pipeline_home
from blueplane_capture.installers import claude_code
from blueplane_capture.installers import cursor as cursor_installer

PAYLOAD = REPO / "tests/fixtures/real/claude_code_live/hooks/B_tools/09_PostToolUse.json"
TARGET_MEDIAN_MS, TARGET_P95_MS = 15.0, 25.0
TARGET_RATIO = 1.25


#: CPU time (user + system) of each run, per command, in ms: steadier than wall time on a
#: shared machine, where the wall time also holds the waits for a core
CPU_MS: dict[str, list[float]] = {}
#: minor page faults of each run, per command: memory a fire touches beyond the interpreter's
#: (each costs kernel time; a shared library loaded, a module unmarshalled)
FAULTS: dict[str, list[int]] = {}


def fire(command: list[str], stdin: bytes, env: dict[str, str], answer: bytes = b"") -> float:
    """One run's wall time in ms (the hook's contract checked: exit 0, ``answer`` on stdout);
    its CPU time goes to :data:`CPU_MS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, input=stdin, stdout=subprocess.PIPE, env=env, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    CPU_MS.setdefault(" ".join(command), []).append(cpu * 1000)
    FAULTS.setdefault(" ".join(command), []).append(after.ru_minflt - before.ru_minflt)
    if done.returncode != 0 or done.stdout.strip() != answer:
        raise SystemExit(f"hook broke its contract: exit {done.returncode}, {done.stdout!r}")
    return elapsed


def time_pairs(
    baseline: list[str],
    command: list[str],
    stdins: list[bytes],
    env: dict[str, str],
    runs: int,
    answer: bytes = b"",
) -> tuple[list[float], list[float]]:
    """(interpreter times, hook times), the two run in alternation; the hook's n-th fire reads
    ``stdins[n]`` (cycled)."""
    bare, hook = [], []
    for n in range(runs):
        bare.append(fire(baseline, b"", env))
        hook.append(fire(command, stdins[n % len(stdins)], env, answer))
    return bare, hook


def report(
    label: str, times: list[float], bare: list[float], command: list[str], baseline: list[str]
) -> None:
    median, p95 = statistics.median(times), percentile(times, 0.95)
    ratio = median / statistics.median(bare)
    cpu, cpu_bare = (CPU_MS.pop(" ".join(c)) for c in (command, baseline))
    cpu_ratio = statistics.mean(cpu) / statistics.mean(cpu_bare)
    faults, faults_bare = (statistics.mean(FAULTS.pop(" ".join(c))) for c in (command, baseline))
    ok = median <= TARGET_MEDIAN_MS and p95 <= TARGET_P95_MS and ratio <= TARGET_RATIO
    print(
        f"{label:<22} runs={len(times):<5} median={median:6.2f} ms  P95={p95:6.2f} ms  "
        f"{ratio:4.2f}x the interpreter's {statistics.median(bare):5.2f} ms  (target <= "
        f"{TARGET_MEDIAN_MS:g} / {TARGET_P95_MS:g} ms, <= {TARGET_RATIO:g}x) "
        f"{'ok' if ok else 'OVER TARGET'}; CPU {statistics.mean(cpu):5.2f} ms = {cpu_ratio:4.2f}x, "
        f"page faults +{faults - faults_bare:.0f} (load {os.getloadavg()[0]:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="fires per case (default 30)")
    parser.add_argument("--cursor", action="store_true", help="also time the Cursor hook")
    args = parser.parse_args()
    command = [claude_code.interpreter(), "-I", "-S", str(claude_code.hook_script())]
    # One tool call per fire, as in a session: a replayed tool_use_id is a replayed event id,
    # and each spooling fire would then replace the previous fire's spool file (a rename over
    # an existing file frees an inode: 0.1-0.5 ms that no real fire pays).
    payload = orjson.loads(PAYLOAD.read_bytes())
    stdins = [
        orjson.dumps(dict(payload, tool_use_id=f"toolu_bench{n:012d}")) for n in range(args.runs)
    ]
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLUEPLANE_")}
    bare = [command[0], "-I", "-S", "-c", "pass"]
    with private_pipeline_home() as (home, url):
        env = dict(base, BLUEPLANE_HOME=str(home), BLUEPLANE_REDIS_URL=url)
        time_pairs(bare, command, stdins, env, 3)  # warm caches, .pyc files and the secret key
        CPU_MS.clear()
        FAULTS.clear()
        bare_up, hook_up = time_pairs(bare, command, stdins, env, args.runs)
        report("Redis up (unix socket)", hook_up, bare_up, command, bare)
        down = dict(env, BLUEPLANE_REDIS_URL=f"unix://{home}/run/absent.sock")
        bare_down, hook_down = time_pairs(bare, command, stdins, down, args.runs)
        report("Redis down (spools)", hook_down, bare_down, command, bare)
        spooled = len(list((home / "spool").glob("*.json")))
        print(f"spooled files: {spooled} (one per distinct event id)")
        if args.cursor:
            cursor = shlex.split(cursor_installer.command("afterShellExecution", command[0]))
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
            bare_cursor, times = time_pairs(bare, cursor, [shell], env, args.runs, b"{}")
            report("Cursor shell, Redis up", times, bare_cursor, cursor, bare)


if __name__ == "__main__":
    main()
