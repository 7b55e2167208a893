"""Reading stored events back out of ``raw_traces`` (workers, rebuilds, archives).

Only processes that own the database use this; the query side cannot read ``raw_traces``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from blueplane_core.codec import Decoder
from blueplane_core.events import SCHEMA_VERSION
from blueplane_core.fast_start import uuid_text

#: the columns that, with the decoded ``event_data``, make up the envelope again.
_COLUMNS = (
    "sequence, event_id, timestamp, platform, source, session_id, event_type, hook_type,"
    " event_codec, event_data"
)


def stored_body(event: dict[str, Any]) -> bytes:
    """What ``event_data`` holds before compression: the envelope's metadata and payload.

    The other envelope fields have columns of their own; storing their (incompressible) ids
    twice would cost more than everything else in the blob.
    """
    return orjson.dumps({"metadata": event["metadata"], "payload": event["payload"]})


def envelope(row: tuple[Any, ...], decoder: Decoder) -> dict[str, Any]:
    """The original envelope of a row selected with ``_COLUMNS`` (``event_data`` holds only
    metadata and payload; the other fields are columns)."""
    body = orjson.loads(decoder.decode(int(row[8]), row[9]))
    return {
        "schema": SCHEMA_VERSION,
        "event_id": _uuid_text(bytes(row[1])),
        "timestamp": row[2],
        "platform": row[3],
        "source": row[4],
        "session_id": row[5],
        "event_type": row[6],
        "hook_type": row[7],
        "metadata": body["metadata"],
        "payload": body["payload"],
    }


def _uuid_text(raw: bytes) -> str:
    """``str(uuid.UUID(bytes=raw))`` without building a UUID object (once per event read)."""
    if len(raw) != 16:
        raise ValueError(f"an event id has 16 bytes, not {len(raw)}")
    return uuid_text(raw.hex())


class RawEvents:
    """Decodes stored envelopes by sequence, whatever dictionary each row was compressed with."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.decoder = Decoder(conn)

    def by_sequence(self, sequences: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The envelopes of the given sequences that exist (missing ones are left out)."""
        wanted = sorted(set(sequences))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM raw_traces WHERE sequence IN ({marks})", chunk
            )
            for row in rows:
                found[int(row[0])] = envelope(row, self.decoder)
        return found

    def iterate(
        self,
        after: int = 0,
        session_id: str | None = None,
        batch: int = 1000,
        known: dict[int, dict[str, Any]] | None = None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """(sequence, envelope) in sequence order, optionally for one session. ``known``:
        envelopes the caller already decoded, by sequence (a stored event never changes), taken
        as they are instead of being decoded again."""
        known = known or {}
        last = after
        while True:
            if session_id is None:
                rows = self.conn.execute(
                    f"SELECT {_COLUMNS} FROM raw_traces WHERE sequence > ?"
                    " ORDER BY sequence LIMIT ?",
                    (last, batch),
                ).fetchall()
            else:
                rows = self.conn.execute(
                    f"SELECT {_COLUMNS} FROM raw_traces WHERE session_id = ? AND sequence > ?"
                    " ORDER BY sequence LIMIT ?",
                    (session_id, last, batch),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                seq = int(row[0])
                found = known.get(seq)
                yield seq, found if found is not None else envelope(row, self.decoder)
            last = int(rows[-1][0])
