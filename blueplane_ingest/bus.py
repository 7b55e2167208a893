"""The ingester's side of Redis: reading the events stream (``blueplane_core.consumer``) and
finishing a batch (CDC entries, dead letters and XACK in one atomic Lua call).

Delivery is at least once. An entry may be delivered again after a crash anywhere before its
XACK; that is harmless because the row insert ignores a known ``event_id`` and the CDC entry is
sent again with the row's existing sequence (workers are idempotent per sequence). Because CDC,
DLQ and XACK happen in one script, a crash can never leave an entry acknowledged without its CDC
entry; the worst case is a CDC entry sent twice for one sequence, which workers absorb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from blueplane_core import streams
from blueplane_core.consumer import Delivery, GroupReader, ensure_group
from blueplane_core.resp_consumer import ConsumerClient

# KEYS: events stream, CDC stream, DLQ stream.
# ARGV[1] group; ARGV[2] JSON array of strings, 7 per CDC entry (seq, type, sid, pri, plat, tool,
# tok);
# ARGV[3] JSON array of the entry ids to acknowledge; then 6 values per dead letter (reason,
# original bytes, id, consumer, deliveries, stream) as plain arguments, since the original bytes
# need not be valid UTF-8. JSON keeps the common case to three arguments: packing hundreds of
# separate arguments cost more client time than the script itself.
_FINISH_LUA = """
local group = ARGV[1]
local cdc = cjson.decode(ARGV[2])
for i = 1, #cdc, 7 do
  redis.call('XADD', KEYS[2], '*', '%(seq)s', cdc[i], '%(type)s', cdc[i+1],
             '%(sid)s', cdc[i+2], '%(pri)s', cdc[i+3], '%(plat)s', cdc[i+4],
             '%(tool)s', cdc[i+5], '%(tok)s', cdc[i+6])
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
    "plat": streams.CDC_PLATFORM,
    "tool": streams.CDC_TOOL,
    "tok": streams.CDC_TOKENS,
    "reason": streams.DLQ_REASON,
    "original": streams.DLQ_ORIGINAL,
    "id": streams.DLQ_SOURCE_ID,
    "consumer": streams.DLQ_CONSUMER,
    "deliveries": streams.DLQ_DELIVERIES,
    "stream": streams.DLQ_SOURCE_STREAM,
}


@dataclass
class Outcome:
    """What finishing a batch must do in Redis."""

    #: (sequence, event type, session id, priority, platform, tool, tokens) per stored event
    cdc: list[tuple[int, str, str, int, str, str, int]] = field(default_factory=list)
    dead: list[tuple[Delivery, str]] = field(default_factory=list)
    ack: list[bytes] = field(default_factory=list)


class IngestBus(GroupReader):
    """The events stream as one consumer of ``processors``, plus the batch epilogue."""

    def __init__(self, client: ConsumerClient, consumer: str, group: str = streams.INGEST_GROUP):
        super().__init__(client, streams.EVENTS_STREAM, group, consumer)
        self._finish = client.register_script(_FINISH_LUA)

    def setup(self) -> None:
        super().setup()
        # Worker groups are created here, at the start of the CDC stream, so that no CDC entry is
        # ever written before every kind's group exists to keep it from being trimmed.
        for group in streams.CDC_GROUPS:
            ensure_group(self.client, streams.CDC_STREAM, group)

    def finish(self, outcome: Outcome) -> int:
        """Send CDC entries and dead letters and acknowledge, atomically; returns XACK count."""
        cdc: list[str] = []
        for seq, event_type, session_id, priority, platform, tool, tokens in outcome.cdc:
            cdc += [str(seq), event_type, session_id, str(priority), platform, tool, str(tokens)]
        args: list[bytes | str | int] = [
            self.group,
            orjson.dumps(cdc),
            orjson.dumps([entry_id.decode() for entry_id in outcome.ack]),
        ]
        for entry, reason in outcome.dead:
            original = entry.get(EVENT_FIELD) or b""
            args += [reason, original, entry.id, self.consumer, entry.deliveries, self.stream]
        keys = [self.stream, streams.CDC_STREAM, streams.DLQ_STREAM]
        return int(self._finish(keys=keys, args=args))


EVENT_FIELD = streams.EVENT_FIELD.encode()
