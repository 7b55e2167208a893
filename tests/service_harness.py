"""The query service as a real process on a free loopback port, and clients for it."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.conftest import PYTHON, python_env
from tests.helpers import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.base

    def request(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True)
            conn.putheader("Host", host or f"127.0.0.1:{self.port}")
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            headers_ = {k.lower(): v for k, v in response.getheaders()}
            return response.status, headers_, response.read()
        finally:
            conn.close()

    def get(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status, body[:500])
        return json.loads(body)

    def ws(self, path: str, origin: str | None = None) -> Any:
        from websockets.sync.client import connect

        return connect(
            f"ws://127.0.0.1:{self.port}{path}",
            origin=origin or self.origin,  # type: ignore[arg-type]
            open_timeout=10,
        )


@contextmanager
def running_service(extra_env: dict[str, str] | None = None) -> Iterator[Service]:
    """``python -m blueplane_query.service`` on a free port, with the test's settings."""
    port = free_port()
    env = python_env({"BLUEPLANE_QUERY_PORT": str(port), **(extra_env or {})})
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed after the process, below)
    proc = subprocess.Popen(
        [PYTHON, "-m", "blueplane_query.service"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    service = Service(port, proc)

    def listening() -> bool:
        if proc.poll() is not None:
            log.seek(0)
            raise AssertionError(f"the service exited: {log.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        wait_for(listening, 30, what="the query service to listen")
        yield service
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
