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

Days, weeks, months, models and projects are summed from ``api_request_quarters`` (migration
9: the same ledger summed per UTC quarter hour by triggers) plus the ledger's own rows in the
partial quarter hours at the ends of the filter's range; the same numbers in less than half the
time (issue 14). Blocks need each request's time and read the ledger.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import repeat
from operator import itemgetter
from typing import Any

from blueplane_query import periods
from blueplane_query import provenance as prov
from blueplane_query.errors import BadOption
from blueplane_query.filters import Filter, iso
from blueplane_query.periods import block_row
from blueplane_query.store import Store

GROUPINGS = ("day", "week", "month", "model", "project", "block")
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
            found = store.tuples(
                # timestamp order = at_ms order (one instant, fixed-width UTC text): its index
                # (migration 12: with every column read here) serves the range and the order
                "SELECT at_ms, model, input_tokens, output_tokens,"
                " cache_write_5m_tokens + cache_write_1h_tokens AS cache_write_tokens,"
                " cache_read_tokens, cost_nusd"
                f" FROM api_requests WHERE {where} ORDER BY timestamp, request_key",
                params,
            )
            sums = (*_TOKENS, "cost_nusd")
            entries = map(dict, map(zip, repeat(("at_ms", "model", *sums)), found))
            result["rows"] = [block_row(b) for b in periods.blocks(entries, sums=sums, now=now)]
        else:
            result["rows"] = _grouped(store, flt, by, where, params)
    result["totals"] = _totals(result["rows"])
    if result["totals"]["unpriced_requests"]:
        result["provenance"]["cost_usd"] = prov.ESTIMATED  # an unknown part is left out
    return result


#: ``api_request_quarters`` (migration 9): the ledger summed per UTC quarter hour.
QUARTERS = "api_request_quarters"
#: a grouped row as ``costs`` answers it, built by SQL from the summed columns (one query both
#: for the ledger and its quarter-hour roll-up; Python only names the columns).
_ROW = (
    "period",
    "COUNT(DISTINCT session_id) AS sessions",
    "CAST(TOTAL(requests) AS INTEGER) AS requests",
    "CAST(TOTAL(input_tokens) AS INTEGER) AS input_tokens",
    "CAST(TOTAL(output_tokens) AS INTEGER) AS output_tokens",
    "CAST(TOTAL(cache_write_5m_tokens + cache_write_1h_tokens) AS INTEGER) AS cache_write_tokens",
    "CAST(TOTAL(cache_read_tokens) AS INTEGER) AS cache_read_tokens",
    "CAST(TOTAL(cache_write_1h_tokens) AS INTEGER) AS cache_write_1h_tokens",
    "CAST(TOTAL(input_tokens) AS INTEGER) + CAST(TOTAL(output_tokens) AS INTEGER)"
    " + CAST(TOTAL(cache_write_5m_tokens + cache_write_1h_tokens) AS INTEGER)"
    " + CAST(TOTAL(cache_read_tokens) AS INTEGER) AS total_tokens",
    "TOTAL(cost_nusd) / 1e9 AS cost_usd",
    "CAST(TOTAL(unpriced_requests) AS INTEGER) AS unpriced_requests",
    "CASE WHEN TOTAL(official_requests) > 0 THEN TOTAL(official_cost_nusd) / 1e9"
    " END AS official_cost_usd",
    "CAST(TOTAL(official_requests) AS INTEGER) AS official_requests",
)
_NAMES = tuple(c.rsplit(" AS ", 1)[-1] for c in _ROW)
#: one ledger row in the roll-up's columns (``ts`` = its time).
_LEDGER_AS_QUARTERS = (
    "SELECT timestamp AS ts, session_id, COALESCE(model, '(unknown)') AS model,"
    " COALESCE(project_hash, '(none)') AS project, 1 AS requests, input_tokens, output_tokens,"
    " cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nusd,"
    " cost_nusd IS NULL AS unpriced_requests, official_cost_nusd,"
    " official_cost_nusd IS NOT NULL AS official_requests FROM api_requests"
)
_QUARTER_COLUMNS = (
    "SELECT quarter AS ts, session_id, model, project, requests, input_tokens, output_tokens,"
    " cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nusd,"
    " unpriced_requests, official_cost_nusd, official_requests FROM api_request_quarters"
)


