"""Migration 8: two fewer indexes for every stored event to maintain.

Each ``raw_traces`` index is one more B-tree to update and one more page per touched index to
write to the WAL at every ingest commit. Of the three secondary indexes of migration 1:

- ``idx_raw_traces_date`` (event_date, event_hour) had no reader at all: dropped.
- ``idx_raw_traces_type_time`` (event_type, timestamp) served the commit linking's "newest
  agent event in this workspace near this time" (``StoredEvents.last_activity``), which also
  filters on the workspace, and the commits rebuild's "every commit event". It is replaced by
  ``idx_raw_traces_workspace_time`` (workspace_hash, timestamp), partial on rows that have a
  workspace: the look-up becomes one range of one workspace (it was one range per event type,
  every workspace's rows read), and events without a workspace (OTLP, about two thirds of a
  working day's events) never touch it. The rebuild's one scan for commit events reads the
  table, as the rebuild reads every event anyway.
- ``idx_raw_traces_session`` (session_id, sequence) stays: refolds read a session's events.
"""

from __future__ import annotations

import sqlite3


def apply(conn: sqlite3.Connection) -> None:
    conn.execute("DROP INDEX IF EXISTS idx_raw_traces_date")
    conn.execute("DROP INDEX IF EXISTS idx_raw_traces_type_time")
    conn.execute(
        "CREATE INDEX IF NOT EXISTS idx_raw_traces_workspace_time"
        " ON raw_traces (workspace_hash, timestamp) WHERE workspace_hash IS NOT NULL"
    )
