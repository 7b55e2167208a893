"""The RESP wire shared by every Blueplane Redis client: URLs, one connection, one command.

Split out of ``resp`` for the hooks: a hook sends ONE ``XADD`` per fire, as a fresh process the
client waits for, and loading ``resp``'s cluster routing, command methods and pipelines cost it
about a tenth of its start-up (a 50 KB ``.pyc`` to read and unmarshal). Here is what any call
needs (the address, the connection with its reply reader, the encoder, the errors) and
:func:`execute_once`, the hook's one command; ``resp.Client`` builds its routing on the same
pieces and re-exports them. Only C modules (``_socket``, ``time``, ``posix``); no
``__future__`` import (it is a module a hook would load for nothing), so annotations naming
typing-only names are strings.
"""

import posix
import time

TYPE_CHECKING = False  # typing itself costs a hook ~5 ms to import
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

#: a node: (host, port), or (socket path, 0) for a unix socket.
Node = tuple[str, int]


class RedisError(Exception):
    """Base of everything this client raises."""


class Unavailable(RedisError):
    """No node answered in time (down, unreachable, closed the connection, or a failover that
    did not finish before the deadline). Nothing can be assumed about a command in flight."""


class ReplyError(RedisError):
    """Redis answered ``-ERR ...`` (WRONGTYPE, NOGROUP, OOM, ...); the command did not run."""


# -- addresses ---------------------------------------------------------------------------------


def _unquote(text: str) -> str:
    """Percent-decoding of a URL part (urllib would import ``re`` into every hook)."""
    if "%" not in text:
        return text
    data = text.encode()
    raw = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x25 and i + 2 < len(data):
            try:
                raw.append(int(data[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        raw.append(data[i])
        i += 1
    return raw.decode("utf-8", "replace")


class Address:
    """What a Redis URL says: the nodes to try, credentials, database, TLS, cluster or not."""

    def __init__(self, url: str) -> None:
        self.nodes: list[Node] = []
        self.db = 0
        self.username = ""
        self.password = ""
        self.tls = False
        self.cluster = False
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise ValueError("a Redis URL looks like redis://host:port or unix:///path")
        if scheme == "unix":
            path, _, query = rest.partition("?")
            for pair in query.split("&"):
                key, _, value = pair.partition("=")
                if key == "db" and value.isdigit():
                    self.db = int(value)
                elif key == "password":
                    self.password = _unquote(value)
            self.nodes = [(_unquote(path), 0)]
            return
        if scheme not in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
            raise ValueError(f"unsupported Redis URL scheme {scheme!r}")
        self.tls = scheme.startswith("rediss")
        self.cluster = scheme.endswith("+cluster")
        rest = rest.partition("?")[0].partition("#")[0]
        netloc, _, db_part = rest.partition("/")
        if db_part.isdigit():
            self.db = int(db_part)
        if self.cluster and self.db:
            raise ValueError("a Redis Cluster has only database 0")
        if "@" in netloc:
            auth, _, netloc = netloc.rpartition("@")
            user, has_user, password = auth.partition(":")
            self.username = _unquote(user) if has_user else ""
            self.password = _unquote(password if has_user else user)
        for part in netloc.split(","):
            if part.strip():
                self.nodes.append(_host_port(part.strip()))
        if not self.nodes:
            self.nodes = [("127.0.0.1", 6379)]
        if len(self.nodes) > 1 and not self.cluster:
            raise ValueError("several hosts need a cluster URL: redis+cluster://h1:p1,h2:p2")


def _host_port(text: str) -> Node:
    if text.startswith("["):  # [::1]:6379
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if port and not port.isdigit():
        raise ValueError(f"bad port in {text!r}")
    return (host or "127.0.0.1", int(port) if port else 6379)


def safe_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    head, at, tail = rest.partition("@")
    if at and ":" in head:
        return f"{scheme}://{head.partition(':')[0]}:***@{tail}"
    if scheme == "unix" and "password=" in rest:
        path, _, _query = rest.partition("?")
        return f"{scheme}://{path}?password=***"
    return url


# -- the wire ----------------------------------------------------------------------------------


def _bytes(value: "Any") -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, float):
        return repr(value).encode()
    return str(value).encode()


def encode(args: "Sequence[Any]") -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _bytes(arg)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Connection:
    """One socket and its read buffer; every wait is bounded by the caller's deadline."""

    def __init__(self, sock: "Any") -> None:
        self.sock = sock
        self.buf = b""
        self.pos = 0  # replies before this offset of ``buf`` are consumed

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes, deadline: float) -> None:
        self.sock.settimeout(_remaining(deadline))
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        self.sock.settimeout(_remaining(deadline))
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionResetError("Redis closed the connection")
        self.buf = self.buf[self.pos :] + chunk if self.pos else self.buf + chunk
        self.pos = 0

    def _line(self, deadline: float) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos : end]
                self.pos = end + 2
                return line
            self._fill(deadline)

    def _items(self, count: int, deadline: float) -> "list[Any]":
        """An array's items. Bulk strings already in the buffer are cut out inline: a
        status line reads a day of per-minute counters (thousands of items) in a fresh
        process, where a call of :meth:`read` per item was most of its time."""
        items: list[Any] = []
        buf, pos = self.buf, self.pos
        for _ in range(count):
            if pos < len(buf) and buf[pos] == 0x24:  # $
                end = buf.find(b"\r\n", pos)
                if end > pos + 1 and buf[pos + 1] != 0x2D:  # a length, not $-1 (nil)
                    start = end + 2
                    stop = start + int(buf[pos + 1 : end])
                    if stop + 2 <= len(buf):
                        items.append(buf[start:stop])
                        pos = stop + 2
                        continue
            self.pos = pos
            items.append(self.read(deadline))
            buf, pos = self.buf, self.pos
        self.pos = pos
        return items

    def read(self, deadline: float) -> "Any":
        """One reply: bytes, int, list or None; an error reply is returned as a ReplyError."""
        line = self._line(deadline)
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) - self.pos < size + 2:
                self._fill(deadline)
            data = self.buf[self.pos : self.pos + size]
            self.pos += size + 2
            return data
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else self._items(count, deadline)
        if kind == b"-":
            return ReplyError(rest.decode("utf-8", "replace"))
        raise ConnectionResetError(f"not a RESP reply: {line[:20]!r}")


