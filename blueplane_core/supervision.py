"""What supervisord says about each program, read over its unix socket with the standard
library only (``bp-query status`` must not import the ``supervisor`` package, nor the admin CLI).

Both status commands judge health from these states together with the heartbeats: a program
supervisord gave up on (FATAL), that is restarting (BACKOFF) or exited, is named with the reason
and the last error line of its own log.
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from pathlib import Path
from typing import Any

from blueplane_core import paths

#: program states that are not a healthy steady state.
BAD_STATES = {"FATAL", "BACKOFF", "EXITED", "STOPPED", "UNKNOWN"}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__()
        self._path = socket_path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = _UnixConnection(self._path, self._timeout)
        self._connection = host, connection  # what close() closes
        return connection


def programs(socket_path: Path | None = None, timeout: float = 2.0) -> list[dict[str, Any]] | None:
    """supervisord's ``getAllProcessInfo`` (name, group, statename, pid, description, exitstatus,
    start, now, stdout_logfile, spawnerr), or None when no supervisord answers."""
    path = socket_path or paths.supervisor_socket()
    if not path.exists():
        return None
    transport = _UnixTransport(str(path), timeout)
    try:
        with xmlrpc.client.ServerProxy("http://localhost", transport=transport) as proxy:
            return list(proxy.supervisor.getAllProcessInfo())  # type: ignore[arg-type]
    except (OSError, xmlrpc.client.Error):
        return None
    finally:
        transport.close()  # also when the call failed half-way


def last_problem_line(log_file: str | Path, max_bytes: int = 16384) -> str:
    """The last ERROR (else WARNING) line of a program's own log, without its timestamp; our
    log lines carry no payload or paths, so this is safe to show."""
    try:
        with open(log_file, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            tail = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for level in (" ERROR ", " CRITICAL ", " WARNING "):
        for line in reversed(tail):
            if level in line:
                return line.split(level, 1)[1].strip()[:200]
    for line in reversed(tail):  # e.g. an uncaught exception's last line
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()[:200]
    return ""


#: programs that cannot write a heartbeat because they never write to Redis (the read-only
#: query service): their sign of life is that they accept connections on their configured
#: address (config keys of host and port).
LISTENERS: dict[str, tuple[str, str]] = {"query": ("query.host", "query.port")}


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at ``host:port`` (a local check, no request)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
