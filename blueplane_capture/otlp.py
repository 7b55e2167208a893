"""capture-otlp: an OTLP/HTTP receiver (``/v1/logs``, ``/v1/metrics``) on 127.0.0.1:4318.

Claude Code exports its own metrics and log events over OTLP when told to (see
``installers/otel.py``). This process turns them into envelopes (``otlp_mapping.py``) and XADDs
them through ``emit``.

Delivery: a request is answered 200 only after its events are on the bus (the XADD pipeline
returned), so an acknowledged export is never lost. If Redis cannot take them the answer is 503
with ``Retry-After``, which OTLP exporters retry; the retried export maps to the same derived event
ids, so anything that did get through the first time is stored once. A body that is not an OTLP
request gets 400 with the reason and touches nothing else. ``/v1/traces`` is accepted and dropped
(spans repeat what the log events say).

Bodies: ``application/json`` or ``application/x-protobuf``, optionally gzip, with a
Content-Length or ``Transfer-Encoding: chunked`` (Claude Code 2.1.197 sends chunked JSON).

HTTP is uvicorn (h11) with explicit bounds, so no client can make the receiver hold unbounded
memory or connections (issue 12): at most ``MAX_CONNECTIONS`` requests at once (more get 503
at once), at most ``MAX_HELD_BYTES`` of request bodies in memory across all of them (a request
that would pass it gets 503 and is retried by its exporter), headers within
``HEADER_TIMEOUT_S`` and a whole body within ``BODY_TIMEOUT_S`` (a client sending a byte every
few seconds is cut off), a wrong Content-Type or Content-Encoding answered 415 and an oversized
Content-Length 413 before any of the body is read. A client that hangs up is counted, not logged
with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from blueplane_capture import otlp_mapping as mapping
from blueplane_core import config, events, lifecycle, privacy, redis_conn
from blueplane_core.emit import Emitter

log = logging.getLogger("blueplane.capture.otlp")

PROCESS = "capture-otlp"
#: largest request body accepted, compressed and decompressed (OTLP batches are far smaller)
MAX_BODY_BYTES = 32 * 1024 * 1024
#: requests served at once; beyond it uvicorn answers 503 immediately (exporters retry).
MAX_CONNECTIONS = 32
#: request bodies (as received, and decompressed) held in memory across all requests.
MAX_HELD_BYTES = 64 * 1024 * 1024
#: a request's headers must arrive within this (slowloris), on a new or a kept-alive connection.
HEADER_TIMEOUT_S = 10.0
#: a request's whole body must arrive within this.
BODY_TIMEOUT_S = 30.0
#: an idle kept-alive connection is closed after this.
KEEP_ALIVE_S = 5
#: the thread that maps and XADDs (Redis calls block; the event loop must not). One: the bus
#: client (``resp.Client``) is not thread-safe, and mapping holds the GIL anyway.
EMIT_THREADS = 1
ACCEPTED_TYPES = ("application/json", "application/x-protobuf")
_PATHS = {"/v1/logs": mapping.LOGS, "/v1/metrics": mapping.METRICS, "/v1/traces": mapping.TRACES}


class BodyError(Exception):
    """The request body could not be read; carries the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    retry_after: int | None = None


