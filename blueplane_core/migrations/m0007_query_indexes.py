"""Migration 7: indexes on the call and edit times the period reports filter on.

``tools``, ``get_error_patterns`` and ``analyze_acceptance`` (and the dashboard's tool heatmap)
select a period's tool calls and code changes by their own time; without these indexes each
answer scanned every call and edit ever stored (345k calls at 1M events), whatever the period.
"""

from __future__ import annotations

import sqlite3


def apply(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX IF NOT EXISTS idx_tool_calls_time ON tool_calls (timestamp)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_code_changes_time ON code_changes (timestamp)")
