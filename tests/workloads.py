"""Realistic mixed workloads for the worker tests, built with make_event per docs/events.md."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from blueplane_core.events import derived_event_id, format_timestamp, make_event

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def as_hash(name: str) -> str:
    """A readable stand-in (``"f1"``) as the keyed-hash shape the allow-list admits."""
    return hashlib.sha256(name.encode()).hexdigest()[:24]


W1 = as_hash("ws-hash-one")
W2 = as_hash("ws-hash-two")
OPUS = "claude-opus-4-8"


def at(seconds: float) -> str:
    return format_timestamp((T0 + timedelta(seconds=seconds)).timestamp())


def ev(
    kind: str,
    t: float,
    *,
    session: str,
    platform: str = "claude_code",
    source: str = "hook",
    workspace: str | None = W1,
    model: str | None = None,
    hook_type: str | None = None,
    **payload: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if workspace:
        meta["workspace_hash"] = workspace
    if model:
        meta["model"] = model
    for key, value in payload.items():
        if key.endswith("_hash") and isinstance(value, str) and len(value) != 24:
            payload[key] = as_hash(value)
    return make_event(
        event_type=kind,
        platform=platform,
        source=source,
        session_id=session,
        payload=payload,
        metadata=meta,
        hook_type=hook_type,
        timestamp=at(t),
    )


def mixed() -> list[dict[str, Any]]:
    """The hand-computed workload of test_metrics (expected numbers are in that test)."""
    a, b = "sess-a", "sess-b"
    out = [
        ev("session_start", 0, session=a, start_source="startup"),
        ev("user_prompt", 10, session=a, prompt_id="p1", prompt_length=40),
        ev(
            "user_prompt",
            10,
            session=a,
            source="otlp",
            workspace=None,
            prompt_id="p1",
            prompt_length=40,
        ),
        ev(
            "api_request",
            20,
            session=a,
            source="otlp",
            workspace=None,
            model=OPUS,
            request_id="r1",
            input_tokens=100,
            output_tokens=200,
            cache_creation_tokens=1000,
            cache_read_tokens=5000,
            duration_ms=1500,
            cost_usd=0.01425,
        ),
        ev(
            "token_usage",
            21,
            session=a,
            source="transcript",
            model=OPUS,
            request_id="r1",
            message_id="m1",
            input_tokens=100,
            output_tokens=150,
            cache_creation_tokens=1000,
            cache_read_tokens=5000,
        ),
        ev(
            "tool_use",
            30,
            session=a,
            tool_name="Edit",
            tool_use_id="tu1",
            file_hash="f1",
            file_extension=".py",
        ),
        ev(
            "tool_result",
            31,
            session=a,
            tool_name="Edit",
            tool_use_id="tu1",
            success=True,
            duration_ms=120,
            lines_added=10,
            lines_removed=2,
            file_hash="f1",
            file_extension=".py",
        ),
        ev(
            "tool_result",
            31,
            session=a,
            source="otlp",
            workspace=None,
            tool_name="Edit",
            tool_use_id="tu1",
            success=True,
            duration_ms=118,
        ),
        ev(
            "edit_decision",
            31,
            session=a,
            source="otlp",
            workspace=None,
            tool_name="Edit",
            tool_use_id="tu1",
            decision="accept",
            decision_source="config",
        ),
        ev("tool_use", 40, session=a, tool_name="Edit", tool_use_id="tu2", file_hash="f2"),
        ev("tool_use", 50, session=a, tool_name="Bash", tool_use_id="tu3", program="pytest"),
        ev(
            "tool_result",
            52,
            session=a,
            tool_name="Bash",
            tool_use_id="tu3",
            success=False,
            error_type="exit_code",
            duration_ms=2000,
            program="pytest",
        ),
        ev("user_prompt", 400, session=a, prompt_id="p2", prompt_length=12),
        ev(
            "token_usage",
            410,
            session=a,
            source="transcript",
            model=OPUS,
            request_id="r2",
            message_id="m2",
            input_tokens=50,
            output_tokens=60,
            cache_creation_tokens=200,
            cache_creation_5m_tokens=0,
            cache_creation_1h_tokens=200,
            cache_read_tokens=1000,
        ),
        ev("compaction", 420, session=a, phase="pre", trigger="manual"),
        ev("compaction", 425, session=a, phase="post", trigger="manual"),
        ev(
            "compaction",
            425,
            session=a,
            source="otlp",
            workspace=None,
            trigger="manual",
            pre_tokens=9000,
            post_tokens=1200,
            duration_ms=4000,
        ),
        ev(
            "api_request",
            430,
            session=a,
            source="otlp",
            workspace=None,
            model=OPUS,
            request_id="r3",
            input_tokens=1000,
            output_tokens=100,
            query_source="compact",
            duration_ms=3000,
        ),
        # Cursor, unknown model (unpriced), decisions from its database
        ev(
            "user_prompt",
            3600,
            session=b,
            platform="cursor",
            source="database",
            workspace=W2,
            prompt_length=5,
        ),
        ev(
            "token_usage",
            3605,
            session=b,
            platform="cursor",
            source="database",
            workspace=W2,
            model="claude-mystery-1",
            input_tokens=10,
            output_tokens=20,
        ),
        ev(
            "file_edit",
            3610,
            session=b,
            platform="cursor",
            source="database",
            workspace=W2,
            lines_added=5,
            lines_removed=1,
            file_extension=".ts",
        ),
        ev(
            "edit_decision",
            3611,
            session=b,
            platform="cursor",
            source="database",
            workspace=W2,
            decision="accept",
        ),
        ev(
            "edit_decision",
            3612,
            session=b,
            platform="cursor",
            source="database",
            workspace=W2,
            decision="reject",
        ),
        # git: one commit right after session A's activity, one long after session B's
        ev(
            "commit",
            435,
            session="repo-1",
            platform="git",
            source="git_hook",
            commit_hash="c1",
            lines_added=12,
            lines_removed=2,
            files_changed=1,
        ),
        ev(
            "commit",
            3 * 3600,
            session="repo-2",
            platform="git",
            source="git_hook",
            workspace=W2,
            commit_hash="c2",
            lines_added=1,
            lines_removed=0,
            files_changed=1,
        ),
    ]
    return out


TOOLS = ("Edit", "Write", "Bash", "Read", "Grep", "mcp__git__status")
MODELS = (OPUS, "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "unpriced-x")


def generated(n_events: int, seed: int = 1, sessions: int = 40) -> list[dict[str, Any]]:
    """About ``n_events`` events of many sessions, every source duplicating some facts."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    clock = {f"gen-{i}": rng.randint(0, 6 * 3600) for i in range(sessions)}
    counter = 0
    while len(out) < n_events:
        session = rng.choice(list(clock))
        clock[session] += rng.choice((1, 2, 5, 30, 200, 400))
        t = clock[session]
        ws = f"ws-{hash(session) % 5}"
        model = MODELS[int(session.split("-")[1]) % len(MODELS)]
        counter += 1
        r = rng.random()
        if r < 0.1:
            pid = f"{session}-p{counter}"
            out.append(ev("user_prompt", t, session=session, workspace=ws, prompt_id=pid))
            if rng.random() < 0.5:
                out.append(
                    ev(
                        "user_prompt",
                        t,
                        session=session,
                        source="otlp",
                        workspace=None,
                        prompt_id=pid,
                    )
                )
        elif r < 0.45:
            rid = f"req-{session}-{counter}"
            usage = dict(
                input_tokens=rng.randint(1, 500),
                output_tokens=rng.randint(1, 900),
                cache_creation_tokens=rng.randint(0, 3000),
                cache_read_tokens=rng.randint(0, 90000),
            )
            if rng.random() < 0.7:
                out.append(
                    ev(
                        "token_usage",
                        t,
                        session=session,
                        source="transcript",
                        workspace=ws,
                        model=model,
                        request_id=rid,
                        message_id="m" + rid,
                        **usage,
                    )
                )
            if rng.random() < 0.6:
                otel = dict(usage, output_tokens=usage["output_tokens"] + rng.randint(0, 5))
                out.append(
                    ev(
                        "api_request",
                        t + 1,
                        session=session,
                        source="otlp",
                        workspace=None,
                        model=model,
                        request_id=rid,
                        duration_ms=rng.randint(200, 9000),
                        **otel,
                    )
                )
        elif r < 0.9:
            tool = rng.choice(TOOLS)
            tid = f"tu-{session}-{counter}"
            out.append(
                ev("tool_use", t, session=session, workspace=ws, tool_name=tool, tool_use_id=tid)
            )
            if rng.random() < 0.85:
                ok = rng.random() < 0.8
                extra: dict[str, Any] = {}
                if tool in ("Edit", "Write") and ok:
                    extra = dict(lines_added=rng.randint(0, 40), lines_removed=rng.randint(0, 9))
                out.append(
                    ev(
                        "tool_result",
                        t + 1,
                        session=session,
                        workspace=ws,
                        tool_name=tool,
                        tool_use_id=tid,
                        success=ok,
                        duration_ms=rng.randint(1, 5000),
                        **extra,
                    )
                )
                if rng.random() < 0.5:
                    out.append(
                        ev(
                            "tool_result",
                            t + 1,
                            session=session,
                            source="otlp",
                            workspace=None,
                            tool_name=tool,
                            tool_use_id=tid,
                            success=ok,
                            duration_ms=rng.randint(1, 5000),
                        )
                    )
        elif r < 0.93:
            out.append(ev("compaction", t, session=session, workspace=ws, phase="post"))
            out.append(
                ev(
                    "compaction",
                    t,
                    session=session,
                    source="otlp",
                    workspace=None,
                    pre_tokens=100000,
                    post_tokens=2000,
                )
            )
        elif r < 0.96:
            out.append(
                ev(
                    "commit",
                    t + 60,
                    session="repo-" + ws,
                    platform="git",
                    source="git_hook",
                    workspace=ws,
                    commit_hash=f"c-{counter}",
                    lines_added=3,
                    lines_removed=1,
                )
            )
        else:
            out.append(
                ev(
                    "api_error",
                    t,
                    session=session,
                    source="otlp",
                    workspace=None,
                    request_id=f"err-{counter}",
                    error_type="overloaded",
                )
            )
    # deterministic ids so two runs of one seed store the same events
    for i, e in enumerate(out):
        e["event_id"] = derived_event_id("workload", f"{seed}:{i}")
    return out
