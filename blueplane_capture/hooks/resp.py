"""One XADD over a raw socket, in RESP, with a hard deadline: how a hook reaches Redis.

redis-py costs ~200 ms of imports per hook fire; the C ``_socket`` module and a hand-written
RESP command cost well under 1 ms. The whole exchange (connect, optional AUTH/SELECT, XADD,
reply) shares one deadline; anything slower or failing raises ``HandoffFailed`` and the caller
spools the event instead. TLS (``rediss://``) is not spoken here: such events are spooled and
``capture-spool`` (redis-py) delivers them.
"""

from __future__ import annotations

import _socket
import time


class HandoffFailed(Exception):
    """Redis could not take the event in time; the caller spools it."""


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def _unquote(text: str) -> str:
    """Percent-decoding for the user/password part of a URL (no urllib: it imports re)."""
    if "%" not in text:
        return text
    raw = bytearray()
    i = 0
    data = text.encode()
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
    """Where Redis listens, parsed from ``unix:///path?db=N`` or ``redis://[user:pw@]host:port/N``."""

    def __init__(self, url: str) -> None:
        self.unix_path = ""
        self.host = "127.0.0.1"
        self.port = 6379
        self.db = 0
        self.username = ""
        self.password = ""
        if url.startswith("unix://"):
            rest = url[len("unix://") :]
            rest, _, query = rest.partition("?")
            self.unix_path = rest
            for pair in query.split("&"):
                key, _, value = pair.partition("=")
                if key == "db" and value.isdigit():
                    self.db = int(value)
                elif key == "password":
                    self.password = _unquote(value)
            return
        if not url.startswith("redis://"):
            raise HandoffFailed(f"unsupported Redis URL scheme in {url.split(':', 1)[0]!r}")
        rest = url[len("redis://") :]
        rest = rest.partition("?")[0]
        netloc, _, db_part = rest.partition("/")
        if db_part.isdigit():
            self.db = int(db_part)
        if "@" in netloc:
            auth, _, netloc = netloc.rpartition("@")
            user, sep, password = auth.partition(":")
            self.username = _unquote(user) if sep else ""
            self.password = _unquote(password if sep else user)
        if netloc.startswith("["):  # [::1]:6379
            host, _, port = netloc[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
        self.host = host or "127.0.0.1"
        self.port = int(port) if port.isdigit() else 6379


def _read_reply(sock: _socket.socket, deadline: float, replies: int) -> list[bytes]:
    """Read ``replies`` simple RESP replies (status, error, integer or bulk string)."""
    buffer = b""
    out: list[bytes] = []
    while len(out) < replies:
        line_end = buffer.find(b"\r\n")
        if line_end >= 0:
            head = buffer[:line_end]
            if head[:1] == b"$":
                size = int(head[1:])
                total = line_end + 2 + max(size, 0) + (2 if size >= 0 else 0)
                if len(buffer) >= total:
                    out.append(head + b"\r\n" + buffer[line_end + 2 : total])
                    buffer = buffer[total:]
                    continue
            else:
                out.append(head)
                buffer = buffer[line_end + 2 :]
                continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HandoffFailed("Redis did not answer in time")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise HandoffFailed("Redis closed the connection")
        buffer += chunk
    return out


def xadd(url: str, stream: str, field: str, data: bytes, timeout_s: float) -> bytes:
    """XADD ``data`` under ``field`` to ``stream``; returns the entry id or raises HandoffFailed."""
    deadline = time.monotonic() + timeout_s
    address = Address(url)
    commands: list[bytes] = []
    if address.password:
        if address.username:
            commands.append(_command(b"AUTH", address.username.encode(), address.password.encode()))
        else:
            commands.append(_command(b"AUTH", address.password.encode()))
    if address.db:
        commands.append(_command(b"SELECT", str(address.db).encode()))
    commands.append(_command(b"XADD", stream.encode(), b"*", field.encode(), data))
    try:
        if address.unix_path:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            target: str | tuple[str, int] = address.unix_path
        else:
            family = _socket.AF_INET6 if ":" in address.host else _socket.AF_INET
            sock = _socket.socket(family, _socket.SOCK_STREAM)
            target = (address.host, address.port)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(target)
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(b"".join(commands))
            replies = _read_reply(sock, deadline, len(commands))
        finally:
            sock.close()
    except HandoffFailed:
        raise
    except (OSError, ValueError) as exc:
        raise HandoffFailed(f"{type(exc).__name__}: {exc}") from None
    for reply in replies:
        if reply[:1] == b"-":
            raise HandoffFailed(reply[1:].decode("utf-8", "replace"))
    last = replies[-1]
    return last.split(b"\r\n", 1)[-1] if last[:1] == b"$" else last
