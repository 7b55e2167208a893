"""The ingester's side of Redis: reading entries (own pending first, then new, then reclaimed)
and finishing a batch (CDC entries, dead letters and XACK in one atomic Lua call).

Delivery is at least once. An entry may be delivered again after a crash anywhere before its
XACK; that is harmless because the row insert ignores a known ``event_id`` and the CDC entry is
sent again with the row's existing sequence (workers are idempotent per sequence). Because CDC,
DLQ and XACK happen in one script, a crash can never leave an entry acknowledged without its CDC
entry; the worst case is a CDC entry sent twice for one sequence, which workers absorb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import redis

from blueplane_core import streams

# KEYS: events stream, CDC stream, DLQ stream.
# ARGV[1] group; ARGV[2] JSON array of strings, 4 per CDC entry (seq, type, sid, pri);
# ARGV[3] JSON array of the entry ids to acknowledge; then 6 values per dead letter (reason,
# original bytes, id, consumer, deliveries, stream) as plain arguments, since the original bytes
# need not be valid UTF-8. JSON keeps the common case to three arguments: packing hundreds of
# separate arguments cost more client time than the script itself.
_FINISH_LUA = """
local group = ARGV[1]
local cdc = cjson.decode(ARGV[2])
for i = 1, #cdc, 4 do
  redis.call('XADD', KEYS[2], '*', '%(seq)s', cdc[i], '%(type)s', cdc[i+1],
             '%(sid)s', cdc[i+2], '%(pri)s', cdc[i+3])
end
for i = 4, #ARGV, 6 do
  redis.call('XADD', KEYS[3], '*', '%(reason)s', ARGV[i], '%(original)s', ARGV[i+1],
             '%(id)s', ARGV[i+2], '%(consumer)s', ARGV[i+3], '%(deliveries)s', ARGV[i+4],
             '%(stream)s', ARGV[i+5])
