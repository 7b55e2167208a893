"""The OTLP receiver's bounds (issue 12): no client can make it hold unbounded memory or
connections, a wrong type is refused before the body is read, a client that hangs up costs
nothing but a counter. Real sockets against the real server (uvicorn) on a free port."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
import redis

from blueplane_capture import otlp
from blueplane_capture import otlp_mapping as mapping
from blueplane_core.emit import Emitter
from tests.helpers import wait_for


class Served:
    def __init__(self, client: redis.Redis, **limits) -> None:
        self.receiver = otlp.Receiver(Emitter(client), mapping.CumulativeState())
        self.server = otlp.OtlpServer(("127.0.0.1", 0), self.receiver, **limits)
        self.port = self.server.server_address[1]
        otlp.serve(self.server)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve(redis_client: redis.Redis) -> Iterator:
    running: list[Served] = []

    def start(**limits) -> Served:
        running.append(Served(redis_client, **limits))
        return running[-1]

    yield start
    for served in running:
        served.close()


def head(path: str, length: int, content_type: str = "application/json") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def status_of(sock: socket.socket) -> int:
    """The status code of the answer on ``sock`` (reads until the status line is complete)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed without an answer: {data!r}")
        data += chunk
    return int(data.split(b" ", 2)[1])


def closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (reading what it sends)."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_wrong_type_is_415_before_the_body_is_read(serve, content_type: str) -> None:
    served = serve()
    with served.connect() as sock:
        sock.sendall(head("/v1/logs", 10_000_000, content_type))  # and never a body byte
        assert status_of(sock) == 415
    assert served.receiver.counters.rejected == 1


def test_oversized_length_is_413_before_the_body_is_read(serve) -> None:
    served = serve()
    with served.connect() as sock:
        sock.sendall(head("/v1/logs", otlp.MAX_BODY_BYTES + 1))
        assert status_of(sock) == 413


def test_headers_dripping_slowly_are_cut_off(serve) -> None:
    served = serve(header_timeout_s=1.0)
    with served.connect() as sock:
        start = time.monotonic()
        sock.sendall(b"POST /v1/logs HTTP/1.1\r\n")
        cut = False
        for _ in range(40):  # a header byte every 0.25 s would take 10 s to finish
            try:
                sock.sendall(b"X")
            except OSError:
                cut = True
                break
            if closed(sock, 0.25):
                cut = True
                break
        assert cut and time.monotonic() - start < 5


def test_a_body_dripping_slowly_gets_408(serve) -> None:
    served = serve(body_timeout_s=1.0)
    with served.connect() as sock:
        sock.sendall(head("/v1/logs", 100))
        sock.settimeout(0.25)
        answer = b""
        for _ in range(40):
            sock.sendall(b"{")
            try:
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            if b"\r\n" in answer:
                break
        assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
    assert served.receiver.counters.timeouts == 1


def test_bytes_held_across_connections_are_bounded(serve) -> None:
    budget = otlp.MemoryBudget(limit=1_000_000)
    served = serve(budget=budget)
    part = b" " * 600_000
    with served.connect() as first, served.connect() as second:
        first.sendall(head("/v1/logs", 900_000) + part)  # unfinished: 600 KB held
        wait_for(lambda: budget.held >= 600_000, 10, what="the first body held")
        second.sendall(head("/v1/logs", 900_000) + part)  # would pass 1 MB
        assert status_of(second) == 503
        assert budget.peak <= budget.limit
        first.sendall(b" " * 300_000)  # finished: whitespace is no OTLP request
        assert status_of(first) == 400
    wait_for(lambda: budget.held == 0, 10, what="every byte given back")
    assert served.receiver.counters.busy == 1


def test_connections_past_the_cap_get_503_at_once(serve) -> None:
    served = serve(max_connections=2)
    state = served.server.uvicorn.server_state
    with served.connect() as a, served.connect() as b:
        a.sendall(head("/v1/logs", 10) + b"{")  # both held, waiting for their bodies
        b.sendall(head("/v1/logs", 10) + b"{")
        wait_for(lambda: len(state.tasks) >= 2, 10, what="two requests in flight")
        with served.connect() as c:
            c.sendall(head("/v1/logs", 2) + b"{}")
            assert status_of(c) == 503


def test_a_client_hanging_up_is_counted_not_a_traceback(serve, caplog) -> None:
    served = serve()
    with caplog.at_level(logging.DEBUG):
        sock = served.connect()
        sock.sendall(head("/v1/logs", 1000) + b'{"resourceLogs": [')
        wait_for(lambda: served.server.uvicorn.server_state.tasks, 10, what="the request begun")
        sock.close()
        wait_for(lambda: served.receiver.counters.hangups == 1, 10, what="the hang-up counted")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_refusals_log_no_text_the_client_chose(serve, caplog) -> None:
    """A refused request's reason goes back to the client; the log names only the status and
    which of the receiver's paths it was, never the client's Content-Type, path or body."""
    served = serve()
    canary = "canary-7f3a9"
    with caplog.at_level(logging.DEBUG):
        with served.connect() as sock:
            sock.sendall(head("/v1/logs", 10, f"text/{canary}"))
            assert status_of(sock) == 415
        with served.connect() as sock:
            sock.sendall(head(f"/{canary}", 2) + b"{}")
            assert status_of(sock) == 404
        with served.connect() as sock:
            body = f'{{"resourceLogs": "{canary}"'.encode()
            sock.sendall(head("/v1/logs", len(body)) + body)
            assert status_of(sock) == 400
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused" in logged and "400" in logged  # the refusals were logged ...
    assert canary not in logged  # ... without the client's words
