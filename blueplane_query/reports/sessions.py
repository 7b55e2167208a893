"""``sessions`` (a filtered, paged list) and ``session ID`` (the deep analysis of one session)."""

from __future__ import annotations

from typing import Any

import orjson

from blueplane_query import provenance as prov
from blueplane_query.errors import BadOption, NotFound
from blueplane_query.filters import UTC_ZONE, Filter
from blueplane_query.periods import Zone
from blueplane_query.store import Store

#: the columns of a session row, in the documented order.
SESSION_COLUMNS = (
    "session_id",
    "platform",
    "project_hash",
    "workspace_hash",
    "model",
    "started_at",
    "ended_at",
    "end_reason",
    "prompts",
    "turns",
    "requests",
    "tool_calls",
    "tool_errors",
    "api_errors",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_nusd",
    "official_cost_nusd",
    "unpriced_requests",
    "lines_added",
    "lines_removed",
    "edits_accepted",
    "edits_rejected",
    "compactions",
    "subagents",
    "active_ms",
    "event_count",
)

#: provenance of each number in a session row (cost: estimated when some request is unpriced).
ROW_PROVENANCE = {
    "counts": prov.DERIVED,
    "tokens": prov.DERIVED,
    "cost_usd": prov.DERIVED,
    "active_ms": prov.ESTIMATED,
}

_ACCEPTANCE_SQL = (
    "CASE WHEN edits_accepted + edits_rejected > 0"
    " THEN CAST(edits_accepted AS REAL) / (edits_accepted + edits_rejected) END"
)


def session_select(store: Store) -> str:
    """The session columns, with the project's folder name where labels are kept."""
    from blueplane_query.projects import label_sql

    return f"{', '.join(SESSION_COLUMNS)}, {label_sql(store)} AS project_label"


def shape(row: dict[str, Any]) -> dict[str, Any]:
    """A conversations row as the API shows it: USD, acceptance, cost provenance."""
    out = {k: row.get(k) for k in SESSION_COLUMNS if k not in ("cost_nusd", "official_cost_nusd")}
    # the project's folder name on this machine (null: labels off, or none captured)
    out["project_label"] = row.get("project_label")
    cost = row.get("cost_nusd")
    out["cost_usd"] = None if cost is None else cost / 1e9
    # the client's own reported cost of the same requests (None: it reported none)
    official = row.get("official_cost_nusd")
    out["official_cost_usd"] = None if official is None else official / 1e9
    out["cost_provenance"] = prov.ESTIMATED if row.get("unpriced_requests") else prov.DERIVED
    decided = (row.get("edits_accepted") or 0) + (row.get("edits_rejected") or 0)
    out["acceptance_rate"] = row["edits_accepted"] / decided if decided else None
    calls = row.get("tool_calls") or 0
    out["tool_error_rate"] = (row.get("tool_errors") or 0) / calls if calls else None
    return out


def list_sessions(
    store: Store,
    flt: Filter,
    *,
    min_acceptance: float | None = None,
    limit: int = 20,
    page: int = 1,
) -> dict[str, Any]:
    """Sessions newest first; ``total`` counts every match so a client can page."""
    if min_acceptance is not None and not 0 <= min_acceptance <= 1:
        raise BadOption("--min-acceptance is a fraction between 0 and 1 (0.8 = 80%)")
    result: dict[str, Any] = {
        "filter": {**flt.as_dict(), "min_acceptance": min_acceptance},
        "page": page,
        "limit": limit,
        "total": 0,
        "sessions": [],
        "provenance": ROW_PROVENANCE,
    }
    if not store.has("conversations"):
        return result
    where, params = flt.sql(time="started_at")
    if min_acceptance is not None:
        where += f" AND {_ACCEPTANCE_SQL} >= ?"
        params.append(min_acceptance)
    result["total"] = int(store.scalar(f"SELECT COUNT(*) FROM conversations WHERE {where}", params))
    rows = store.rows(
        f"SELECT {session_select(store)} FROM conversations WHERE {where}"
        " ORDER BY started_at DESC, session_id LIMIT ? OFFSET ?",
        [*params, limit, (page - 1) * limit],
    )
    result["sessions"] = [shape(r) for r in rows]
    return result


def resolve(store: Store, session_id: str) -> dict[str, Any]:
    """The conversations row of an id or an unambiguous prefix of one, else NotFound."""
    if not store.has("conversations"):
        raise NotFound(f"no session {session_id!r}: no sessions have been processed yet")
    row = store.one(
        f"SELECT {session_select(store)} FROM conversations WHERE session_id = ?",
        (session_id,),
    )
    if row:
        return row
    if len(session_id) >= 4:
        matches = store.rows(
            f"SELECT {session_select(store)} FROM conversations"
            " WHERE session_id >= ? AND session_id < ? LIMIT 2",
            (session_id, session_id + "\U0010ffff"),
        )
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"session id prefix {session_id!r} is ambiguous: give more characters")
    raise NotFound(f"no session {session_id!r} (list them with `bp-query sessions`)")


