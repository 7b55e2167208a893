"""A small Redis client: RESP2 over plain sockets, following a Redis Cluster's redirects.

Who uses it: the hooks (one XADD per fire, under a hard deadline), the capture processes (XADD
pipelines and heartbeats) and the query side (a few reads). They need a handful of commands, and
redis-py would cost each of them ~200 ms of imports and ~22 MB of memory; this module imports
only C modules (``_socket``, ``time``), so a hook pays well under a millisecond for it. The
consumers (ingesters, workers, maintenance) and the admin commands use it through
``resp_consumer.ConsumerClient`` (``redis_conn.connect``): consumer groups, scripts, MULTI and
hiredis's C parser, in a module the hooks never import.

Addresses (``parse_url``)::

    unix:///path/redis.sock[?db=N&password=P]
    redis://[user:password@]host[:port][/db]          rediss://...  (TLS)
    redis+cluster://[user:password@]host:port[,host:port...]     rediss+cluster://...

A cluster URL lists seed nodes; any of them will do, owner of Blueplane's slot or not. The client
keeps a slot map (``CLUSTER SLOTS``), follows ``MOVED`` (and refreshes the map) and ``ASK``, and
when a node stops answering (a failover) asks the other nodes for the new map and tries again,
until the call's deadline. Every call has ONE deadline, ``timeout_s`` from its start, covering
connecting, ``AUTH``/``SELECT``, redirects and retries; past it the call raises ``Unavailable``.
Replies are bytes, ints, lists or None, as redis-py gives them without ``decode_responses``.
"""

from __future__ import annotations

import time

from blueplane_core.resp_wire import (
    Address,
    Node,
    RedisError,
    ReplyError,
    Unavailable,
    _bytes,
    _Connection,
    _host_port,
    _reason,
    _remaining,
    connect,
    encode,
    safe_url,
)

TYPE_CHECKING = False  # typing itself costs a hook ~5 ms to import
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any, Self, TypeVar

    AnyClient = TypeVar("AnyClient", bound="Client")

#: what users of this client import from here (the wire's pieces live in ``resp_wire``)
__all__ = [
    "Address",
    "Client",
    "HiredisConnection",
    "Node",
    "Pipeline",
    "RedisError",
    "ReplyError",
    "Unavailable",
    "encode",
    "key_slot",
    "parses_in_c",
    "safe_url",
]

SLOTS = 16384
#: redirect and retry rounds per call at most (each also bounded by the deadline).
MAX_ROUNDS = 16


# -- cluster slots -----------------------------------------------------------------------------


