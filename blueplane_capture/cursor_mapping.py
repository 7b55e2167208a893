"""Cursor hook payloads as sanitized envelopes, and the answer each hook owes Cursor.

No real Cursor payload could be obtained (formats.md section 4 rests on Cursor's docs and several
third-party integrations that agree), so everything here is tolerant: any field may be missing,
extra fields are ignored, and an event name we do not know becomes a ``generic`` event (never an
error). Field names used, all from formats.md 4: common ``conversation_id``, ``generation_id``,
``hook_event_name``, ``workspace_roots``, ``model``, ``cursor_version`` (``user_email`` and
``transcript_path`` are never read); per event ``prompt``, ``attachments``, ``command``,
``output``, ``duration``, ``tool_name``, ``tool_input``, ``url``, ``result_json``, ``file_path``,
``content``, ``edits[{old_string,new_string}]``, ``text``, ``duration_ms``, ``status``,
``loop_count``, ``tool_use_id``, ``tool_output``, ``failure_type``, ``subagent_id``,
``subagent_type``, ``subagent_model``, ``reason``; and from newer clients (formats.md 4,
public captures) ``session_id``, ``model_id``, ``final_status`` and the ``stop`` token counts
``input_tokens``/``output_tokens``/``cache_read_tokens``/``cache_write_tokens``.

One fact, one count with the database monitor (``cursor_ids``): a prompt is keyed by its
generation, a ``stop`` with tokens is the turn's request (``token_usage`` keyed by the
generation, as the bubble that holds the turn's ``tokenCount`` is), and every shell, MCP, read
and edit hook is a tool call keyed by its kind, argument and occurrence in the conversation,
which the database computes the same way for its tool bubbles. Before/after hooks of one call
share its key, so the pair is one call; ``postToolUseFailure`` ends the call it failed.

The hook process imports this module, so it uses only ``hooks.primitives`` (C modules).
"""

import time

from blueplane_capture import cursor_ids as ids
from blueplane_capture.hooks import cursor_state
from blueplane_capture.hooks.primitives import (
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

PLATFORM = "cursor"

#: hooks whose stdout Cursor reads as a permission decision.
PERMISSION_EVENTS = frozenset(
    {
        "beforeShellExecution",
        "beforeMCPExecution",
        "beforeReadFile",
        "preToolUse",
        "beforeTabFileRead",
    }
)
#: The answer printed for each event, at once and whatever else happens. A telemetry hook has
#: no opinion: for permission hooks it prints ``{}`` rather than ``{"permission": "allow"}``,
#: because an explicit allow may skip the approval prompt Cursor would otherwise show the user
#: (formats.md 4: not established either way, so we must not risk it); beforeSubmitPrompt gets
#: an explicit ``{"continue": true}``; ``stop`` never gets a followup_message.
ANSWER_CONTINUE = b'{"continue":true}'
ANSWER_NO_OPINION = b"{}"

#: event type -> privacy category for the types this module emits (equal to
#: ``blueplane_core.events.CATEGORY``; a test keeps them equal).
CATEGORY = {
    "session_start": "sessions",
    "session_end": "sessions",
    "user_prompt": "prompts",
    "assistant_response": "responses",
    "agent_thought": "responses",
    "tool_use": "tools",
    "tool_result": "tools",
    "token_usage": "usage",
    "file_read": "files",
    "file_edit": "edits",
    "subagent_start": "sessions",
    "subagent_stop": "sessions",
    "compaction": "sessions",
    "generic": "other",
}

#: scalar fields of an unknown event that are names, ids or numbers, never content.
_SAFE_SCALARS = (
    "tool_name",
    "tool_use_id",
    "status",
    "reason",
    "trigger",
    "failure_type",
    "subagent_type",
    "subagent_id",
    "loop_count",
    "duration",
    "duration_ms",
)


def answer(event_name: str) -> bytes:
    """What the hook prints for ``event_name`` (valid JSON on every path)."""
    return ANSWER_CONTINUE if event_name == "beforeSubmitPrompt" else ANSWER_NO_OPINION


def _str(p: "dict[str, Any]", key: str) -> str:
    value = p.get(key)
    return value if isinstance(value, str) else ""


def _number(value: "Any") -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _length(value: "Any") -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (dict, list)):
        return len(str(value))
    return 0


