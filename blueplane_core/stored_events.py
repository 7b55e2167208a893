"""Every stored event, wherever it lives now: ``raw_traces`` or the Parquet archive.

Derived data (conversations, the metrics' fact states, commits) is a function of ALL the events
of a session, not of the ones still in ``raw_traces``: maintenance moves events past the
retention to Parquet (``blueplane_core.archive``), and a late event of such a session (a resumed
transcript, a ``session_end``, a spooled hook, a retried export) must change only what it adds.
So refolds and rebuilds read through :class:`StoredEvents`, which merges both places in
sequence order. It has the interface of ``raw_traces.RawEvents`` (``by_sequence``, ``iterate``).

Archived files are found through the ``archive_files`` / ``archive_sessions`` tables, and only
the rows asked for are read from them (Parquet filters). Only processes that own the database
use this.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from blueplane_core import archive, paths
from blueplane_core.raw_traces import RawEvents


class StoredEvents:
    """Decodes stored envelopes from ``raw_traces`` and the archive, in sequence order."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.raw = RawEvents(conn)

    # -- what the archive holds -----------------------------------------------------------------

    def _archived(
        self, name: str, filters: list[tuple[str, str, Any]]
    ) -> list[tuple[int, dict[str, Any]]]:
        """(sequence, envelope) of one archive file's rows matching ``filters``.

        Only the matching rows are decoded, and the files are sorted by sequence in row groups
        of 10,000, so a look-up by sequence reads one row group; nothing is cached (a worker
        must not keep tens of MB of old events around for a rare late event).
        """
        import pyarrow.parquet as pq

        table = pq.read_table(paths.archive_dir() / name, filters=filters)
        return [(int(item["sequence"]), archive.envelope(item)) for item in table.to_pylist()]

    def _files_covering(self, sequences: list[int]) -> list[tuple[str, list[int]]]:
        """(file name, the sequences it may hold) for the files whose range covers some."""
        rows = self.conn.execute(
            "SELECT name, first_sequence, last_sequence FROM archive_files"
            " WHERE last_sequence >= ? AND first_sequence <= ? ORDER BY first_sequence",
            (sequences[0], sequences[-1]),
        ).fetchall()
        hits = []
        for name, first, last in rows:
            inside = [s for s in sequences if first <= s <= last]
            if inside:
                hits.append((name, inside))
        return hits

    # -- the RawEvents interface ----------------------------------------------------------------

    def by_sequence(self, sequences: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The envelopes of the given sequences that exist, raw or archived."""
        wanted = list(sequences)
        found = self.raw.by_sequence(wanted)
        missing = sorted(set(wanted) - found.keys())
        if missing:
            for name, inside in self._files_covering(missing):
                found.update(self._archived(name, [("sequence", "in", inside)]))
        return found

    def iterate(
        self,
        after: int = 0,
        session_id: str | None = None,
        batch: int = 1000,
        known: dict[int, dict[str, Any]] | None = None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """(sequence, envelope) in sequence order, optionally for one session (``known``: as
        ``RawEvents.iterate``, for one session's reading)."""
        if session_id is not None:
            yield from self._session(session_id, after, known)
            return
        ordered = self.sequences(after)
        for start in range(0, len(ordered), batch):
            chunk = ordered[start : start + batch]
            events = self.by_sequence(chunk)
            for seq in chunk:
                if seq in events:
                    yield seq, events[seq]

    def _session(
        self, session_id: str, after: int, known: dict[int, dict[str, Any]] | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        merged: dict[int, dict[str, Any]] = {}
        files = self.conn.execute(
            "SELECT f.name FROM archive_sessions s JOIN archive_files f ON f.id = s.file_id"
            " WHERE s.session_id = ? AND s.last_sequence > ? ORDER BY f.id",
            (session_id, after),
        ).fetchall()
        for (name,) in files:
            filters = [("session_id", "=", session_id), ("sequence", ">", after)]
            merged.update(self._archived(name, filters))
        if not merged:  # the common case: nothing archived, stream straight from raw_traces
            yield from self.raw.iterate(after=after, session_id=session_id, known=known)
            return
        merged.update(self.raw.iterate(after=after, session_id=session_id, known=known))
        for seq in sorted(merged):
            yield seq, merged[seq]

    # -- listings for rebuilds and refolds ------------------------------------------------------

    def sequences(self, after: int = 0) -> list[int]:
        """Every stored sequence above ``after``, raw and archived, in order."""
        found = [
            int(r[0])
            for r in self.conn.execute(
                "SELECT sequence FROM raw_traces WHERE sequence > ? ORDER BY sequence", (after,)
            )
        ]
        names = [r[0] for r in self.conn.execute("SELECT name FROM archive_files")]
        if names:
            import pyarrow.parquet as pq

            for name in names:
                column = pq.read_table(paths.archive_dir() / name, columns=["sequence"])
                found.extend(s for s in column.column(0).to_pylist() if s > after)
            found.sort()
        return found

    def sessions(self) -> list[str]:
        """Every session id with a stored event, raw or archived."""
        rows = self.conn.execute(
            "SELECT session_id FROM raw_traces UNION SELECT session_id FROM archive_sessions"
        )
        return sorted(r[0] for r in rows)

    def newest_sequence(self, session_id: str) -> int | None:
        """The newest stored sequence of a session (None: it has no stored event)."""
        row = self.conn.execute(
            "SELECT max(s) FROM (SELECT max(sequence) AS s FROM raw_traces WHERE session_id = ?"
            " UNION ALL SELECT max(last_sequence) FROM archive_sessions WHERE session_id = ?)",
            (session_id, session_id),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    # -- commits: what happened near a time, raw or archived -------------------------------------

    def of_type(self, event_type: str) -> list[tuple[int, dict[str, Any]]]:
        """Every stored event of one type, in sequence order (rebuilding commits)."""
        rows = self.conn.execute(
            "SELECT sequence FROM raw_traces WHERE event_type = ?", (event_type,)
        )
        found = self.raw.by_sequence(int(r[0]) for r in rows)
        for (name,) in self.conn.execute("SELECT name FROM archive_files").fetchall():
            found.update(self._archived(name, [("event_type", "=", event_type)]))
        return sorted(found.items())

    def last_activity(
        self, workspace: str, low: str, high: str, event_types: tuple[str, ...]
    ) -> tuple[str, str] | None:
        """(session id, time) of the newest non-git event of ``event_types`` in ``workspace``
        between ``low`` and ``high`` (inclusive, envelope times), raw or archived."""
        marks = ",".join("?" * len(event_types))
        best = self.conn.execute(
            f"SELECT timestamp, sequence, session_id FROM raw_traces"
            f" INDEXED BY idx_raw_traces_workspace_time"
            f" WHERE workspace_hash = ? AND timestamp BETWEEN ? AND ?"
            f" AND event_type IN ({marks}) AND platform != 'git'"
            f" ORDER BY timestamp DESC, sequence DESC LIMIT 1",
            (workspace, low, high, *event_types),
        ).fetchone()
        files = [
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM archive_files WHERE last_timestamp >= ? AND first_timestamp <= ?",
                (low, high),
            )
        ]
        if files:
            import pyarrow.parquet as pq

            for name in files:
                table = pq.read_table(
                    paths.archive_dir() / name,
                    columns=["timestamp", "timestamp_text", "sequence", "session_id"],
                    filters=[
                        ("workspace_hash", "=", workspace),
                        ("event_type", "in", list(event_types)),
                        ("platform", "!=", "git"),
                        ("timestamp", ">=", archive.parse_time(low)),
                        ("timestamp", "<=", archive.parse_time(high)),
                    ],
                )
                for item in table.to_pylist():
                    text = item["timestamp_text"] or archive.canonical(item["timestamp"])
                    candidate = (text, int(item["sequence"]), item["session_id"])
                    if best is None or candidate[:2] > tuple(best[:2]):
                        best = candidate
        return None if best is None else (best[2], best[0])
