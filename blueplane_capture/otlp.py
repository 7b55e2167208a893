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
"""

from __future__ import annotations

import logging
import sys
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import redis

from blueplane_capture import otlp_mapping as mapping
from blueplane_core import config, events, lifecycle, privacy, redis_conn
from blueplane_core.emit import Emitter

log = logging.getLogger("blueplane.capture.otlp")

PROCESS = "capture-otlp"
#: largest request body accepted, compressed and decompressed (OTLP batches are far smaller)
MAX_BODY_BYTES = 32 * 1024 * 1024
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
        self.rejected = 0  # 400s
        self.unavailable = 0  # 503s
        self.skipped = 0  # records that could not be mapped

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def summary(self) -> str:
        return (
            f"requests={self.requests} events={self.events} rejected={self.rejected} "
            f"unavailable={self.unavailable} skipped={self.skipped}"
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
            log.warning("400 on %s: %s", path, exc)
            return _error_reply(400, str(exc))
        try:
            if signal == mapping.LOGS:
                self._deliver(mapping.log_events(request))
            elif signal == mapping.METRICS:
                with self.state.lock:
                    mapped = mapping.metric_events(request, self.state)
                    self._deliver(mapped)
                    self.state.commit(mapped.state_updates)
        except redis.RedisError as exc:
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
    code = {400: 3, 404: 5, 413: 8, 415: 3, 503: 14}.get(status, 2)
    body = orjson.dumps({"code": code, "message": reason})
    return Reply(status, "application/json", body, retry_after)


# --------------------------------------------------------------------------------------------
# HTTP


def read_body(rfile: Any, headers: Any) -> bytes:
    """The raw body: chunked or Content-Length, bounded, then gunzipped if it says gzip."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        raw = _read_chunked(rfile)
    else:
        length_header = headers.get("Content-Length")
        if length_header is None:
            raise BodyError(411, "Content-Length or Transfer-Encoding: chunked required")
        try:
            length = int(length_header)
        except ValueError:
            raise BodyError(400, f"bad Content-Length {length_header!r}") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise BodyError(413, f"body of {length} bytes is over {MAX_BODY_BYTES}")
        raw = rfile.read(length)
        if len(raw) != length:
            raise BodyError(400, f"body ended after {len(raw)} of {length} bytes")
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "deflate"):
        return _inflate(raw, gzip_wrapper=encoding == "gzip")
    raise BodyError(415, f"unsupported Content-Encoding {encoding!r}")


def _read_chunked(rfile: Any) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1026)
        if not line.endswith(b"\n"):
            raise BodyError(400, "chunked body: truncated chunk size line")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyError(400, f"chunked body: bad chunk size {line[:20]!r}") from None
        if size == 0:
            while rfile.readline(1026) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise BodyError(413, f"chunked body over {MAX_BODY_BYTES} bytes")
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise BodyError(400, "chunked body: connection closed inside a chunk")
        parts.append(chunk)
        rfile.readline(3)  # the CRLF after the chunk


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


class _Handler(BaseHTTPRequestHandler):
    server: OtlpServer
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
    server_version = "blueplane-otlp"
    timeout = 5  # an idle keep-alive connection is closed, so shutdown never waits long
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:
        try:
            body = read_body(self.rfile, self.headers)
        except BodyError as exc:
            self.server.receiver.counters.add(rejected=1)
            log.warning("%d on %s: %s", exc.status, self.path, exc.reason)
            self._send(_error_reply(exc.status, exc.reason))
            self.close_connection = True
            return
        content_type = self.headers.get("Content-Type", "application/json")
        self._send(self.server.receiver.handle(self.path, content_type, body))

    def do_GET(self) -> None:
        self._send(_error_reply(405, "POST OTLP export requests to /v1/logs or /v1/metrics"))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.retry_after is not None:
            self.send_header("Retry-After", str(reply.retry_after))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class OtlpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that waits for in-flight requests on close (they hold events)."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)


def serve(server: OtlpServer) -> threading.Thread:
    """Run the server on a background thread (tests and main() both use this)."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="otlp-http", daemon=True
    )
    thread.start()
    return thread


def main() -> int:
    cfg = config.load_or_exit(PROCESS)
    lifecycle.setup_logging(PROCESS)
    shutdown = lifecycle.Shutdown().install()
    client = redis_conn.connect(cfg)
    emitter = Emitter(client, cfg["privacy.disabled_categories"])
    address = (cfg["capture.otlp_host"], cfg["capture.otlp_port"])
    try:
        server = OtlpServer(address, Receiver(emitter))
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s (set capture.otlp_port)", *address, exc)
        return config.EXIT_CONFIG
    serve(server)
    log.info("listening on http://%s:%d (/v1/logs, /v1/metrics)", *address)
    heartbeat = lifecycle.Heartbeat(client, PROCESS)
    while not shutdown.wait(1.0):
        heartbeat.beat(server.receiver.counters.summary())
    log.info("stopping: %s", server.receiver.counters.summary())
    server.shutdown()
    server.server_close()  # waits for requests in flight
    heartbeat.clear()
    return lifecycle.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
