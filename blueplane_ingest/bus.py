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

import redis

from blueplane_core import streams

# KEYS: events stream, CDC stream, DLQ stream.
# ARGV: group, number of CDC entries, then 4 values per CDC entry (seq, type, sid, pri),
#       number of dead letters, then 6 values per letter (reason, original, id, consumer,
#       deliveries, stream), then the entry ids to acknowledge.
_FINISH_LUA = """
local group = ARGV[1]
local n_cdc = tonumber(ARGV[2])
local i = 3
for _ = 1, n_cdc do
  redis.call('XADD', KEYS[2], '*', '%(seq)s', ARGV[i], '%(type)s', ARGV[i+1],
             '%(sid)s', ARGV[i+2], '%(pri)s', ARGV[i+3])
  i = i + 4
end
local n_dlq = tonumber(ARGV[i])
i = i + 1
for _ = 1, n_dlq do
  redis.call('XADD', KEYS[3], '*', '%(reason)s', ARGV[i], '%(original)s', ARGV[i+1],
             '%(id)s', ARGV[i+2], '%(consumer)s', ARGV[i+3], '%(deliveries)s', ARGV[i+4],
             '%(stream)s', ARGV[i+5])
  i = i + 6
end
if i <= #ARGV then
  return redis.call('XACK', KEYS[1], group, unpack(ARGV, i, #ARGV))
end
return 0
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
        return [self._entry(eid, fields, 1) for _, items in reply or [] for eid, fields in items]

    def read_own_pending(self, count: int) -> list[Entry]:
        """Entries this consumer was given before and never acknowledged (after a restart)."""
        reply = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=count
        )
        items = [item for _, entries in reply or [] for item in entries]
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
        args: list[bytes | str | int] = [self.group, len(outcome.cdc)]
        for seq, event_type, session_id, priority in outcome.cdc:
            args += [seq, event_type, session_id, priority]
        args.append(len(outcome.dead))
        for entry, reason in outcome.dead:
            args += [reason, entry.data or b"", entry.id, self.consumer, entry.deliveries, self.stream]
        args += outcome.ack
        keys = [self.stream, streams.CDC_STREAM, streams.DLQ_STREAM]
        return int(self._finish(keys=keys, args=args))

    def _delivery_counts(self, first: bytes, last: bytes, count: int) -> dict[bytes, int]:
        rows = self.client.xpending_range(
            self.stream, self.group, min=first, max=last, count=count, consumername=self.consumer
        )
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}

    @staticmethod
    def _entry(eid: bytes, fields: dict[bytes, bytes] | None, deliveries: int) -> Entry:
        if fields is None:
            return Entry(eid, None, deliveries, deleted=True)
        return Entry(eid, fields.get(streams.EVENT_FIELD.encode()), deliveries)
