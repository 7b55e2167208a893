"""The shared RESP client with what the long-running consumers need on top of the hooks' one.

The ingesters, workers and maintenance read consumer groups (XREADGROUP, XAUTOCLAIM, XACK,
XPENDING), run Lua scripts (EVALSHA, falling back to EVAL when the server lost its script cache)
and MULTI/EXEC transactions. redis-py did this for them at ~17 MB of memory per process; this
module adds those commands to ``blueplane_core.resp.Client`` (its connections, deadlines,
cluster redirects and retries) and parses replies with hiredis's C reader when it is installed
(it is a dependency; the pure-Python reader remains the fallback). It lives apart from
``resp`` so that a hook, which needs one XADD, never imports it.

Reply shapes follow redis-py's without ``decode_responses`` where Blueplane's code reads them
(``xrange`` gives ``(id, {field: value})`` pairs, ``xpending`` a dict, ...), so the same code runs
on either client (the tests still hand it redis-py's).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from blueplane_core import resp

if TYPE_CHECKING:
    from collections.abc import Sequence

try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis is a dependency; this is the fallback
    hiredis = None  # type: ignore[assignment]


#: error replies saying the slot is served elsewhere or not at all right now: the command did not
#: run; raised as Unavailable (transient) by the calls that are not retried here
_SLOT_MOVING = frozenset({"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"})


def _pack(args: Sequence[Any]) -> bytes:
    return hiredis.pack_command(tuple(args))  # type: ignore[no-any-return]


class Script:
    """A Lua script run by its SHA1 (EVALSHA), sent whole (EVAL) when Redis does not know it
    (a restart, SCRIPT FLUSH, a failover to a replica): redis-py's ``register_script`` shape."""

    def __init__(self, client: ConsumerClient, lua: str) -> None:
        from hashlib import sha1

        self.client = client
        self.lua = lua.encode()
        self.sha = sha1(self.lua).hexdigest()

    def __call__(
        self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None
    ) -> Any:
        target = client if client is not None else self.client
        try:
            return target.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except resp.ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return target.execute_command("EVAL", self.lua, len(keys), *keys, *args)


class ConsumerCommands(resp.Commands):
    """The commands the consumers add, on the client and its pipelines alike."""

    # -- consumer groups -----------------------------------------------------------------------

    def xgroup_create(self, stream: str, group: str, id: str = "$", mkstream: bool = False) -> Any:
        extra = ["MKSTREAM"] if mkstream else []
        return self._call("XGROUP", "CREATE", stream, group, id, *extra)

    def xreadgroup(
        self,
        group: str,
        consumer: str,
        streams: dict[str, Any],
        count: int | None = None,
        block: int | None = None,
    ) -> Any:
        """The raw reply: ``[[stream, [[id, [field, value, ...]], ...]], ...]`` or None."""
        args: list[Any] = ["XREADGROUP", "GROUP", group, consumer]
        if count is not None:
            args += ["COUNT", count]
        if block is not None:
            args += ["BLOCK", block]
        args += ["STREAMS", *streams, *streams.values()]
        return self._call(*args)

    def xautoclaim(
        self,
        stream: str,
        group: str,
        consumer: str,
        min_idle_time: int,
        start_id: Any = "0-0",
        count: int | None = None,
    ) -> Any:
        """The raw reply: ``[next cursor, [[id, [field, value, ...]], ...], [deleted ids]]``."""
        extra = ["COUNT", count] if count is not None else []
        return self._call("XAUTOCLAIM", stream, group, consumer, min_idle_time, start_id, *extra)

    def xack(self, stream: str, group: str, *ids: Any) -> Any:
        return self._call("XACK", stream, group, *ids)

    def xpending(self, stream: str, group: str) -> Any:
        """``{"pending": n, "min": id, "max": id, "consumers": [{"name", "pending"}]}``."""
        return self._call("XPENDING", stream, group, convert=_pending_summary)

    def xpending_range(
        self,
        stream: str,
        group: str,
        min: Any,
        max: Any,
        count: int,
        consumername: str | None = None,
    ) -> Any:
        """``[{"message_id", "consumer", "time_since_delivered", "times_delivered"}, ...]``."""
        extra = [consumername] if consumername else []
        return self._call("XPENDING", stream, group, min, max, count, *extra, convert=_pending_rows)

    # -- streams -------------------------------------------------------------------------------

    def xrange(self, stream: str, min: Any = "-", max: Any = "+", count: int | None = None) -> Any:
        """``[(id, {field: value}), ...]``."""
        extra = ["COUNT", count] if count is not None else []
        return self._call("XRANGE", stream, min, max, *extra, convert=_entries)

    def xinfo_stream(self, stream: str) -> Any:
        """The stream's facts as a dict with str keys (``"last-generated-id"``, ...)."""
        return self._call("XINFO", "STREAM", stream, convert=_str_keys)

    def xdel(self, stream: str, *ids: Any) -> Any:
        return self._call("XDEL", stream, *ids)

    def xtrim(
        self, stream: str, maxlen: int | None = None, approximate: bool = True, minid: Any = None
    ) -> Any:
        how = ["MAXLEN", maxlen] if minid is None else ["MINID", minid]
        if approximate:
            how.insert(1, "~")
        return self._call("XTRIM", stream, *how)

    # -- keys ----------------------------------------------------------------------------------

    def hmget(self, key: str, fields: Sequence[Any]) -> Any:
        return self._call("HMGET", key, *fields)

    def hvals(self, key: str) -> Any:
        return self._call("HVALS", key)

    def delete(self, *keys: Any) -> Any:
        return self._call("DEL", *keys)


