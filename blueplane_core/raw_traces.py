"""Reading stored events back out of ``raw_traces`` (workers, rebuilds, archives).

Only processes that own the database use this; the query side cannot read ``raw_traces``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from blueplane_core.codec import Decoder


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
                f"SELECT sequence, event_codec, event_data FROM raw_traces"
                f" WHERE sequence IN ({marks})",
                chunk,
            )
            for seq, codec_id, blob in rows:
                found[int(seq)] = orjson.loads(self.decoder.decode(int(codec_id), blob))
        return found

    def iterate(
        self, after: int = 0, session_id: str | None = None, batch: int = 1000
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """(sequence, envelope) in sequence order, optionally for one session."""
        last = after
        while True:
            if session_id is None:
                rows = self.conn.execute(
                    "SELECT sequence, event_codec, event_data FROM raw_traces"
                    " WHERE sequence > ? ORDER BY sequence LIMIT ?",
                    (last, batch),
                ).fetchall()
            else:
                rows = self.conn.execute(
                    "SELECT sequence, event_codec, event_data FROM raw_traces"
                    " WHERE session_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
                    (session_id, last, batch),
                ).fetchall()
            if not rows:
                return
            for seq, codec_id, blob in rows:
                yield int(seq), orjson.loads(self.decoder.decode(int(codec_id), blob))
            last = int(rows[-1][0])
