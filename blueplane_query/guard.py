"""The local server's gate: what a request must look like before any route sees it.

A server on 127.0.0.1 is still reachable from every web page the user opens: a page can send
requests to ``http://127.0.0.1:7531`` directly, or rebind its own DNS name to 127.0.0.1. So:

* ``Host`` must be a loopback name with this server's port (``127.0.0.1``, ``localhost``,
  ``[::1]``, or the configured host when remote access is explicitly allowed): a rebound DNS
  name arrives with its own name as Host and is refused (403).
* A WebSocket upgrade must carry the dashboard's own ``Origin``; browsers always send one, so a
  page of another site cannot open the live feeds (refused before the handshake: 403).
* Only ``GET`` and ``HEAD``: nothing can write (405), and a request with a body is refused (413);
  the request target is bounded (414). No CORS headers are ever sent, so another origin's page
  cannot read an answer either.
* A Content-Security-Policy allowing only this origin: the dashboard cannot load or send
  anything elsewhere, even by mistake.

Connection counts are bounded by uvicorn (``limit_concurrency``) for HTTP and by the live hub
for WebSockets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Any  # starlette types scope as MutableMapping: any ASGI callable

#: the longest request target (path and query) accepted.
MAX_TARGET_BYTES = 2048
#: request bodies accepted at most: none (every endpoint is a GET).
MAX_BODY_BYTES = 0

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def allowed_hosts(port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host header values accepted: each loopback name (and ``extra``) with the port."""
    return frozenset(f"{name}:{port}".lower() for name in (*LOOPBACK_NAMES, *extra))


def allowed_origins(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(f"http://{host}" for host in hosts)


class Guard:
    """ASGI middleware applying the rules above to every HTTP request and WebSocket upgrade."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = allowed_origins(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", ()):
            headers.setdefault(name.lower(), value)
        host = headers.get(b"host", b"").decode("latin-1").lower()
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if kind == "websocket":
            origin = headers.get(b"origin", b"").decode("latin-1").lower()
            if host not in self.hosts or origin not in self.origins:
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if host not in self.hosts:
            await _refuse(send, 403, "this server answers only to its loopback address")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _refuse(send, 405, "read-only: only GET and HEAD", allow=True)
            return
        if target > MAX_TARGET_BYTES:
            await _refuse(send, 414, "request target too long")
            return
        length = headers.get(b"content-length")
        if b"transfer-encoding" in headers or (length and length.strip() != b"0"):
            await _refuse(send, 413, "requests carry no body here")
            return

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, secured)


async def _refuse(send: Send, status: int, text: str, *, allow: bool = False) -> None:
    body = b'{"error":"' + text.encode() + b'"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    if allow:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
