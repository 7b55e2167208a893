"""One session's events (in sequence order) -> its conversation, turns and code changes (pure).

The conversation worker calls :func:`fold` with every stored event of a session and replaces the
session's rows with the result, so rows depend only on what is stored: reprocessing, redelivery
or events reaching two consumers out of order all end in identical rows. Counting follows the
same one-fact-one-count rules as the metrics (``facts``), so a session's totals here equal the
metrics worker's ``session=<id>`` counters.

Turns: a user prompt (a prompt id not seen before in the session) starts a ``prompt`` turn;
events before the first prompt form a ``preamble`` turn; a finished compaction is a
``compaction`` turn that also holds what follows it until the next prompt; a subagent's events
(``metadata.agent_id`` or ``payload.is_sidechain``) form one ``subagent`` turn per agent, kept
visible next to the main thread, with ``parent_turn_index`` = the turn that launched it.
Events are taken in time order (then sequence), so turns are ordered by time whatever order the
sources arrived in. A fact belongs to the turn where it was first seen, except that an API
request (or error) whose sources name a prompt (OTel ``prompt.id``) belongs to that prompt's turn.

The request ledger (``api_requests``): one row per API-request fact, fields merged across its
sources (``facts.best`` and :func:`request_row`); a subagent's requests carry ``agent =
'subagent'`` and the turn that launched the subagent. The session's token and cost totals are
sums of its ledger rows. Failed requests (``api_errors``) are one row per failure: a ``StopFailure``
hook (no request id) joins the OTel / transcript error of the same session and prompt within
:data:`ERROR_JOIN_S`.

A session exists only when it has activity (``facts.ACTIVITY``): start-up-only events, a lone
``SessionEnd`` or MCP tracking calls make no conversation (:func:`has_activity`).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from blueplane_core import metric_keys as mk
from blueplane_core.pricing import PriceTable
from blueplane_workers.facts import (
    COMPACTION_WINDOW_S,
    EDIT_TOOLS,
    Fact,
    best,
    facts_of,
    is_session_activity,
)

#: a StopFailure (no request id) joins an api_error of the same prompt this close in time.
ERROR_JOIN_S = 300


def has_activity(events: list[tuple[int, dict[str, Any]]]) -> bool:
    """A session exists when some source saw it do something (``facts.is_session_activity``)."""
    return any(is_session_activity(e) for _s, e in events)


#: metadata a session takes from the first of its events that has it (the client version: from
#: the last).
_META_FIRST = ("workspace_hash", "project_hash", "project_label", "git_branch_hash")

READ_TOOLS = frozenset({"Read", "read_file", "NotebookRead"})
DELETE_TOOLS = frozenset({"Delete", "delete_file"})

_SUMMED = (
    "requests",
    "tool_calls",
    "tool_errors",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "lines_added",
    "lines_removed",
)
_SUMMED_NAMES = frozenset(_SUMMED)


@dataclass
class Turn:
    index: int
    kind: str
    first_sequence: int
    started_at: str
    ended_at: str
    last_sequence: int
    prompt_id: str | None = None
    agent_id: str | None = None
    agent_type: str | None = None
    prompt_length: int | None = None
    response_length: int | None = None
    pre_tokens: int | None = None
    post_tokens: int | None = None
    trigger: str | None = None
    parent: Turn | None = None  # subagent turns: the turn that launched the subagent
    sums: Counter = field(default_factory=Counter)
    tools: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    cost_nusd: int = 0
    unpriced: int = 0

    def touch(self, seq: int, ts: str) -> None:
        self.started_at = min(self.started_at, ts)
        self.ended_at = max(self.ended_at, ts)
        self.last_sequence = max(self.last_sequence, seq)


@dataclass
class Folded:
    conversation: dict[str, Any]
    turns: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _sidechain_agent(event: dict[str, Any]) -> str | None:
    agent = event["metadata"].get("agent_id")
    if isinstance(agent, str) and agent:
        return agent
    if event["payload"].get("is_sidechain") is True and event["event_type"] not in (
        "subagent_start",
        "subagent_stop",
    ):
        agent = event["payload"].get("agent_id")
        return agent if isinstance(agent, str) and agent else "sidechain"
    return None


def active_ms(timestamps: list[str]) -> int:
    """Gaps of at most 5 minutes between the session's distinct event seconds, summed (ms)."""
    seconds = sorted({mk.unix_seconds(t) for t in timestamps})
    return 1000 * sum(b - a for a, b in itertools.pairwise(seconds) if b - a <= mk.IDLE_GAP_S)


