"""Claude Code facts as sanitized envelopes: hook payloads, and the pieces transcripts share.

The hook process imports this module, so it uses only ``blueplane_capture.hooks.primitives``
(C modules) and never ``json``, ``re`` or ``blueplane_core.events``.

Facts seen by both the hook and the transcript monitor get the SAME deterministic event id,
computed here for both (see ``shared_event_id`` and docs/events.md, "One fact, two sources"):
ingest's UNIQUE event_id then stores such a fact once, whichever source arrives first.
"""

from blueplane_capture.hooks.primitives import (
    derived_event_id,
    file_extension,
    format_timestamp,
    keyed_hash,
    new_event_id,
    program_facts,
)
from blueplane_core import allowlist_core as allowlist
from blueplane_core.fast_start import getenv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PLATFORM = "claude_code"
SCHEMA = 1

#: event type -> privacy category, for the types this module emits (equal to
#: ``blueplane_core.events.CATEGORY``; a test keeps them equal).
CATEGORY = {
    "session_start": "sessions",
    "session_end": "sessions",
    "user_prompt": "prompts",
    "assistant_response": "responses",
    "tool_use": "tools",
    "tool_result": "tools",
    "tool_batch": "tools",
    "permission_request": "tools",
    "notification": "sessions",
    "api_error": "usage",
    "subagent_start": "sessions",
    "subagent_stop": "sessions",
    "compaction": "sessions",
    "token_usage": "usage",
    "generic": "other",
}

#: tools whose input names one file (the key holding the path).
_FILE_KEYS = ("file_path", "notebook_path")
_AGENT_TOOLS = frozenset({"Agent", "Task"})
_SHELL_TOOLS = frozenset({"Bash"})
#: scalar fields of an unknown hook event that are names or ids, never content.
_SAFE_SCALARS = (*allowlist.HOOK_NAME_KEYS, "source", "permission_mode")


def shared_event_id(fact: str, key: str) -> str:
    """The id of a fact that both hooks and transcripts report (e.g. ``tool_result`` of a
    ``tool_use_id``). No time prefix: the two sources do not share a timestamp."""
    return derived_event_id(f"claude_code.{fact}", key)


# ------------------------------------------------------------------------- shared reductions


def tool_input_facts(tool_name: str, tool_input: "Any", secret: bytes) -> "dict[str, Any]":
    """What a tool call's input may leave behind: extension and keyed hash of its file, the
    program of a shell command, the MCP server, the subagent type."""
    facts: dict[str, Any] = {}
    if tool_name.startswith("mcp__"):
        parts = tool_name.split("__")
        if len(parts) >= 3:
            facts["mcp_server"] = parts[1]
    if not isinstance(tool_input, dict):
        return facts
    for key in _FILE_KEYS:
        path = tool_input.get(key)
        if isinstance(path, str) and path:
            facts["file_extension"] = file_extension(path)
            facts["file_hash"] = keyed_hash(secret, path, "file")
            break
    if tool_name in _SHELL_TOOLS:
        facts.update(program_facts(tool_input.get("command"), secret))
    elif tool_name in _AGENT_TOOLS and isinstance(tool_input.get("subagent_type"), str):
        facts["agent_type"] = tool_input["subagent_type"]
    return facts


def _text_lines(text: "Any") -> int:
    if not isinstance(text, str) or not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def tool_response_facts(tool_response: "Any") -> "dict[str, Any]":
    """Line counts of an edit, from the structured tool response (``structuredPatch``; a newly
    created file counts all its lines as added). Nothing of the content is kept."""
    if not isinstance(tool_response, dict):
        return {}
    patch = tool_response.get("structuredPatch")
    if isinstance(patch, list) and patch:
        added = removed = 0
        for hunk in patch:
            lines = hunk.get("lines") if isinstance(hunk, dict) else None
            for line in lines if isinstance(lines, list) else ():
                if isinstance(line, str) and line[:1] == "+":
                    added += 1
                elif isinstance(line, str) and line[:1] == "-":
                    removed += 1
        return {"lines_added": added, "lines_removed": removed}
    if tool_response.get("type") == "create":
        return {"lines_added": _text_lines(tool_response.get("content")), "lines_removed": 0}
    if isinstance(patch, list):
        return {"lines_added": 0, "lines_removed": 0}
    return {}


