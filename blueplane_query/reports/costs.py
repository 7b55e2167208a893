"""``costs``: cost and tokens by day, ISO week, month, model or project, and 5-hour billing blocks.

Days, weeks, months and blocks come from ``blueplane_query.periods`` (the one bucketing module,
in the filter's time zone). Groupings read ``conversations`` (one row per session, priced by the
conversations worker): a session counts on the local day it started. A session with any request
of unknown price is counted in ``unpriced_sessions`` and its priced part only is in
``cost_usd``: unknown is never 0 USD. ``model`` is the session's main model (sessions that
switched models are attributed to it), so ``--by model`` is estimated.

Billing blocks read ``conversation_turns`` in time order, each turn an entry of the block rule in
``periods.blocks`` (ccusage's rule). Burn rate = cost (and tokens) over the time from the block's
first entry to its last, as ccusage computes it; the active block is projected to its end.

Figures are unrounded here (``--json`` carries them exactly); only the human tables round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blueplane_query import periods
from blueplane_query import provenance as prov
from blueplane_query.errors import BadOption
from blueplane_query.filters import Filter
from blueplane_query.store import Store

GROUPINGS = ("day", "week", "month", "model", "project", "block")
_KEYS = {
    "model": "COALESCE(model, '(unknown)')",
    "project": "COALESCE(project_hash, '(none)')",
}

_TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
_SUMS = ", ".join(f"TOTAL({k}) AS {k}" for k in _TOKENS)
_ROW_SUMS = ("sessions", "turns", *_TOKENS, "cost_nusd", "unpriced_sessions")


def costs(
    store: Store, flt: Filter, *, by: str = "day", now: datetime | None = None
) -> dict[str, Any]:
    if by not in GROUPINGS:
        raise BadOption(f"--by {by!r}: use one of {', '.join(GROUPINGS)}")
    unpriced_key = "unpriced_turns" if by == "block" else "unpriced_sessions"
    result: dict[str, Any] = {
        "filter": flt.as_dict(),
        "by": by,
        "rows": [],
        "totals": None,
        "provenance": {
            "tokens": prov.DERIVED,
            "cost_usd": prov.ESTIMATED if by == "model" else prov.DERIVED,
        },
    }
    if by == "block" and store.has("conversation_turns") and store.has("conversations"):
        where, params = flt.sql(
            time="t.started_at", platform="c.platform", project="c.project_hash"
        )
        entries = store.rows(
            "SELECT t.started_at AS at, c.model AS model, t.requests AS requests,"
            + ", ".join(f"t.{k} AS {k}" for k in _TOKENS)
            + ", t.cost_nusd AS cost_nusd"
            " FROM conversation_turns t JOIN conversations c USING (session_id)"
            f" WHERE {where} AND t.started_at IS NOT NULL ORDER BY t.started_at",
            params,
        )
        for e in entries:  # a turn without requests has no price to miss
            if e["cost_nusd"] is None and not e["requests"]:
                e["cost_nusd"] = 0
        result["rows"] = [
            block_row(b) for b in periods.blocks(entries, sums=(*_TOKENS, "cost_nusd"), now=now)
        ]
    elif by != "block" and store.has("conversations"):
        key = "day" if by in periods.CALENDAR_GROUPINGS else by
        expr = flt.zone.day_sql("started_at") if key == "day" else _KEYS[by]
        where, params = flt.sql(time="started_at")
        rows = store.rows(
            f"SELECT {expr} AS period, COUNT(*) AS sessions, TOTAL(turns) AS turns, {_SUMS},"
            " TOTAL(cost_nusd) AS cost_nusd, TOTAL(cost_nusd IS NULL) AS unpriced_sessions"
            f" FROM conversations WHERE {where} GROUP BY period ORDER BY period",
            params,
        )
        if key == "day":
            rows = periods.roll_up(by, rows, key="period", sums=_ROW_SUMS)
        result["rows"] = [_row(r) for r in rows]
        if by in ("model", "project"):
            result["rows"].sort(key=lambda r: -r["cost_usd"])
    result["totals"] = _totals(result["rows"], unpriced_key)
    if result["totals"][unpriced_key]:
        result["provenance"]["cost_usd"] = prov.ESTIMATED  # an unknown part is left out
    return result


def _row(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "period": r["period"],
        "sessions": int(r["sessions"]),
        "turns": int(r["turns"]),
    }
    for k in _TOKENS:
        out[k] = int(r[k])
    out["total_tokens"] = sum(out[k] for k in _TOKENS)
    out["cost_usd"] = r["cost_nusd"] / 1e9
    out["unpriced_sessions"] = int(r["unpriced_sessions"])
    return out


def _totals(rows: list[dict[str, Any]], unpriced_key: str) -> dict[str, Any]:
    total: dict[str, Any] = {k: sum(r.get(k, 0) for r in rows) for k in (*_TOKENS, "total_tokens")}
    total["cost_usd"] = sum(r.get("cost_usd", 0.0) for r in rows)
    total[unpriced_key] = sum(r.get(unpriced_key, 0) for r in rows)
    return total


def block_row(b: dict[str, Any]) -> dict[str, Any]:
    """A block from ``periods.blocks`` with cost in USD, burn rate and projection (ccusage's)."""
    tokens = sum(int(b[k]) for k in _TOKENS)
    cost = b["cost_nusd"] / 1e9
    minutes = b["active_minutes"]
    burn: dict[str, Any] | None = None
    if minutes > 0:  # ccusage: no rate for a block whose requests share one instant
        burn = {
            "cost_usd_per_hour": cost / minutes * 60,
            "tokens_per_minute": tokens / minutes,
            "tokens_per_minute_for_indicator": (b["input_tokens"] + b["output_tokens"]) / minutes,
        }
    row: dict[str, Any] = {
        "start": b["start"],
        "end": b["end"],
        "first_activity": b["first_activity"],
        "last_activity": b["last_activity"],
        "active": b["active"],
        "turns": b["requests"],
        "models": b["models"],
        **{k: int(b[k]) for k in _TOKENS},
        "total_tokens": tokens,
        "cost_usd": cost,
        "unpriced_turns": b["unpriced"],
        "burn_rate": burn,
        "projection": None,
    }
    remaining = b["remaining_minutes"]
    if b["active"] and burn is not None and remaining is not None:
        row["projection"] = {
            "cost_usd": cost + burn["cost_usd_per_hour"] / 60 * remaining,
            "total_tokens": tokens + burn["tokens_per_minute"] * remaining,
            "remaining_minutes": remaining,
            "provenance": prov.ESTIMATED,
        }
    return row