def fold(
    session_id: str,
    events: list[tuple[int, dict[str, Any]]],
    prices: PriceTable,
    facts: list[list[Fact]] | None = None,
) -> Folded:
    """Rows of one session from its events, ``(sequence, envelope)`` in sequence order.

    ``facts`` (aligned with ``events``) are the events' ``facts_of`` when the caller has them.
    """
    if facts is None:
        facts = [facts_of(event, prices, seq) for seq, event in events]
    turns: list[Turn] = []
    current: Turn | None = None
    agents: dict[str, Turn] = {}
    launched_in: dict[str, Turn] = {}  # agent id -> the main turn its subagent_start was in
    prompt_turns: dict[str, Turn] = {}
    seen_compactions: set[str] = set()
    fact_turn: dict[str, Turn] = {}
    keyed: dict[str, list[Fact]] = defaultdict(list)
    loose: list[tuple[Fact, Turn]] = []
    changes: dict[str, dict[str, Any]] = {}
    calls: dict[str, dict[str, Any]] = {}
    meta: dict[str, Any] = {}
    end_reason = None
    timestamps: list[str] = []

    def new_turn(kind: str, seq: int, ts: str, **extra: Any) -> Turn:
        turn = Turn(len(turns), kind, seq, ts, ts, seq, **extra)
        turns.append(turn)
        return turn

    # Time order (then arrival): a transcript read after OTel still puts its lines in place.
    ordered = sorted(zip(events, facts, strict=True), key=lambda x: (x[0][1]["timestamp"], x[0][0]))
    for (seq, event), event_facts in ordered:
        ts = event["timestamp"]
        kind = event["event_type"]
        payload = event["payload"]
        timestamps.append(ts)
        metadata = event["metadata"]
        for name in _META_FIRST:
            if name not in meta:  # the first value wins
                value = metadata.get(name)
                if isinstance(value, str) and value:
                    meta[name] = value
        version = metadata.get("client_version")
        if isinstance(version, str) and version:  # the last value wins
            meta["client_version"] = version
        meta.setdefault("platform", event["platform"])
        if kind == "session_end" and isinstance(payload.get("reason"), str):
            end_reason = payload["reason"]
        agent = _sidechain_agent(event)
        prompt_id = payload.get("prompt_id") if isinstance(payload.get("prompt_id"), str) else None
        if agent is not None:
            turn = agents.get(agent)
            if turn is None:
                agent_type = event["metadata"].get("agent_type") or payload.get("agent_type")
                turn = agents[agent] = new_turn(
                    "subagent",
                    seq,
                    ts,
                    agent_id=agent,
                    agent_type=agent_type if isinstance(agent_type, str) else None,
                    parent=current,
                )
        elif kind == "user_prompt" and (prompt_id is None or prompt_id not in prompt_turns):
            length = payload.get("prompt_length")
            current = new_turn(
                "prompt",
                seq,
                ts,
                prompt_id=prompt_id,
                prompt_length=length if isinstance(length, int) else None,
            )
            if prompt_id:
                prompt_turns[prompt_id] = current
            turn = current
        elif kind == "compaction" and payload.get("phase") != "pre":
            window = f"{mk.unix_seconds(ts) // COMPACTION_WINDOW_S}"
            compaction = current
            if window not in seen_compactions or compaction is None:
                seen_compactions.add(window)
                compaction = new_turn("compaction", seq, ts)
            current = turn = compaction
            for name in ("pre_tokens", "post_tokens"):
                if isinstance(payload.get(name), int):
                    setattr(turn, name, payload[name])
            if isinstance(payload.get("trigger"), str):
                turn.trigger = payload["trigger"]
        else:
            if current is None:
                current = new_turn("preamble", seq, ts)
            turn = current
            launched = payload.get("agent_id")
            if kind == "subagent_start" and isinstance(launched, str) and launched:
                launched_in.setdefault(launched, turn)
        turn.touch(seq, ts)
        if kind == "assistant_response" and payload.get("phase") != "display":
            length = payload.get("response_length")
            if isinstance(length, int):
                turn.response_length = (turn.response_length or 0) + length
        for fact in event_facts:
            if fact.key is None:
                loose.append((fact, turn))
            else:
                keyed[fact.key].append(fact)
                fact_turn.setdefault(fact.key, turn)
        _change(changes, seq, event, turn)
        _call(calls, seq, event, turn)

    _launchers(agents, launched_in, prompt_turns, keyed, fact_turn)
    chosen = {key: best(group) for key, group in keyed.items()}  # each key's winner, once
    winners = [(chosen[key], group, fact_turn[key]) for key, group in keyed.items()]
    summed: dict[str, int] = {}
    requests: list[dict[str, Any]] = []
    error_groups: list[tuple[str, list[Fact], Turn]] = []
    for fact, group, turn in [*((f, [f], t) for f, t in loose), *winners]:
        values = fact.values
        if values.get("api_errors"):
            error_groups.append((fact.key or f"seq:{fact.rank[-12:]}", group, turn))
            continue
        if values.get("requests"):
            turn = _request_turn(group, turn, prompt_turns, agents)
            row = request_row(fact, group, turn, meta)
            requests.append(row)
            if row["model"]:
                turn.models[row["model"]] += 1
            turn.cost_nusd += values.get("cost_nusd", 0)
            turn.unpriced += values.get("unpriced_requests", 0)
        sums = turn.sums
        for name, value in values.items():
            if name != "events":
                summed[name] = summed.get(name, 0) + value
                if value and name in _SUMMED_NAMES:
                    sums[name] += value
        if values.get("tool_calls") and fact.dims.get("tool"):
            turn.tools[fact.dims["tool"]] += 1
    totals = Counter(summed)
    errors = _error_rows(error_groups, prompt_turns, meta)
    _decide(changes, chosen)
    _settle_calls(calls, chosen)
    started = min(timestamps)
    # Number turns by time: the order they were opened in (time order) is their index.
    for index, t in enumerate(turns):
        t.index = index
    requests.sort(key=lambda r: (r["at_ms"], r["request_key"]))
    for row in requests:
        turn_of = row.pop("_turn")
        row["turn_index"] = turn_of.index if turn_of is not None else None
    for row in errors:
        turn_of = row.pop("_turn")
        row["turn_index"] = turn_of.index if turn_of is not None else None
    models = Counter(r["model"] for r in requests if r["model"])
    unpriced = sum(1 for r in requests if r["cost_nusd"] is None)
    official = [r["official_cost_nusd"] for r in requests if r["official_cost_nusd"] is not None]
    conversation = {
        "session_id": session_id,
        "platform": meta.get("platform"),
        "workspace_hash": meta.get("workspace_hash"),
        "project_hash": meta.get("project_hash"),
        "project_label": meta.get("project_label"),
        "git_branch_hash": meta.get("git_branch_hash"),
        "model": min(models, key=lambda m: (-models[m], m)) if models else None,
        "client_version": meta.get("client_version"),
        "started_at": started,
        "ended_at": max(timestamps),
        "end_reason": end_reason,
        "prompts": totals["prompts"],
        "turns": len(turns),
        "requests": len(requests),
        "tool_calls": totals["tool_calls"],
        "tool_errors": totals["tool_errors"],
        # token and cost totals: sums of the session's ledger rows
        "input_tokens": sum(r["input_tokens"] for r in requests),
        "output_tokens": sum(r["output_tokens"] for r in requests),
        "cache_write_tokens": sum(
            r["cache_write_5m_tokens"] + r["cache_write_1h_tokens"] for r in requests
        ),
        "cache_write_1h_tokens": sum(r["cache_write_1h_tokens"] for r in requests),
        "cache_read_tokens": sum(r["cache_read_tokens"] for r in requests),
        "cost_nusd": None if unpriced else sum(r["cost_nusd"] or 0 for r in requests),
        "official_cost_nusd": sum(official) if official else None,
        "unpriced_requests": unpriced,
        "lines_added": totals["lines_added"],
        "lines_removed": totals["lines_removed"],
        "edits_accepted": totals["edits_accepted"],
        "edits_rejected": totals["edits_rejected"],
        "compactions": totals["compactions"],
        "subagents": totals["subagents"],
        "api_errors": len(errors),
        "active_ms": active_ms(timestamps),
        "event_count": len(events),
        "last_sequence": max(seq for seq, _e in events),
    }
    turn_rows = [
        {
            "session_id": session_id,
            "turn_index": t.index,
            "kind": t.kind,
            "prompt_id": t.prompt_id,
            "agent_id": t.agent_id,
            "agent_type": t.agent_type,
            "is_sidechain": int(t.kind == "subagent"),
            "parent_turn_index": t.parent.index if t.parent is not None else None,
            "model": min(t.models, key=lambda m: (-t.models[m], m)) if t.models else None,
            "started_at": t.started_at,
            "ended_at": t.ended_at,
            "prompt_length": t.prompt_length,
            "response_length": t.response_length,
            "tools": orjson.dumps(dict(sorted(t.tools.items()))).decode() if t.tools else None,
            "cost_nusd": None if t.unpriced else t.cost_nusd,
            "pre_tokens": t.pre_tokens,
            "post_tokens": t.post_tokens,
            "trigger": t.trigger,
            "first_sequence": t.first_sequence,
            "last_sequence": t.last_sequence,
            **{name: t.sums[name] for name in _SUMMED},
        }
        for t in turns
    ]
    change_rows = [dict(c, session_id=session_id) for _k, c in sorted(changes.items())]
    for row in change_rows:
        row.pop("_proposed_at", None)
        row.pop("_decided_at", None)
        row["turn_index"] = row.pop("_turn").index
    call_rows = [dict(c, session_id=session_id) for _k, c in sorted(calls.items())]
    for row in call_rows:
        row.pop("_started_at", None)
        row.pop("_ended_at", None)
        row["turn_index"] = row.pop("_turn").index
    for row in [*requests, *errors]:
        row["session_id"] = session_id
    return Folded(conversation, turn_rows, change_rows, call_rows, requests, errors)