def _reason(exc: Exception) -> str:
    """A short why for messages: "Connection refused", "no answer in time", ..."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def wrap_tls(sock: "Any", host: str) -> "Any":
    """TLS for rediss:// (ssl is imported only here: it costs a hook ~10 ms)."""
    import socket
    import ssl

    plain = socket.socket(fileno=sock.detach())
    return ssl.create_default_context().wrap_socket(plain, server_hostname=host)


def connect(
    address: Address,
    node: Node,
    deadline: float,
    connection_type: "type[_Connection]",
    encoder: "Any" = encode,
) -> "_Connection":
    """A connection to ``node``, authenticated and on ``address``'s database; raises OSError
    (down, refused, timed out), or ReplyError when AUTH or SELECT is refused.

    A unix socket that is not there (Redis stopped: it removes its socket file) raises
    FileNotFoundError before ``_socket`` is loaded, as connecting would: that shared library
    is about a sixth of a spooling hook's extra time."""
    host, port = node
    if port == 0:
        posix.stat(host)
    import _socket

    if port == 0:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        target: Any = host
    else:
        family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        target = (host, port)
    try:
        sock.settimeout(_remaining(deadline))
        sock.connect(target)
        if port and address.tls:
            sock = wrap_tls(sock, host)
    except BaseException:
        sock.close()
        raise
    connection = connection_type(sock)
    setup: list[list[Any]] = []
    if address.password:
        user = [address.username] if address.username else []
        setup.append(["AUTH", *user, address.password])
    if address.db:
        setup.append(["SELECT", address.db])
    if setup:
        try:
            connection.send(b"".join(encoder(c) for c in setup), deadline)
            for _ in setup:
                reply = connection.read(deadline)
                if isinstance(reply, ReplyError):
                    raise reply
        except BaseException:
            connection.close()
            raise
    return connection


def execute_once(url: str, timeout_s: float, *args: "Any") -> "Any":
    """One command on a new connection, within ``timeout_s`` from the start: the hooks' XADD.

    What ``resp.Client(url, timeout_s).execute(*args)`` answers and raises for a fresh client,
    without loading ``resp``: one node, one try (a fresh connection that fails is not retried
    there either). A cluster URL goes through ``resp.Client`` (imported only then), which
    follows the cluster's redirects within the same deadline.
    """
    deadline = time.monotonic() + timeout_s
    try:
        address = Address(url)
    except ValueError as exc:
        raise Unavailable(f"cannot use Redis URL {safe_url(url)}: {exc}") from None
    if address.cluster:
        from blueplane_core import resp

        client = resp.Client(url, timeout_s)
        try:
            return client.execute(*args)
        finally:
            client.close()
    try:
        connection = connect(address, address.nodes[0], deadline, _Connection)
    except ReplyError as exc:  # AUTH or SELECT refused
        raise ReplyError(f"{exc} (connecting to {safe_url(url)})") from None
    except (OSError, ValueError) as exc:
        raise Unavailable(f"Redis is not reachable at {safe_url(url)} ({_reason(exc)})") from None
    try:
        connection.send(encode(args), deadline)
        reply = connection.read(deadline)
    except (OSError, ValueError) as exc:
        raise Unavailable(f"Redis is not reachable at {safe_url(url)} ({_reason(exc)})") from None
    finally:
        connection.close()
    if isinstance(reply, ReplyError):
        raise reply
    return reply
