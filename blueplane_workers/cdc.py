"""Reading the CDC stream as one consumer of a worker group (metrics, conversations, insights).

The same rules as every Blueplane consumer: a stable consumer name (supervisord process number),
own pending entries re-read first after a start, then new entries, and now and then entries other
consumers left idle (XAUTOCLAIM, cursor followed to the end). The delivery count of each entry
decides when it is dead-lettered. Acknowledging is NOT done here: each worker acknowledges in the
same step that makes its effects durable (see metrics_store and conversations).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import redis

from blueplane_core import streams
from blueplane_core.lifecycle import supervisor_process_num


@dataclass
class CdcEntry:
    """One CDC entry: the stream id and the raw_traces sequence it announces."""

    id: bytes
    sequence: int | None  # None: the entry is malformed (no or bad ``seq`` field)
    event_type: str
    session_id: str
    priority: int
    deliveries: int = 1
    deleted: bool = False  # trimmed while pending: nothing to do but acknowledge
    raw: bytes = b""


def _items(reply: object) -> list:
    """The (id, fields) entries of an XREADGROUP reply, RESP2 (list of [stream, entries]) or
    RESP3 (a map stream -> entries), whichever the connection speaks."""
    if not reply:
        return []
    if isinstance(reply, dict):
        groups = list(reply.values())
    else:
        groups = [group[1] for group in reply]  # type: ignore[attr-defined]
    return [entry for entries in groups for entry in entries or []]


def consumer_name(kind: str, explicit: str | None = None) -> str:
    """Stable across restarts under supervisord (host + process number), unique otherwise."""
    if explicit:
        return explicit
    if "SUPERVISOR_PROCESS_NAME" in os.environ:
        return f"{kind}-{socket.gethostname()}-{supervisor_process_num()}"
    return f"{kind}-{socket.gethostname()}-pid{os.getpid()}"


def ensure_group(client: redis.Redis, group: str, stream: str = streams.CDC_STREAM) -> None:
    """Create ``group`` at the start of ``stream`` unless it exists (the ingester usually has)."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class CdcReader:
    """Reads entries of the CDC stream for one named consumer of one group."""

    def __init__(
        self, client: redis.Redis, group: str, consumer: str, stream: str = streams.CDC_STREAM
    ) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self.stream = stream
        self._claim_cursor: bytes | str = b"0-0"

    def setup(self) -> None:
        ensure_group(self.client, self.group, self.stream)

    def read_new(self, count: int, block_ms: int) -> list[CdcEntry]:
        reply = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return [self._entry(eid, f, 1) for eid, f in _items(reply)]

    def read_own_pending(self, count: int) -> list[CdcEntry]:
        reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=count)
        items = _items(reply)
        if not items:
            return []
        counts = self._delivery_counts(items[0][0], items[-1][0], len(items))
        return [self._entry(eid, f, counts.get(eid, 1)) for eid, f in items]

    def reclaim(self, min_idle_ms: int, count: int) -> list[CdcEntry]:
        reply = self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, self._claim_cursor, count=count
        )
        self._claim_cursor = reply[0] if reply[0] else b"0-0"
        items = [(eid, f) for eid, f in reply[1] if eid is not None]
        deleted = reply[2] if len(reply) > 2 else []
        entries = [CdcEntry(eid, None, "", "", 5, 0, deleted=True) for eid in deleted]
        if items:
            counts = self._delivery_counts(items[0][0], items[-1][0], len(items))
            entries += [self._entry(eid, f, counts.get(eid, 1)) for eid, f in items]
        return entries

    def ack(self, ids: list[bytes]) -> int:
        return int(self.client.xack(self.stream, self.group, *ids)) if ids else 0

    def _delivery_counts(self, first: bytes, last: bytes, count: int) -> dict[bytes, int]:
        rows = self.client.xpending_range(
            self.stream, self.group, min=first, max=last, count=count, consumername=self.consumer
        )
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}

    @staticmethod
    def _entry(eid: bytes, fields: dict[bytes, bytes] | list | None, deliveries: int) -> CdcEntry:
        if fields is None:
            return CdcEntry(eid, None, "", "", 5, deliveries, deleted=True)
        if isinstance(fields, list):  # a client whose XREADGROUP replies are kept raw
            fields = dict(zip(fields[::2], fields[1::2], strict=False))
        raw = b" ".join(k + b"=" + v for k, v in fields.items())
        try:
            seq = int(fields[streams.CDC_SEQUENCE.encode()])
        except (KeyError, ValueError):
            return CdcEntry(eid, None, "", "", 5, deliveries, raw=raw)
        try:
            priority = int(fields.get(streams.CDC_PRIORITY.encode(), b"5"))
        except ValueError:
            priority = 5
        return CdcEntry(
            eid,
            seq,
            fields.get(streams.CDC_EVENT_TYPE.encode(), b"").decode(errors="replace"),
            fields.get(streams.CDC_SESSION_ID.encode(), b"").decode(errors="replace"),
            priority,
            deliveries,
            raw=raw,
        )
