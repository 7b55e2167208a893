"""One fact, one count: which real-world fact an event describes, and how complete its view is.

The same API request, tool call or prompt is often seen by several sources (hook, transcript,
OpenTelemetry). Each such fact has a key built from the ids the client shares (``request_id``,
``tool_use_id``, ``prompt_id``, ...). Of all events describing one key, exactly one — the one with
the highest :attr:`Fact.rank` — contributes numbers; the others contribute nothing. The winner is
the maximum over a set, so it does not depend on the order events arrive in: live processing and
``rebuild`` agree. Facts without a shared id (``key`` None) are counted as they come.

Both the metrics worker (Redis counters) and the conversation worker (SQLite rows) use these
rules, so a session's totals agree between the two. The rules are written down in
docs/metrics.md ("One fact, one count").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from blueplane_core.metric_keys import unix_seconds as mk_unix
from blueplane_core.pricing import Price, PriceTable, Usage, request_cost

#: tools that propose file edits (acceptance rate counts their decisions).
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit", "edit_file", "write"})

#: platforms that record the user's edit decisions themselves (Cursor's ``codeBlockData``): a
#: failed edit call there is an error of that call (a hook's ``permission_denied``, a timeout),
#: never a rejected edit.
OWN_DECISIONS = frozenset({"cursor"})

#: compaction reports of one session within one such window are one compaction.
COMPACTION_WINDOW_S = 120

#: how complete each source's view of a fact usually is (higher is better).
SOURCE_RANK: dict[str, int] = {
    "otlp": 5,  # the client's own accounting: true output tokens, requests no transcript has
    "hook": 4,
    "git_hook": 4,
    "transcript": 3,
    "database": 3,
    "import": 2,
    "mcp": 1,
    "synthetic": 1,
}


@dataclass(slots=True)
class Fact:
    """What one event says about one fact."""

    key: str | None  # shared fact id; None = this event's own fact
    rank: str  # sortable; the highest rank of a key wins
    timestamp: str
    dims: dict[str, str]  # platform, model, tool, workspace, session
    values: dict[str, int] = field(default_factory=dict)  # counter deltas
    samples: dict[str, int] = field(default_factory=dict)  # histogram name -> ms
    #: rank of the event each dimension came from, when not this fact's own rank
    dim_ranks: dict[str, str] = field(default_factory=dict)
    #: the event's source (``transcript``, ``otlp``, ...)
    source: str = ""
    #: API requests only: the tokens as this source saw them, whether it knew the 5m/1h cache
    #: split, the model's price, and what else it said (prompt id, subagent, query source)
    usage: Usage | None = None
    split: bool = False
    price: Price | None = None
    info: dict[str, str] = field(default_factory=dict)

    def state(self) -> list[Any]:
        """The compact form stored for a keyed fact: its rank and the ranks its dimensions came
        from. A rank ends with the event's sequence, so the fact can be recomputed from the
        stored events (:func:`sources`) to undo its contribution."""
        return [self.rank, self.dim_ranks]


def sources(state: list[Any]) -> set[int]:
    """The raw_traces sequences a stored fact state was computed from."""
    rank, dim_ranks = state
    return {int(rank[-12:])} | {int(r[-12:]) for r in dim_ranks.values()}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _rank(kind: int, source: str, completeness: int, sequence: int) -> str:
    """Sortable rank; ties between equally complete sources go to the later stored event."""
    source_rank = SOURCE_RANK.get(source, 0)
    # %-formatting: about half the time of the same f-string, once per keyed fact
    return "%02d%02d%015d%012d" % (kind, source_rank, min(completeness, 10**15 - 1), sequence)


def dims_of(event: dict[str, Any]) -> dict[str, str]:
    """The dimensions an event's numbers are broken down by (empty values are left out)."""
    meta = event["metadata"]
    payload = event["payload"]
    dims: dict[str, str] = {}  # built key by key: this runs for every event a worker reads
    value = event["platform"]
    if value:
        dims["platform"] = value
    value = event["session_id"]
    if value:
        dims["session"] = value
    value = meta.get("model")
    if not value or not isinstance(value, str):
        value = payload.get("model")
    if value and isinstance(value, str):
        dims["model"] = value
    value = payload.get("tool_name")
    if value and isinstance(value, str):
        dims["tool"] = value
    value = meta.get("workspace_hash")
    if value and isinstance(value, str):
        dims["workspace"] = value
    return dims