def _grouped(
    store: Store, flt: Filter, by: str, where: str, params: list[Any]
) -> list[dict[str, Any]]:
    """Ledger sums per period with the number of distinct sessions in it, summed and ordered
    inside SQLite (a session that made requests on two days of one week counts once in that
    week); from the quarter-hour roll-up when it can answer exactly (:func:`_source`)."""
    span = by in periods.CALENDAR_GROUPINGS and store.one(
        "SELECT (SELECT min(timestamp) FROM api_requests) AS first,"
        " (SELECT max(timestamp) FROM api_requests) AS last"
    )
    first, last = (span["first"], span["last"]) if span else (None, None)
    if not first and by in periods.CALENDAR_GROUPINGS:
        return []  # an empty ledger
    source, source_params = _source(store, flt, by, where, params, first, last)
    if by == "week" and first and last:  # the weeks the ledger spans, from its time index
        key = periods.week_sql(flt.zone, "ts", first, last, within=True)
    elif by in periods.CALENDAR_GROUPINGS:
        key = periods.label_sql(by, flt.zone.day_sql("ts", first, last))
    else:
        key = by
    order = "cost_usd DESC, period" if by in ("model", "project") else "period"
    found = store.tuples(
        f"SELECT {', '.join(_ROW)} FROM (SELECT {key} AS period, * FROM ({source}))"
        f" GROUP BY period ORDER BY {order}",
        source_params,
    )
    rows = list(map(dict, map(zip, repeat(_NAMES), found)))  # (24.8k projects at 1M: 17 ms)
    if by == "project":  # the folder name this machine keeps, beside the hash
        from blueplane_query.projects import labels

        names_by_hash = labels(store)
        for row in rows:
            row["label"] = names_by_hash.get(row["period"])
    return rows


def _source(
    store: Store,
    flt: Filter,
    by: str,
    where: str,
    params: list[Any],
    first: str | None,
    last: str | None,
) -> tuple[str, list[Any]]:
    """The rows to group (a SELECT in the roll-up's columns) and its parameters.

    The roll-up's whole quarter hours inside the filter's range, and the ledger's own rows in
    the partial quarter hours at its ends. The ledger alone when the roll-up cannot answer
    exactly: no roll-up (an older schema), a ``--project`` not resolved to hashes (a prefix
    matched with LIKE), or days in a zone whose offsets are not whole quarter hours."""
    whole = store.has(QUARTERS) and (flt.project is None or flt.match is not None)
    if whole and by in periods.CALENDAR_GROUPINGS:
        whole = flt.zone.whole_quarters(first, last)
    since = iso(flt.since) if flt.since else None
    until = iso(flt.until) if flt.until else None
    low = _quarter(since, up=True) if since else None
    high = _quarter(until, up=False) if until else None
    if not whole or (low and high and low >= high):
        return f"{_LEDGER_AS_QUARTERS} WHERE {where}", params
    rest, rest_params = flt.sql(time=None, platform="platform", project="project_hash")
    inside, inside_params = flt.sql(time=None, platform="platform", project="project")
    parts: list[str] = []
    out: list[Any] = []
    bounds: list[str] = []
    if low:  # since .. the first whole quarter hour, from the ledger
        parts.append(f"{_LEDGER_AS_QUARTERS} WHERE timestamp >= ? AND timestamp < ? AND {rest}")
        out += [since, low, *rest_params]
        bounds.append("quarter >= ?")
    if high:
        bounds.append("quarter < ?")
    parts.append(f"{_QUARTER_COLUMNS} WHERE {' AND '.join([*bounds, inside])}")
    out += [b for b in (low, high) if b] + inside_params
    if high:  # the last whole quarter hour .. until, from the ledger
        parts.append(f"{_LEDGER_AS_QUARTERS} WHERE timestamp >= ? AND timestamp < ? AND {rest}")
        out += [high, until, *rest_params]
    return " UNION ALL ".join(parts), out


def _quarter(stamp: str, *, up: bool) -> str:
    """The UTC quarter hour at or before (``up``: at or after) a stored time, as a stored time."""
    floor = f"{stamp[:14]}{int(stamp[14:16]) // 15 * 15:02d}:00.000Z"
    if not up or floor == stamp:
        return floor
    return iso(datetime.fromisoformat(floor.replace("Z", "+00:00")) + timedelta(minutes=15))


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Column sums over the rows (block rows carry no official figures), added in row order."""
    names = (*_TOKENS, "total_tokens", "requests", "unpriced_requests", "cost_usd")
    if not rows or "official_requests" not in rows[0]:
        total: dict[str, Any] = {k: sum(map(itemgetter(k), rows)) for k in names}
        total["official_cost_usd"] = None
        total["official_requests"] = 0
        return total
    # one pass turns the rows into columns: summing 24.8k project rows key by key cost 12 ms
    columns = dict(zip(rows[0], zip(*(r.values() for r in rows), strict=True), strict=True))
    total = {k: sum(columns[k]) for k in names}
    official = [v for v in columns["official_cost_usd"] if v is not None]
    total["official_cost_usd"] = sum(official) if official else None
    total["official_requests"] = sum(columns["official_requests"])
    return total
