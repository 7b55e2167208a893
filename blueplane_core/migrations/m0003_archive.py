"""Migration 3: what the Parquet archive holds, so archived events stay part of the history.

* ``archive_files``: one row per archive file (``blueplane_core.archive``), with its sequence
  and time range, size and event count (``blueplane status`` shows them).
* ``archived_events``: the id and sequence of every archived event. The ingester's insert checks
  it, so an archived event sent again (a monitor whose state was reset, a re-import, a retried
  export) is recognised and never stored twice; ``UNIQUE(event_id)`` on ``raw_traces`` only sees
  rows still there. 16-byte ids in a WITHOUT ROWID table: about 30 bytes per archived event.
* ``archive_sessions``: which files hold events of which session (and the newest sequence of the
  session in each), so refolding one session reads only its files.
"""

from __future__ import annotations

import sqlite3

STATEMENTS = (
    """
    CREATE TABLE archive_files (
        id                  INTEGER PRIMARY KEY,
        name                TEXT    NOT NULL UNIQUE,  -- file name under <home>/archive/
        first_sequence      INTEGER NOT NULL,
        last_sequence       INTEGER NOT NULL,
        events              INTEGER NOT NULL,
        bytes               INTEGER NOT NULL,
        first_timestamp     TEXT    NOT NULL,         -- oldest event time, UTC ISO-8601
        last_timestamp      TEXT    NOT NULL,
        created_at          INTEGER NOT NULL          -- unix ms
    )
    """,
    """
    CREATE TABLE archived_events (
        event_id            BLOB    PRIMARY KEY,      -- 16-byte UUID, as raw_traces.event_id
        sequence            INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE archive_sessions (
        session_id          TEXT    NOT NULL,
        file_id             INTEGER NOT NULL REFERENCES archive_files (id),
        last_sequence       INTEGER NOT NULL,         -- newest sequence of the session there
        PRIMARY KEY (session_id, file_id)
    ) WITHOUT ROWID
    """,
)


def apply(conn: sqlite3.Connection) -> None:
    for statement in STATEMENTS:
        conn.execute(statement)
