"""Test data for the query side, put through the real pipeline: Emitter -> ingester -> workers.

``fill`` emits known sessions (times relative to now, so default periods see them), drains the
events stream with a real ingester, then runs whichever workers exist in burst mode. The query
package itself never imports a worker; only this test helper does.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import redis

from blueplane_core import config, db, events, paths
from blueplane_core.emit import Emitter
from tests.helpers import ingest_all

MODEL = "claude-sonnet-4-5-20250929"

#: (session id, platform, project hash, minutes ago it started, prompts) of the sample data.
SESSIONS = (
    ("11111111-aaaa-4aaa-8aaa-000000000001", "claude_code", "feedfacefeedfacefeedface", 90, 2),
    ("22222222-bbbb-4bbb-8bbb-000000000002", "claude_code", "feedfacefeedfacefeedface", 60, 1),
    ("33333333-cccc-4ccc-8ccc-000000000003", "cursor", "0badc0de0badc0de0badc0de", 30, 1),
)
TOOL_CALLS_PER_PROMPT = (
    ("Read", True, 40, ".py"),
    ("Edit", True, 120, ".py"),
    ("Bash", False, 900, ""),
)
TOKENS = {
    "input_tokens": 1000,
    "output_tokens": 500,
    "cache_creation_tokens": 200,
    "cache_read_tokens": 4000,
}


def session_events(
    sid: str, platform: str, project: str, start: float, prompts: int
) -> list[dict[str, Any]]:
    """One session as capture would emit it (docs/events.md keys only)."""
    out: list[dict[str, Any]] = []
    t = start
    meta = {"workspace_hash": project, "project_hash": project, "model": MODEL}

    def add(event_type: str, payload: dict[str, Any], hook: str | None = None) -> None:
        nonlocal t
        t += 2.0
        out.append(
            events.make_event(
                event_type=event_type,
                platform=platform,
                source="hook",
                session_id=sid,
                hook_type=hook,
                metadata=dict(meta),
                payload=payload,
                event_id=events.new_event_id(int(t * 1000)),
                timestamp=events.format_timestamp(t),
            )
        )

    add("session_start", {"start_source": "startup"}, "SessionStart")
    for p in range(prompts):
        prompt_id = f"{sid[:8]}-prompt-{p}"
        add("user_prompt", {"prompt_id": prompt_id, "prompt_length": 120}, "UserPromptSubmit")
        for n, (tool, ok, ms, ext) in enumerate(TOOL_CALLS_PER_PROMPT):
            tid = f"toolu_{sid[:8]}_{p}_{n}"
            common = {"prompt_id": prompt_id, "tool_name": tool, "tool_use_id": tid}
            if ext:
                common["file_extension"] = ext
            add("tool_use", common, "PreToolUse")
            result: dict[str, Any] = {**common, "success": ok, "duration_ms": ms}
            if tool == "Edit":
                result.update(lines_added=10, lines_removed=2)
            if tool == "Bash":
                result["program"] = "pytest"
            if not ok:
                result["error_type"] = "exit_code"
            add("tool_result", result, "PostToolUse" if ok else "PostToolUseFailure")
            if tool == "Edit":
                add("edit_decision", {**common, "decision": "accept", "decision_source": "hook"})
        add(
            "token_usage",
            {
                "prompt_id": prompt_id,
                "request_id": f"req_{sid[:8]}_{p}",
                "message_id": f"msg_{sid[:8]}_{p}",
                "model": MODEL,
                **TOKENS,
            },
        )
        add("assistant_response", {"prompt_id": prompt_id, "response_length": 300}, "Stop")
    add("session_end", {"reason": "other"}, "SessionEnd")
    return out


#: (commit hash, workspace hash, minutes ago): the first follows session 2's activity by a
#: minute (agent-assisted); the second has no agent activity before it.
COMMITS = (
    ("c0ffee0000000000000000a1", "feedfacefeedfacefeedface", 59),
    ("c0ffee0000000000000000b2", "0badc0de0badc0de0badc0de", 200),
)


def commit_event(commit: str, workspace: str, when: float) -> dict[str, Any]:
    return events.make_event(
        event_type="commit",
        platform="git",
        source="git_hook",
        session_id=workspace,
        hook_type="post-commit",
        metadata={"workspace_hash": workspace},
        payload={"commit_hash": commit, "lines_added": 30, "lines_removed": 5, "files_changed": 2},
        event_id=events.new_event_id(int(when * 1000)),
        timestamp=events.format_timestamp(when),
    )


def sample_events(now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    out: list[dict[str, Any]] = []
    for sid, platform, project, minutes_ago, prompts in SESSIONS:
        out.extend(session_events(sid, platform, project, now - minutes_ago * 60, prompts))
    for commit, workspace, minutes_ago in COMMITS:
        out.append(commit_event(commit, workspace, now - minutes_ago * 60))
    return out


def worker_module(name: str) -> Any | None:
    """A worker module if it exists in this tree (the workers are built in parallel)."""
    try:
        return importlib.import_module(f"blueplane_workers.{name}")
    except ImportError:
        return None


def run_workers() -> dict[str, bool]:
    """Run every available worker kind once in burst mode over the CDC stream."""
    cfg = config.load()
    client = redis.Redis.from_url(cfg["redis.url"])
    conn = db.connect_writer(paths.database())
    ran: dict[str, bool] = {}
    try:
        for kind in ("metrics", "conversations", "insights"):
            module = worker_module(kind)
            build = getattr(module, "build_worker", None) if module else None
            if build is None:
                ran[kind] = False
                continue
            from blueplane_workers.loop import Settings

            worker = build(cfg, f"test-{kind}", conn, client, settings=Settings(idle_block_ms=20))
            worker.run(burst=True)
            ran[kind] = True
    finally:
        conn.close()
        client.close()
    return ran


def fill(client: redis.Redis, batch: list[dict[str, Any]] | None = None) -> dict[str, bool]:
    """Emit, ingest and process; returns which worker kinds ran."""
    Emitter(client).emit_many(sample_events() if batch is None else batch)
    ingest_all()
    return run_workers()
