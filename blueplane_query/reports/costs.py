"""``costs``: cost and tokens by day, ISO week, month, model or project, and 5-hour billing blocks.

Every figure is a sum over the request ledger ``api_requests`` (one row per API request, fields
merged across sources by the conversation worker; docs/metrics.md "The request ledger"): each
request counts on its own local day, under its own model, in the block of its own time, so a
session that crosses midnight is split as ccusage splits it and a Haiku title request inside an
Opus session has its own row. Days, weeks, months and blocks come from
``blueplane_query.periods`` (the one bucketing module, in the filter's time zone).

A request of unknown price is counted in ``unpriced_requests`` and left out of ``cost_usd``:
unknown is never 0 USD. ``official_cost_usd`` is the sum of the client's own reported costs
(``cost_usd`` of OTel ``api_request``) over the ``official_requests`` that had one, shown beside
the computed figure. Billing blocks take the ledger's requests in time order through
``periods.blocks`` (ccusage's rule). Burn rate = cost (and tokens) over the time from the
block's first request to its last, as ccusage computes it; the active block is projected to its
end. Figures are unrounded here (``--json`` carries them exactly); only the human tables round.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any

from blueplane_query import periods
from blueplane_query import provenance as prov
from blueplane_query.errors import BadOption
from blueplane_query.filters import Filter
from blueplane_query.periods import block_row
from blueplane_query.store import Store

GROUPINGS = ("day", "week", "month", "model", "project", "block")
_KEYS = {
    "model": "COALESCE(model, '(unknown)')",
    "project": "COALESCE(project_hash, '(none)')",
}

_TOKENS = periods.TOKEN_SUMS
#: the ledger columns each summed figure comes from.
LEDGER_SUMS = (
    "TOTAL(input_tokens) AS input_tokens",
    "TOTAL(output_tokens) AS output_tokens",
    "TOTAL(cache_write_5m_tokens + cache_write_1h_tokens) AS cache_write_tokens",
    "TOTAL(cache_write_1h_tokens) AS cache_write_1h_tokens",
    "TOTAL(cache_read_tokens) AS cache_read_tokens",
    "TOTAL(cost_nusd) AS cost_nusd",
    "TOTAL(cost_nusd IS NULL) AS unpriced_requests",
    "TOTAL(official_cost_nusd) AS official_cost_nusd",
    "COUNT(official_cost_nusd) AS official_requests",
    "COUNT(*) AS requests",
)
_SUMMED = (
    "requests",
    *_TOKENS,
    "cache_write_1h_tokens",
    "cost_nusd",
    "unpriced_requests",
    "official_cost_nusd",
    "official_requests",
)


def ledger_filter(flt: Filter) -> tuple[str, list[Any]]:
    """The filter over the ledger's own columns (time, platform and project of each request)."""
    return flt.sql(time="timestamp", platform="platform", project="project_hash")


def costs(
    store: Store, flt: Filter, *, by: str = "day", now: datetime | None = None
) -> dict[str, Any]:
    if by not in GROUPINGS:
        raise BadOption(f"--by {by!r}: use one of {', '.join(GROUPINGS)}")
    result: dict[str, Any] = {
        "filter": flt.as_dict(),
        "by": by,
        "source": "api_requests",
        "rows": [],
        "totals": None,
        "provenance": {"tokens": prov.DERIVED, "cost_usd": prov.DERIVED},
    }
    if store.has("api_requests"):
        where, params = ledger_filter(flt)
        if by == "block":
            entries = store.rows(
                # timestamp order = at_ms order (one instant, fixed-width UTC text): its index
                # serves --since's range and the order at once
                "SELECT at_ms, model, input_tokens, output_tokens,"
                " cache_write_5m_tokens + cache_write_1h_tokens AS cache_write_tokens,"
                " cache_read_tokens, cost_nusd"
                f" FROM api_requests WHERE {where} ORDER BY timestamp, request_key",
                params,
            )
            sums = (*_TOKENS, "cost_nusd")
            result["rows"] = [block_row(b) for b in periods.blocks(entries, sums=sums, now=now)]
        else:
            result["rows"] = _grouped(store, flt, by, where, params)
    result["totals"] = _totals(result["rows"])
    if result["totals"]["unpriced_requests"]:
        result["provenance"]["cost_usd"] = prov.ESTIMATED  # an unknown part is left out
    return result


def _grouped(
    store: Store, flt: Filter, by: str, where: str, params: list[Any]
) -> list[dict[str, Any]]:
    """Ledger sums per period with the number of distinct sessions in it, summed inside SQLite
    (a session that made requests on two days of one week counts once in that week)."""
    span = by == "week" and store.rows(
        "SELECT min(timestamp) AS first, max(timestamp) AS last FROM api_requests"
    )
    if span and span[0]["first"]:  # the weeks the ledger spans, bounds from its time index
        key = periods.week_sql(flt.zone, "timestamp", span[0]["first"], span[0]["last"])
    elif by in periods.CALENDAR_GROUPINGS:
        key = periods.label_sql(by, flt.zone.day_sql("timestamp"))
    else:
        key = _KEYS[by]
    rows = [
        _row(r, int(r["sessions"]))
        for r in store.rows(
            f"SELECT {key} AS period, COUNT(DISTINCT session_id) AS sessions,"
            f" {', '.join(LEDGER_SUMS)} FROM api_requests WHERE {where} GROUP BY 1",
            params,
        )
    ]
    if by == "project":  # the folder name this machine keeps, beside the hash
        from blueplane_query.projects import labels

        names_by_hash = labels(store)
        for row in rows:
            row["label"] = names_by_hash.get(row["period"])
    if by in ("model", "project"):
        rows.sort(key=lambda r: (-r["cost_usd"], r["period"]))
    else:
        rows.sort(key=lambda r: r["period"])
    return rows


def _row(r: dict[str, Any], sessions: int) -> dict[str, Any]:
    out: dict[str, Any] = {"period": r["period"], "sessions": sessions}
    out["requests"] = int(r["requests"])
    tokens = [int(r[k]) for k in _TOKENS]
    out.update(zip(_TOKENS, tokens, strict=True))
    out["cache_write_1h_tokens"] = int(r["cache_write_1h_tokens"])
    out["total_tokens"] = sum(tokens)
    out["cost_usd"] = r["cost_nusd"] / 1e9
    out["unpriced_requests"] = int(r["unpriced_requests"])
    official = int(r["official_requests"])
    out["official_cost_usd"] = r["official_cost_nusd"] / 1e9 if official else None
    out["official_requests"] = official
    return out


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Column sums over the rows (block rows carry no official figures), added in row order."""
    names = (*_TOKENS, "total_tokens", "requests", "unpriced_requests", "cost_usd")
    total: dict[str, Any] = {k: sum(map(itemgetter(k), rows)) for k in names}
    official = [r["official_cost_usd"] for r in rows if r.get("official_cost_usd") is not None]
    total["official_cost_usd"] = sum(official) if official else None
    total["official_requests"] = sum(r.get("official_requests", 0) for r in rows)
    return total