def _launchers(
    agents: dict[str, Turn],
    launched_in: dict[str, Turn],
    prompt_turns: dict[str, Turn],
    keyed: dict[str, list[Fact]],
    fact_turn: dict[str, Turn],
) -> None:
    """Set each subagent turn's parent: the prompt its requests name (OTel ``prompt.id``), else
    the turn its ``SubagentStart`` fired in, else the main turn open when it began (by time)."""
    named: dict[int, str] = {}
    for key, group in keyed.items():
        turn = fact_turn[key]
        if turn.kind != "subagent" or id(turn) in named:
            continue
        for fact in group:
            prompt = fact.info.get("prompt_id", "")
            if prompt in prompt_turns:
                named[id(turn)] = prompt
                break
    for agent_id, turn in agents.items():
        if id(turn) in named:
            turn.parent = prompt_turns[named[id(turn)]]
        elif agent_id in launched_in:
            turn.parent = launched_in[agent_id]


def _request_turn(
    group: list[Fact], first_seen: Turn, prompt_turns: dict[str, Turn], agents: dict[str, Turn]
) -> Turn:
    """The turn whose sums hold a request: its subagent's turn for subagent work, else the turn
    of the prompt its sources name, else the turn it was first seen in."""
    if first_seen.kind == "subagent":
        return first_seen
    info = _merged_info(group)
    if info.get("agent") == "subagent" and info.get("agent_id") in agents:
        return agents[info["agent_id"]]
    prompt = info.get("prompt_id", "")
    return prompt_turns.get(prompt, first_seen)