def key_slot(key: bytes | str) -> int:
    """The cluster slot of a key: CRC16 (XMODEM) of its hash tag (``{...}``) or of the whole key."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc % SLOTS


#: commands whose first key is their third word (``XINFO GROUPS <key>``); commands not listed
#: here or in _KEYLESS take their key from the second word.
_KEY_THIRD = frozenset({b"XINFO", b"XGROUP", b"OBJECT", b"MEMORY"})
_KEYLESS = frozenset({b"PING", b"SCAN", b"INFO", b"CLUSTER", b"TIME", b"DBSIZE", b"ECHO"})


def _command_key(args: Sequence[Any]) -> bytes | None:
    name = _bytes(args[0]).upper()
    if name in _KEYLESS:
        return None
    if name in (b"EVAL", b"EVALSHA"):  # EVALSHA sha numkeys key ...
        return _bytes(args[3]) if len(args) > 3 and _bytes(args[2]) != b"0" else None
    if name in (b"XREAD", b"XREADGROUP"):  # ... STREAMS key ... id ...
        words = [_bytes(a).upper() for a in args]
        return _bytes(args[words.index(b"STREAMS") + 1]) if b"STREAMS" in words else None
    index = 2 if name in _KEY_THIRD else 1
    return _bytes(args[index]) if len(args) > index else None


class HiredisConnection(_Connection):
    """A connection whose replies hiredis's C reader parses: several times faster than
    :meth:`_Connection.read` on long replies (stream reads, a day of per-minute counters).
    hiredis is imported when the first such connection opens; the hooks never open one."""

    def __init__(self, sock: Any) -> None:
        import hiredis

        super().__init__(sock)
        self.reader = hiredis.Reader(replyError=ReplyError, protocolError=ConnectionResetError)
        self.chunk = bytearray(65536)  # reused for every recv; hiredis keeps what it needs

    def read(self, deadline: float) -> Any:
        reply = self.reader.gets()
        while reply is False:
            self.sock.settimeout(_remaining(deadline))
            size = self.sock.recv_into(self.chunk)
            if not size:
                raise ConnectionResetError("Redis closed the connection")
            self.reader.feed(self.chunk, 0, size)  # type: ignore[arg-type]
            reply = self.reader.gets()
        return reply


def parses_in_c(client: AnyClient) -> AnyClient:
    """``client``, reading its replies through hiredis when hiredis can be imported (the query
    side's long reads); unchanged, on the pure-Python reader, when it cannot."""
    try:
        import hiredis  # noqa: F401
    except ImportError:
        return client
    client._connection_type = HiredisConnection
    return client


# -- the client --------------------------------------------------------------------------------


class Commands:
    """The redis-py method names Blueplane's light users call; each builds one command."""

    def _call(self, *args: Any, convert: Any = None) -> Any:
        raise NotImplementedError

    def execute_command(self, *args: Any) -> Any:
        return self._call(*args)

    def ping(self) -> Any:
        return self._call("PING", convert=lambda r: r == b"PONG")

    def get(self, key: str) -> Any:
        return self._call("GET", key)

    def mget(self, keys: Sequence[str]) -> Any:
        return self._call("MGET", *keys, convert=list)

    def hget(self, key: str, field: str) -> Any:
        return self._call("HGET", key, field)

    def hgetall(self, key: str) -> Any:
        return self._call("HGETALL", key, convert=_pairs)

    def hset(
        self,
        key: str,
        field: Any = None,
        value: Any = None,
        mapping: dict[Any, Any] | None = None,
    ) -> Any:
        items: list[Any] = [] if field is None else [field, value]
        for name, item in (mapping or {}).items():
            items += [name, item]
        return self._call("HSET", key, *items)

    def hdel(self, key: str, *fields: Any) -> Any:
        return self._call("HDEL", key, *fields)

    def sadd(self, key: str, *members: Any) -> Any:
        return self._call("SADD", key, *members)

    def expire(self, key: str, seconds: int) -> Any:
        return self._call("EXPIRE", key, seconds, convert=bool)

    def exists(self, *keys: str) -> Any:
        return self._call("EXISTS", *keys)

    def ttl(self, key: str) -> Any:
        return self._call("TTL", key)

    def xlen(self, key: str) -> Any:
        return self._call("XLEN", key)

    def xadd(self, stream: str, fields: dict[Any, Any], id: str = "*") -> Any:
        flat: list[Any] = []
        for name, value in fields.items():
            flat += [name, value]
        return self._call("XADD", stream, id, *flat)

    def zrange(self, key: str, start: int, end: int, withscores: bool = False) -> Any:
        if not withscores:
            return self._call("ZRANGE", key, start, end, convert=list)
        return self._call("ZRANGE", key, start, end, "WITHSCORES", convert=_scored)


def _pairs(flat: list[Any] | None) -> dict[Any, Any]:
    flat = flat or []
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _scored(flat: list[Any] | None) -> list[tuple[Any, float]]:
    flat = flat or []
    return [(m, float(s)) for m, s in zip(flat[::2], flat[1::2], strict=True)]


class Client(Commands):
    """Connections to one Redis, or to the nodes of a cluster; not thread-safe (one per thread).

    ``execute_many`` is the one path to the server: commands go out in one write and their
    replies come back in order (error replies as ReplyError values).
    """

    #: how a connection reads replies, and how a command is written (resp_consumer swaps in
    #: hiredis's C parser and packer for the consumers)
    _connection_type = _Connection
    _encode = staticmethod(encode)

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._address: Address | None = None  # parsed at first use: a bad URL is Unavailable
        self._connections: dict[Node, _Connection] = {}
        #: cluster: (first slot, last slot, master) ranges, from CLUSTER SLOTS
        self._ranges: list[tuple[int, int, Node]] = []
        #: the slot map must be re-read before the next routed call (set by a MOVED or a failed
        #: node). A new client has no map and sends to the first node: a hook's one command then
        #: costs one round trip when that node serves the slot, one redirect when it does not.
        self._stale = False

    @property
    def address(self) -> Address:
        if self._address is None:
            self._address = Address(self.url)
        return self._address

    @property
    def cluster(self) -> bool:
        return self.address.cluster

    # -- connections ---------------------------------------------------------------------------

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def __del__(self) -> None:
        # A client dropped without close() (an Emitter's, a reader's) closes its sockets here.
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open(self, node: Node, deadline: float) -> _Connection:
        connection = self._connections.get(node)
        if connection is None:
            connection = connect(self.address, node, deadline, self._connection_type, self._encode)
            self._connections[node] = connection
        return connection

    def _drop(self, node: Node) -> None:
        connection = self._connections.pop(node, None)
        if connection is not None:
            connection.close()

    # -- routing -------------------------------------------------------------------------------

    def _owner(self, slot: int) -> Node | None:
        for first, last, node in self._ranges:
            if first <= slot <= last:
                return node
        return None

    def _node_for(self, key: bytes | None, deadline: float) -> Node:
        if not self.cluster:
            return self.address.nodes[0]
        if self._stale:
            self._refresh(deadline)
        owner = self._owner(key_slot(key)) if key is not None else None
        if owner is not None:
            return owner
        known = list(self._connections) or [n for _, _, n in self._ranges] or self.address.nodes
        return known[0]

    def _refresh(self, deadline: float, failed: Node | None = None) -> None:
        """Read the slot map from the first node that answers (seeds and known nodes)."""
        candidates: list[Node] = []
        for node in [*self._connections, *(n for _, _, n in self._ranges), *self.address.nodes]:
            if node not in candidates and node != failed:
                candidates.append(node)
        if failed is not None:
            candidates.append(failed)  # last: it may be back
        for node in candidates:
            try:
                connection = self._open(node, deadline)
                connection.send(encode(["CLUSTER", "SLOTS"]), deadline)
                reply = connection.read(deadline)
            except (OSError, ValueError, ReplyError):
                self._drop(node)
                if time.monotonic() >= deadline:
                    break
                continue
            if isinstance(reply, ReplyError) or not isinstance(reply, list):
                continue
            ranges = []
            for item in reply:
                host = item[2][0].decode() if item[2][0] else node[0]
                ranges.append((int(item[0]), int(item[1]), (host, int(item[2][1]))))
            if ranges:
                self._ranges = sorted(ranges)
                self._stale = False
                return
        # No node answered: keep the old map; the caller retries until its deadline.

    # -- the one path to the server ------------------------------------------------------------

    def _call(self, *args: Any, convert: Any = None) -> Any:
        reply = self.execute_many([args])[0]
        if isinstance(reply, ReplyError):
            raise reply
        return convert(reply) if convert is not None else reply

    def execute(self, *args: Any) -> Any:
        """One command's reply; ReplyError raised for an error reply."""
        return self._call(*args)

    def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send commands in one round trip (per node); their replies in order, error replies as
        ReplyError values. Raises Unavailable when no node answers before the deadline.

        A command redirected with MOVED or ASK did not run and is sent again to the node named.
        After a broken connection the unanswered commands are sent again (once without a
        cluster, until the deadline with one): a command may then run twice, which XADD of an
        event with a fixed ``event_id`` tolerates (ingest stores each id once).
        """
        deadline = time.monotonic() + self.timeout_s
        replies: list[Any] = [None] * len(commands)
        pending = list(range(len(commands)))
        redirect: tuple[Node, bool] | None = None  # (node, ASK?) for the pending commands
        failures = 0
        last_error = ""
        for _round in range(MAX_ROUNDS):
            if not pending:
                return replies
            try:
                if redirect is not None:
                    node, asking = redirect
                else:
                    node, asking = (
                        self._node_for(_command_key(commands[pending[0]]), deadline),
                        False,
                    )
            except ValueError as exc:
                raise Unavailable(f"cannot use Redis URL {safe_url(self.url)}: {exc}") from None
            except OSError as exc:
                last_error = _reason(exc)
                break
            redirect = None
            fresh = node not in self._connections
            try:
                connection = self._open(node, deadline)
                payload = b"".join(
                    (encode(["ASKING"]) if asking else b"") + self._encode(commands[i])
                    for i in pending
                )
                connection.send(payload, deadline)
                got = []
                for _ in pending:
                    if asking:
                        connection.read(deadline)
                    got.append(connection.read(deadline))
            except ReplyError as exc:  # AUTH or SELECT refused
                self._drop(node)
                raise ReplyError(f"{exc} (connecting to {safe_url(self.url)})") from None
            except (OSError, ValueError) as exc:
                self._drop(node)
                last_error = _reason(exc)
                failures += 1
                if time.monotonic() >= deadline:
                    break
                if self.cluster:
                    self._stale = True
                    self._pause(failures, deadline)
                    self._refresh(deadline, failed=node)
                    continue
                if fresh or failures > 1:
                    break
                continue  # a connection that had gone stale: one more try on a new one
            retry: list[int] = []
            for i, reply in zip(pending, got, strict=True):
                if self.cluster and isinstance(reply, ReplyError):
                    word, _, rest = str(reply).partition(" ")
                    if word in ("MOVED", "ASK"):
                        slot, _, where = rest.partition(" ")
                        target = _host_port(where)
                        if not target[0] or target[0] == "?":
                            target = (node[0], target[1])
                        if word == "MOVED":
                            self._learn(int(slot), target)
                        redirect = (target, word == "ASK")
                        retry.append(i)
                        continue
                    if word in ("TRYAGAIN", "CLUSTERDOWN"):
                        last_error = str(reply)
                        retry.append(i)
                        continue
                replies[i] = reply
            pending = retry
            if pending and redirect is None:  # TRYAGAIN / CLUSTERDOWN: wait, re-read the map
                failures += 1
                if time.monotonic() >= deadline:
                    break
                self._pause(failures, deadline)
                self._stale = True
        if not pending:
            return replies
        where = safe_url(self.url)
        raise Unavailable(
            f"Redis is not reachable at {where} ({last_error or 'too many redirects'})"
        )

    def _learn(self, slot: int, node: Node) -> None:
        """A MOVED reply: this slot is served elsewhere now; read the whole map next time."""
        self._ranges = [(slot, slot, node), *self._ranges]
        self._stale = True

    @staticmethod
    def _pause(failures: int, deadline: float) -> None:
        """Back off between retries while a cluster elects a new master (bounded by deadline)."""
        time.sleep(max(0.0, min(0.02 * (2**failures), 0.5, deadline - time.monotonic())))

    # -- commands beyond one reply -------------------------------------------------------------

    def pipeline(self, transaction: bool = False) -> Pipeline:
        """Commands queued and sent in one round trip by ``execute`` (redis-py's shape)."""
        if transaction:
            raise ValueError("the small client does not run MULTI/EXEC transactions")
        return Pipeline(self)

    def scan_iter(self, match: str = "*", count: int = 500) -> Iterator[bytes]:
        """Keys matching ``match``; on a cluster, from the master owning the pattern's hash tag
        (every Blueplane key is in ``{bp}``), else from every master."""
        if not self.cluster:
            yield from self._scan(self.address.nodes[0], match, count)
            return
        deadline = time.monotonic() + self.timeout_s
        if self._stale or not self._ranges:
            self._refresh(deadline)
        tag_owner = self._owner(key_slot(match)) if "{" in match else None
        masters = [tag_owner] if tag_owner else list(dict.fromkeys(n for _, _, n in self._ranges))
        for node in masters:
            yield from self._scan(node, match, count)

    def _scan(self, node: Node, match: str, count: int) -> Iterator[bytes]:
        cursor: Any = b"0"
        while True:
            if self.cluster:  # pinned to one node: no redirect applies to SCAN
                deadline = time.monotonic() + self.timeout_s
                try:
                    connection = self._open(node, deadline)
                    connection.send(
                        encode(["SCAN", cursor, "MATCH", match, "COUNT", count]), deadline
                    )
                    reply = connection.read(deadline)
                except (OSError, ValueError) as exc:
                    self._drop(node)
                    self._stale = True
                    where = f"{node[0]}:{node[1]}"
                    raise Unavailable(f"Redis node {where} stopped answering ({exc})") from None
                if isinstance(reply, ReplyError):
                    raise reply
            else:
                reply = self.execute("SCAN", cursor, "MATCH", match, "COUNT", count)
            cursor, keys = reply
            yield from keys
            if cursor == b"0":
                return

    def xinfo_groups(self, stream: str) -> list[dict[str, Any]]:
        """Consumer groups of a stream as dicts with str keys (redis-py's shape); [] without it."""
        try:
            groups = self.execute("XINFO", "GROUPS", stream) or []
        except ReplyError as exc:
            if "no such key" in str(exc).lower():
                return []
            raise
        return [{k.decode(): v for k, v in zip(g[::2], g[1::2], strict=True)} for g in groups]


class Pipeline(Commands):
    """Queued commands; ``execute`` sends them in one round trip and raises the first error."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._commands: list[tuple[Any, ...]] = []
        self._converters: list[Any] = []

    def _call(self, *args: Any, convert: Any = None) -> Pipeline:
        self._commands.append(args)
        self._converters.append(convert)
        return self

    def __len__(self) -> int:
        return len(self._commands)

    def execute(self) -> list[Any]:
        commands, converters = self._commands, self._converters
        self._commands, self._converters = [], []
        if not commands:
            return []
        replies = self._client.execute_many(commands)
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return [c(r) if c else r for r, c in zip(replies, converters, strict=True)]