def _lines(text: "Any") -> int:
    if not isinstance(text, str) or not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _file_facts(path: str, secret: bytes) -> "dict[str, Any]":
    if not path:
        return {}
    return {"file_extension": file_extension(path), "file_hash": keyed_hash(secret, path, "file")}


def _attachments(p: "dict[str, Any]") -> dict[str, int]:
    items = p.get("attachments")
    if not isinstance(items, list):
        return {}
    rules = sum(1 for a in items if isinstance(a, dict) and a.get("type") == "rule")
    return {"attachment_count": len(items), "rule_count": rules}


def _tool_input_facts(p: "dict[str, Any]", secret: bytes) -> "dict[str, Any]":
    """Program of a Shell call, or extension of a file a tool names (preToolUse)."""
    tool_input = p.get("tool_input")
    if not isinstance(tool_input, dict):
        return {}
    out: dict[str, Any] = {}
    command = tool_input.get("command")
    if isinstance(command, str):
        out.update(program_facts(command, secret))
    for key in ("file_path", "path", "target_file"):
        if isinstance(tool_input.get(key), str):
            out.update(_file_facts(tool_input[key], secret))
            break
    return out


def _tokens(p: "dict[str, Any]") -> dict[str, int]:
    """Token counts a ``stop`` payload carries (cursor-agent, Cursor >= 3.10; formats.md 4)."""
    out = {}
    for source, target in (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_tokens", "cache_read_tokens"),
        ("cache_write_tokens", "cache_creation_tokens"),
    ):
        value = _number(p.get(source))
        if value is not None and value >= 0:
            out[target] = value
    return out


def _session(p: "dict[str, Any]") -> str:
    return _str(p, "conversation_id") or _str(p, "session_id")


def _call_key(
    p: "dict[str, Any]", secret: bytes, home: str | None, kind: str, args: "Any", phase: str
) -> str:
    """The key of this fire's tool call (a ``cursor_ids`` key, n counted per conversation);
    ``phase`` "start" (before*, preToolUse) or "end" (the rest). Functions rather than a
    class: a class statement costs a hook process more than these calls."""
    roots = p.get("workspace_roots")
    first = roots[0] if isinstance(roots, list) and roots else ""
    argument = ids.tool_argument(kind, args, first if isinstance(first, str) else "")
    session = _session(p)
    if not session or not argument:
        return ""
    base = ids.tool_base(secret, session, kind, argument)
    if home is None:
        return ids.tool_key(base, 1)
    counter = f"{phase}:{base}"
    counts = cursor_state.bump(home, secret, session, {counter: 1})
    return ids.tool_key(base, counts[counter])


def _session_lines(
    p: "dict[str, Any]", secret: bytes, home: str | None, added: int, removed: int
) -> dict[str, int]:
    """The conversation's running line totals after this edit (hooks' view of them)."""
    session = _session(p)
    if not session or home is None:
        return {"session_lines_added": added, "session_lines_removed": removed}
    totals = cursor_state.bump(
        home, secret, session, {"lines_added": added, "lines_removed": removed}
    )
    return {
        "session_lines_added": totals["lines_added"],
        "session_lines_removed": totals["lines_removed"],
    }


#: the one name each joinable kind of call is shown under (hooks and database alike).
TOOL_NAMES = {ids.SHELL: "Shell", ids.READ: "Read", ids.EDIT: "Edit"}