#: event types that make a session exist (a prompt, an API request or error, a tool call, an
#: edit, or a compaction, which is a paid summary request). Start-up telemetry, a lone
#: SessionEnd, MCP tracking calls and vendor imports do not (docs/metrics.md).
ACTIVITY = frozenset(
    {
        "user_prompt",
        "compaction",
        "token_usage",
        "api_request",
        "api_error",
        "tool_use",
        "tool_result",
        "mcp_call",
        "file_edit",
        "edit_decision",
    }
)
#: sources whose events never make a session on their own (MCP tracking calls, vendor imports).
_NOT_SESSION_SOURCES = frozenset({"mcp", "import"})


def is_session_activity(event: dict[str, Any]) -> bool:
    """The event shows a session doing something, so the session exists (and counts)."""
    return event["event_type"] in ACTIVITY and event["source"] not in _NOT_SESSION_SOURCES


def is_agent_activity(event: dict[str, Any]) -> bool:
    """Agent activity in a workspace (for agent-assisted commits): any non-git event."""
    return event["platform"] != "git" and event["event_type"] not in ("commit", "usage_report")


def facts_of(event: dict[str, Any], prices: PriceTable, sequence: int) -> list[Fact]:
    """Every fact ``event`` contributes to (its own event count first)."""
    payload = event["payload"]
    kind = event["event_type"]
    source = event["source"]
    ts = event["timestamp"]
    dims = dims_of(event)
    session = event["session_id"]
    out = [Fact(None, "", ts, dims, {"events": 1})]

    def keyed(key: str | None, level: int, completeness: int = 0, fact_dims=None) -> Fact:
        fact = Fact(
            key, _rank(level, source, completeness, sequence), ts, fact_dims or dims, source=source
        )
        out.append(fact)
        return fact

    tool_use_id = _str(payload.get("tool_use_id"))
    if kind == "user_prompt":
        prompt_id = _str(payload.get("prompt_id"))
        keyed(f"prompt:{session}:{prompt_id}" if prompt_id else None, 1).values["prompts"] = 1
    elif kind in ("token_usage", "api_request"):
        model = dims.get("model", "")
        if model == "<synthetic>":
            return out
        request_id = _str(payload.get("request_id"))
        message_id = _str(payload.get("message_id"))
        key = (
            f"api:{request_id}" if request_id else (f"api:msg:{message_id}" if message_id else None)
        )
        usage = _usage(payload)
        total = (
            usage.input_tokens
            + usage.output_tokens
            + usage.cache_write_5m_tokens
            + usage.cache_write_1h_tokens
            + usage.cache_read_tokens
        )
        # A request whose tokens its source does not know (Cursor: a turn's prompt, a ``stop``
        # hook of an older client) is counted, loses to any source that knows the tokens
        # (level 0 < 1), and has no cost: unknown, never $0.
        unknown = payload.get("tokens_unknown") is True
        fact = keyed(key, 0 if unknown else 1, total)
        fact.usage = usage
        fact.split = "cache_creation_5m_tokens" in payload or "cache_creation_1h_tokens" in payload
        fact.price = None if unknown else prices.lookup(model)
        fact.info = _request_info(event)
        cost = None if fact.price is None else request_cost(fact.price, usage)
        fact.values.update(
            {
                "requests": 1,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_write_tokens": usage.cache_write_5m_tokens + usage.cache_write_1h_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
            }
        )
        if cost is None:
            fact.values["unpriced_requests"] = 1
        else:
            fact.values["cost_nusd"] = cost
        reported = payload.get("cost_usd")
        if isinstance(reported, (int, float)) and not isinstance(reported, bool) and reported > 0:
            fact.values["reported_cost_nusd"] = round(reported * 1e9)
        if _int(payload.get("duration_ms")):
            fact.samples["response_ms"] = _int(payload.get("duration_ms"))
    elif kind == "api_error":
        fact = keyed(error_key(event), 1)
        fact.values["api_errors"] = 1
        fact.info = _request_info(event)
    elif kind in ("tool_use", "tool_result", "mcp_call", "edit_decision"):
        _tool_facts(event, keyed, tool_use_id)
    elif kind == "file_edit" and not _session_lines(payload):
        fact = keyed(f"lines:{tool_use_id}" if tool_use_id else None, 1)
        fact.values.update(_lines(payload))
    elif kind == "compaction" and payload.get("phase") != "pre":
        # No shared id: the sources that report a finished compaction (PostCompact hook, the
        # transcript's compact_boundary, OTel) agree on its session and, within seconds, its time.
        bucket = mk_unix(ts) // COMPACTION_WINDOW_S
        keyed(f"compact:{session}:{bucket}", 1).values["compactions"] = 1
    elif kind == "subagent_start":
        agent_id = _str(payload.get("agent_id"))
        keyed(f"subagent:{session}:{agent_id}" if agent_id else None, 1).values["subagents"] = 1
    elif kind == "commit":
        commit = _str(payload.get("commit_hash"))
        keyed(f"commit:{commit}" if commit else None, 1).values["commits"] = 1
    if _session_lines(payload):
        # A running total of the session's lines (Cursor's composer totals, the Cursor hooks'
        # running sums): one key per session, never a sum. The composer's own totals (level 2)
        # beat the hooks' sums (they follow the user's rejections); within one source the
        # latest total wins (a rejection can lower it).
        added, removed = (
            _int(payload.get("session_lines_added")),
            _int(payload.get("session_lines_removed")),
        )
        if payload.get("scope") == "composer":  # latest of Cursor's totals: by its time
            level, completeness = 2, round(datetime.fromisoformat(ts).timestamp() * 1000)
        else:  # the hooks' running sum only grows: its largest value is its latest
            level, completeness = 1, added + removed
        fact = keyed(f"lines:session:{session}", level, completeness)
        fact.values.update({"lines_added": added, "lines_removed": removed})
    return [f for f in out if f.values or f.samples]


