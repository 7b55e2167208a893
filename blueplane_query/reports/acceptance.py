"""``analyze_acceptance``: how often proposed edits were accepted, and where that differs.

From ``code_changes`` (one row per edit, ``decision`` accepted / rejected / unknown) in the period
(default: the last 7 days), broken down by file extension, tool, platform and day;
``decision_ms`` is the time a person took to decide.
"""

from __future__ import annotations

from typing import Any

from blueplane_query import provenance as prov
from blueplane_query.filters import Filter
from blueplane_query.store import Store

_GROUPS = {
    "by_extension": "COALESCE(x.file_extension, '(none)')",
    "by_tool": "COALESCE(x.tool_name, '(unknown)')",
    "by_platform": "c.platform",
    "by_day": "",  # the local day, from the filter's zone (periods.py)
}


def analyze_acceptance(store: Store, flt: Filter, *, top: int = 15) -> dict[str, Any]:
    period = flt.bounded()  # default: the last 7 days, like the other "current" analyses
    result: dict[str, Any] = {
        "filter": flt.as_dict(),
        "period": {"since": period.as_dict()["since"], "until": period.as_dict()["until"]},
        "overall": _empty_row(),
        **{name: [] for name in _GROUPS},
        "provenance": prov.DERIVED,
    }
    if not store.has("code_changes") or not store.has("conversations"):
        return result
    where, params = period.sql(time="x.timestamp", platform="c.platform", project="c.project_hash")
    base = (
        "COUNT(*) AS changes, TOTAL(x.decision = 'accepted') AS accepted,"
        " TOTAL(x.decision = 'rejected') AS rejected, TOTAL(x.lines_added) AS lines_added,"
        " TOTAL(x.lines_removed) AS lines_removed, AVG(x.decision_ms) AS mean_decision_ms"
        " FROM code_changes x JOIN conversations c USING (session_id)"
        f" WHERE {where} AND (x.operation IS NULL OR x.operation != 'read')"
    )
    overall = store.one(f"SELECT {base}", params)
    result["overall"] = _shape(overall or {})
    for name, key in _GROUPS.items():
        key = key or flt.zone.day_sql("x.timestamp")
        order = "key" if name == "by_day" else "changes DESC"
        rows = store.rows(
            f"SELECT {key} AS key, {base} GROUP BY key ORDER BY {order} LIMIT ?",
            [*params, 400 if name == "by_day" else top],
        )
        result[name] = [{"key": r["key"], **_shape(r)} for r in rows]
    return result


def _empty_row() -> dict[str, Any]:
    return _shape({})


def _shape(r: dict[str, Any]) -> dict[str, Any]:
    accepted = int(r.get("accepted") or 0)
    rejected = int(r.get("rejected") or 0)
    decided = accepted + rejected
    mean = r.get("mean_decision_ms")
    return {
        "changes": int(r.get("changes") or 0),
        "accepted": accepted,
        "rejected": rejected,
        "undecided": int(r.get("changes") or 0) - decided,
        "acceptance_rate": accepted / decided if decided else None,
        "lines_added": int(r.get("lines_added") or 0),
        "lines_removed": int(r.get("lines_removed") or 0),
        "mean_decision_ms": mean,
    }