def _event(
    name: str, p: "dict[str, Any]", secret: bytes, home: str | None
) -> "tuple[str, dict[str, Any]]":
    """(event_type, payload) for one Cursor hook event."""
    out: dict[str, Any] = {}
    generation = _str(p, "generation_id")
    if generation:
        out["generation_id"] = generation[:128]
    tool_name = _str(p, "tool_name")
    if tool_name:
        out["tool_name"] = tool_name[:128]
    duration = _number(p.get("duration_ms"))
    if duration is None:
        duration = _number(p.get("duration"))  # Cursor reports ms (formats.md 4)
    if duration is not None:
        out["duration_ms"] = duration

    if name == "beforeSubmitPrompt":
        out["prompt_id"] = ids.prompt_key(secret, generation[:128], p.get("prompt"))
        out["prompt_length"] = _length(p.get("prompt"))
        out.update(_attachments(p))
        return "user_prompt", out
    if name == "afterAgentResponse":
        out["phase"] = "response"
        out["response_length"] = _length(p.get("text"))
        return "assistant_response", out
    if name == "afterAgentThought":
        out["thought_length"] = _length(p.get("text"))
        return "agent_thought", out
    if name == "stop":
        out["phase"] = "turn_end"
        if _str(p, "status"):
            out["status"] = _str(p, "status")[:32]
        if _number(p.get("loop_count")) is not None:
            out["loop_count"] = _number(p.get("loop_count"))
        tokens = _tokens(p)
        if not tokens and not generation:
            return "assistant_response", out
        # One agent turn is one Cursor request, keyed by its generation like the bubbles'.
        # Older clients report no tokens: the request still happened, its tokens are unknown
        # (the database's bubble, when seen, knows them and wins).
        out.update(tokens or {"tokens_unknown": True})
        if generation:  # the turn's request, and the prompt that started it
            out["request_id"] = out["prompt_id"] = generation[:128]
        if _str(p, "model"):
            out["model"] = _str(p, "model")[:128]
        out["usage_final"] = True
        return "token_usage", out
    if name in ("beforeShellExecution", "afterShellExecution"):
        start = name == "beforeShellExecution"
        out["tool_name"] = "Shell"
        out.update(program_facts(_str(p, "command"), secret))
        key = _call_key(
            p, secret, home, ids.SHELL, {"command": _str(p, "command")}, "start" if start else "end"
        )
        if key:
            out["tool_use_id"] = key
        if start:
            return "tool_use", out
        out["success"] = True
        out["output_length"] = _length(p.get("output"))
        return "tool_result", out
    if name in ("beforeMCPExecution", "afterMCPExecution"):
        start = name == "beforeMCPExecution"
        server = _str(p, "url") or _str(p, "command")
        if server:
            out["mcp_server_hash"] = keyed_hash(secret, server, "mcp_server")
        out["input_length"] = _length(p.get("tool_input"))
        key = _call_key(
            p, secret, home, ids.MCP, {"tool_name": tool_name}, "start" if start else "end"
        )
        if key:
            out["tool_use_id"] = key
        if start:
            return "tool_use", out
        out["success"] = True
        out["result_length"] = _length(p.get("result_json"))
        return "tool_result", out
    if name == "beforeReadFile":
        out.update(_file_facts(_str(p, "file_path"), secret))
        out["content_length"] = _length(p.get("content"))
        out.update(_attachments(p))
        key = _call_key(p, secret, home, ids.READ, {"file_path": _str(p, "file_path")}, "end")
        if key:  # the agent read a file: one call of its read tool
            out.update(tool_name="Read", tool_use_id=key, success=True)
            return "tool_result", out
        return "file_read", out
    if name == "beforeTabFileRead":
        out.update(_file_facts(_str(p, "file_path"), secret))
        out["content_length"] = _length(p.get("content"))
        out["is_tab"] = True
        return "file_read", out
    if name in ("afterFileEdit", "afterTabFileEdit"):
        out.update(_file_facts(_str(p, "file_path"), secret))
        edits = [e for e in p.get("edits") or [] if isinstance(e, dict)]
        out["edit_count"] = len(edits)
        out["lines_added"] = sum(_lines(e.get("new_string")) for e in edits)
        out["lines_removed"] = sum(_lines(e.get("old_string")) for e in edits)
        if name == "afterTabFileEdit":
            out["is_tab"] = True
            return "file_edit", out
        key = _call_key(p, secret, home, ids.EDIT, {"file_path": _str(p, "file_path")}, "end")
        if key:  # the agent's edit, applied: one call of its edit tool
            out.update(tool_name="Edit", tool_use_id=key, success=True)
            out.update(_session_lines(p, secret, home, out["lines_added"], out["lines_removed"]))
            return "tool_result", out
        return "file_edit", out
    if name in ("preToolUse", "postToolUse", "postToolUseFailure"):
        kind = ids.tool_kind(tool_name)
        key = ""
        if kind:
            key = _call_key(
                p,
                secret,
                home,
                kind,
                p.get("tool_input"),
                "start" if name == "preToolUse" else "end",
            )
            if kind in TOOL_NAMES:
                out["cursor_tool"] = tool_name[:128]
                out["tool_name"] = TOOL_NAMES[kind]
        key = key or _str(p, "tool_use_id")[:128]
        if key:
            out["tool_use_id"] = key
        out.update(_tool_input_facts(p, secret))
        if name == "preToolUse":
            return "tool_use", out
        out["success"] = name == "postToolUse"
        if name == "postToolUseFailure":
            # permission_denied / timeout / error: an error of this call, never a user decision
            out["error_type"] = _str(p, "failure_type")[:64] or "error"
        else:
            out["output_length"] = _length(p.get("tool_output"))
        return "tool_result", out
    if name in ("subagentStart", "subagentStop"):
        for source, target in (
            ("subagent_id", "agent_id"),
            ("subagent_type", "agent_type"),
            ("subagent_model", "model"),
        ):
            if _str(p, source):
                out[target] = _str(p, source)[:128]
        return ("subagent_start" if name == "subagentStart" else "subagent_stop"), out
    if name == "sessionStart":
        if home is not None:
            cursor_state.prune(home, time.time())
        return "session_start", out
    if name == "sessionEnd":
        if _str(p, "reason"):
            out["reason"] = _str(p, "reason")[:32]
        elif _str(p, "final_status"):
            out["reason"] = _str(p, "final_status")[:32]
        return "session_end", out
    if name == "preCompact":
        out["phase"] = "pre"
        if _str(p, "trigger"):
            out["trigger"] = _str(p, "trigger")[:32]
        return "compaction", out
    out["original_type"] = name[:100] or "unknown"
    for key in _SAFE_SCALARS:
        value = p.get(key)
        if key in out:
            continue
        if isinstance(value, str) and len(value) <= 128:
            out[key] = value
        elif _number(value) is not None:
            out[key] = _number(value)
    out["fields"] = sorted(k for k in p if isinstance(k, str))[:64]
    return "generic", out