def session_detail(store: Store, session_id: str, *, zone: Zone = UTC_ZONE) -> dict[str, Any]:
    """Everything about one session: summary, timeline of turns, tools, models, errors, edits.

    Times stay stored UTC strings; ``tz`` says in which zone the human view shows them."""
    row = resolve(store, session_id)
    sid = row["session_id"]
    turns = (
        store.rows(
            "SELECT turn_index, kind, agent_type, is_sidechain, started_at, ended_at,"
            " prompt_length, response_length, requests, tool_calls, tool_errors, tools,"
            " input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_nusd,"
            " lines_added, lines_removed, pre_tokens, post_tokens, trigger"
            " FROM conversation_turns WHERE session_id = ? ORDER BY turn_index",
            (sid,),
        )
        if store.has("conversation_turns")
        else []
    )
    tool_calls: dict[str, int] = {}
    timeline = []
    for t in turns:
        tools = orjson.loads(t["tools"]) if t.get("tools") else {}
        for name, calls in tools.items():
            tool_calls[name] = tool_calls.get(name, 0) + int(calls)
        cost = t.pop("cost_nusd")
        t["cost_usd"] = None if cost is None else cost / 1e9
        t["tools"] = tools
        t["is_sidechain"] = bool(t["is_sidechain"])
        timeline.append(t)

    changes = (
        store.rows(
            "SELECT timestamp, turn_index, tool_name, file_extension, operation, lines_added,"
            " lines_removed, decision, decision_ms, is_sidechain"
            " FROM code_changes WHERE session_id = ? ORDER BY sequence",
            (sid,),
        )
        if store.has("code_changes")
        else []
    )
    reads = sum(1 for c in changes if c["operation"] == "read")
    changes = [c for c in changes if c["operation"] != "read"]  # edits, writes, deletes
    by_ext: dict[str, dict[str, int]] = {}
    for c in changes:
        ext = c["file_extension"] or "(none)"
        agg = by_ext.setdefault(
            ext, {"changes": 0, "lines_added": 0, "lines_removed": 0, "accepted": 0, "rejected": 0}
        )
        agg["changes"] += 1
        agg["lines_added"] += c["lines_added"] or 0
        agg["lines_removed"] += c["lines_removed"] or 0
        if c["decision"] == "accepted":
            agg["accepted"] += 1
        elif c["decision"] == "rejected":
            agg["rejected"] += 1

    calls = (
        store.rows(
            "SELECT tool_name, program, success, error_type, duration_ms FROM tool_calls"
            " WHERE session_id = ? ORDER BY tool_name, duration_ms",
            (sid,),
        )
        if store.has("tool_calls")
        else []
    )
    per_tool: dict[str, dict[str, Any]] = {}
    error_types: dict[str, int] = {}
    for c in calls:
        tool_agg = per_tool.setdefault(
            c["tool_name"] or "(unknown)", {"calls": 0, "errors": 0, "ms": []}
        )
        tool_agg["calls"] += 1
        if c["success"] == 0:
            tool_agg["errors"] += 1
            kind = c["error_type"] or "unknown"
            error_types[kind] = error_types.get(kind, 0) + 1
        if c["duration_ms"] is not None:
            tool_agg["ms"].append(int(c["duration_ms"]))

    found_insights = (
        store.rows(
            "SELECT kind, severity, heuristic, title, evidence, suggestion FROM insights"
            " WHERE session_id = ? ORDER BY severity DESC, kind",
            (sid,),
        )
        if store.has("insights")
        else []
    )
    for i in found_insights:
        i["evidence"] = orjson.loads(i["evidence"]) if i["evidence"] else {}
        i["heuristic"] = bool(i["heuristic"])

    summary = shape(row)
    return {
        "tz": zone.name,
        "session": summary,
        "by_model": _by_model(store, sid),
        "tools": _tool_rows(per_tool)
        if per_tool
        else [
            {"tool": name, "calls": n, "errors": None, "total_ms": None, "p50_ms": None}
            for name, n in sorted(tool_calls.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "errors": {
            "tool_errors": row["tool_errors"],
            "api_errors": row["api_errors"],
            "tool_error_rate": summary["tool_error_rate"],
            "turns_with_errors": sum(1 for t in turns if t["tool_errors"]),
            "by_error_type": dict(sorted(error_types.items(), key=lambda kv: -kv[1])),
        },
        "edits": {
            "changes": len(changes),
            "file_reads": reads,
            "accepted": sum(1 for c in changes if c["decision"] == "accepted"),
            "rejected": sum(1 for c in changes if c["decision"] == "rejected"),
            "by_extension": dict(sorted(by_ext.items(), key=lambda kv: -kv[1]["changes"])),
            "list": changes,
        },
        "timeline": timeline,
        "insights": found_insights,
        "provenance": {**ROW_PROVENANCE, "by_model": prov.DERIVED},
    }


def _by_model(store: Store, sid: str) -> list[dict[str, Any]]:
    """The session's requests per model, from the request ledger (each request's own model),
    with the client's own reported cost beside the computed one where it gave one."""
    if not store.has("api_requests"):
        return []
    from blueplane_query.reports.costs import LEDGER_SUMS

    rows = store.rows(
        f"SELECT COALESCE(model, '(unknown)') AS model, {', '.join(LEDGER_SUMS)},"
        " TOTAL(agent = 'subagent') AS subagent_requests"
        " FROM api_requests WHERE session_id = ? GROUP BY model ORDER BY TOTAL(cost_nusd) DESC",
        (sid,),
    )
    return [
        {
            "model": r["model"],
            "requests": int(r["requests"]),
            "subagent_requests": int(r["subagent_requests"]),
            **{
                k: int(r[k])
                for k in (
                    "input_tokens",
                    "output_tokens",
                    "cache_write_tokens",
                    "cache_write_1h_tokens",
                    "cache_read_tokens",
                )
            },
            "cost_usd": r["cost_nusd"] / 1e9,
            "unpriced_requests": int(r["unpriced_requests"]),
            "official_cost_usd": r["official_cost_nusd"] / 1e9 if r["official_requests"] else None,
            "official_requests": int(r["official_requests"]),
        }
        for r in rows
    ]


def _tool_rows(per_tool: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, agg in per_tool.items():
        ms = agg["ms"]  # ascending (the query orders by duration)
        rows.append(
            {
                "tool": name,
                "calls": agg["calls"],
                "errors": agg["errors"],
                "total_ms": sum(ms) if ms else None,
                "p50_ms": ms[(len(ms) - 1) // 2] if ms else None,
            }
        )
    rows.sort(key=lambda r: (-r["calls"], r["tool"]))
    return rows


#: the most timeline items one answer holds (the newest are kept).
TIMELINE_LIMIT = 2_000


def session_timeline(store: Store, session_id: str) -> dict[str, Any]:
    """One session as a time-ordered list of what happened: turns (prompts, compactions,
    subagents) with their requests, tokens and cost; each tool call with its result; each edit
    with its decision. Errors are the failed tool calls (``ok: false``) and the turns' API
    errors. Built from the same rows as ``session_detail``; the dashboard draws it."""
    row = resolve(store, session_id)
    sid = row["session_id"]
    items: list[dict[str, Any]] = []
    if store.has("conversation_turns"):
        for t in store.rows(
            "SELECT turn_index, kind, agent_type, started_at, ended_at, requests, tool_calls,"
            " tool_errors, input_tokens + output_tokens + cache_write_tokens + cache_read_tokens"
            " AS tokens, cost_nusd, lines_added, lines_removed, pre_tokens, post_tokens, trigger"
            " FROM conversation_turns WHERE session_id = ? ORDER BY turn_index",
            (sid,),
        ):
            cost = t.pop("cost_nusd")
            items.append(
                {
                    "at": t.pop("started_at"),
                    "item": "turn",
                    **t,
                    "cost_usd": None if cost is None else round(cost / 1e9, 6),
                }
            )
    if store.has("tool_calls"):
        for c in store.rows(
            "SELECT timestamp, turn_index, tool_name, program, success, error_type, duration_ms,"
            " is_sidechain FROM tool_calls WHERE session_id = ? ORDER BY sequence",
            (sid,),
        ):
            items.append(
                {
                    "at": c.pop("timestamp"),
                    "item": "tool_call",
                    **c,
                    "ok": None if c["success"] is None else bool(c["success"]),
                    "is_sidechain": bool(c["is_sidechain"]),
                }
            )
    if store.has("code_changes"):
        for e in store.rows(
            "SELECT timestamp, turn_index, tool_name, file_extension, operation, lines_added,"
            " lines_removed, decision, decision_ms FROM code_changes"
            " WHERE session_id = ? AND (operation IS NULL OR operation != 'read')"
            " ORDER BY sequence",
            (sid,),
        ):
            items.append({"at": e.pop("timestamp"), "item": "edit", **e})
    items.sort(key=lambda i: (i["at"] or "", i["item"] != "turn"))
    return {
        "session": shape(row),
        "total": len(items),
        "items": items[-TIMELINE_LIMIT:],
        "provenance": ROW_PROVENANCE,
    }
