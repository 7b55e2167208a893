"""``metrics``: the headline numbers of a period and their change versus the period before.

Figures come from ``conversations`` (rebuilt sessions, counted once whichever sources saw them),
for sessions that started inside the period. The ``live`` part adds the metrics worker's Redis
counters for today, which move within a second of capture; when Redis is down it says so and
the rest still answers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from blueplane_core import metric_keys
from blueplane_query import provenance as prov
from blueplane_query.errors import QueryError
from blueplane_query.filters import Filter, iso
from blueplane_query.redis_reader import RedisReader, ReplyError
from blueplane_query.store import Store

_SUMS = (
    "sessions",
    "prompts",
    "requests",
    "tool_calls",
    "tool_errors",
    "api_errors",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_nusd",
    "unpriced_requests",
    "lines_added",
    "lines_removed",
    "edits_accepted",
    "edits_rejected",
    "active_ms",
    "unknown_cost_sessions",
)


def live_reader() -> RedisReader | None:
    """A reader for the live part, or None when the configuration cannot even name Redis."""
    from blueplane_query.live import connect

    try:
        return connect()
    except Exception:
        return None


def period_totals(store: Store, flt: Filter) -> dict[str, int]:
    """Sums over the sessions that started in the filter's period."""
    if not store.has("conversations"):
        return {name: 0 for name in _SUMS}
    where, params = flt.sql(time="started_at")
    row = store.one(
        "SELECT COUNT(*) AS sessions, TOTAL(prompts) AS prompts, TOTAL(requests) AS requests,"
        " TOTAL(tool_calls) AS tool_calls, TOTAL(tool_errors) AS tool_errors,"
        " TOTAL(api_errors) AS api_errors, TOTAL(input_tokens) AS input_tokens,"
        " TOTAL(output_tokens) AS output_tokens, TOTAL(cache_write_tokens) AS cache_write_tokens,"
        " TOTAL(cache_read_tokens) AS cache_read_tokens, TOTAL(cost_nusd) AS cost_nusd,"
        " TOTAL(unpriced_requests) AS unpriced_requests, TOTAL(lines_added) AS lines_added,"
        " TOTAL(lines_removed) AS lines_removed, TOTAL(edits_accepted) AS edits_accepted,"
        " TOTAL(edits_rejected) AS edits_rejected, TOTAL(active_ms) AS active_ms,"
        " TOTAL(cost_nusd IS NULL) AS unknown_cost_sessions"
        f" FROM conversations WHERE {where}",
        params,
    )
    return {name: int((row or {}).get(name) or 0) for name in _SUMS}


def headline(t: dict[str, int]) -> dict[str, Any]:
    """Totals -> the numbers people read (rates, USD, per active hour)."""
    decided = t["edits_accepted"] + t["edits_rejected"]
    active_h = t["active_ms"] / 3_600_000
    lines = t["lines_added"] + t["lines_removed"]
    return {
        "sessions": t["sessions"],
        "prompts": t["prompts"],
        "acceptance_rate": t["edits_accepted"] / decided if decided else None,
        "tokens": t["input_tokens"]
        + t["output_tokens"]
        + t["cache_write_tokens"]
        + t["cache_read_tokens"],
        "input_tokens": t["input_tokens"],
        "output_tokens": t["output_tokens"],
        "cache_write_tokens": t["cache_write_tokens"],
        "cache_read_tokens": t["cache_read_tokens"],
        "cost_usd": t["cost_nusd"] / 1e9,
        "tool_error_rate": t["tool_errors"] / t["tool_calls"] if t["tool_calls"] else None,
        "api_error_rate": t["api_errors"] / t["requests"] if t["requests"] else None,
        "lines_changed": lines,
        "active_hours": active_h,
        "lines_per_active_hour": lines / active_h if active_h else None,
    }


#: provenance of each headline number (cost is decided per answer: unpriced makes it estimated).
PROVENANCE = {
    "sessions": prov.DERIVED,
    "prompts": prov.DERIVED,
    "acceptance_rate": prov.DERIVED,
    "tokens": prov.DERIVED,
    "input_tokens": prov.DERIVED,
    "output_tokens": prov.DERIVED,
    "cache_write_tokens": prov.DERIVED,
    "cache_read_tokens": prov.DERIVED,
    "tool_error_rate": prov.DERIVED,
    "api_error_rate": prov.DERIVED,
    "lines_changed": prov.DERIVED,
    "active_hours": prov.ESTIMATED,  # gaps over 5 minutes count as idle: a heuristic
    "lines_per_active_hour": prov.ESTIMATED,
}

