"""Migration 11: ``raw_traces`` keeps the envelope, not typed copies of payload values.

Migration 1 gave every row ten typed columns taken from its payload and metadata (model, tool
name, duration, tokens, lines, success). Nothing read them from ``raw_traces``: workers decode
the envelope, the query side cannot read the table, and the archive was their one user. The
archive now types them from the event it decodes anyway (``archive.typed_columns``; the Parquet
schema is unchanged), and ingest no longer binds ten more values per event (about a tenth of an
ingester's CPU on the realistic mix, ``bench/ingest.py``). The generated ``event_date`` and
``event_hour`` go too: their one reader was the index migration 8 dropped.
"""

from __future__ import annotations

import sqlite3

DROPPED = (
    "model",
    "tool_name",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "lines_added",
    "lines_removed",
    "success",
    "event_date",
    "event_hour",
)


def apply(conn: sqlite3.Connection) -> None:
    present = {row[1] for row in conn.execute("PRAGMA table_xinfo(raw_traces)")}
    for column in DROPPED:
        if column in present:
            conn.execute(f"ALTER TABLE raw_traces DROP COLUMN {column}")
