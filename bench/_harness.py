"""Shared bench plumbing: a private redis-server and a throwaway BLUEPLANE_HOME.

Benchmarks never touch the user's data or the machine's Redis.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parent.parent


def start_redis_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of the bench's own on a unix socket in ``folder``; (process, url) once it
    answers PING."""
    socket_path = folder / "redis.sock"
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{socket_path}"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()
    return proc, url


@contextmanager
def private_pipeline_home() -> Iterator[tuple[Path, str]]:
    """(BLUEPLANE_HOME, redis url) for a fresh home with its own redis-server on a unix socket."""
    home = Path(tempfile.mkdtemp(prefix="bp-bench-"))
    (home / "run").mkdir(mode=0o700)
    proc, url = start_redis_server(home / "run")
    old = {k: os.environ.get(k) for k in ("BLUEPLANE_HOME", "BLUEPLANE_REDIS_URL")}
    os.environ["BLUEPLANE_HOME"] = str(home)
    os.environ["BLUEPLANE_REDIS_URL"] = url
    try:
        yield home, url
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(home, ignore_errors=True)


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU a live process has used so far, in seconds (with ``reaped_children``,
    also that of the children it has waited for); 0.0 once the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = (11, 12, 13, 14) if reaped_children else (11, 12)  # utime stime cutime cstime
    return sum(int(fields[i]) for i in used) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank ``p`` quantile (0 < p <= 1) of ``values``; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]
