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
visible next to the main thread. A fact belongs to the turn where it was first seen.
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
from blueplane_workers.facts import COMPACTION_WINDOW_S, EDIT_TOOLS, Fact, best, facts_of

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
    sums: Counter = field(default_factory=Counter)
    tools: Counter = field(default_factory=Counter)
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
    seen_prompts: set[str] = set()
    seen_compactions: set[str] = set()
    fact_turn: dict[str, Turn] = {}
    keyed: dict[str, list[Fact]] = defaultdict(list)
    loose: list[tuple[Fact, Turn]] = []
    changes: dict[str, dict[str, Any]] = {}
    calls: dict[str, dict[str, Any]] = {}
    meta: dict[str, Any] = {}
    models: Counter = Counter()
    end_reason = None
    timestamps: list[str] = []

    def new_turn(kind: str, seq: int, ts: str, **extra: Any) -> Turn:
        turn = Turn(len(turns), kind, seq, ts, ts, seq, **extra)
        turns.append(turn)
        return turn

    for (seq, event), event_facts in zip(events, facts, strict=True):
        ts = event["timestamp"]
        kind = event["event_type"]
        payload = event["payload"]
        timestamps.append(ts)
        for name in ("workspace_hash", "project_hash", "git_branch_hash", "client_version"):
            value = event["metadata"].get(name)
            if isinstance(value, str) and value and (name == "client_version" or name not in meta):
                meta[name] = value
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
                )
        elif kind == "user_prompt" and (prompt_id is None or prompt_id not in seen_prompts):
            if prompt_id:
                seen_prompts.add(prompt_id)
            length = payload.get("prompt_length")
            current = new_turn(
                "prompt",
                seq,
                ts,
                prompt_id=prompt_id,
                prompt_length=length if isinstance(length, int) else None,
            )
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

    winners = [(best(facts), fact_turn[key]) for key, facts in keyed.items()]
    totals: Counter = Counter()
    for fact, turn in [*loose, *winners]:
        values = fact.values
        for name in _SUMMED:
            if values.get(name):
                turn.sums[name] += values[name]
        for name, value in values.items():
            if name != "events":
                totals[name] += value
        if values.get("tool_calls") and fact.dims.get("tool"):
            turn.tools[fact.dims["tool"]] += 1
        if values.get("requests"):
            turn.cost_nusd += values.get("cost_nusd", 0)
            turn.unpriced += values.get("unpriced_requests", 0)
            if fact.dims.get("model"):
                models[fact.dims["model"]] += 1
    _decide(changes, keyed)
    _settle_calls(calls, keyed)
    started = min(timestamps)
    conversation = {
        "session_id": session_id,
        "platform": meta.get("platform"),
        "workspace_hash": meta.get("workspace_hash"),
        "project_hash": meta.get("project_hash"),
        "git_branch_hash": meta.get("git_branch_hash"),
        "model": min(models, key=lambda m: (-models[m], m)) if models else None,
        "client_version": meta.get("client_version"),
        "started_at": started,
        "ended_at": max(timestamps),
        "end_reason": end_reason,
        "prompts": totals["prompts"],
        "turns": len(turns),
        "requests": totals["requests"],
        "tool_calls": totals["tool_calls"],
        "tool_errors": totals["tool_errors"],
        "input_tokens": totals["input_tokens"],
        "output_tokens": totals["output_tokens"],
        "cache_write_tokens": totals["cache_write_tokens"],
        "cache_read_tokens": totals["cache_read_tokens"],
        "cost_nusd": totals["cost_nusd"] if not totals["unpriced_requests"] else None,
        "unpriced_requests": totals["unpriced_requests"],
        "lines_added": totals["lines_added"],
        "lines_removed": totals["lines_removed"],
        "edits_accepted": totals["edits_accepted"],
        "edits_rejected": totals["edits_rejected"],
        "compactions": totals["compactions"],
        "subagents": totals["subagents"],
        "api_errors": totals["api_errors"],
        "active_ms": active_ms(timestamps),
        "event_count": len(events),
        "last_sequence": events[-1][0],
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
    call_rows = [dict(c, session_id=session_id) for _k, c in sorted(calls.items())]
    for row in call_rows:
        row.pop("_started_at", None)
        row.pop("_ended_at", None)
    return Folded(conversation, turn_rows, change_rows, call_rows)


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
            "turn_index": turn.index,
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


def _settle_calls(calls: dict[str, dict[str, Any]], keyed: dict[str, list[Fact]]) -> None:
    for key, row in calls.items():
        facts = keyed.get(f"tool:{key}")
        if facts:
            winner = best(facts)
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
            "turn_index": turn.index,
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


def _decide(changes: dict[str, dict[str, Any]], keyed: dict[str, list[Fact]]) -> None:
    """Lines and decisions of tool-use-keyed changes, from the same winners the metrics use."""
    for key, row in changes.items():
        if key.startswith("seq:"):
            continue
        lines = keyed.get(f"lines:{key}")
        if lines:
            values = best(lines).values
            row["lines_added"] = values.get("lines_added", 0)
            row["lines_removed"] = values.get("lines_removed", 0)
        decisions = keyed.get(f"decision:{key}")
        if decisions:
            values = best(decisions).values
            row["decision"] = "accepted" if values.get("edits_accepted") else "rejected"
        if row["decision_ms"] is None and row["_proposed_at"] and row["_decided_at"]:
            delta = _ms(row["_decided_at"]) - _ms(row["_proposed_at"])
            row["decision_ms"] = max(0, delta)