def _metadata(p: "dict[str, Any]", secret: bytes) -> "dict[str, Any]":
    meta: dict[str, Any] = {}
    roots = p.get("workspace_roots")
    root = roots[0] if isinstance(roots, list) and roots and isinstance(roots[0], str) else ""
    if root:
        meta["workspace_hash"] = keyed_hash(secret, root, "workspace")
    project = getenv("CURSOR_PROJECT_DIR") or root
    if project:
        meta["project_hash"] = keyed_hash(secret, project, "project")
    model = _str(p, "model") or _str(p, "model_id")
    if model:
        meta["model"] = model[:128]
    version = _str(p, "cursor_version") or getenv("CURSOR_VERSION") or ""
    if version:
        meta["client_version"] = version[:64]
    return meta


def map_hook(
    payload: "dict[str, Any]",
    secret: bytes,
    event_name: str = "",
    now: float | None = None,
    home: str | None = None,
) -> "dict[str, Any]":
    """The sanitized envelope of one Cursor hook fire (any event, known or not).

    ``home`` is the data folder whose ``state/cursor-hooks`` counts tool calls per
    conversation; None counts nothing (every call is the first of its kind).
    """
    name = _str(payload, "hook_event_name") or event_name
    kind, body = _event(name, payload, secret, home)
    session = _session(payload) or "unknown"
    if not allowlist.SESSION_ID.check(session):  # not an id: it could be any text
        session = "h-" + keyed_hash(secret, session, "session")
    return allowlist.clean_event(
        {
            "schema": 1,
            "event_id": new_event_id(),
            "timestamp": format_timestamp(now),
            "platform": PLATFORM,
            "source": "hook",
            "session_id": session[:256],
            "event_type": kind,
            "hook_type": allowlist.hook_type(name[:100]),
            "metadata": _metadata(payload, secret),
            "payload": body,
        }
    )


def unparsed_hook_event(event_name: str, reason: str, size: int) -> "dict[str, Any]":
    """What the hook records when stdin was not a JSON object: the fact, never the bytes."""
    return allowlist.clean_event(
        {
            "schema": 1,
            "event_id": new_event_id(),
            "timestamp": format_timestamp(),
            "platform": PLATFORM,
            "source": "hook",
            "session_id": "unknown",
            "event_type": "generic",
            "hook_type": allowlist.hook_type(event_name[:100]),
            "metadata": {},
            "payload": {"original_type": "unparsed", "parse_error": reason, "input_bytes": size},
        }
    )
