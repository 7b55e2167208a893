"""Starting, stopping and asking supervisord about the ``blueplane`` group.

supervisord.conf expands a few environment variables; this module is the one place that sets
them from the configuration, so ``blueplane up``, ``blueplane ctl`` and the tests all start the
same process tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from blueplane_core import losses, paths, redis_conn, streams, supervision
from blueplane_core.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF = REPO_ROOT / "supervisord.conf"


class SupervisorError(RuntimeError):
    """supervisord could not be started or reached; the message says what to do."""


def environment(cfg: Config, *, capture: bool = True) -> dict[str, str]:
    """The environment supervisord.conf expands, derived from the configuration.

    ``capture=False`` (the demo's own pipeline) does not autostart the capture programs: they
    would read the user's real transcripts and Cursor databases into the demo, and the OTLP
    receiver would take the real pipeline's port."""
    redis_server = shutil.which("redis-server") or "redis-server"
    env = dict(os.environ)
    env.update(
        BLUEPLANE_HOME=str(paths.home()),
        BLUEPLANE_PYTHON=sys.executable,
        BLUEPLANE_REDIS_SERVER=redis_server,
        BLUEPLANE_EMBEDDED_REDIS="true" if cfg.embedded_redis else "false",
        BLUEPLANE_CAPTURE="true" if capture else "false",
        BLUEPLANE_INGEST_PROCESSES=str(cfg["ingest.processes"]),
        BLUEPLANE_WORKERS_METRICS_PROCESSES=str(cfg["workers.metrics_processes"]),
        BLUEPLANE_WORKERS_CONVERSATIONS_PROCESSES=str(cfg["workers.conversations_processes"]),
    )
    return env


def prepare_folders() -> None:
    """The data folder and its private subfolders (0700: only the user reaches the bus)."""
    for folder in (
        paths.home(),
        paths.run_dir(),
        paths.log_dir(),
        paths.redis_data_dir(),
        paths.spool_dir(),
        paths.state_dir(),
    ):
        paths.ensure_private_dir(folder)
    losses.prepare(str(paths.home()))  # while there is room: counting losses needs no new block


@contextmanager
def rpc() -> Iterator[Any]:
    """An XML-RPC proxy to the running supervisord over its unix socket (closed after use)."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{paths.supervisor_socket()}")
    try:
        yield xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    finally:
        transport.close()


def running() -> bool:
    """Whether a supervisord answers on this data folder's socket."""
    if not paths.supervisor_socket().exists():
        return False
    try:
        with rpc() as server:
            return bool(server.supervisor.getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
        return False


def ctl(
    cfg: Config, *args: str, check: bool = False, conf: Path = CONF
) -> subprocess.CompletedProcess[str]:
    """Run supervisorctl with this installation's environment."""
    return subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf), *args],
        env=environment(cfg),
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def start(cfg: Config, timeout: float = 30.0, conf: Path = CONF, *, capture: bool = True) -> None:
    """Start supervisord (if needed) and every program of the group; idempotent.

    ``capture=False``: only the pipeline (redis, ingest, maintenance, workers), for the demo."""
    prepare_folders()
    # With an external Redis the redis program is not autostarted (see environment()).
    if cfg.embedded_redis and shutil.which("redis-server") is None:
        raise SupervisorError(
            "redis-server is not installed: run bin/setup (or apt-get install redis-server)"
        )
    if running():
        ctl(cfg, "update", conf=conf)
        if capture:
            ctl(cfg, "start", "all", conf=conf)
        return
    result = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
        env=environment(cfg, capture=capture),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise SupervisorError(
            f"supervisord did not start: {result.stderr.strip() or result.stdout.strip()}"
        )
    deadline = time.monotonic() + timeout
    while not running():
        if time.monotonic() > deadline:
            raise SupervisorError(
                f"supervisord did not answer within {timeout:.0f}s; see {paths.log_dir()}"
            )
        time.sleep(0.1)


def stop(timeout: float = 60.0) -> bool:
    """Stop every program (each finishes its batch; Redis last, see supervisord.conf) and
    supervisord; False if none ran. Needs no configuration: it talks to the socket of this data
    folder, so a config file broken since ``up`` cannot keep the pipeline running."""
    if not running():
        return False
    pid_file = paths.run_dir() / "supervisord.pid"
    try:
        pid: int | None = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    try:
        with rpc() as server:
            server.supervisor.shutdown()
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError) as exc:
        raise SupervisorError(f"supervisord did not accept the shutdown: {exc}") from None
    deadline = time.monotonic() + timeout
    while pid is not None and _alive(pid):
        if time.monotonic() > deadline:
            raise SupervisorError(f"supervisord (pid {pid}) still running after {timeout:.0f}s")
        time.sleep(0.1)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def processes() -> list[dict[str, Any]]:
    """supervisord's view of every program: name, group, statename, pid, description."""
    return supervision.programs() or []


def wait_running(cfg: Config, timeout: float = 30.0) -> list[str]:
    """Wait until every program is RUNNING and has said so with a heartbeat from its pid
    (supervisord's RUNNING only means "alive for ``startsecs``", and a busy machine may still
    be importing then); returns one line per program that is not, with supervisord's reason and
    the last error line of its log (for example the OTLP port that is taken and the key that
    sets it). Empty: all are running."""
    deadline = time.monotonic() + timeout
    client = redis_conn.connect(cfg)
    while True:
        waiting: list[str] = []
        failed: list[str] = []
        beating = _heartbeat_pids(client)
        for info in processes():
            name, state = info["name"], info["statename"]
            if name == "redis" and not cfg.embedded_redis:
                continue
            if state == "RUNNING" and (name == "redis" or info["pid"] in beating):
                continue
            if state == "RUNNING" and name in supervision.LISTENERS:
                host_key, port_key = supervision.LISTENERS[name]
                if supervision.listening(str(cfg[host_key]), int(cfg[port_key])):
                    continue
            if state == "STOPPED" and info.get("description") == "Not started":
                continue  # not autostarted (the demo's pipeline runs no capture)
            said = str(info.get("spawnerr") or info.get("description") or "").strip()
            last = supervision.last_problem_line(info.get("stdout_logfile") or "")
            line = f"{name} is {state}" + (f" ({said})" if said else "")
            line += f": {last}" if last else ""
            (failed if state in {"FATAL", "EXITED"} else waiting).append(line)
        if failed or not waiting:
            client.close()
            return failed
        if time.monotonic() > deadline:
            client.close()
            return [line + " (no heartbeat yet)" for line in waiting]
        time.sleep(0.2)


def _heartbeat_pids(client: Any) -> set[int]:
    try:
        values = client.hvals(streams.HEARTBEATS_KEY)
    except redis_conn.errors():
        return set()
    pids = set()
    for value in values:
        head = value.split(b" ", 1)[0]
        if head.isdigit():
            pids.add(int(head))
    return pids
