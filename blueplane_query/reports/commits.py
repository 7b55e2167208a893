"""``commits``: how many commits were made, and what share of them with an agent's help.

A commit is agent-assisted when the workspace had agent activity in the five minutes before it
(decided by the conversations worker; a heuristic, so the share is labelled estimated).
``--project`` matches the commit's workspace hash; ``--platform`` does not apply (git is git).
"""

from __future__ import annotations

from typing import Any

from blueplane_query import provenance as prov
from blueplane_query.filters import Filter
from blueplane_query.store import Store


def commit_share(store: Store, flt: Filter) -> dict[str, Any]:
    result: dict[str, Any] = {
        "filter": flt.as_dict(),
        "commits": 0,
        "agent_assisted": 0,
        "assisted_share": None,
        "lines_added": 0,
        "lines_removed": 0,
        "assisted_lines_added": 0,
        "by_day": [],
        "provenance": {"commits": prov.DERIVED, "assisted_share": prov.ESTIMATED},
    }
    if not store.has("commits"):
        return result
    where, params = flt.sql(time="timestamp", platform=None, project="workspace_hash")
    rows = store.rows(
        f"SELECT {flt.zone.day_sql('timestamp')} AS day, COUNT(*) AS commits,"
        " TOTAL(agent_assisted != 0) AS agent_assisted, TOTAL(lines_added) AS lines_added,"
        " TOTAL(lines_removed) AS lines_removed,"
        " TOTAL(CASE WHEN agent_assisted != 0 THEN lines_added END) AS assisted_lines_added"
        f" FROM commits WHERE {where} GROUP BY day ORDER BY day",
        params,
    )
    for r in rows:
        day = {k: (int(v) if isinstance(v, float) else v) for k, v in r.items()}
        day["assisted_share"] = day["agent_assisted"] / day["commits"]
        result["by_day"].append(day)
        for k in (
            "commits",
            "agent_assisted",
            "lines_added",
            "lines_removed",
            "assisted_lines_added",
        ):
            result[k] += day[k]
    if result["commits"]:
        result["assisted_share"] = result["agent_assisted"] / result["commits"]
    return result
