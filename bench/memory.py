"""Memory of an idle pipeline: RSS and PSS of every process ``blueplane up`` starts, and the total.

Starts the whole pipeline (supervisord, the embedded redis, ingesters, workers, maintenance,
capture processes) in a throwaway BLUEPLANE_HOME with empty capture folders, waits until every
process beats and has gone idle, then reads ``/proc/<pid>/smaps_rollup`` of supervisord and each
of its children. PSS shares pages fairly between the processes that map them (one copy of the
interpreter and of each shared library is split among all), so the PSS total is what the
pipeline costs the machine; RSS counts shared pages once per process. Target (issue 14): PSS
total <= 150 MB. Linux only.

Reference, measured in the same run: an idle ``python -c`` of the same interpreter (site and the
package's path set up, nothing imported) beside the pipeline, so sharing the same pages: the
floor every Python process of the pipeline pays before importing anything.

    python bench/memory.py [--settle 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import REPO

TARGET_PSS_MB = 150.0


def rollup(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a live process in MB, from smaps_rollup."""
    values = {"Rss:": 0.0, "Pss:": 0.0}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in values:
            values[parts[0]] = int(parts[1]) / 1024
    return values["Rss:"], values["Pss:"]


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += tree(int(child))
    return found


def name_of(pid: int) -> str:
    """supervisord's name for the process (``ingest-0``), else its program's name."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for item in environ:
        if item.startswith(b"SUPERVISOR_PROCESS_NAME="):
            return item.split(b"=", 1)[1].decode()
    words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if b"redis-server" in words[0]:  # it rewrites its argv and environ (its process title)
        return "redis"
    return Path(words[0].decode()).name if words and words[0] else str(pid)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def blueplane(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "blueplane"
    return subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds every process must stay idle first"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bp-bench-memory-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLUEPLANE_")}
    for name in ("claude", "cursor"):
        (home / f"empty-{name}").mkdir()
        env[f"BLUEPLANE_CAPTURE_{name.upper()}_DIRS"] = str(home / f"empty-{name}")
    env.update(
        BLUEPLANE_HOME=str(home),
        BLUEPLANE_CAPTURE_OTLP_PORT=str(_free_port()),
        BLUEPLANE_QUERY_PORT=str(_free_port()),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    up = blueplane(env, "up")
    if up.returncode != 0:
        raise SystemExit(f"blueplane up failed: {up.stdout}{up.stderr}")
    floor = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, env=env
    )
    try:
        pid = int((home / "run" / "supervisord.pid").read_text())
        # Idle = every process started and its RSS unchanged (within 1%) for --settle seconds.
        deadline = time.monotonic() + 120
        previous: dict[int, float] = {}
        stable_since = time.monotonic()
        while True:
            now_rss = {p: rollup(p)[0] for p in tree(pid)}
            grew = any(abs(rss - previous.get(p, 0)) > rss * 0.01 for p, rss in now_rss.items())
            if grew or set(now_rss) != set(previous):
                stable_since = time.monotonic()
            previous = now_rss
            if time.monotonic() - stable_since >= args.settle and len(now_rss) > 1:
                break
            if time.monotonic() > deadline:
                raise SystemExit("the pipeline never went idle")
            time.sleep(0.5)
        rows = []
        for proc in tree(pid):
            rss, pss = rollup(proc)
            rows.append(("supervisord" if proc == pid else name_of(proc), proc, rss, pss))
        print(f"load average {os.getloadavg()[0]:.2f}, {len(rows)} processes")
        print(f"{'process':<36} {'pid':>7} {'RSS MB':>8} {'PSS MB':>8}")
        for name, proc, rss, pss in sorted(rows, key=lambda r: -r[3]):
            print(f"{name:<36} {proc:>7} {rss:8.1f} {pss:8.1f}")
        total_rss = sum(r[2] for r in rows)
        total_pss = sum(r[3] for r in rows)
        verdict = "ok" if total_pss <= TARGET_PSS_MB else "OVER TARGET"
        print(
            f"{'total':<36} {'':>7} {total_rss:8.1f} {total_pss:8.1f}  "
            f"(target PSS <= {TARGET_PSS_MB:g} MB) {verdict}"
        )
        floor_rss, floor_pss = rollup(floor.pid)
        pythons = sum(1 for r in rows if r[0] != "redis")
        print(
            f"{'reference: idle python -c':<36} {floor.pid:>7} {floor_rss:8.1f} {floor_pss:8.1f}  "
            f"(x {pythons} Python processes = {floor_pss * pythons:.1f} MB PSS of interpreters)"
        )
    finally:
        floor.kill()
        floor.wait()
        blueplane(env, "down")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