def error_key(event: dict[str, Any]) -> str | None:
    """The fact id of a failed API request: its request id when the source knows it (OTel, the
    transcript's error line), else the session and prompt (the hook's ``StopFailure``); the
    conversation fold joins the two (``conversation_fold``, one failure = one fact)."""
    payload = event["payload"]
    request_id = _str(payload.get("request_id"))
    if request_id:
        return f"apierr:{request_id}"
    prompt_id = _str(payload.get("prompt_id"))
    return f"apierr:{event['session_id']}:{prompt_id}" if prompt_id else None


def _request_info(event: dict[str, Any]) -> dict[str, str]:
    """What one source says about a request besides its numbers (ids, never text)."""
    payload = event["payload"]
    meta = event["metadata"]
    info = {
        "prompt_id": _str(payload.get("prompt_id")),
        "request_id": _str(payload.get("request_id")),
        "query_source": _str(payload.get("query_source")),
        "error_type": _str(payload.get("error_type")),
    }
    agent = _str(meta.get("agent_id")) or _str(payload.get("agent_id"))
    query_source = info["query_source"]
    if agent or payload.get("is_sidechain") is True or query_source.startswith("agent:"):
        info["agent"] = "subagent"
        info["agent_id"] = agent
    status = payload.get("status_code")
    if isinstance(status, int) and not isinstance(status, bool):
        info["status_code"] = str(status)
    return {k: v for k, v in info.items() if v}


#: how complete a tool call's view is, by event type (a duration adds one)
_TOOL_LEVEL = {"tool_use": 1, "mcp_call": 2, "tool_result": 2}


def _tool_facts(event: dict[str, Any], keyed: Any, tool_use_id: str) -> None:
    payload = event["payload"]
    kind = event["event_type"]
    tool = _str(payload.get("tool_name"))
    is_edit = tool in EDIT_TOOLS
    success = payload.get("success")
    duration = _int(payload.get("duration_ms"))
    if kind != "edit_decision" and (tool_use_id or kind in ("tool_result", "mcp_call")):
        # tool_use without an id cannot be joined with its result: only results count then.
        level = _TOOL_LEVEL[kind] + (1 if duration else 0)
        fact = keyed(f"tool:{tool_use_id}" if tool_use_id else None, level)
        fact.values["tool_calls"] = 1
        if success is False:
            fact.values["tool_errors"] = 1
        if duration and kind != "tool_use":
            fact.samples["tool_ms"] = duration
    if (
        kind == "tool_result"
        and success is not False
        and ("lines_added" in payload or "lines_removed" in payload)
        and not _session_lines(payload)
    ):
        keyed(f"lines:{tool_use_id}" if tool_use_id else None, 2).values.update(_lines(payload))
    # Acceptance: the client's own decision beats a result, which beats an unanswered proposal.
    if kind == "edit_decision":
        decision = _str(payload.get("decision"))
        if decision not in ("accept", "reject", "accepted", "rejected"):
            return
        fact = keyed(f"decision:{tool_use_id}" if tool_use_id else None, 3)
        fact.values["edits_accepted" if decision.startswith("accept") else "edits_rejected"] = 1
        if duration:
            fact.samples["decision_ms"] = duration
    elif is_edit and tool_use_id and kind in ("tool_use", "tool_result"):
        if success is False and event["platform"] in OWN_DECISIONS:
            return
        if kind == "tool_use":
            keyed(f"decision:{tool_use_id}", 1).values["edits_rejected"] = 1
        else:
            accepted = success is not False
            keyed(f"decision:{tool_use_id}", 2).values[
                "edits_accepted" if accepted else "edits_rejected"
            ] = 1


