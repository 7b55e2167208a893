"""``metrics``: the headline numbers of a period and their change versus the period before.

One source per figure (docs/metrics.md, "Where each figure comes from"): requests, tokens, computed
and official cost sum the request ledger ``api_requests`` over the requests made inside the
period; API errors count ``api_errors`` rows inside the period; sessions, prompts, tool calls,
edits, lines and active time sum ``conversations`` that started inside the period. Every part
honours ``--platform`` and ``--project``. The ``live`` part adds the metrics worker's Redis
counters for today, which move within a second of capture: for ``--project`` the sums of the
matched folders' workspaces; Redis keeps one dimension per key, so ``--platform`` together with
``--project`` says it cannot filter them instead of showing unfiltered numbers. When Redis is
down it says so and the rest still answers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

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
    "official_cost_nusd",
    "official_requests",
    "cache_write_1h_tokens",
)


def live_reader() -> RedisReader | None:
    """A reader for the live part, or None when the configuration cannot even name Redis."""
    from blueplane_query.live import connect

    try:
        return connect()
    except Exception:
        return None


def period_totals(store: Store, flt: Filter) -> dict[str, int]:
    """Sums of the period: requests, tokens and cost from the ledger (requests made in it), API
    errors from ``api_errors``, the rest from sessions that started in it."""
    totals = {name: 0 for name in _SUMS}
    if store.has("conversations"):
        where, params = flt.sql(time="started_at")
        row = store.one(
            "SELECT COUNT(*) AS sessions, TOTAL(prompts) AS prompts,"
            " TOTAL(tool_calls) AS tool_calls, TOTAL(tool_errors) AS tool_errors,"
            " TOTAL(lines_added) AS lines_added,"
            " TOTAL(lines_removed) AS lines_removed, TOTAL(edits_accepted) AS edits_accepted,"
            " TOTAL(edits_rejected) AS edits_rejected, TOTAL(active_ms) AS active_ms,"
            " TOTAL(cost_nusd IS NULL) AS unknown_cost_sessions"
            f" FROM conversations WHERE {where}",
            params,
        )
        totals.update({k: int(v or 0) for k, v in (row or {}).items()})
    if store.has("api_requests"):
        from blueplane_query.reports.costs import LEDGER_SUMS, ledger_filter

        where, params = ledger_filter(flt)
        row = store.one(f"SELECT {', '.join(LEDGER_SUMS)} FROM api_requests WHERE {where}", params)
        totals.update({k: int(v or 0) for k, v in (row or {}).items()})
    if store.has("api_errors"):
        where, params = flt.sql(time="timestamp")
        totals["api_errors"] = int(
            store.scalar(f"SELECT COUNT(*) FROM api_errors WHERE {where}", params) or 0
        )
    return totals


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
    # beside the computed cost: what the clients reported themselves for the same requests
    figures["cost_usd"]["official_usd"] = (
        now_t["official_cost_nusd"] / 1e9 if now_t["official_requests"] else None
    )
    figures["cost_usd"]["official_requests"] = now_t["official_requests"]
    figures["cost_usd"]["requests"] = now_t["requests"]
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
        "copilot": copilot_totals(store, current_filter),
        "empty": now_t["sessions"] == 0 and before_t["sessions"] == 0,
        "database": str(store.path),
    }
    return result


def _live(reader: RedisReader | None, flt: Filter) -> dict[str, Any]:
    """Today's Redis counters; ``available: false`` with the reason when Redis cannot answer."""
    if reader is None:
        return {"available": False, "error": "no Redis configured"}
    from blueplane_query.live import Unfilterable, snapshot

    try:
        with reader:
            snap = snapshot(reader, flt)
    except (QueryError, ReplyError, Unfilterable) as exc:
        return {"available": False, "error": str(exc)}
    return {"available": True, "provenance": prov.DERIVED, **snap}


#: the overview windows: name -> whole UTC days ending today (today included).
WINDOWS = {"today": 1, "7d": 7, "30d": 30}


def overview_cards(
    store: Store, flt: Filter, *, live: RedisReader | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The dashboard's cards: for today, the last 7 and the last 30 days (whole days of the
    filter's zone up to now), the headline numbers of ``metrics`` and, beside the computed cost,
    the official cost the clients reported themselves for the same ledger rows, or None where
    no client reported one."""
    now = now or datetime.now(UTC)
    today = flt.zone.local(now).date()
    cards: list[dict[str, Any]] = []
    for name, days in WINDOWS.items():
        window = replace(flt, since=flt.zone.midnight(today - timedelta(days=days - 1)), until=now)
        totals = period_totals(store, window)
        cards.append(
            {
                "window": name,
                "since": iso(window.since or now),
                "until": iso(now),
                **headline(totals),
                # the clients' own reported cost of the same ledger rows (None: none reported)
                "cost_official_usd": totals["official_cost_nusd"] / 1e9
                if totals["official_requests"]
                else None,
                "official_requests": totals["official_requests"],
                "unpriced_requests": totals["unpriced_requests"],
                "api_errors": totals["api_errors"],
                "tool_errors": totals["tool_errors"],
            }
        )
    return {
        "filter": flt.as_dict(),
        "tz": flt.zone.name,
        "cards": cards,
        "official_available": any(c["cost_official_usd"] is not None for c in cards),
        "provenance": {
            "cost_usd": prov.DERIVED,
            "cost_official_usd": prov.OFFICIAL,
            "active_hours": prov.ESTIMATED,
        },
    }


#: Copilot report generations, newest first: a day reported by two of them counts once.
_COPILOT_KINDS = ("usage_metrics", "metrics", "legacy_usage")
_COPILOT_NUMBERS = ("suggestions", "acceptances", "lines_suggested", "lines_accepted", "chat_turns")


def copilot_totals(store: Store, flt: Filter) -> dict[str, Any] | None:
    """GitHub Copilot's own daily numbers (``copilot_usage``, vendor reports: official) for the
    local days of the period; None when there are none or the filter excludes Copilot.

    One (organisation, day) counts once: the newest report generation that has it, and its
    organisation-level row when there is one, else the sum of its per-user rows."""
    if flt.project or (flt.platform and flt.platform != "copilot"):
        return None
    if not store.has("copilot_usage"):
        return None
    start, end = flt.period()
    first, last = flt.zone.day_of(start), flt.zone.day_of(end)
    rows = store.rows(
        "SELECT * FROM copilot_usage WHERE day >= ? AND day <= ? ORDER BY day", (first, last)
    )
    if not rows:
        return None
    chosen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for kind in _COPILOT_KINDS:
        for level in ("org", "user"):
            for r in rows:
                slot = (r["org_hash"], r["day"])
                is_org = r["user_hash"] == ""
                if r["report_kind"] != kind or is_org != (level == "org"):
                    continue
                picked = chosen.get(slot)
                if picked is None:
                    chosen[slot] = [r]
                elif picked[0]["report_kind"] == kind and picked[0]["user_hash"] and not is_org:
                    picked.append(r)
    totals = {k: sum(r[k] for group in chosen.values() for r in group) for k in _COPILOT_NUMBERS}
    suggested = totals["suggestions"]
    return {
        "days": len({day for _org, day in chosen}),
        **totals,
        "acceptance_rate": totals["acceptances"] / suggested if suggested else None,
        "provenance": prov.OFFICIAL,
    }