def _merged_info(group: list[Fact]) -> dict[str, str]:
    """Each info field from the highest-ranked fact that has it."""
    out: dict[str, str] = {}
    for fact in sorted(group, key=lambda f: f.rank, reverse=True):
        for name, value in fact.info.items():
            out.setdefault(name, value)
    return out


def _unix_ms(timestamp: str) -> int:
    return mk.unix_seconds(timestamp) * 1000 + int(timestamp[20:23] or 0)


def request_row(
    winner: Fact, group: list[Fact], turn: Turn, meta: dict[str, Any]
) -> dict[str, Any]:
    """The ledger row of one API-request fact (``winner`` = ``best(group)``).

    Which source wins each field (docs/metrics.md, "The request ledger"): tokens, model and
    cost from the best source of the request (OTel, else transcript, else others), the 5m/1h
    cache split from the best source that knows it (``facts.best``), the time from the transcript
    when it saw the request (the time ccusage and the user's history show), else the winner's;
    the official cost from the client's own ``cost_usd``; the workspace from the best source
    that has one, else the session's.
    """
    usage = winner.usage
    assert usage is not None
    info = _merged_info(group)
    transcript_times = [f.timestamp for f in group if f.source == "transcript"]
    at = min(transcript_times) if transcript_times else winner.timestamp
    reported = [f for f in group if f.values.get("reported_cost_nusd")]
    official = (
        max(reported, key=lambda f: f.rank).values["reported_cost_nusd"] if reported else None
    )
    subagent = turn.kind == "subagent" or info.get("agent") == "subagent"
    launched = turn.parent if turn.kind == "subagent" else turn
    return {
        "request_key": winner.key or f"seq:{winner.rank[-12:]}",
        "platform": meta.get("platform") or "",
        "_turn": launched,
        "agent": "subagent" if subagent else "main",
        "agent_id": turn.agent_id or info.get("agent_id") or None,
        "prompt_id": info.get("prompt_id") or (launched.prompt_id if launched else None),
        "query_source": info.get("query_source"),
        "model": winner.dims.get("model"),
        "at_ms": _unix_ms(at),
        "timestamp": at,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_write_5m_tokens": usage.cache_write_5m_tokens,
        "cache_write_1h_tokens": usage.cache_write_1h_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "fast": int(usage.fast),
        "cost_nusd": winner.values.get("cost_nusd"),
        "official_cost_nusd": official,
        "sources": ",".join(sorted({f.source for f in group})),
        "workspace_hash": winner.dims.get("workspace") or meta.get("workspace_hash"),
        "project_hash": meta.get("project_hash"),
        "sequence": int(winner.rank[-12:]),
    }


