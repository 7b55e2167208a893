"""Migration 1: raw events, their compression dictionaries and the session id mapping."""

from __future__ import annotations

import sqlite3

# The dedupe key is the event id as 16 bytes, not 36 characters of text: a smaller UNIQUE index,
# and since ids are time-ordered (UUIDv7, or derived ids with a time prefix) inserts land at the
# right edge of the index instead of at random pages.
STATEMENTS = (
    """
    CREATE TABLE codec_dictionaries (
        id          INTEGER PRIMARY KEY,
        codec       TEXT    NOT NULL,          -- 'zstd'
        level       INTEGER NOT NULL,
        dictionary  BLOB    NOT NULL,
        trained_on  TEXT    NOT NULL,          -- 'synthetic' or 'raw_traces'
        samples     INTEGER NOT NULL,
        created_at  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE raw_traces (
        sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
        ingested_at     INTEGER NOT NULL,      -- unix milliseconds
        event_id        BLOB    NOT NULL,      -- 16-byte UUID
        timestamp       TEXT    NOT NULL,      -- envelope timestamp, UTC ISO-8601
        platform        TEXT    NOT NULL,
        source          TEXT    NOT NULL,
        session_id      TEXT    NOT NULL,
        event_type      TEXT    NOT NULL,
        hook_type       TEXT,
        workspace_hash  TEXT,
        model           TEXT,
        tool_name       TEXT,
        duration_ms     INTEGER,
        input_tokens    INTEGER,
        output_tokens   INTEGER,
        cache_read_tokens  INTEGER,
        cache_write_tokens INTEGER,
        lines_added     INTEGER,
        lines_removed   INTEGER,
        success         INTEGER,
        event_codec     INTEGER NOT NULL REFERENCES codec_dictionaries (id),
        event_data      BLOB    NOT NULL,      -- the envelope's JSON bytes, compressed
        event_date      TEXT    GENERATED ALWAYS AS (substr(timestamp, 1, 10)) VIRTUAL,
        event_hour      INTEGER GENERATED ALWAYS AS
                        (CAST(substr(timestamp, 12, 2) AS INTEGER)) VIRTUAL,
        UNIQUE (event_id)
    )
    """,
    "CREATE INDEX idx_raw_traces_session ON raw_traces (session_id, sequence)",
    "CREATE INDEX idx_raw_traces_type_time ON raw_traces (event_type, timestamp)",
    "CREATE INDEX idx_raw_traces_date ON raw_traces (event_date, event_hour)",
    """
    CREATE TABLE session_mappings (
        platform            TEXT    NOT NULL,
        platform_session_id TEXT    NOT NULL,
        project_hash        TEXT    NOT NULL,  -- '' when the platform gives none
        session_uuid        TEXT    NOT NULL,  -- internal id, uuid5 of the three above
        first_seen          TEXT    NOT NULL,
        last_seen           TEXT    NOT NULL,
        event_count         INTEGER NOT NULL,
        PRIMARY KEY (platform, platform_session_id, project_hash)
    ) WITHOUT ROWID
    """,
)

#: events of the synthetic generator that dictionary 1 was trained on in databases created
#: before migration 6 shipped a dictionary (bench/dictionary.py compares against it).
BOOTSTRAP_SAMPLES = 4000


def apply(conn: sqlite3.Connection) -> None:
    """The tables, and the plain-JSON row that ``raw_traces.event_codec`` id 0 refers to.

    This migration used to train dictionary 1 on synthetic events. Migration 6, applied in the
    same run on a fresh database, replaces it with the shipped one anyway, and training left
    ~3 MB in the process that ran it for its whole life. Databases that applied this migration
    before keep their synthetic dictionary (and migration 6 adds the shipped one after it); a
    fresh one gets the shipped dictionary as id 1. No row was ever compressed with a dictionary
    a fresh database no longer has: ingesters start only after every migration has run.
    """
    for statement in STATEMENTS:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO codec_dictionaries (id, codec, level, dictionary, trained_on, samples,"
        " created_at) VALUES (0, 'none', 0, x'', 'none', 0, 0)"
    )