class Counters:
    """What the receiver did, for logs and the heartbeat."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.events = 0
        self.rejected = 0  # 4xx
        self.unavailable = 0  # 503s: Redis could not take the events
        self.busy = 0  # 503s: the memory bound across requests was reached
        self.timeouts = 0  # 408s: a body too slow
        self.hangups = 0  # clients that went away mid-request
        self.skipped = 0  # records that could not be mapped

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def summary(self) -> str:
        return (
            f"requests={self.requests} events={self.events} rejected={self.rejected} "
            f"unavailable={self.unavailable} busy={self.busy} timeouts={self.timeouts} "
            f"hangups={self.hangups} skipped={self.skipped}"
        )


class Receiver:
    """Maps an export request to events and hands them to Redis; no HTTP in here."""

    def __init__(self, emitter: Emitter, state: mapping.CumulativeState | None = None) -> None:
        self.emitter = emitter
        self.state = state or mapping.CumulativeState()
        self.counters = Counters()

    def handle(self, path: str, content_type: str, body: bytes) -> Reply:
        """The reply to one POST of an (already decompressed) body."""
        signal = _PATHS.get(path.split("?", 1)[0])
        self.counters.add(requests=1)
        if signal is None:
            return _error_reply(404, f"unknown path {path!r} (use /v1/logs or /v1/metrics)")
        try:
            request = mapping.decode(signal, body, content_type)
        except mapping.MalformedBody as exc:
            self.counters.add(rejected=1)
            # the reason goes back to the client; the log gets no text the client chose
            log.warning("400 on %s: malformed body", signal)
            return _error_reply(400, str(exc))
        try:
            if signal == mapping.LOGS:
                self._deliver(mapping.log_events(request))
            elif signal == mapping.METRICS:
                with self.state.lock:
                    mapped = mapping.metric_events(request, self.state)
                    self._deliver(mapped)
                    self.state.commit(mapped.state_updates)
        except redis_conn.errors() as exc:
            self.counters.add(unavailable=1)
            log.warning("503 on %s: Redis unavailable (%s)", path, exc)
            return _error_reply(503, "event bus unavailable, retry later", retry_after=2)
        return _ok_reply(content_type)

    def _deliver(self, mapped: mapping.Mapped) -> None:
        good = []
        for event in mapped.events:
            try:
                self.emitter.check(event)
            except (events.InvalidEvent, privacy.PrivacyViolation) as exc:
                mapped.skipped += 1
                log.error(
                    "dropped an event that failed its own checks (%s): %s",
                    event.get("hook_type"),
                    exc,
                )
                continue
            good.append(event)
        sent = self.emitter.emit_many(good) if good else 0
        self.counters.add(events=sent, skipped=mapped.skipped)


def _ok_reply(content_type: str) -> Reply:
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        return Reply(200, "application/json", b"{}")
    return Reply(200, "application/x-protobuf", b"")  # an empty Export*ServiceResponse


def _error_reply(status: int, reason: str, retry_after: int | None = None) -> Reply:
    # google.rpc.Status in its JSON form: what OTLP/HTTP clients log as the reason
    code = {400: 3, 404: 5, 408: 4, 411: 3, 413: 8, 415: 3, 503: 14}.get(status, 2)
    body = orjson.dumps({"code": code, "message": reason})
    return Reply(status, "application/json", body, retry_after)


# --------------------------------------------------------------------------------------------
# HTTP


def _inflate(raw: bytes, gzip_wrapper: bool) -> bytes:
    inflater = zlib.decompressobj(wbits=31 if gzip_wrapper else 15)
    try:
        out = inflater.decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        kind = "gzip" if gzip_wrapper else "deflate"
        raise BodyError(400, f"body is not valid {kind}: {exc}") from None
    if len(out) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise BodyError(413, f"decompressed body over {MAX_BODY_BYTES} bytes")
    if not inflater.eof:
        raise BodyError(400, "compressed body is truncated")
    return out


class MemoryBudget:
    """Bytes of request bodies held across all requests (touched only on the event loop)."""

    def __init__(self, limit: int = MAX_HELD_BYTES) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0

    def take(self, amount: int) -> bool:
        if self.held + amount > self.limit:
            return False
        self.held += amount
        self.peak = max(self.peak, self.held)
        return True

    def give(self, amount: int) -> None:
        self.held -= amount


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Refused(Exception):
    """Answer now with this reply; ``close``: the body was not read to its end."""

    def __init__(self, reply: Reply, close: bool = True) -> None:
        super().__init__(reply.status)
        self.reply = reply
        self.close = close


class OtlpApp:
    """The ASGI application: checks what it can before reading, reads the body within its
    bounds, then maps and XADDs on a worker thread."""

    def __init__(
        self,
        receiver: Receiver,
        budget: MemoryBudget | None = None,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        self.receiver = receiver
        self.budget = budget or MemoryBudget()
        self.body_timeout_s = body_timeout_s
        self.executor = ThreadPoolExecutor(EMIT_THREADS, thread_name_prefix="otlp-emit")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        counters = self.receiver.counters
        reserved = [0]
        try:
            reply = await self._answer(scope, receive, reserved)
            close = False
        except _Refused as refused:
            reply, close = refused.reply, refused.close
            if reply.status == 503:
                counters.add(busy=1)
            elif reply.status == 408:
                counters.add(timeouts=1)
            else:
                counters.add(rejected=1)
            log.warning("%d refused (%s)", reply.status, _known_path(scope.get("path")))
        except _HungUp:
            counters.add(hangups=1)
            return
        except Exception as exc:  # a bug must cost one request, never the process or a traceback
            log.error("500 on %s: %s", _known_path(scope.get("path")), type(exc).__name__)
            reply, close = _error_reply(500, "internal error"), True
        finally:
            self.budget.give(reserved[0])
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
        ]
        if reply.retry_after is not None:
            headers.append((b"retry-after", str(reply.retry_after).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _answer(self, scope: dict[str, Any], receive: Receive, reserved: list[int]) -> Reply:
        if scope["method"] != "POST":
            raise _Refused(
                _error_reply(405, "POST OTLP export requests to /v1/logs or /v1/metrics")
            )
        path = scope["path"]
        if path.split("?", 1)[0] not in _PATHS:
            self.receiver.counters.add(requests=1)
            raise _Refused(
                _error_reply(404, f"unknown path {path!r} (use /v1/logs or /v1/metrics)")
            )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get("content-type", "application/json")
        if content_type.split(";", 1)[0].strip().lower() not in ACCEPTED_TYPES:
            raise _Refused(
                _error_reply(
                    415, f"unsupported Content-Type {content_type[:80]!r} (use JSON or protobuf)"
                )
            )
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "deflate"):
            raise _Refused(_error_reply(415, f"unsupported Content-Encoding {encoding[:40]!r}"))
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not chunked:
            length_header = headers.get("content-length")
            if length_header is None:
                raise _Refused(
                    _error_reply(411, "Content-Length or Transfer-Encoding: chunked required")
                )
            try:
                length = int(length_header)
            except ValueError:
                raise _Refused(
                    _error_reply(400, f"bad Content-Length {length_header[:20]!r}")
                ) from None
            if length < 0 or length > MAX_BODY_BYTES:
                raise _Refused(
                    _error_reply(413, f"body of {length} bytes is over {MAX_BODY_BYTES}")
                )
        raw = await self._read_body(receive, reserved)
        if encoding in ("gzip", "deflate"):
            loop = asyncio.get_running_loop()
            try:
                body = await loop.run_in_executor(self.executor, _inflate, raw, encoding == "gzip")
            except BodyError as exc:
                raise _Refused(_error_reply(exc.status, exc.reason), close=False) from None
            if not self.budget.take(len(body)):
                raise _Refused(_busy(), close=False)
            reserved[0] += len(body)
        else:
            body = raw
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self.receiver.handle, path, content_type, body
        )

    async def _read_body(self, receive: Receive, reserved: list[int]) -> bytes:
        """The whole body, within MAX_BODY_BYTES, the memory budget and BODY_TIMEOUT_S."""
        parts: list[bytes] = []
        total = 0
        deadline = time.monotonic() + self.body_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Refused(
                    _error_reply(408, f"body not received within {self.body_timeout_s:.0f}s")
                )
            try:
                message = await asyncio.wait_for(receive(), left)
            except TimeoutError:
                raise _Refused(
                    _error_reply(408, f"body not received within {self.body_timeout_s:.0f}s")
                ) from None
            if message["type"] == "http.disconnect":
                raise _HungUp
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                raise _Refused(_error_reply(413, f"body over {MAX_BODY_BYTES} bytes"))
            if chunk:
                if not self.budget.take(len(chunk)):
                    raise _Refused(_busy())
                reserved[0] += len(chunk)
                parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)


class _HungUp(Exception):
    """The client closed the connection before its request was answered."""


def _busy() -> Reply:
    return _error_reply(503, "receiver busy (too many request bytes in flight), retry later", 1)


def _known_path(path: object) -> str:
    """A request path fit for the log: one of the receiver's own, else "another path" (a
    client's path is text it chose)."""
    text = path.split("?", 1)[0] if isinstance(path, str) else ""
    return text if text in _PATHS else "another path"


