"""``costs``: cost and tokens by day, week, month, model or project, and 5-hour billing blocks.

Groupings read ``conversations`` (one row per session, priced by the conversations worker): a
session counts on the day it started, which keeps the answer fast on years of history (a turn
table is several times larger). A session with any request of unknown price is counted in
``unpriced_sessions`` and its priced part only is in ``cost_usd``: unknown is never 0 USD.
``model`` is the session's main model (sessions that switched models are attributed to it), so
``--by model`` is estimated.

Billing blocks read ``conversation_turns`` summed per UTC hour: a block starts at the hour of its
first activity and lasts five hours; the first activity at or after its end opens the next block
(a five-hour gap always does, since it passes the end). Burn rate = cost (and tokens) over the
time from the block's start to its last activity; the active block is projected to its end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from blueplane_query import provenance as prov
from blueplane_query.errors import BadOption
from blueplane_query.filters import Filter, iso
from blueplane_query.store import Store

GROUPINGS = {
    "day": "substr(started_at, 1, 10)",
    "week": "strftime('%Y-W%W', substr(started_at, 1, 19))",
    "month": "substr(started_at, 1, 7)",
    "model": "COALESCE(model, '(unknown)')",
    "project": "COALESCE(project_hash, '(none)')",
}
BLOCK = timedelta(hours=5)

_TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
_SUMS = ", ".join(f"TOTAL({k}) AS {k}" for k in _TOKENS)


def costs(
    store: Store, flt: Filter, *, by: str = "day", now: datetime | None = None
) -> dict[str, Any]:
    if by not in GROUPINGS and by != "block":
        raise BadOption(f"--by {by!r}: use one of day, week, month, model, project, block")
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
        hours = store.rows(
            "SELECT substr(t.started_at, 1, 13) AS hour, MIN(t.started_at) AS first,"
            " MAX(t.ended_at) AS last, COUNT(*) AS turns,"
            + ", ".join(f"TOTAL(t.{k}) AS {k}" for k in _TOKENS)
            + ", TOTAL(t.cost_nusd) AS cost_nusd,"
            " TOTAL(t.cost_nusd IS NULL AND t.requests > 0) AS unpriced_turns,"
            " GROUP_CONCAT(DISTINCT c.model) AS models"
            " FROM conversation_turns t JOIN conversations c USING (session_id)"
            f" WHERE {where} GROUP BY hour ORDER BY hour",
            params,
        )
        result["rows"] = blocks(hours, now=now)
    elif by != "block" and store.has("conversations"):
        key = GROUPINGS[by]
        where, params = flt.sql(time="started_at")
        rows = store.rows(
            f"SELECT {key} AS period, COUNT(*) AS sessions, TOTAL(turns) AS turns, {_SUMS},"
            " TOTAL(cost_nusd) AS cost_nusd, TOTAL(cost_nusd IS NULL) AS unpriced_sessions"
            f" FROM conversations WHERE {where} GROUP BY period ORDER BY period",
            params,
        )
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
    out["cost_usd"] = round(r["cost_nusd"] / 1e9, 6)
    out["unpriced_sessions"] = int(r["unpriced_sessions"])
    return out


def _totals(rows: list[dict[str, Any]], unpriced_key: str) -> dict[str, Any]:
    total: dict[str, Any] = {k: sum(r.get(k, 0) for r in rows) for k in (*_TOKENS, "total_tokens")}
    total["cost_usd"] = round(sum(r.get("cost_usd", 0.0) for r in rows), 6)
    total[unpriced_key] = sum(r.get(unpriced_key, 0) for r in rows)
    return total


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def blocks(hours: list[dict[str, Any]], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Group per-hour sums (ordered by hour) into 5-hour billing blocks."""
    now = now or datetime.now(UTC)
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for h in hours:
        first = _parse(h["first"])
        if current is None or first >= current["_end"]:
            start = first.replace(minute=0, second=0, microsecond=0)
            current = {
                "_start": start,
                "_end": start + BLOCK,
                "_last": first,
                "turns": 0,
                "models": set(),
                "cost_nusd": 0,
                "unpriced_turns": 0,
                **{k: 0 for k in _TOKENS},
            }
            out.append(current)
        current["turns"] += int(h["turns"])
        current["_last"] = max(current["_last"], _parse(h["last"] or h["first"]))
        current["models"].update(m for m in (h.get("models") or "").split(",") if m)
        for k in _TOKENS:
            current[k] += int(h[k])
        current["cost_nusd"] += int(h["cost_nusd"])
        current["unpriced_turns"] += int(h["unpriced_turns"])
    return [_finish(b, now) for b in out]


def _finish(b: dict[str, Any], now: datetime) -> dict[str, Any]:
    tokens = sum(b[k] for k in _TOKENS)
    cost = b["cost_nusd"] / 1e9
    elapsed_h = max((b["_last"] - b["_start"]).total_seconds() / 3600, 1 / 60)
    active = b["_start"] <= now < b["_end"]
    burn_cost_h = cost / elapsed_h
    row: dict[str, Any] = {
        "start": iso(b["_start"]),
        "end": iso(b["_end"]),
        "last_activity": iso(b["_last"]),
        "active": active,
        "turns": b["turns"],
        "models": sorted(b["models"]),
        **{k: b[k] for k in _TOKENS},
        "total_tokens": tokens,
        "cost_usd": round(cost, 6),
        "unpriced_turns": b["unpriced_turns"],
        "burn_rate": {
            "cost_usd_per_hour": round(burn_cost_h, 4),
            "tokens_per_minute": round(tokens / (elapsed_h * 60), 1),
        },
        "projection": None,
    }
    if active:
        remaining_h = (b["_end"] - now).total_seconds() / 3600
        row["projection"] = {
            "cost_usd": round(cost + burn_cost_h * remaining_h, 4),
            "total_tokens": int(tokens + tokens / elapsed_h * remaining_h),
            "remaining_minutes": round(remaining_h * 60),
            "provenance": prov.ESTIMATED,
        }
    return row