def error_type(text: "Any", interrupted: bool = False) -> str:
    """A short class for a tool failure; the error text itself is never kept."""
    if interrupted:
        return "interrupted"
    if not isinstance(text, str):
        return "error"
    lowered = text[:400].lower()
    if lowered.startswith(("exit code", "error: exit code")):
        return "exit_code"
    if "hook error" in lowered:
        return "hook_blocked"
    if "rejected" in lowered or "doesn't want to proceed" in lowered or "denied" in lowered:
        return "denied"
    if "interrupt" in lowered:
        return "interrupted"
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    return "error"


# --------------------------------------------------------------------------------- the hook


def _metadata(payload: "dict[str, Any]", secret: bytes) -> "dict[str, Any]":
    meta: dict[str, Any] = {}
    cwd = payload.get("cwd")
    if isinstance(cwd, str) and cwd:
        meta["workspace_hash"] = keyed_hash(secret, cwd, "workspace")
    project = getenv("CLAUDE_PROJECT_DIR") or cwd
    if isinstance(project, str) and project:
        meta["project_hash"] = keyed_hash(secret, project, "project")
    for key in ("model", "agent_id", "agent_type"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            meta[key] = value
    return meta


def _text(value: "Any") -> str:
    return value if isinstance(value, str) else ""


def _int(value: "Any") -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _hook_payload(
    name: str, p: "dict[str, Any]", secret: bytes
) -> "tuple[str, dict[str, Any], str]":
    """(event_type, payload, event_id) for one hook event."""
    out: dict[str, Any] = {}
    event_id = ""
    session = _text(p.get("session_id"))
    tool_name = _text(p.get("tool_name"))
    tool_use_id = _text(p.get("tool_use_id"))
    if tool_name:
        out["tool_name"] = tool_name
    if tool_use_id:
        out["tool_use_id"] = tool_use_id

    if name == "SessionStart":
        kind = "session_start"
        source = p.get("source")
        if isinstance(source, str):
            out["start_source"] = source
        if source in ("startup", "clear") and session:  # the session's first start
            event_id = shared_event_id("session_start", session)
    elif name == "SessionEnd":
        kind = "session_end"
        if isinstance(p.get("reason"), str):
            out["reason"] = p["reason"]
    elif name == "UserPromptSubmit":
        kind = "user_prompt"
        prompt = p.get("prompt")
        out["prompt_length"] = len(prompt) if isinstance(prompt, str) else 0
        if isinstance(p.get("prompt_id"), str):
            event_id = shared_event_id("user_prompt", p["prompt_id"])
    elif name == "PreToolUse":
        kind = "tool_use"
        out.update(tool_input_facts(tool_name, p.get("tool_input"), secret))
        if tool_use_id:
            event_id = shared_event_id("tool_use", tool_use_id)
    elif name in ("PostToolUse", "PostToolUseFailure"):
        kind = "tool_result"
        out.update(tool_input_facts(tool_name, p.get("tool_input"), secret))
        failed = name == "PostToolUseFailure"
        out["success"] = not failed
        if failed:
            out["error_type"] = error_type(p.get("error"), p.get("is_interrupt") is True)
        else:
            out.update(tool_response_facts(p.get("tool_response")))
        if _int(p.get("duration_ms")) is not None:
            out["duration_ms"] = p["duration_ms"]
        if tool_use_id:
            event_id = shared_event_id("tool_result", tool_use_id)
    elif name == "PostToolBatch":
        kind = "tool_batch"
        raw_calls = p.get("tool_calls")
        calls = [c for c in raw_calls if isinstance(c, dict)] if isinstance(raw_calls, list) else []
        out["tool_count"] = len(calls)
        out["tool_names"] = [c["tool_name"] for c in calls if isinstance(c.get("tool_name"), str)]
        out["tool_use_ids"] = [
            c["tool_use_id"] for c in calls if isinstance(c.get("tool_use_id"), str)
        ]
    elif name == "PermissionRequest":
        kind = "permission_request"
        out.update(tool_input_facts(tool_name, p.get("tool_input"), secret))
        suggestions = p.get("permission_suggestions")
        if isinstance(suggestions, list):
            out["suggestion_types"] = [
                s["type"]
                for s in suggestions
                if isinstance(s, dict) and isinstance(s.get("type"), str)
            ]
    elif name == "Notification":
        kind = "notification"
        if isinstance(p.get("notification_type"), str):
            out["notification_type"] = p["notification_type"]
    elif name == "MessageDisplay":
        kind = "assistant_response"
        out["phase"] = "display"
        out["response_length"] = len(p["delta"]) if isinstance(p.get("delta"), str) else 0
        for key in ("turn_id", "index", "final"):
            if isinstance(p.get(key), (str, int, bool)):
                out["display_" + key if key != "turn_id" else key] = p[key]
    elif name == "Stop":
        kind = "assistant_response"
        out["phase"] = "turn_end"
        message = p.get("last_assistant_message")
        out["response_length"] = len(message) if isinstance(message, str) else 0
        if isinstance(p.get("background_tasks"), list):
            out["background_task_count"] = len(p["background_tasks"])
    elif name == "StopFailure":
        kind = "api_error"
        # ``error`` is one of a documented set (allow-list enum); the error text is only measured
        out["error_type"] = p["error"] if isinstance(p.get("error"), str) else "unknown"
        message = p.get("last_assistant_message")
        out["error_length"] = len(message) if isinstance(message, str) else 0
    elif name in ("SubagentStart", "SubagentStop"):
        kind = "subagent_start" if name == "SubagentStart" else "subagent_stop"
        agent_id = p.get("agent_id") if isinstance(p.get("agent_id"), str) else ""
        if agent_id:
            out["agent_id"] = agent_id
            if session:
                event_id = shared_event_id(kind, f"{session}:{agent_id}")
        if isinstance(p.get("agent_type"), str):
            out["agent_type"] = p["agent_type"]
        if name == "SubagentStop":
            message = p.get("last_assistant_message")
            out["response_length"] = len(message) if isinstance(message, str) else 0
    elif name in ("PreCompact", "PostCompact"):
        kind = "compaction"
        out["phase"] = "pre" if name == "PreCompact" else "post"
        if isinstance(p.get("trigger"), str):
            out["trigger"] = p["trigger"]
        if name == "PreCompact":
            out["has_instructions"] = bool(p.get("custom_instructions"))
        else:
            summary = p.get("compact_summary")
            out["summary_length"] = len(summary) if isinstance(summary, str) else 0
    else:
        kind = "generic"
        out["original_type"] = name or "unknown"
        for key in _SAFE_SCALARS:
            value = p.get(key)
            if isinstance(value, str) and len(value) <= 128 and key not in out:
                out[key] = value
        out["fields"] = sorted(k for k in p if isinstance(k, str))[:64]
        if tool_name:
            out.update(tool_input_facts(tool_name, p.get("tool_input"), secret))

    for key in ("prompt_id", "permission_mode"):
        if isinstance(p.get(key), str):
            out[key] = p[key]
    effort = p.get("effort")
    if isinstance(effort, dict) and isinstance(effort.get("level"), str):
        out["effort"] = effort["level"]
    if isinstance(p.get("agent_id"), str) and kind not in ("subagent_start", "subagent_stop"):
        out["is_sidechain"] = True
    return kind, out, event_id


def map_hook(
    payload: "dict[str, Any]", secret: bytes, now: float | None = None
) -> "dict[str, Any]":
    """The sanitized envelope of one hook fire (any event, known or not)."""
    name = payload.get("hook_event_name")
    name = name if isinstance(name, str) else ""
    kind, body, event_id = _hook_payload(name, payload, secret)
    session = payload.get("session_id")
    if not isinstance(session, str) or not session:
        session = getenv("CLAUDE_CODE_SESSION_ID") or "unknown"
    if not allowlist.SESSION_ID.check(session):  # not an id: it could be any text
        session = "h-" + keyed_hash(secret, session, "session")
    return allowlist.clean_event(
        {
            "schema": SCHEMA,
            "event_id": event_id or new_event_id(),
            "timestamp": format_timestamp(now),
            "platform": PLATFORM,
            "source": "hook",
            "session_id": session[:256],
            "event_type": kind,
            "hook_type": allowlist.hook_type(name),
            "metadata": _metadata(payload, secret),
            "payload": body,
        }
    )


def unparsed_hook_event(reason: str, size: int, now: float | None = None) -> "dict[str, Any]":
    """What a hook records when its stdin was not a JSON object: the fact, never the bytes."""
    session = getenv("CLAUDE_CODE_SESSION_ID") or "unknown"
    return allowlist.clean_event(
        {
            "schema": SCHEMA,
            "event_id": new_event_id(),
            "timestamp": format_timestamp(now),
            "platform": PLATFORM,
            "source": "hook",
            "session_id": session[:256],
            "event_type": "generic",
            "hook_type": None,
            "metadata": {},
            "payload": {"original_type": "unparsed", "parse_error": reason, "input_bytes": size},
        }
    )
