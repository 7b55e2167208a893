"""The CDC stream as one worker consumer sees it: which sequence an entry announces.

Reading follows the rules every Blueplane consumer shares (``blueplane_core.consumer``: stable
name, own pending first, XAUTOCLAIM of idle entries, delivery counts). Acknowledging is NOT done
here: each worker acknowledges in the same step that makes its effects durable (see
metrics_store and conversations).
"""

from __future__ import annotations

from dataclasses import dataclass

from blueplane_core import streams
from blueplane_core.consumer import Delivery, GroupReader, consumer_name
from blueplane_core.resp_consumer import ConsumerClient

__all__ = ["CdcEntry", "CdcReader", "cdc_entry", "consumer_name"]

_SEQ = streams.CDC_SEQUENCE.encode()
_TYPE = streams.CDC_EVENT_TYPE.encode()
_SID = streams.CDC_SESSION_ID.encode()
_PRI = streams.CDC_PRIORITY.encode()


@dataclass(slots=True)
class CdcEntry:
    """One CDC entry: the stream id and the raw_traces sequence it announces."""

    id: bytes
    sequence: int | None  # None: the entry is malformed (no or bad ``seq`` field)
    event_type: str
    session_id: str
    priority: int
    deliveries: int = 1
    deleted: bool = False  # trimmed while pending: nothing to do but acknowledge
    #: the entry's fields as delivered; :attr:`raw` is made from them only for a dead letter
    fields: dict[bytes, bytes] | None = None

    @property
    def raw(self) -> bytes:
        """The entry's fields as one line (what a dead letter keeps of it)."""
        if not self.fields:
            return b""
        return b" ".join(k + b"=" + v for k, v in self.fields.items())


class CdcReader(GroupReader):
    """Reads the CDC stream as ``consumer`` of a worker kind's ``group``."""

    def __init__(
        self, client: ConsumerClient, group: str, consumer: str, stream: str = streams.CDC_STREAM
    ) -> None:
        super().__init__(client, stream, group, consumer)


def cdc_entry(delivery: Delivery) -> CdcEntry:
    """What a delivered CDC entry announces (malformed entries keep their fields for the DLQ)."""
    fields = delivery.fields
    if fields is None:
        return CdcEntry(delivery.id, None, "", "", 5, delivery.deliveries, deleted=True)
    try:
        seq = int(fields[_SEQ])
    except (KeyError, ValueError):
        return CdcEntry(delivery.id, None, "", "", 5, delivery.deliveries, fields=fields)
    try:
        priority = int(fields.get(_PRI, b"5"))
    except ValueError:
        priority = 5
    return CdcEntry(
        delivery.id,
        seq,
        fields.get(_TYPE, b"").decode(errors="replace"),
        fields.get(_SID, b"").decode(errors="replace"),
        priority,
        delivery.deliveries,
        fields=fields,
    )
