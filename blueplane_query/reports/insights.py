"""``insights``: what the insights worker found, each with its evidence numbers.

Pattern-based insights are heuristics and say so (``heuristic: true``). The filter's period
matches an insight whose window overlaps it; ``--platform`` / ``--project`` match insights about
a session of that platform / project, and global insights always show.
"""

from __future__ import annotations

from typing import Any

import orjson

from blueplane_query.filters import Filter, iso
from blueplane_query.store import Store

_SEVERITY_ORDER = "CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


def list_insights(store: Store, flt: Filter, *, limit: int = 50) -> dict[str, Any]:
    result: dict[str, Any] = {"filter": flt.as_dict(), "total": 0, "insights": []}
    if not store.has("insights"):
        return result
    clauses: list[str] = []
    params: list[Any] = []
    if flt.since:
        clauses.append("(window_end IS NULL OR window_end >= ?)")
        params.append(iso(flt.since))
    if flt.until:
        clauses.append("(window_start IS NULL OR window_start < ?)")
        params.append(iso(flt.until))
    if (flt.platform or flt.project) and store.has("conversations"):
        sub, sub_params = flt.sql(time=None)
        clauses.append(
            "(session_id IS NULL OR session_id IN"
            f" (SELECT session_id FROM conversations WHERE {sub}))"
        )
        params.extend(sub_params)
    where = " AND ".join(clauses) or "1"
    result["total"] = int(store.scalar(f"SELECT COUNT(*) FROM insights WHERE {where}", params))
    rows = store.rows(
        "SELECT kind, subject, severity, heuristic, title, evidence, suggestion, phrased,"
        " session_id, window_start, window_end, created_at, updated_at"
        f" FROM insights WHERE {where} ORDER BY {_SEVERITY_ORDER}, updated_at DESC LIMIT ?",
        [*params, limit],
    )
    for r in rows:
        r["heuristic"] = bool(r["heuristic"])
        r["evidence"] = orjson.loads(r["evidence"]) if r["evidence"] else {}
        r["provenance"] = "estimated" if r["heuristic"] else "derived"
    result["insights"] = rows
    return result