end
local ack = cjson.decode(ARGV[3])
local acked = 0
for i = 1, #ack, 1000 do
  acked = acked + redis.call('XACK', KEYS[1], group, unpack(ack, i, math.min(i + 999, #ack)))
end
return acked
""" % {
    "seq": streams.CDC_SEQUENCE,
    "type": streams.CDC_EVENT_TYPE,
    "sid": streams.CDC_SESSION_ID,
    "pri": streams.CDC_PRIORITY,
    "reason": streams.DLQ_REASON,
    "original": streams.DLQ_ORIGINAL,
    "id": streams.DLQ_SOURCE_ID,
    "consumer": streams.DLQ_CONSUMER,
    "deliveries": streams.DLQ_DELIVERIES,
    "stream": streams.DLQ_SOURCE_STREAM,
}


def _raw_reply(response: object, **_: object) -> object:
    """Keep XREADGROUP's reply as hiredis parsed it (nested lists): redis-py's own conversion
    into dicts cost more per entry than the rest of the read."""
    return response


_EVENT_FIELD = streams.EVENT_FIELD.encode()


def _items(reply: object) -> list[list]:  # type: ignore[type-arg]
    """The [id, fields] items of a raw XREADGROUP reply, RESP2 (list) or RESP3 (map)."""
    if not reply:
        return []
    streams_ = reply.values() if isinstance(reply, dict) else (s[1] for s in reply)  # type: ignore[attr-defined]
    return [item for entries in streams_ for item in entries]


@dataclass
class Entry:
    """One stream entry as delivered to this consumer."""

    id: bytes
    data: bytes | None  # the envelope bytes; None if the entry has no ``e`` field
    deliveries: int = 1
    deleted: bool = False  # trimmed or deleted from the stream while pending: only acknowledge


@dataclass
class Outcome:
    """What finishing a batch must do in Redis."""

    cdc: list[tuple[int, str, str, int]] = field(default_factory=list)
    dead: list[tuple[Entry, str]] = field(default_factory=list)
    ack: list[bytes] = field(default_factory=list)


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream) unless it exists."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class IngestBus:
    """Reads and finishes entries of the events stream for one named consumer."""

    def __init__(self, client: redis.Redis, consumer: str, group: str = streams.INGEST_GROUP):
        self.client = client
        self.consumer = consumer
        self.group = group
        self.stream = streams.EVENTS_STREAM
        self._finish = client.register_script(_FINISH_LUA)
        # This client belongs to the ingester: its XREADGROUP replies stay raw (see _raw_reply).
        client.set_response_callback("XREADGROUP", _raw_reply)
        self._claim_cursor = b"0-0"

    def setup(self) -> None:
        ensure_group(self.client, self.stream, self.group)
        # Worker groups are created here, at the start of the CDC stream, so that no CDC entry is
        # ever written before every kind's group exists to keep it from being trimmed.
        for group in streams.CDC_GROUPS:
            ensure_group(self.client, streams.CDC_STREAM, group)

    def read_new(self, count: int, block_ms: int) -> list[Entry]:
        """Entries never delivered before (``>``), blocking up to ``block_ms``."""
        reply = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return [self._entry(eid, fields, 1) for eid, fields in _items(reply)]

    def read_own_pending(self, count: int) -> list[Entry]:
        """Entries this consumer was given before and never acknowledged (after a restart)."""
        reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=count)
        items = list(_items(reply))
        if not items:
            return []
        counts = self._delivery_counts(items[0][0], items[-1][0], len(items))
        return [self._entry(eid, fields, counts.get(eid, 1)) for eid, fields in items]

    def reclaim(self, min_idle_ms: int, count: int) -> list[Entry]:
        """Entries other consumers left pending past ``min_idle_ms`` (XAUTOCLAIM, cursor kept)."""
        reply = self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, self._claim_cursor, count=count
        )
        self._claim_cursor = reply[0] if reply[0] else b"0-0"
        items = [(eid, fields) for eid, fields in reply[1] if eid is not None]
        deleted = reply[2] if len(reply) > 2 else []
        entries = [Entry(eid, None, 0, deleted=True) for eid in deleted]
        if items:
            counts = self._delivery_counts(items[0][0], items[-1][0], len(items))
            entries += [self._entry(eid, fields, counts.get(eid, 1)) for eid, fields in items]
        return entries

    def claim_cursor_wrapped(self) -> bool:
        return self._claim_cursor in (b"0-0", "0-0")

    def finish(self, outcome: Outcome) -> int:
        """Send CDC entries and dead letters and acknowledge, atomically; returns XACK count."""
        cdc: list[str] = []
        for seq, event_type, session_id, priority in outcome.cdc:
            cdc += [str(seq), event_type, session_id, str(priority)]
        args: list[bytes | str | int] = [
            self.group,
            orjson.dumps(cdc),
            orjson.dumps([entry_id.decode() for entry_id in outcome.ack]),
        ]
        for entry, reason in outcome.dead:
            args += [
                reason,
                entry.data or b"",
                entry.id,
                self.consumer,
                entry.deliveries,
                self.stream,
            ]
        keys = [self.stream, streams.CDC_STREAM, streams.DLQ_STREAM]
        return int(self._finish(keys=keys, args=args))

    def _delivery_counts(self, first: bytes, last: bytes, count: int) -> dict[bytes, int]:
        rows = self.client.xpending_range(
            self.stream, self.group, min=first, max=last, count=count, consumername=self.consumer
        )
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}

    @staticmethod
    def _entry(
        eid: bytes, fields: list[bytes] | dict[bytes, bytes] | None, deliveries: int
    ) -> Entry:
        """An Entry from a raw reply's [field, value, ...] list (or XAUTOCLAIM's dict)."""
        if fields is None:
            return Entry(eid, None, deliveries, deleted=True)
        if isinstance(fields, dict):
            return Entry(eid, fields.get(_EVENT_FIELD), deliveries)
        if len(fields) == 2 and fields[0] == _EVENT_FIELD:
            return Entry(eid, fields[1], deliveries)
        pairs = dict(zip(fields[::2], fields[1::2], strict=False))
        return Entry(eid, pairs.get(_EVENT_FIELD), deliveries)
