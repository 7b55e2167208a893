"""``bp-query tools``: calls, errors and nearest-rank percentiles per tool, from each call's row.

The percentiles here are worked out by hand from the durations written below, never taken from
the report's own output.
"""

from __future__ import annotations

from datetime import UTC, datetime

from blueplane_core import db, migrations, paths
from blueplane_query.filters import Filter
from blueplane_query.reports import tools
from blueplane_query.store import Store

_AT = "2026-05-04T10:00:00.000Z"


def _write_calls(calls: list[tuple[str | None, int, int | None]]) -> None:
    """One session with ``(tool_name, success, duration_ms)`` calls, all at ``_AT``."""
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    conn.execute(
        "INSERT INTO conversations (session_id, platform, started_at, ended_at, last_sequence,"
        " updated_at) VALUES ('s1', 'claude_code', ?, ?, 0, 0)",
        (_AT, _AT),
    )
    conn.executemany(
        "INSERT INTO tool_calls (session_id, call_key, sequence, timestamp, tool_name, success,"
        " duration_ms) VALUES ('s1', ?, ?, ?, ?, ?, ?)",
        [(f"c{n}", n, _AT, name, ok, ms) for n, (name, ok, ms) in enumerate(calls)],
    )
    conn.commit()
    conn.close()


def _report() -> dict[str, dict]:
    flt = Filter(since=datetime(2026, 5, 4, tzinfo=UTC), until=datetime(2026, 5, 5, tzinfo=UTC))
    with Store(paths.database()) as store:
        return {r["tool"]: r for r in tools.tool_performance(store, flt)["tools"]}


def test_calls_without_a_name_are_one_tool_with_percentiles_over_all_their_durations() -> None:
    # No name (NULL), an empty name and the literal "(unknown)" are one tool. Its durations,
    # ascending: 5, 10, 20, 30, 40, 50, 60, 70, 80, 900 (ten calls, one failed, one without a
    # duration does not count towards the percentiles). Nearest rank: P50 = 5th = 40,
    # P95 = 10th = 900. Listed per name, they would read 40/50/60/900, 5/10/20 and 30/70/80:
    # concatenated unsorted, the 5th value would be 5 and the P50 wrong.
    _write_calls(
        [(None, 1, ms) for ms in (40, 50, 60, 900)]
        + [("", 1, ms) for ms in (5, 10, 20)]
        + [("(unknown)", 1, 30), ("(unknown)", 0, 70), ("(unknown)", 1, 80)]
        + [(None, 1, None)]
        + [("Bash", 1, ms) for ms in (3, 1, 2)]
    )
    rows = _report()
    unknown = rows["(unknown)"]
    assert (unknown["calls"], unknown["errors"]) == (11, 1)
    assert (unknown["p50_ms"], unknown["p95_ms"]) == (40.0, 900.0)
    # Bash: 1, 2, 3 -> P50 = 2nd = 2, P95 = 3rd = 3
    assert (rows["Bash"]["calls"], rows["Bash"]["p50_ms"], rows["Bash"]["p95_ms"]) == (3, 2.0, 3.0)