def _error_rows(
    groups: list[tuple[str, list[Fact], Turn]],
    prompt_turns: dict[str, Turn],
    meta: dict[str, Any],
) -> list[dict[str, Any]]:
    """One row per failed request: a group without a request id (the hook's ``StopFailure``)
    joins the nearest group of the same prompt that has one, within :data:`ERROR_JOIN_S`."""
    merged: dict[str, list[Fact]] = {}
    first_turn: dict[str, Turn] = {}
    with_request: dict[str, list[str]] = defaultdict(list)  # prompt id -> keys
    pending: list[tuple[str, list[Fact]]] = []
    for key, group, turn in sorted(groups, key=lambda g: g[0]):
        info = _merged_info(group)
        first_turn[key] = turn
        if info.get("request_id"):
            merged[key] = list(group)
            with_request[info.get("prompt_id", "")].append(key)
        else:
            pending.append((key, group))
    for key, group in pending:
        prompt = _merged_info(group).get("prompt_id", "")
        at_ms = min(_unix_ms(f.timestamp) for f in group)
        near = [
            (abs(min(_unix_ms(f.timestamp) for f in merged[k]) - at_ms), k)
            # the same prompt, or a source that did not know the prompt (a transcript line)
            for k in with_request.get(prompt, []) + with_request.get("", [])
        ]
        near = [n for n in near if n[0] <= ERROR_JOIN_S * 1000]
        if near:
            merged[min(near)[1]].extend(group)
        else:
            merged[key] = list(group)
    rows = []
    for key, group in sorted(merged.items()):
        winner = max(group, key=lambda f: f.rank)
        info = _merged_info(group)
        turn = prompt_turns.get(info.get("prompt_id", ""), first_turn[key])
        at = min(f.timestamp for f in group)
        status = info.get("status_code")
        rows.append(
            {
                "error_key": key,
                "platform": meta.get("platform") or "",
                "_turn": turn.parent if turn.kind == "subagent" and turn.parent else turn,
                "prompt_id": info.get("prompt_id"),
                "request_id": info.get("request_id"),
                "at_ms": _unix_ms(at),
                "timestamp": at,
                "status_code": int(status) if status else None,
                "error_type": info.get("error_type"),
                "sources": ",".join(sorted({f.source for f in group})),
                "project_hash": meta.get("project_hash"),
                "sequence": int(winner.rank[-12:]),
            }
        )
    return rows


