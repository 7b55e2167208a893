"""``requests``: the request ledger itself, one row per API request, newest first, paged.

The ledger (``api_requests``, kept by the conversations worker) merges what every source said
about one request (OTel, transcript, hooks) into one row: its time, model, tokens, the cost
computed from prices and, beside it, the cost the client reported (official) when it did. Every
cost report sums these rows; this lists them, so a number can be traced to its requests.
"""

from __future__ import annotations

from typing import Any

from blueplane_query import provenance as prov
from blueplane_query.filters import Filter
from blueplane_query.reports.costs import ledger_filter
from blueplane_query.store import Store

_COLUMNS = (
    "request_key",
    "session_id",
    "platform",
    "agent",
    "model",
    "timestamp",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_nusd",
    "official_cost_nusd",
    "sources",
    "project_hash",
)


def list_requests(
    store: Store,
    flt: Filter,
    *,
    session_id: str | None = None,
    limit: int = 50,
    page: int = 1,
) -> dict[str, Any]:
    """Ledger rows matching the filter (and a session), newest first; ``total`` for paging."""
    result: dict[str, Any] = {
        "filter": {**flt.as_dict(), "session_id": session_id},
        "page": page,
        "limit": limit,
        "total": 0,
        "requests": [],
        "provenance": {
            "tokens": prov.DERIVED,
            "cost_usd": prov.DERIVED,
            "official_cost_usd": prov.OFFICIAL,
        },
    }
    if not store.has("api_requests"):
        return result
    where, params = ledger_filter(flt)
    if session_id:
        where += " AND session_id = ?"
        params.append(session_id)
    result["total"] = int(store.scalar(f"SELECT COUNT(*) FROM api_requests WHERE {where}", params))
    rows = store.rows(
        f"SELECT {', '.join(_COLUMNS)} FROM api_requests WHERE {where}"
        " ORDER BY at_ms DESC, request_key LIMIT ? OFFSET ?",
        [*params, limit, (page - 1) * limit],
    )
    from blueplane_query.projects import labels

    names = labels(store)  # the folder names this machine keeps, beside the hashes
    for r in rows:
        r["project_label"] = names.get(r["project_hash"])
        cost, official = r.pop("cost_nusd"), r.pop("official_cost_nusd")
        r["cache_write_tokens"] = r.pop("cache_write_5m_tokens") + r.pop("cache_write_1h_tokens")
        r["total_tokens"] = (
            r["input_tokens"]
            + r["output_tokens"]
            + r["cache_write_tokens"]
            + r["cache_read_tokens"]
        )
        r["cost_usd"] = None if cost is None else cost / 1e9
        r["official_cost_usd"] = None if official is None else official / 1e9
    result["requests"] = rows
    return result
