"""A small read-only Redis client speaking RESP2 over a plain socket, for the query side.

Why not redis-py: importing it costs ~200 ms here (it pulls in asyncio and OpenTelemetry), which
alone would break the 300 ms budget of a ``bp-query`` command started as a fresh process. The
query side only reads a few keys, so a few dozen lines of protocol do the job. It offers the
handful of redis-py method names the readers use (``get``, ``mget``, ``hgetall``, ...), so code
written against a ``redis.Redis`` works with it too; replies are bytes, as with redis-py.

The address is ``blueplane_core.redis_conn.redis_url`` (importable without redis-py).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

from blueplane_core.config import Config
from blueplane_core.redis_conn import redis_url
from blueplane_query.errors import RedisUnavailable


class ReplyError(Exception):
    """Redis answered ``-ERR ...`` (for example WRONGTYPE, or NOGROUP)."""


class RedisReader:
    """One connection, commands sent one at a time or pipelined; every call has a timeout."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""

    @classmethod
    def from_config(cls, config: Config) -> RedisReader:
        return cls(redis_url(config), min(float(config["redis.socket_timeout_s"]), 5.0))

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        parsed = urlparse(self.url)
        try:
            if parsed.scheme == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout_s)
                sock.connect(unquote(parsed.path))
            elif parsed.scheme in ("redis", "rediss"):
                sock = socket.create_connection(
                    (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=self.timeout_s
                )
                if parsed.scheme == "rediss":
                    import ssl

                    sock = ssl.create_default_context().wrap_socket(
                        sock, server_hostname=parsed.hostname
                    )
            else:
                raise RedisUnavailable(f"unsupported Redis URL scheme {parsed.scheme!r}")
        except OSError as exc:
            raise RedisUnavailable(
                f"Redis is not reachable at {_safe(self.url)} ({exc.strerror or exc}): "
                "is the pipeline running? (`blueplane up`, `blueplane status`)"
            ) from None
        self._sock = sock
        self._buf = b""
        if parsed.password:
            user = unquote(parsed.username) if parsed.username else None
            args = ["AUTH", user, unquote(parsed.password)] if user else ["AUTH", parsed.password]
            self.execute(*args)
        db = parsed.path.strip("/") if parsed.scheme != "unix" else ""
        if parsed.scheme == "unix" and parsed.query.startswith("db="):
            db = parsed.query[3:]
        if db and db != "0":
            self.execute("SELECT", db)
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> RedisReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- protocol -----------------------------------------------------------------------------

    def execute(self, *args: Any) -> Any:
        """Send one command, return its reply (bytes, int, list, None); raise ReplyError on -ERR."""
        reply = self.pipeline([args])[0]
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def pipeline(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send several commands in one round trip; error replies come back as ReplyError values."""
        sock = self._connect()
        try:
            sock.sendall(b"".join(_encode(c) for c in commands))
            return [self._read() for _ in commands]
        except OSError as exc:
            self.close()
            raise RedisUnavailable(
                f"Redis at {_safe(self.url)} stopped answering ({exc})"
            ) from None

    def _line(self) -> bytes:
        assert self._sock is not None
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("connection closed by Redis")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _exact(self, size: int) -> bytes:
        assert self._sock is not None
        while len(self._buf) < size + 2:
            chunk = self._sock.recv(max(65536, size + 2 - len(self._buf)))
            if not chunk:
                raise ConnectionResetError("connection closed by Redis")
            self._buf += chunk
        data, self._buf = self._buf[:size], self._buf[size + 2 :]
        return data

    def _read(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exact(size)
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise ConnectionResetError(f"unexpected reply {line[:20]!r}")

    # -- the redis-py names the readers use ---------------------------------------------------

    def ping(self) -> bool:
        return self.execute("PING") == b"PONG"

    def get(self, key: str) -> bytes | None:
        return self.execute("GET", key)  # type: ignore[no-any-return]

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return list(self.execute("MGET", *keys)) if keys else []

    def hget(self, key: str, field: str) -> bytes | None:
        return self.execute("HGET", key, field)  # type: ignore[no-any-return]

    def hgetall(self, key: str) -> dict[bytes, bytes]:
        flat = self.execute("HGETALL", key) or []
        return dict(zip(flat[::2], flat[1::2], strict=True))

    def exists(self, *keys: str) -> int:
        return int(self.execute("EXISTS", *keys))

    def ttl(self, key: str) -> int:
        return int(self.execute("TTL", key))

    def xlen(self, key: str) -> int:
        return int(self.execute("XLEN", key))

    def zrange(self, key: str, start: int, end: int, withscores: bool = False) -> list[Any]:
        args: list[Any] = ["ZRANGE", key, start, end]
        if withscores:
            args.append("WITHSCORES")
        flat = self.execute(*args) or []
        if not withscores:
            return list(flat)
        return [(m, float(s)) for m, s in zip(flat[::2], flat[1::2], strict=True)]

    def scan_iter(self, match: str = "*", count: int = 500) -> Iterator[bytes]:
        cursor = b"0"
        while True:
            cursor, keys = self.execute("SCAN", cursor, "MATCH", match, "COUNT", count)
            yield from keys
            if cursor == b"0":
                return

    def xinfo_groups(self, stream: str) -> list[dict[str, Any]]:
        """Consumer groups of a stream as dicts with str keys (redis-py's shape)."""
        try:
            groups = self.execute("XINFO", "GROUPS", stream) or []
        except ReplyError as exc:
            if "no such key" in str(exc).lower():
                return []
            raise
        return [{k.decode(): v for k, v in zip(g[::2], g[1::2], strict=True)} for g in groups]


def _encode(args: Sequence[Any]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
