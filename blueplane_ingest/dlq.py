"""The dead-letter queue: what it holds, and putting entries back or dropping them.

Dead letters are never removed automatically. ``retry`` puts the original bytes back on the
events stream and removes the letter in one MULTI, so a letter is never both lost and retried.
"""

from __future__ import annotations

from dataclasses import dataclass

from blueplane_core import streams
from blueplane_core.resp_consumer import ConsumerClient


@dataclass
class DeadLetter:
    id: str
    reason: str
    original: bytes
    source_id: str
    consumer: str
    deliveries: int


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""


def list_letters(client: ConsumerClient, count: int = 100, start: str = "-") -> list[DeadLetter]:
    letters = []
    for entry_id, fields in client.xrange(streams.DLQ_STREAM, min=start, count=count):
        letters.append(
            DeadLetter(
                id=_text(entry_id),
                reason=_text(fields.get(streams.DLQ_REASON.encode())),
                original=fields.get(streams.DLQ_ORIGINAL.encode(), b""),
                source_id=_text(fields.get(streams.DLQ_SOURCE_ID.encode())),
                consumer=_text(fields.get(streams.DLQ_CONSUMER.encode())),
                deliveries=int(fields.get(streams.DLQ_DELIVERIES.encode(), b"0") or 0),
            )
        )
    return letters


def size(client: ConsumerClient) -> int:
    return int(client.xlen(streams.DLQ_STREAM))


def retry(client: ConsumerClient, ids: list[str]) -> int:
    """Put these letters' original events back on the events stream; returns how many."""
    done = 0
    for letter_id in ids:
        found = client.xrange(streams.DLQ_STREAM, min=letter_id, max=letter_id)
        if not found:
            continue
        original = found[0][1].get(streams.DLQ_ORIGINAL.encode(), b"")
        pipe = client.pipeline(transaction=True)
        pipe.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: original})
        pipe.xdel(streams.DLQ_STREAM, letter_id)
        pipe.execute()
        done += 1
    return done


def drop(client: ConsumerClient, ids: list[str]) -> int:
    """Delete these letters for good; returns how many existed."""
    return int(client.xdel(streams.DLQ_STREAM, *ids)) if ids else 0
