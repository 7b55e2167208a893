"""The ``query`` program: the read-only HTTP API, the live WebSockets and the dashboard.

One ASGI app (starlette on uvicorn) in its own OS process under supervisord. It reads only
through the query side's read-only paths: SQLite through ``Store`` (``mode=ro``, the authorizer
refusing ``raw_traces``), Redis through ``RedisReader`` with read commands only. It writes
nothing anywhere (not even a heartbeat: supervisord reports its state).

* ``/api/v1/...``  the endpoints of ``api.ENDPOINTS`` (JSON as ``--json`` prints it), and
  ``/api/v1/openapi.json`` describing them;
* ``/ws/metrics``, ``/ws/events``, ``/ws/sessions/{id}``: the live feeds (``feeds.Hub``);
* ``/`` and ``/static/...``: the dashboard, files shipped inside this package.

Security of a local server (``guard.py``): loopback only unless ``query.allow_remote``, Host
and Origin checks, GET only, bounded request targets and connections.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from blueplane_core import config as bp_config
from blueplane_query import api
from blueplane_query.errors import QueryError

log = logging.getLogger("blueplane.query")

DASHBOARD = Path(__file__).resolve().parent / "dashboard"
#: WebSocket messages a client may send (it sends none): bounded all the same.
WS_MAX_BYTES = 4096


class BindRefused(Exception):
    """query.host is not a loopback address and remote access was not allowed explicitly."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(cfg: bp_config.Config) -> tuple[str, int]:
    """(host, port) to listen on; refuses another address than loopback without the opt-in."""
    host, port = str(cfg["query.host"]), int(cfg["query.port"])
    if not is_loopback(host) and not cfg["query.allow_remote"]:
        raise BindRefused(
            f"query.host = {host!r} is not a loopback address: the API has no authentication, "
            "so it listens on 127.0.0.1 only unless query.allow_remote = true is set as well"
        )
    return host, port


def create_app(cfg: bp_config.Config, *, port: int | None = None) -> Any:
    """The ASGI app for a server on ``port`` (the Host / Origin checks need the real port)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from blueplane_query import feeds, guard, openapi
    from blueplane_query.live import connect
    from blueplane_query.output import dumps

    port = int(cfg["query.port"]) if port is None else port
    host = str(cfg["query.host"])
    extra = [host] if cfg["query.allow_remote"] and not is_loopback(host) else []
    hub = feeds.Hub(
        lambda: connect(cfg), max_clients=max(1, int(cfg["query.max_connections"]) // 2)
    )

    def timeline(session_id: str) -> dict[str, Any]:
        from blueplane_query.reports import sessions

        return api._store(sessions.session_timeline, session_id)  # type: ignore[no-any-return]

    hub.timeline = timeline

    def json(data: Any, status: int = 200) -> Response:
        return Response(dumps(data, pretty=False), status, media_type="application/json")

    def endpoint_route(ep: api.Endpoint) -> Route:
        from starlette.concurrency import run_in_threadpool

        async def handle(request: Request) -> Response:
            try:
                args = ep.arguments(dict(request.query_params), dict(request.path_params))
                result = await run_in_threadpool(ep.run, args)
            except QueryError as exc:
                return json({"error": str(exc)}, api.status_of(exc))
            except Exception as exc:  # a bug answers 500 with one line; the log keeps the trace
                log.exception("%s failed", ep.path)
                return json({"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)
            if ep.download:
                name, media, body = result
                return Response(
                    body,
                    media_type=media,
                    headers={"content-disposition": f'attachment; filename="{name}"'},
                )
            return json(result)

        return Route(api.PREFIX + ep.path, handle, methods=["GET", "HEAD"], name=ep.name)

    async def openapi_doc(request: Request) -> Response:
        return json(openapi.document(port))

    async def index(request: Request) -> Response:
        return FileResponse(DASHBOARD / "index.html", media_type="text/html")

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"no such page: {request.url.path}"}, 404)

    async def feed(websocket: WebSocket, name: str, session_id: str | None = None) -> None:
        await websocket.accept()
        if hub.full():
            await websocket.close(code=1013)  # try again later: too many live clients
            return
        if session_id is not None:
            try:
                first = await run_threaded(timeline, session_id)
                session_id = first["session"]["session_id"]
                await websocket.send_text(
                    dumps({"kind": "timeline", **first}, pretty=False).decode()
                )
            except QueryError as exc:
                failed = {"kind": "timeline", "error": str(exc)}
                await websocket.send_text(dumps(failed, pretty=False).decode())
        sub = hub.subscribe(name, session_id)
        try:
            import asyncio

            receiver = asyncio.ensure_future(websocket.receive())
            while True:
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait(
                    {receiver, getter}, return_when=asyncio.FIRST_COMPLETED
                )
                if receiver in done:
                    getter.cancel()
                    if receiver.result()["type"] == "websocket.disconnect":
                        return
                    receiver = asyncio.ensure_future(websocket.receive())  # ignore what it sends
                    continue
                await websocket.send_text(dumps(getter.result(), pretty=False).decode())
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            hub.unsubscribe(sub)

    async def run_threaded(fn: Any, *a: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn, *a)

    async def ws_metrics(websocket: WebSocket) -> None:
        await feed(websocket, "metrics")

    async def ws_events(websocket: WebSocket) -> None:
        await feed(websocket, "events")

    async def ws_session(websocket: WebSocket) -> None:
        await feed(websocket, "session", websocket.path_params["session_id"])

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        await hub.stop()

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route(api.PREFIX + "/openapi.json", openapi_doc, methods=["GET", "HEAD"]),
        *(endpoint_route(ep) for ep in api.ENDPOINTS),
        WebSocketRoute("/ws/metrics", ws_metrics),
        WebSocketRoute("/ws/events", ws_events),
        WebSocketRoute("/ws/sessions/{session_id}", ws_session),
        Mount("/static", StaticFiles(directory=DASHBOARD), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    app.state.hub = hub
    _ = WebSocketDisconnect
    return guard.Guard(app, hosts=guard.allowed_hosts(port, extra))


def serve(cfg: bp_config.Config) -> None:
    """Run the server until SIGTERM / SIGINT (uvicorn finishes open requests, then exits)."""
    from blueplane_core import http_server

    host, port = check_bind(cfg)
    limit = int(cfg["query.max_connections"])
    http_server.serve(
        create_app(cfg, port=port),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        limit_concurrency=limit,  # past it: 503, the server stays responsive
        backlog=limit,
        h11_max_incomplete_event_size=16 * 1024,  # request line + headers
        http="h11",
        ws="websockets",
        ws_max_size=WS_MAX_BYTES,
        ws_ping_interval=20,
        timeout_keep_alive=5,
    )


def main() -> None:
    """Entry point of the supervisord program ``query`` (``python -m blueplane_query.service``)."""
    from blueplane_core import lifecycle

    lifecycle.setup_logging("query")
    cfg = bp_config.load_or_exit("query")
    try:
        serve(cfg)
    except BindRefused as exc:
        print(f"query: {exc}", file=sys.stderr)
        raise SystemExit(bp_config.EXIT_CONFIG) from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
