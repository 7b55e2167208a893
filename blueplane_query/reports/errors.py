"""``get_error_patterns``: where failures cluster (tools, sessions, API) and what insights say.

Error text is never captured, so patterns are counts: per tool (Redis, or the SQLite fallback of
``tools``), sessions with the most failures, API errors, and the error-related insights.
"""

from __future__ import annotations

from typing import Any

from blueplane_query import provenance as prov
from blueplane_query.filters import Filter
from blueplane_query.reports import insights as insights_report
from blueplane_query.reports import tools as tools_report
from blueplane_query.store import Store

_ERROR_KINDS = ("error", "retry", "fail", "cascade", "revert")


def error_patterns(store: Store, flt: Filter, *, top: int = 10) -> dict[str, Any]:
    tools = tools_report.tool_performance(store, flt)
    failing = sorted(
        (t for t in tools["tools"] if t["errors"]),
        key=lambda t: (-(t["error_rate"] or 0), -t["calls"]),
    )[:top]
    period = flt.bounded()
    sessions: list[dict[str, Any]] = []
    totals = {"sessions": 0, "tool_calls": 0, "tool_errors": 0, "requests": 0, "api_errors": 0}
    if store.has("conversations"):
        where, params = period.sql(time="started_at")
        row = store.one(
            "SELECT COUNT(*) AS sessions, TOTAL(tool_calls) AS tool_calls,"
            " TOTAL(tool_errors) AS tool_errors, TOTAL(requests) AS requests,"
            f" TOTAL(api_errors) AS api_errors FROM conversations WHERE {where}",
            params,
        )
        totals = {k: int(v or 0) for k, v in (row or {}).items()}
        sessions = store.rows(
            "SELECT session_id, platform, started_at, tool_calls, tool_errors, api_errors,"
            " ROUND(CAST(tool_errors AS REAL) / MAX(tool_calls, 1), 4) AS tool_error_rate"
            f" FROM conversations WHERE {where} AND (tool_errors > 0 OR api_errors > 0)"
            " ORDER BY tool_errors + api_errors DESC, started_at DESC LIMIT ?",
            [*params, top],
        )
    by_type: list[dict[str, Any]] = []
    programs: list[dict[str, Any]] = []
    if store.has("tool_calls") and store.has("conversations"):
        where, params = period.sql(
            time="t.timestamp", platform="c.platform", project="c.project_hash"
        )
        joined = f"FROM tool_calls t JOIN conversations c USING (session_id) WHERE {where}"
        by_type = store.rows(
            "SELECT t.tool_name AS tool, COALESCE(t.error_type, 'unknown') AS error_type,"
            f" COUNT(*) AS errors {joined} AND t.success = 0"
            " GROUP BY tool, error_type ORDER BY errors DESC LIMIT ?",
            [*params, top],
        )
        programs = store.rows(
            "SELECT t.program AS program, COUNT(*) AS calls, TOTAL(t.success = 0) AS errors,"
            " ROUND(TOTAL(t.success = 0) / COUNT(*), 4) AS error_rate"
            f" {joined} AND t.program IS NOT NULL AND t.program != ''"
            " GROUP BY program HAVING errors > 0 ORDER BY errors DESC LIMIT ?",
            [*params, top],
        )
        for row in programs:
            row["errors"] = int(row["errors"])
    found = insights_report.list_insights(store, flt, limit=200)["insights"]
    related = [i for i in found if any(word in i["kind"] for word in _ERROR_KINDS)]
    return {
        "filter": flt.as_dict(),
        "period": {"since": period.as_dict()["since"], "until": period.as_dict()["until"]},
        "totals": {
            **totals,
            "tool_error_rate": totals["tool_errors"] / totals["tool_calls"]
            if totals["tool_calls"]
            else None,
            "api_error_rate": totals["api_errors"] / totals["requests"]
            if totals["requests"]
            else None,
        },
        "failing_tools": failing,
        "tool_source": tools["source"],
        "errors_by_type": by_type,
        "failing_programs": programs,
        "sessions_with_most_errors": sessions,
        "insights": related[:top],
        "notes": tools["notes"],
        "provenance": prov.DERIVED,
    }