def _call(calls: dict[str, dict[str, Any]], seq: int, event: dict[str, Any], turn: Turn) -> None:
    """Collect one tool call's row (all sources of one tool_use_id together)."""
    kind = event["event_type"]
    if kind not in ("tool_use", "tool_result", "mcp_call"):
        return
    payload = event["payload"]
    tool_use_id = payload.get("tool_use_id")
    has_id = isinstance(tool_use_id, str) and tool_use_id
    if not has_id and kind == "tool_use":
        return  # cannot be joined with its result; the result is the call (as in the metrics)
    key = tool_use_id if has_id else f"seq:{seq:012d}"
    row = calls.get(key)
    if row is None:
        row = calls[key] = {
            "call_key": key,
            "_turn": turn,
            "sequence": seq,
            "timestamp": event["timestamp"],
            "tool_name": None,
            "program": None,
            "file_hash": None,
            "success": None,
            "error_type": None,
            "duration_ms": None,
            "is_sidechain": int(turn.kind == "subagent"),
            "_started_at": None,
            "_ended_at": None,
        }
    for name in ("tool_name", "program", "file_hash", "error_type"):
        if isinstance(payload.get(name), str) and not row[name]:
            row[name] = payload[name]
    if kind == "tool_use":
        row["_started_at"] = event["timestamp"]
    else:
        row["_ended_at"] = row["_ended_at"] or event["timestamp"]


def _settle_calls(calls: dict[str, dict[str, Any]], chosen: dict[str, Fact]) -> None:
    """Success and duration of each tool call (``chosen``: each fact key's ``best``)."""
    for key, row in calls.items():
        winner = chosen.get(f"tool:{key}")
        if winner is not None:
            if winner.values.get("tool_errors"):
                row["success"] = 0
            elif row["_ended_at"]:
                row["success"] = 1
            row["duration_ms"] = winner.samples.get("tool_ms")
        elif row["_ended_at"]:
            row["success"] = 1 if row["error_type"] is None else 0
        if row["success"] == 1:
            row["error_type"] = None
        if row["duration_ms"] is None and row["_started_at"] and row["_ended_at"]:
            row["duration_ms"] = max(0, _ms(row["_ended_at"]) - _ms(row["_started_at"]))


