"""``tools``: calls, errors and P50/P95 duration per tool.

One source for every filter and period: SQLite ``tool_calls`` (one row per tool call whichever
sources saw it, with its exact duration), joined to ``conversations`` for ``--platform`` /
``--project``. The Redis counters move sooner but keep one dimension per scope and about 400
days, so reading them for some filters and SQLite for others gave two answers to one question
(issue 9); the live view (``watch``, the ``live`` block of ``metrics``) is where Redis shows.
"""

from __future__ import annotations

import math
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson

from blueplane_query import provenance as prov
from blueplane_query.filters import Filter
from blueplane_query.store import Store


def tool_performance(store: Store, flt: Filter) -> dict[str, Any]:
    period = flt.bounded()
    return {
        "filter": flt.as_dict(),
        "period": {"since": period.as_dict()["since"], "until": period.as_dict()["until"]},
        "source": "sqlite",
        "tools": _from_sqlite(store, period),
        "notes": [],
        # exact: each call's own duration
        "provenance": {
            "calls": prov.DERIVED,
            "errors": prov.DERIVED,
            "duration_ms": prov.DERIVED,
        },
    }


def _tool_rows(store: Store, where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Calls, errors and nearest-rank P50/P95 per tool from each call's own row.

    Plain tuples, one pass per tool over its rows in SQL order: a week at 1M events is ~27k
    calls, and a dict per call cost more than the query (issue 14). A call without a tool name
    counts as ``(unknown)``.
    """
    rows = store.tuples(
        "SELECT t.tool_name, t.success, t.duration_ms"
        " FROM tool_calls t JOIN conversations c USING (session_id)"
        f" WHERE {where} ORDER BY t.tool_name, t.duration_ms",
        params,
    )
    stats: dict[str, tuple[int, int, list[int]]] = {}
    for name, group in groupby(rows, key=itemgetter(0)):
        calls = list(group)
        tool = name or "(unknown)"
        errors = sum(1 for c in calls if c[1] == 0)
        ms = [int(c[2]) for c in calls if c[2] is not None]
        if tool in stats:  # NULL, '' and '(unknown)' are one tool: each group is ascending
            before = stats[tool]  # on its own, so the merged durations are sorted again
            stats[tool] = (before[0] + len(calls), before[1] + errors, sorted(before[2] + ms))
        else:
            stats[tool] = (len(calls), errors, ms)
    found: list[dict[str, Any]] = [
        {
            "tool": tool,
            "calls": n,
            "errors": errors,
            "error_rate": errors / n,
            "p50_ms": _percentile(ms, 50),
            "p95_ms": _percentile(ms, 95),
        }
        for tool, (n, errors, ms) in stats.items()
    ]
    found.sort(key=lambda r: (-r["calls"], r["tool"]))
    return found


def _percentile(ordered: list[int], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def _from_sqlite(store: Store, period: Filter) -> list[dict[str, Any]]:
    """Exact figures from ``tool_calls`` (older schemas: call counts from turns only)."""
    if not store.has("conversations"):
        return []
    where, params = period.sql(time="t.timestamp", platform="c.platform", project="c.project_hash")
    if store.has("tool_calls"):
        return _tool_rows(store, where, params)
    if not store.has("conversation_turns"):
        return []
    where, params = period.sql(time="t.started_at", platform="c.platform", project="c.project_hash")
    calls: dict[str, int] = {}
    for row in store.rows(
        "SELECT t.tools AS tools FROM conversation_turns t JOIN conversations c USING (session_id)"
        f" WHERE t.tools IS NOT NULL AND t.tools != '{{}}' AND {where}",
        params,
    ):
        for name, count in orjson.loads(row["tools"]).items():
            calls[name] = calls.get(name, 0) + int(count)
    return [
        {"tool": t, "calls": n, "errors": None, "error_rate": None, "p50_ms": None, "p95_ms": None}
        for t, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def tool_heatmap(store: Store, flt: Filter, *, top: int = 12) -> dict[str, Any]:
    """Calls and errors per tool and UTC hour of the day (0-23) over the period (default: the
    last 7 days), the ``top`` busiest tools: when in the day each tool is used, and fails.

    From SQLite ``tool_calls`` (every call, exact), like ``tools`` with a filter.
    """
    period = flt.bounded()
    result: dict[str, Any] = {
        "filter": flt.as_dict(),
        "period": {"since": period.as_dict()["since"], "until": period.as_dict()["until"]},
        "hours": list(range(24)),
        "tools": [],
        "max_calls": 0,
        "provenance": prov.DERIVED,
    }
    if not (store.has("tool_calls") and store.has("conversations")):
        return result
    where, params = period.sql(time="t.timestamp", platform="c.platform", project="c.project_hash")
    grid: dict[str, dict[str, list[int]]] = {}
    for r in store.rows(
        "SELECT COALESCE(t.tool_name, '(unknown)') AS tool,"
        " CAST(substr(t.timestamp, 12, 2) AS INTEGER) AS hour, COUNT(*) AS calls,"
        " TOTAL(t.success = 0) AS errors"
        f" FROM tool_calls t JOIN conversations c USING (session_id) WHERE {where}"
        " GROUP BY tool, hour",
        params,
    ):
        cells = grid.setdefault(r["tool"], {"calls": [0] * 24, "errors": [0] * 24})
        cells["calls"][r["hour"]] = int(r["calls"])
        cells["errors"][r["hour"]] = int(r["errors"])
    ranked = sorted(grid.items(), key=lambda kv: (-sum(kv[1]["calls"]), kv[0]))[:top]
    result["tools"] = [
        {
            "tool": tool,
            "calls": sum(cells["calls"]),
            "errors": sum(cells["errors"]),
            "calls_by_hour": cells["calls"],
            "errors_by_hour": cells["errors"],
        }
        for tool, cells in ranked
    ]
    result["max_calls"] = max((max(t["calls_by_hour"]) for t in result["tools"]), default=0)
    return result