def _protocol_class(header_timeout_s: float = HEADER_TIMEOUT_S) -> type:
    """uvicorn's h11 protocol with a deadline for each request's headers (uvicorn has none: a
    client sending a header byte every few seconds would hold its connection for ever)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadline(H11Protocol):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            raw = transport.get_extra_info("socket")
            if raw is not None:  # response head and body are two writes: no 40 ms Nagle stall
                try:
                    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
            self._arm_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_deadline()  # the next request on this connection too

        def _arm_header_deadline(self) -> None:
            self.loop.call_later(header_timeout_s, self._headers_late, self.cycle)

        def _headers_late(self, cycle: Any) -> None:
            no_new_request = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if no_new_request and not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadline


def bind(address: tuple[str, int]) -> socket.socket:
    """The listening socket (raises OSError when the port is taken)."""
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class OtlpServer:
    """The receiver on uvicorn, on its own thread (tests and main() both use this)."""

    def __init__(
        self,
        address: tuple[str, int],
        receiver: Receiver,
        *,
        max_connections: int = MAX_CONNECTIONS,
        budget: MemoryBudget | None = None,
        body_timeout_s: float = BODY_TIMEOUT_S,
        header_timeout_s: float = HEADER_TIMEOUT_S,
    ) -> None:
        from blueplane_core import http_server

        config_type, server_type = http_server.uvicorn_classes()  # before any uvicorn import
        self.receiver = receiver
        self.socket = bind(address)
        self.server_address = self.socket.getsockname()[:2]
        self.app = OtlpApp(receiver, budget, body_timeout_s)
        config = config_type(
            self.app,
            http=_protocol_class(header_timeout_s),
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            limit_concurrency=max_connections + 1,  # uvicorn counts the asking connection too
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=5,
            h11_max_incomplete_event_size=16 * 1024,  # headers of a request: 16 KB at most
            server_header=False,
            date_header=False,
        )
        self.uvicorn = server_type(config)
        self.thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def shutdown(self) -> None:
        """Stop accepting, let requests in flight finish (they hold events), then return."""
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(30)

    def server_close(self) -> None:
        self.socket.close()
        self.app.executor.shutdown(wait=True)


def serve(server: OtlpServer, timeout: float = 20.0) -> threading.Thread:
    """Run the server on a background thread; returns once it accepts requests."""
    thread = threading.Thread(target=server.serve_forever, name="otlp-http", daemon=True)
    server.thread = thread
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.uvicorn.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the OTLP receiver did not start")
        time.sleep(0.01)
    return thread


def main() -> int:
    cfg = config.load_or_exit(PROCESS)
    lifecycle.setup_logging(PROCESS)
    shutdown = lifecycle.Shutdown().install()
    client = redis_conn.small_client(cfg)
    emitter = Emitter(client, cfg["privacy.disabled_categories"])
    host, port = cfg["capture.otlp_host"], cfg["capture.otlp_port"]
    try:
        server = OtlpServer((host, port), Receiver(emitter))
    except OSError as exc:
        log.error(
            "cannot listen on %s:%d (%s): port %d is taken or not allowed; choose another with "
            "the config key capture.otlp_port (BLUEPLANE_CAPTURE_OTLP_PORT)",
            host,
            port,
            exc.strerror or exc,
            port,
        )
        return config.EXIT_CONFIG
    serve(server)
    log.info("listening on http://%s:%d (/v1/logs, /v1/metrics)", host, port)
    # its own connection: the emitting thread owns the first one (a client is not thread-safe)
    heartbeat = lifecycle.Heartbeat(redis_conn.small_client(cfg), PROCESS)
    while not shutdown.wait(1.0):
        heartbeat.beat(server.receiver.counters.summary())
        if server.thread is not None and not server.thread.is_alive():
            log.error("the HTTP server stopped unexpectedly")
            return lifecycle.EXIT_CRASH
    log.info("stopping: %s", server.receiver.counters.summary())
    server.shutdown()  # waits for requests in flight
    server.server_close()
    heartbeat.clear()
    return lifecycle.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