def _session_lines(payload: dict[str, Any]) -> bool:
    return "session_lines_added" in payload or "session_lines_removed" in payload


def _lines(payload: dict[str, Any]) -> dict[str, int]:
    return {
        "lines_added": _int(payload.get("lines_added")),
        "lines_removed": _int(payload.get("lines_removed")),
    }


def _usage(payload: dict[str, Any]) -> Usage:
    write_5m = _int(payload.get("cache_creation_5m_tokens"))
    write_1h = _int(payload.get("cache_creation_1h_tokens"))
    if not write_5m and not write_1h:
        write_5m = _int(payload.get("cache_creation_tokens"))
    return Usage(
        input_tokens=_int(payload.get("input_tokens")),
        output_tokens=_int(payload.get("output_tokens")),
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        cache_read_tokens=_int(payload.get("cache_read_tokens")),
        fast=payload.get("speed") == "fast",
    )


def best(facts: list[Fact]) -> Fact:
    """What a key's facts say together: the highest-ranked one's numbers and time, and each
    dimension from the highest-ranked fact that has it (OTel is the best source of tokens but
    does not know the workspace; the transcript does). For an API request the 5m/1h cache split
    comes from the source that knows it, and the cost is computed with it. A maximum over the
    set: order-free."""
    winner = max(facts, key=_rank_of)
    values, usage, split_rank = _merged_split(winner, facts)
    chosen: dict[str, tuple[str, str]] = {}
    for fact in facts:
        ranks = fact.dim_ranks
        for dim, value in fact.dims.items():
            pick = (ranks.get(dim, fact.rank) if ranks else fact.rank, value)
            held = chosen.get(dim)
            if held is None or pick > held:
                chosen[dim] = pick
    ordered = sorted(chosen.items())
    price = winner.price
    if usage is not None and split_rank:
        values = {k: v for k, v in values.items() if k not in ("cost_nusd", "unpriced_requests")}
        if price is None:
            values["unpriced_requests"] = 1
        else:
            values["cost_nusd"] = request_cost(price, usage)
    dim_ranks = {d: r for d, (r, _v) in ordered if r != winner.rank}
    if split_rank:
        dim_ranks[SPLIT] = split_rank  # so the stored state names every event it used
    return Fact(
        winner.key,
        winner.rank,
        winner.timestamp,
        {d: v for d, (_r, v) in ordered},
        values,
        winner.samples,
        # only dimensions that came from another event keep their rank (smaller stored state)
        dim_ranks,
        winner.source,
        usage,
        winner.split or bool(split_rank),
        price,
        winner.info,
    )


_rank_of = attrgetter("rank")

#: the pseudo-dimension under which a fact's state records where its cache split came from.
SPLIT = "~cache_split"


def _merged_split(winner: Fact, facts: list[Fact]) -> tuple[dict[str, int], Usage | None, str]:
    """The winner's values, with the 5m/1h cache-write split of the best source that knows it.

    OpenTelemetry's ``api_request`` (the best source of tokens) reports only the total
    ``cache_creation_tokens``; the transcript says how much of it was written for one hour, which
    costs 2x input instead of 1.25x. Without this, a request OTel won was priced as if every
    cache write were a 5-minute one. Returns (values, usage, rank of the split's source or '').
    """
    usage = winner.usage
    if usage is None or winner.split or usage.cache_write_1h_tokens:
        return winner.values, usage, ""
    known = [f for f in facts if f.split and f.usage is not None]
    if not known:
        return winner.values, usage, ""
    source = max(known, key=lambda f: f.rank)
    assert source.usage is not None
    total = usage.cache_write_5m_tokens
    hour = min(source.usage.cache_write_1h_tokens, total)
    if not hour:
        return winner.values, usage, ""
    merged = replace(usage, cache_write_5m_tokens=total - hour, cache_write_1h_tokens=hour)
    values = dict(winner.values)
    # a fact that is itself a merge names the event its split came from
    return values, merged, source.dim_ranks.get(SPLIT, source.rank)
