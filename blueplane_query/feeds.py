"""The live feeds behind ``/ws/metrics``, ``/ws/events`` and ``/ws/sessions/{id}``.

One loop per server, read-only: ``XREAD BLOCK`` on the CDC stream (no consumer group, so it
acknowledges nothing and changes nothing) returns within a millisecond of an event being
stored, with its sanitized summary (type, platform, session, tool, tokens: see
``blueplane_core.streams``); every event feed subscriber gets it at once. After each wake-up,
at most every :data:`METRICS_EVERY_S`, the loop reads the live counters (``live.snapshot``, the
same view as ``bp-query watch``) and pushes them to ``/ws/metrics`` subscribers when they
changed. A session subscriber gets its session's events as they are stored and, once the
conversations worker has folded them, the session's timeline again.

The blocking Redis calls run in a worker thread on the loop's own connections, so the event
loop never waits on Redis. Nothing runs while nobody listens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from blueplane_core import streams
from blueplane_query.errors import QueryError
from blueplane_query.filters import Filter, iso
from blueplane_query.redis_reader import RedisReader, ReplyError

log = logging.getLogger("blueplane.query")

#: /ws/metrics pushes at most this often.
METRICS_EVERY_S = 0.1
#: XREAD waits at most this long for a new stored event (also the metrics poll when idle).
BLOCK_MS = 100
#: events one XREAD returns at most (a burst beyond is read on the next call).
READ_COUNT = 500
#: a session subscriber's timeline is read again this long after its last event.
TIMELINE_DELAY_S = 0.5

_FIELDS = {
    streams.CDC_SEQUENCE.encode(): "seq",
    streams.CDC_EVENT_TYPE.encode(): "type",
    streams.CDC_SESSION_ID.encode(): "session_id",
    streams.CDC_PLATFORM.encode(): "platform",
    streams.CDC_TOOL.encode(): "tool",
    streams.CDC_TOKENS.encode(): "tokens",
}


def summary(entry_id: bytes, fields: list[bytes]) -> dict[str, Any]:
    """A CDC entry as the event feed sends it; ``stored_at`` is when the ingester stored it."""
    out: dict[str, Any] = {"id": entry_id.decode()}
    pairs = dict(zip(fields[::2], fields[1::2], strict=False))
    for raw, name in _FIELDS.items():
        value = pairs.get(raw)
        text = value.decode("utf-8", "replace") if value is not None else None
        out[name] = int(text) if name in ("seq", "tokens") and text and text.isdigit() else text
    out["tool"] = out["tool"] or None
    stored_ms = int(entry_id.split(b"-")[0])
    out["stored_at"] = iso(_from_ms(stored_ms))
    return out


def _from_ms(ms: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC)


class Subscriber:
    """One WebSocket's queue; a slow client loses its oldest updates, never blocks the loop."""

    def __init__(self, limit: int = 256) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(limit)

    def offer(self, message: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(message)


class Hub:
    """Subscribers of each feed and the one loop feeding them."""

    def __init__(self, reader_factory: Any, *, max_clients: int = 32) -> None:
        self._reader_factory = reader_factory
        self.max_clients = max_clients
        self.metrics: set[Subscriber] = set()
        self.events: set[Subscriber] = set()
        self.sessions: dict[str, set[Subscriber]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reader: RedisReader | None = None
        self._last_id = b"$"
        self._last_metrics: dict[str, Any] | None = None
        self._metrics_due = 0.0
        self._timeline_due: dict[str, float] = {}
        self.timeline: Any = None  # set by the service: session id -> timeline dict (sync)

    # -- subscribers --------------------------------------------------------------------------

    @property
    def clients(self) -> int:
        return len(self.metrics) + len(self.events) + sum(len(s) for s in self.sessions.values())

    def full(self) -> bool:
        return self.clients >= self.max_clients

    def subscribe(self, feed: str, session_id: str | None = None) -> Subscriber:
        sub = Subscriber()
        if feed == "metrics":
            self.metrics.add(sub)
            self._metrics_due = 0.0
            if self._last_metrics is not None:
                sub.offer(self._last_metrics)
        elif feed == "events":
            self.events.add(sub)
        else:
            self.sessions.setdefault(session_id or "", set()).add(sub)
        self._wake.set()
        self.start()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.metrics.discard(sub)
        self.events.discard(sub)
        for sid, subs in list(self.sessions.items()):
            subs.discard(sub)
            if not subs:
                del self.sessions[sid]

    # -- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._reader is not None:
            self._reader.close()

    async def _run(self) -> None:
        while True:
            if not self.clients:
                self._wake.clear()
                await self._wake.wait()
                self._last_id = b"$"  # nobody missed anything: start from what comes next
            try:
                events, metrics = await asyncio.to_thread(self._poll)
            except (QueryError, ReplyError, OSError) as exc:
                self._broadcast_metrics({"available": False, "error": str(exc)})
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                await asyncio.sleep(1.0)
                continue
            for event in events:
                for sub in self.events:
                    sub.offer({"kind": "event", **event})
                for sub in self.sessions.get(event["session_id"] or "", ()):
                    sub.offer({"kind": "event", **event})
                if event["session_id"] in self.sessions:
                    self._timeline_due[event["session_id"]] = time.monotonic() + TIMELINE_DELAY_S
            if metrics is not None:
                self._broadcast_metrics({"available": True, **metrics})
            await self._push_timelines()

    def _broadcast_metrics(self, message: dict[str, Any]) -> None:
        comparable = {k: v for k, v in message.items() if k != "at"}
        last = self._last_metrics
        if last is not None and {k: v for k, v in last.items() if k != "at"} == comparable:
            return
        self._last_metrics = message
        for sub in self.metrics:
            sub.offer({"kind": "metrics", **message})

    def _poll(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One round (worker thread): new stored events, and the live counters when due."""
        from blueplane_query.live import snapshot

        if self._reader is None:
            self._reader = self._reader_factory()
        reader = self._reader
        found: list[dict[str, Any]] = []
        if self.events or self.sessions or self.metrics:
            if self._last_id == b"$":  # pin "now" first, so nothing stored meanwhile is skipped
                last = reader.execute("XREVRANGE", streams.CDC_STREAM, "+", "-", "COUNT", 1)
                self._last_id = last[0][0] if last else b"0-0"
            reply = reader.execute(
                "XREAD",
                "COUNT",
                READ_COUNT,
                "BLOCK",
                BLOCK_MS,
                "STREAMS",
                streams.CDC_STREAM,
                self._last_id,
            )
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    found.append(summary(entry_id, fields or []))
        metrics = None
        now = time.monotonic()
        if self.metrics and now >= self._metrics_due:
            self._metrics_due = now + METRICS_EVERY_S
            metrics = snapshot(reader, Filter())
        return found, metrics

    async def _push_timelines(self) -> None:
        now = time.monotonic()
        for sid, due in list(self._timeline_due.items()):
            if due > now:
                continue
            del self._timeline_due[sid]
            subs = self.sessions.get(sid)
            if not subs or self.timeline is None:
                continue
            try:
                timeline = await asyncio.to_thread(self.timeline, sid)
            except QueryError as exc:
                timeline = {"error": str(exc)}
            for sub in subs:
                sub.offer({"kind": "timeline", **timeline})
