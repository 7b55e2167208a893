"""Realistic synthetic sessions, shaped like what the capture stages emit.

Used by ``blueplane demo`` (so a newcomer sees the pipeline work), by the benchmarks, and to
train the first compression dictionary before any real event exists. Deterministic for a seed.
Every event is marked ``source: synthetic`` so it can always be told apart from real data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from blueplane_core import events

MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-8", "claude-haiku-4-5-20251001")
TOOLS = ("Read", "Edit", "Bash", "Write", "Grep", "Glob", "TodoWrite")
EXTENSIONS = (".py", ".ts", ".md", ".rs", ".json", ".go", ".tsx")
PROGRAMS = ("pytest", "git", "npm", "ls", "cargo", "make", "ruff")


def sessions(seed: int = 0, start_unix: float | None = None) -> Iterator[dict[str, Any]]:
    """An endless stream of events from back-to-back realistic sessions.

    They start ``start_unix`` (default: two days ago, well inside any retention, so maintenance
    never archives demo data the moment it lands).
    """
    rng = random.Random(seed)
    clock = time.time() - 2 * 86400 if start_unix is None else start_unix
    while True:
        session_events = list(_session(rng, clock))
        clock += rng.uniform(30, 600)
        yield from session_events


def take(count: int, seed: int = 0, start_unix: float | None = None) -> list[dict[str, Any]]:
    """The first ``count`` events of :func:`sessions`."""
    out: list[dict[str, Any]] = []
    for event in sessions(seed, start_unix):
        out.append(event)
        if len(out) >= count:
            break
    return out


def _hex(rng: random.Random, n: int = 24) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _session(rng: random.Random, clock: float) -> Iterator[dict[str, Any]]:
    platform = rng.choices(("claude_code", "cursor"), weights=(4, 1))[0]
    session_id = _uuid(rng)
    model = rng.choice(MODELS)
    metadata = {
        "workspace_hash": _hex(rng),
        "project_hash": _hex(rng),
        "git_branch_hash": _hex(rng),
        "model": model,
        "client_version": "2.1.197" if platform == "claude_code" else "1.7.52",
    }
    t = clock

    def event(event_type: str, hook_type: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal t
        t += rng.uniform(0.05, 20.0)
        ms = int(t * 1000)
        return events.make_event(
            event_id=events.new_event_id(ms),
            timestamp=events.format_timestamp(t),
            event_type=event_type,
            platform=platform,
            source="synthetic",
            session_id=session_id,
            hook_type=hook_type,
            metadata=dict(metadata),
            payload=payload,
        )

    yield event("session_start", "SessionStart", {"start_source": "startup"})
    for _turn in range(rng.randint(1, 6)):
        prompt_id = _uuid(rng)
        yield event(
            "user_prompt",
            "UserPromptSubmit",
            {"prompt_id": prompt_id, "prompt_length": rng.randint(10, 2000)},
        )
        for _call in range(rng.randint(0, 8)):
            tool = rng.choice(TOOLS)
            tool_use_id = "toolu_" + _hex(rng, 24)
            ext = rng.choice(EXTENSIONS)
            common = {"prompt_id": prompt_id, "tool_name": tool, "tool_use_id": tool_use_id}
            yield event("tool_use", "PreToolUse", {**common, "file_extension": ext})
            success = rng.random() > 0.08
            result: dict[str, Any] = {
                **common,
                "success": success,
                "duration_ms": int(rng.lognormvariate(5, 1.2)),
                "file_extension": ext,
            }
            if tool in ("Edit", "Write") and success:
                result["lines_added"] = rng.randint(0, 80)
                result["lines_removed"] = rng.randint(0, 40)
            if tool == "Bash":
                result["program"] = rng.choice(PROGRAMS)
            if not success:
                result["error_type"] = rng.choice(("exit_code", "timeout", "denied"))
            yield event("tool_result", "PostToolUse" if success else "PostToolUseFailure", result)
        cache_read = rng.randint(0, 90_000)
        yield event(
            "token_usage",
            None,
            {
                "prompt_id": prompt_id,
                "request_id": "req_" + _hex(rng, 24),
                "message_id": "msg_" + _hex(rng, 24),
                "model": model,
                "input_tokens": rng.randint(3, 3000),
                "output_tokens": rng.randint(20, 4000),
                "cache_creation_tokens": rng.randint(0, 20_000),
                "cache_read_tokens": cache_read,
            },
        )
        yield event(
            "assistant_response",
            "Stop",
            {"prompt_id": prompt_id, "response_length": rng.randint(20, 4000)},
        )
    yield event("session_end", "SessionEnd", {"reason": rng.choice(("other", "prompt_input_exit"))})
