"""The MCP stdio transport and handshake, without the SDK: JSON-RPC 2.0, one message per line.

Why not the official SDK here: importing ``mcp.server`` loads the whole SDK (pydantic models of
every protocol revision, the client, the HTTP transports, uvicorn), about 1.5 s of CPU before
the server can answer ``initialize``; an assistant starts this server on every session. What a
tools-only server needs of the protocol is small and stable, so it is spoken here directly:

- the initialize handshake of the handshake-era revisions (2024-11-05 to 2025-11-25): the
  client's version is echoed when it is one of these, else the newest is offered;
- ``ping``, ``tools/list`` and ``tools/call``; notifications (``notifications/initialized``,
  ``notifications/cancelled``) need no answer; anything else is "method not found" (-32601),
  which is also how a client probing a newer revision (``server/discover``) learns to fall back
  to ``initialize``;
- a JSON array (a 2025-03-26 batch) is answered with an array.

Requests are answered one at a time, in order. stdout carries protocol messages only; the tests
drive this with the SDK's own client over stdio (tests/test_mcp_server.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson

from blueplane_query.output import dumps

#: handshake-era revisions this server speaks, oldest to newest.
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class RpcError(Exception):
    """A JSON-RPC error answer (code and message) to the request being handled."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


#: a method handler: params -> result (raises RpcError for an error answer).
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def negotiated_version(requested: Any) -> str:
    """The revision to answer ``initialize`` with: the client's when spoken here, else ours."""
    return requested if requested in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1]


def answer(message: Any, handlers: dict[str, Handler]) -> dict[str, Any] | None:
    """The response to one decoded message; None for a notification or a client's response."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _error(None, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
    method = message.get("method")
    if method is None:
        return None  # a response to a request this server never sends
    is_request = "id" in message
    request_id = message.get("id")
    handler = handlers.get(method) if isinstance(method, str) else None
    params = message.get("params")
    if params is None:
        params = {}
    if not is_request:
        return None  # notifications/initialized, notifications/cancelled, ...: nothing to say
    if handler is None:
        return _error(request_id, METHOD_NOT_FOUND, f"method not found: {method}")
    if not isinstance(params, dict):
        return _error(request_id, INVALID_PARAMS, "params must be an object")
    try:
        result = handler(params)
    except RpcError as exc:
        return _error(request_id, exc.code, str(exc))
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def serve(
    handlers: dict[str, Handler],
    *,
    after_initialize: Callable[[], None] | None = None,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> None:
    """Answer messages from stdin on stdout until EOF.

    ``after_initialize`` runs once the ``initialize`` answer is flushed (warming what the tool
    calls need, so the handshake itself stays quick).
    """
    reader = stdin or sys.stdin.buffer
    writer = stdout or sys.stdout.buffer
    warm = after_initialize
    for line in reader:
        if not line.strip():
            continue
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            _write(writer, _error(None, PARSE_ERROR, "not valid JSON"))
            continue
        if isinstance(message, list):
            answers = [a for a in (answer(m, handlers) for m in message) if a is not None]
            if answers:
                _write(writer, answers)
            elif not message:
                _write(writer, _error(None, INVALID_REQUEST, "an empty batch"))
            continue
        reply = answer(message, handlers)
        if reply is not None:
            _write(writer, reply)
        if warm is not None and isinstance(message, dict) and message.get("method") == "initialize":
            warm()
            warm = None


def _write(writer: BinaryIO, message: Any) -> None:
    writer.write(dumps(message, pretty=False) + b"\n")  # compact: no newline inside
    writer.flush()
