"""Rule-based insights, computed from metrics (Redis) and conversation tables (SQLite) only.

Never from raw content: the rules read counters, turn and tool-call rows, code-change rows and
commits — all metadata. Each rule returns :class:`Insight` objects with the numbers behind them
(``evidence``) and a suggestion; pattern rules are labelled heuristics. Thresholds are the
constants below, documented in docs/metrics.md ("Insights").
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from blueplane_core import metric_keys as mk
from blueplane_core.resp_consumer import ConsumerClient

ERROR_TOOL_MIN_CALLS = 10
ERROR_TOOL_RATE = 0.20
CACHE_MIN_REQUESTS = 20
CACHE_LOW_RATIO = 0.30
SPIKE_FACTOR = 2.0
SPIKE_MIN_NUSD = 1_000_000_000  # a spike must cost at least 1 USD
SPIKE_MIN_BASELINE_DAYS = 3  # days with spend among the 7 before: fewer is no baseline at all
COMPACTION_REPEAT = 3
REJECTED_IN_A_ROW = 3
MODEL_MIN_PROMPTS = 10
MODEL_COST_FACTOR = 2.0
SHELL_RETRIES = 3
READ_BEFORE_EDIT_MIN_EDITS = 5
READ_BEFORE_EDIT_LOW = 0.5


@dataclass
class Insight:
    kind: str
    subject: str
    severity: str  # info | warning | critical
    title: str
    evidence: dict[str, Any]
    suggestion: str
    heuristic: bool = True
    session_id: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    phrased: str | None = field(default=None, compare=False)


def _counters(client: ConsumerClient, scope: str, period: str = "total") -> dict[str, int]:
    return mk.decode_counters(client.hgetall(mk.counters_key(scope, period)))


def error_prone_tools(client: ConsumerClient) -> list[Insight]:
    out = []
    for raw in client.zrange(mk.index_key("tool"), 0, -1):
        tool = raw.decode()
        c = _counters(client, mk.scope("tool", tool))
        calls, errors = c["tool_calls"], c["tool_errors"]
        if calls < ERROR_TOOL_MIN_CALLS or errors / calls < ERROR_TOOL_RATE:
            continue
        rate = errors / calls
        out.append(
            Insight(
                "error_prone_tool",
                tool,
                "critical" if rate >= 2 * ERROR_TOOL_RATE else "warning",
                f"{tool} fails {rate:.0%} of the time",
                {"tool_calls": calls, "tool_errors": errors, "error_rate": rate},
                f"Look at why {tool} calls fail (permissions, wrong arguments, flaky commands).",
                heuristic=False,
            )
        )
    return out


def _days(now: datetime, count: int) -> list[str]:
    return [(now - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(count)]


def low_cache_hit_ratio(client: ConsumerClient, now: datetime) -> list[Insight]:
    days = _days(now, 7)
    totals: dict[str, int] = defaultdict(int)
    for day in days:
        for name, value in _counters(client, "all", mk.day_period(day)).items():
            totals[name] += value
    if totals["requests"] < CACHE_MIN_REQUESTS:
        return []
    denominator = (
        totals["cache_read_tokens"] + totals["cache_write_tokens"] + totals["input_tokens"]
    )
    ratio = totals["cache_read_tokens"] / denominator if denominator else 0.0
    if ratio >= CACHE_LOW_RATIO:
        return []
    return [
        Insight(
            "low_cache_hit_ratio",
            "",
            "warning",
            f"Only {ratio:.0%} of input tokens hit the cache",
            {
                "cache_read_tokens": totals["cache_read_tokens"],
                "cache_write_tokens": totals["cache_write_tokens"],
                "input_tokens": totals["input_tokens"],
                "requests": totals["requests"],
                "cache_hit_ratio": ratio,
                "days": 7,
            },
            "Keep prompts' stable parts first and avoid editing early context; long idle gaps "
            "(>5 min) let the cache expire.",
            heuristic=False,
            window_start=days[-1],
            window_end=days[0],
        )
    ]


def cost_spike(client: ConsumerClient, now: datetime) -> list[Insight]:
    """Today against the median of the previous 7 days *that had spend*.

    A ratio needs a baseline: with fewer than ``SPIKE_MIN_BASELINE_DAYS`` days of spend there is
    none, and no insight (a first busy day is not a spike against nothing; dividing by a zero
    median gave "1141958700.0x")."""
    days = _days(now, 8)
    costs = [_counters(client, "all", mk.day_period(d))["cost_nusd"] for d in days]
    today, previous = costs[0], costs[1:]
    spent = [c for c in previous if c > 0]
    if today < SPIKE_MIN_NUSD or len(spent) < SPIKE_MIN_BASELINE_DAYS:
        return []
    median = statistics.median(spent)
    if today <= SPIKE_FACTOR * median:
        return []
    return [
        Insight(
            "cost_spike",
            days[0],
            "warning",
            f"Cost today is {today / median:.1f}x the median of the {len(spent)} days with "
            "spend in the week before",
            {
                "cost_usd_today": today / 1e9,
                "median_cost_usd_7d": median / 1e9,
                "days_with_spend_7d": len(spent),
                "daily_cost_usd": {d: c / 1e9 for d, c in zip(days[1:], previous, strict=True)},
            },
            "Check which model and sessions drove today's cost "
            "(`bp-query costs --since today --by model`, then `bp-query sessions --since today`).",
            heuristic=False,
            window_start=days[-1],
            window_end=days[0],
        )
    ]


def repeated_compactions(conn: sqlite3.Connection) -> list[Insight]:
    rows = conn.execute(
        "SELECT session_id, compactions, prompts, started_at, ended_at FROM conversations"
        " WHERE compactions >= ?",
        (COMPACTION_REPEAT,),
    ).fetchall()
    return [
        Insight(
            "repeated_compaction",
            sid,
            "info",
            f"Session compacted {n} times",
            {"compactions": n, "prompts": prompts},
            "Split long tasks into separate sessions, or keep the context smaller (fewer large "
            "file reads).",
            session_id=sid,
            window_start=start,
            window_end=end,
        )
        for sid, n, prompts, start, end in rows
    ]


def rejected_edits_in_a_row(conn: sqlite3.Connection) -> list[Insight]:
    out = []
    rows = conn.execute(
        "SELECT session_id, decision FROM code_changes WHERE operation != 'read'"
        " AND decision IS NOT NULL ORDER BY session_id, sequence"
    ).fetchall()
    streaks: dict[str, tuple[int, int]] = {}
    for sid, decision in rows:
        run, longest = streaks.get(sid, (0, 0))
        run = run + 1 if decision == "rejected" else 0
        streaks[sid] = (run, max(longest, run))
    for sid, (_run, longest) in sorted(streaks.items()):
        if longest >= REJECTED_IN_A_ROW:
            out.append(
                Insight(
                    "rejected_edits_in_a_row",
                    sid,
                    "warning",
                    f"{longest} edit proposals rejected in a row",
                    {"longest_rejected_streak": longest},
                    "The agent may have misunderstood the task: restate the goal or constraints "
                    "before it proposes more edits.",
                    session_id=sid,
                )
            )
    return out


def costlier_model(conn: sqlite3.Connection) -> list[Insight]:
    rows = conn.execute(
        "SELECT model, sum(cost_nusd), sum(prompts) FROM conversations"
        " WHERE model IS NOT NULL AND cost_nusd IS NOT NULL GROUP BY model"
    ).fetchall()
    per_prompt = {m: cost / prompts for m, cost, prompts in rows if prompts >= MODEL_MIN_PROMPTS}
    if len(per_prompt) < 2:
        return []
    cheapest = min(per_prompt, key=lambda m: per_prompt[m])
    out = []
    for model, cost in sorted(per_prompt.items()):
        if model != cheapest and cost >= MODEL_COST_FACTOR * per_prompt[cheapest] > 0:
            out.append(
                Insight(
                    "costlier_model",
                    model,
                    "info",
                    f"{model} costs {cost / per_prompt[cheapest]:.1f}x {cheapest} per prompt",
                    {
                        "cost_usd_per_prompt": cost / 1e9,
                        "compared_with": cheapest,
                        "compared_cost_usd_per_prompt": per_prompt[cheapest] / 1e9,
                    },
                    f"For routine prompts, try {cheapest}; keep {model} for the hard ones.",
                )
            )
    return out


def shell_retries(conn: sqlite3.Connection) -> list[Insight]:
    rows = conn.execute(
        "SELECT session_id, program, success FROM tool_calls WHERE program IS NOT NULL"
        " ORDER BY session_id, sequence"
    ).fetchall()
    found: dict[tuple[str, str], int] = {}
    run_session: str | None = None
    run_program: str | None = None
    run, failures = 0, 0
    for sid, program, success in [*rows, (None, None, None)]:
        if (sid, program) == (run_session, run_program):
            run += 1
            failures += success == 0
            continue
        if run_session and run >= SHELL_RETRIES and failures >= run - 1:
            key = (run_session, str(run_program))
            found[key] = max(found.get(key, 0), run)
        run_session, run_program, run, failures = sid, program, 1, int(success == 0)
    return [
        Insight(
            "shell_retry_loop",
            f"{sid}:{program}",
            "warning",
            f"`{program}` run {n} times in a row after failing",
            {"program": program, "runs_in_a_row": n},
            "The agent is retrying a failing command; step in with the missing context.",
            session_id=sid,
        )
        for (sid, program), n in sorted(found.items())
    ]


def write_delete_write(conn: sqlite3.Connection) -> list[Insight]:
    rows = conn.execute(
        "SELECT session_id, file_hash, operation FROM code_changes WHERE file_hash IS NOT NULL"
        " AND operation IN ('write', 'delete') ORDER BY session_id, file_hash, sequence"
    ).fetchall()
    ops: dict[tuple[str, str], str] = defaultdict(str)
    for sid, file_hash, operation in rows:
        ops[(sid, file_hash)] += operation[0]
    churn: dict[str, int] = defaultdict(int)
    for (sid, _file), sequence in ops.items():
        if "wdw" in sequence:
            churn[sid] += 1
    return [
        Insight(
            "write_delete_write",
            sid,
            "info",
            f"{n} file(s) written, deleted and written again",
            {"files": n},
            "Churn on the same file often means an unclear plan; agree on the design first.",
            session_id=sid,
        )
        for sid, n in sorted(churn.items())
    ]


def read_before_edit(conn: sqlite3.Connection) -> list[Insight]:
    rows = conn.execute(
        "SELECT session_id, file_hash, operation FROM code_changes WHERE file_hash IS NOT NULL"
        " ORDER BY session_id, sequence"
    ).fetchall()
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    read: set[tuple[str, str]] = set()
    for sid, file_hash, operation in rows:
        if operation == "read":
            read.add((sid, file_hash))
        elif operation == "edit":
            stats[sid][0] += 1
            stats[sid][1] += (sid, file_hash) in read
    out = []
    for sid, (edits, after_read) in sorted(stats.items()):
        ratio = after_read / edits
        if edits >= READ_BEFORE_EDIT_MIN_EDITS and ratio < READ_BEFORE_EDIT_LOW:
            out.append(
                Insight(
                    "low_read_before_edit",
                    sid,
                    "info",
                    f"Only {ratio:.0%} of edited files were read first",
                    {"edits": edits, "edits_after_read": after_read, "ratio": ratio},
                    "Edits to unread files are more often wrong; ask the agent to read first.",
                    session_id=sid,
                )
            )
    return out


def sessions_linked_to_commits(conn: sqlite3.Connection) -> list[Insight]:
    row = conn.execute(
        "SELECT count(*), sum(agent_assisted), count(DISTINCT linked_session_id) FROM commits"
    ).fetchone()
    commits, assisted, sessions = row[0], row[1] or 0, row[2] or 0
    if not commits:
        return []
    return [
        Insight(
            "sessions_linked_to_commits",
            "",
            "info",
            f"{assisted} of {commits} commits followed agent activity within 5 minutes",
            {"commits": commits, "agent_assisted_commits": assisted, "linked_sessions": sessions},
            "Sessions that end in a commit are the ones that shipped: compare their cost and "
            "acceptance rate with the rest.",
        )
    ]


def compute(
    client: ConsumerClient, conn: sqlite3.Connection, now: datetime | None = None
) -> list[Insight]:
    """Every rule's insights, now."""
    now = now or datetime.now(UTC)
    return [
        *error_prone_tools(client),
        *low_cache_hit_ratio(client, now),
        *cost_spike(client, now),
        *repeated_compactions(conn),
        *rejected_edits_in_a_row(conn),
        *costlier_model(conn),
        *shell_retries(conn),
        *write_delete_write(conn),
        *read_before_edit(conn),
        *sessions_linked_to_commits(conn),
    ]