def _pending_summary(reply: list[Any]) -> dict[str, Any]:
    return {
        "pending": reply[0],
        "min": reply[1],
        "max": reply[2],
        "consumers": [{"name": n, "pending": int(p)} for n, p in reply[3] or []],
    }


def _pending_rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "message_id": row[0],
            "consumer": row[1],
            "time_since_delivered": row[2],
            "times_delivered": row[3],
        }
        for row in rows
    ]


def _str_keys(flat: list[Any]) -> dict[str, Any]:
    return {k.decode(): v for k, v in resp._pairs(flat).items()}


def _entries(entries: list[Any]) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return [(eid, resp._pairs(fields)) for eid, fields in entries]


class ConsumerClient(ConsumerCommands, resp.Client):
    """``resp.Client`` plus consumer groups, scripts and transactions (one per thread)."""

    if hiredis is not None:
        _connection_type = resp.HiredisConnection
        _encode = staticmethod(_pack)

    # -- scripts and transactions --------------------------------------------------------------

    def register_script(self, lua: str) -> Script:
        return Script(self, lua)

    def pipeline(self, transaction: bool = False) -> Pipeline:  # type: ignore[override]
        """Queued commands sent in one round trip; ``transaction=True`` wraps them in
        MULTI/EXEC (every Blueplane key is in one slot, so a transaction stays on one node)."""
        return Pipeline(self, transaction)

    def send_ahead(self, commands: Sequence[Sequence[Any]]) -> Ahead:
        """Send ``commands`` in one write and return before any reply is read: the caller works
        while Redis runs them, then takes the replies in order with :meth:`Ahead.next` (all of
        them, before any other command goes out on this client). Redis writes the replies of
        commands that arrive together after running them all: send alone what must come back
        early.

        Not retried (the commands may have run); a lost connection or a redirect is raised as
        Unavailable, like :meth:`transaction`: the caller's steps are repeatable.
        """
        deadline = time.monotonic() + self.timeout_s
        key = next((k for k in map(resp._command_key, commands) if k is not None), None)
        node: resp.Node | None = None
        try:
            node = self._node_for(key, deadline)
            connection = self._open(node, deadline)
            connection.send(b"".join(self._encode(c) for c in commands), deadline)
        except (OSError, ValueError) as exc:
            raise self._lost(node, exc) from None
        return Ahead(self, node, connection)

    def _lost(self, node: resp.Node | None, exc: Exception) -> resp.Unavailable:
        if node is not None:
            self._drop(node)
        self._stale = self.cluster
        return resp.Unavailable(
            f"Redis is not reachable at {resp.safe_url(self.url)} ({resp._reason(exc)})"
        )

    def transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Run ``commands`` in one MULTI/EXEC; their replies, or the first error raised.

        Not retried here: after a lost connection nobody knows whether EXEC ran, so the caller
        (whose steps are repeatable) decides; a redirect means the slot moved mid-way and is
        raised as Unavailable after marking the slot map stale (transient: try again).
        """
        deadline = time.monotonic() + self.timeout_s
        key = next((k for k in map(resp._command_key, commands) if k is not None), None)
        wrapped = [("MULTI",), *commands, ("EXEC",)]
        node: resp.Node | None = None
        try:
            node = self._node_for(key, deadline)
            connection = self._open(node, deadline)
            connection.send(b"".join(self._encode(c) for c in wrapped), deadline)
            replies = [connection.read(deadline) for _ in wrapped]
        except (OSError, ValueError) as exc:
            raise self._lost(node, exc) from None
        for reply in replies[:-1]:
            if isinstance(reply, resp.ReplyError):
                if str(reply).split(" ", 1)[0] in _SLOT_MOVING:
                    self._stale = True
                    raise resp.Unavailable(f"the bus's slot is moving ({reply})")
                raise reply
        result = replies[-1]
        if isinstance(result, resp.ReplyError):
            raise result
        for reply in result or []:
            if isinstance(reply, resp.ReplyError):
                raise reply
        return list(result or [])


class Ahead:
    """Replies of commands sent by :meth:`ConsumerClient.send_ahead`, read one by one in order
    (error replies are returned as ReplyError values, as ``execute_many`` does)."""

    def __init__(self, client: ConsumerClient, node: resp.Node, connection: Any) -> None:
        self.client = client
        self.node = node
        self.connection = connection

    def next(self) -> Any:
        try:
            reply = self.connection.read(time.monotonic() + self.client.timeout_s)
        except (OSError, ValueError) as exc:
            raise self.client._lost(self.node, exc) from None
        if isinstance(reply, resp.ReplyError) and str(reply).split(" ", 1)[0] in _SLOT_MOVING:
            self.client._stale = True
            self.client._drop(self.node)  # the replies still due on it are of no use
            raise resp.Unavailable(f"the bus's slot is moving ({reply})")
        return reply

    def abandon(self) -> None:
        """Close the connection when replies are left unread (they would answer later calls)."""
        self.client._drop(self.node)


class Pipeline(ConsumerCommands, resp.Pipeline):
    """Queued commands; ``execute`` sends them in one round trip, or as one MULTI/EXEC."""

    def __init__(self, client: ConsumerClient, transaction: bool = False) -> None:
        super().__init__(client)
        self._consumer_client = client
        self._transaction = transaction

    def execute(self) -> list[Any]:
        if not self._transaction:
            return super().execute()
        commands, converters = self._commands, self._converters
        self._commands, self._converters = [], []
        if not commands:
            return []
        replies = self._consumer_client.transaction(commands)
        return [c(r) if c else r for r, c in zip(replies, converters, strict=True)]