UNITS = {"cost_usd": "USD", "active_hours": "h", "lines_per_active_hour": "lines/h"}


def current_metrics(
    store: Store, flt: Filter, *, live: RedisReader | None = None
) -> dict[str, Any]:
    """The ``metrics`` answer: ``figures`` (value, previous, change_pct, provenance), ``live``."""
    current_filter = flt.bounded()
    previous_filter = flt.previous()
    now_t = period_totals(store, current_filter)
    before_t = period_totals(store, previous_filter)
    now_h, before_h = headline(now_t), headline(before_t)
    figures: dict[str, Any] = {}
    for name, value in now_h.items():
        if name == "cost_usd":
            label = prov.ESTIMATED if now_t["unpriced_requests"] else prov.DERIVED
        else:
            label = PROVENANCE[name]
        figures[name] = prov.figure(value, label, before_h[name], unit=UNITS.get(name))
    figures["cost_usd"]["unpriced_requests"] = now_t["unpriced_requests"]
    result: dict[str, Any] = {
        "filter": flt.as_dict(),
        "period": {
            "since": current_filter.as_dict()["since"],
            "until": current_filter.as_dict()["until"],
        },
        "previous_period": {
            "since": previous_filter.as_dict()["since"],
            "until": previous_filter.as_dict()["until"],
        },
        "figures": figures,
        "live": _live(live, flt),
        "empty": now_t["sessions"] == 0 and before_t["sessions"] == 0,
        "database": str(store.path),
    }
    return result


def _live(reader: RedisReader | None, flt: Filter) -> dict[str, Any]:
    """Today's Redis counters; ``available: false`` with the reason when Redis cannot answer."""
    if reader is None:
        return {"available": False, "error": "no Redis configured"}
    from blueplane_query.live import snapshot

    try:
        with reader:
            snap = snapshot(reader, flt)
    except (QueryError, ReplyError) as exc:
        return {"available": False, "error": str(exc)}
    return {"available": True, "provenance": prov.DERIVED, **snap}


#: the overview windows: name -> whole UTC days ending today (today included).
WINDOWS = {"today": 1, "7d": 7, "30d": 30}


def overview_cards(
    store: Store, flt: Filter, *, live: RedisReader | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The dashboard's cards: for today, the last 7 and the last 30 days (whole days of the
    filter's zone up to now), the headline numbers of ``metrics`` and, beside the computed cost,
    the official cost the clients reported themselves, or None where no client reported one or
    Redis cannot answer. The official figure comes from the metrics worker's day counters,
    which are UTC days: in another zone its window is the UTC days overlapping the card's."""
    now = now or datetime.now(UTC)
    today = flt.zone.local(now).date()
    cards: list[dict[str, Any]] = []
    official = _official_costs(live, flt, flt.zone.midnight(today), now)
    for name, days in WINDOWS.items():
        window = replace(flt, since=flt.zone.midnight(today - timedelta(days=days - 1)), until=now)
        totals = period_totals(store, window)
        cards.append(
            {
                "window": name,
                "since": iso(window.since or now),
                "until": iso(now),
                **headline(totals),
                "cost_official_usd": official.get(name),
                "unpriced_requests": totals["unpriced_requests"],
                "api_errors": totals["api_errors"],
                "tool_errors": totals["tool_errors"],
            }
        )
    return {
        "filter": flt.as_dict(),
        "tz": flt.zone.name,
        "cards": cards,
        "official_available": live is not None and bool(official),
        "provenance": {
            "cost_usd": prov.DERIVED,
            "cost_official_usd": prov.OFFICIAL,
            "active_hours": prov.ESTIMATED,
        },
    }


def _official_costs(
    reader: RedisReader | None, flt: Filter, midnight: datetime, now: datetime
) -> dict[str, float | None]:
    """Reported (official) cost per window from the day counters; {} when Redis cannot answer."""
    if reader is None:
        return {}
    from blueplane_query.live import counters, days_between, scope_of

    out: dict[str, float | None] = {}
    try:
        with reader:
            for name, days in WINDOWS.items():
                c = counters(
                    reader,
                    scope_of(flt),
                    [
                        metric_keys.day_period(d)
                        for d in days_between(midnight - timedelta(days=days - 1), now)
                    ],
                )
                out[name] = c["reported_cost_nusd"] / 1e9 if c["reported_cost_nusd"] else None
    except (QueryError, ReplyError):
        return {}
    return out