def _change(
    changes: dict[str, dict[str, Any]], seq: int, event: dict[str, Any], turn: Turn
) -> None:
    """Collect the code change (or file read) an event is part of, keyed by tool_use_id."""
    payload = event["payload"]
    kind = event["event_type"]
    tool = payload.get("tool_name") if isinstance(payload.get("tool_name"), str) else None
    file_tool = tool in EDIT_TOOLS or tool in READ_TOOLS or tool in DELETE_TOOLS
    if kind not in ("file_edit", "file_read", "edit_decision") and not (
        kind in ("tool_use", "tool_result") and file_tool
    ):
        return
    if payload.get("scope") == "composer":
        return  # a session's line totals (Cursor's composer), not one change
    tool_use_id = payload.get("tool_use_id")
    key = tool_use_id if isinstance(tool_use_id, str) and tool_use_id else f"seq:{seq:012d}"
    row = changes.get(key)
    if row is None:
        if kind == "file_read" or tool in READ_TOOLS:
            operation = "read"
        elif tool in DELETE_TOOLS or payload.get("operation") == "delete":
            operation = "delete"
        elif tool in ("Write", "write") or payload.get("operation") == "create":
            operation = "write"
        else:
            operation = "edit"
        row = changes[key] = {
            "change_key": key,
            "_turn": turn,
            "sequence": seq,
            "timestamp": event["timestamp"],
            "tool_name": tool,
            "file_hash": None,
            "file_extension": None,
            "lines_added": 0,
            "lines_removed": 0,
            "operation": operation,
            "decision": None,
            "decision_ms": None,
            "is_sidechain": int(turn.kind == "subagent"),
            "_proposed_at": None,
            "_decided_at": None,
        }
    row["tool_name"] = row["tool_name"] or tool
    for name in ("file_hash", "file_extension"):
        if isinstance(payload.get(name), str) and not row[name]:
            row[name] = payload[name]
    if kind == "tool_result" and "session_lines_added" in payload:
        # Cursor: the call's own lines (the facts count the session's running total instead)
        row["lines_added"] = payload.get("lines_added") or 0
        row["lines_removed"] = payload.get("lines_removed") or 0
    if kind == "tool_use":
        row["_proposed_at"] = event["timestamp"]
    elif kind in ("tool_result", "edit_decision"):
        row["_decided_at"] = row["_decided_at"] or event["timestamp"]
        if kind == "edit_decision" and isinstance(payload.get("duration_ms"), int):
            row["decision_ms"] = payload["duration_ms"]
    if not key.startswith("seq:"):
        return
    # No tool_use_id (Cursor's database): the event itself carries the numbers and decision.
    if kind == "file_edit":
        row["lines_added"] = payload.get("lines_added") or 0
        row["lines_removed"] = payload.get("lines_removed") or 0
    decision = payload.get("decision")
    if kind == "edit_decision" and isinstance(decision, str):
        row["decision"] = "accepted" if decision.startswith("accept") else "rejected"


def _ms(timestamp: str) -> int:
    return int(round(datetime.fromisoformat(timestamp).timestamp() * 1000))


def _decide(changes: dict[str, dict[str, Any]], chosen: dict[str, Fact]) -> None:
    """Lines and decisions of tool-use-keyed changes, from the same winners the metrics use
    (``chosen``: each fact key's ``best``)."""
    for key, row in changes.items():
        if key.startswith("seq:"):
            continue
        lines = chosen.get(f"lines:{key}")
        if lines is not None:
            values = lines.values
            row["lines_added"] = values.get("lines_added", 0)
            row["lines_removed"] = values.get("lines_removed", 0)
        decisions = chosen.get(f"decision:{key}")
        if decisions is not None:
            values = decisions.values
            row["decision"] = "accepted" if values.get("edits_accepted") else "rejected"
        if row["decision_ms"] is None and row["_proposed_at"] and row["_decided_at"]:
            delta = _ms(row["_decided_at"]) - _ms(row["_proposed_at"])
            row["decision_ms"] = max(0, delta)
