"""Migration 12: the ledger's time index also holds what the period reports read of a request.

``costs --by block`` reads a period's requests in time order (their time, model, tokens and
cost), ``metrics`` sums the same columns over its period, and ``costs`` by day, week, month,
model and project reads the requests in the partial quarter hours at the ends of a range. With
the time alone in the index, each of those requests was a second look-up in the table (29k for
a 30-day block report at 1M events, 40% of its SQL time); the index now carries the columns,
so a period is one range of the index (issue 14). It replaces migration 4's index on the
timestamp alone: still one time index per ledger row.
"""

from __future__ import annotations

import sqlite3


def apply(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE INDEX idx_api_requests_timestamp_cover ON api_requests (timestamp, request_key,"
        " at_ms, model, input_tokens, output_tokens, cache_write_5m_tokens,"
        " cache_write_1h_tokens, cache_read_tokens, cost_nusd, official_cost_nusd)"
    )
    conn.execute("DROP INDEX IF EXISTS idx_api_requests_timestamp")
