"""Cursor ``state.vscdb`` records as sanitized envelopes (the monitor's mapping; no I/O here).

Shapes (formats.md 5, from public reverse-engineering and public real-data extracts; every field
is optional, anything unexpected is skipped, never an error):

* composer ``composerData:<id>`` ``_v`` 3 to 10+ (and legacy ones without ``_v`` that keep their
  messages inline in ``conversation[]``): ``composerId``, ``createdAt``, ``lastUpdatedAt``,
  ``status``, ``unifiedMode``, ``forceMode``, ``isAgentic``, ``modelConfig.modelName``,
  ``fullConversationHeadersOnly[{bubbleId, type}]``, ``codeBlockData`` as a list per file
  (older) or a dict ``{fileUri: {codeblockId: {status, ...}}}`` (``_v 10``),
  ``totalLinesAdded``/``totalLinesRemoved``, ``usageData{model: {costInCents, amount}}``;
* bubble ``bubbleId:<composer>:<bubble>`` ``_v`` 2/3: ``type`` (1 user, 2 assistant),
  ``text``, ``createdAt`` (ISO; absent in ``_v 2``), ``requestId`` (the turn's generation),
  ``capabilityType`` (30 thinking, 15 tool), ``thinking{text}``, ``thinkingDurationMs``,
  ``toolFormerData{name, status, rawArgs, params, toolCallId, userDecision}``,
  ``tokenCount{inputTokens, outputTokens}`` (filled only on the last bubble of a turn),
  ``modelInfo.modelName``, ``timingInfo`` (``clientStartTime`` may be a performance-clock
  reading, not an epoch: only values that look like epoch milliseconds are used as times).

What becomes what: a user bubble is the turn's prompt (``prompt_id`` = its generation, as the
hook's); a bubble with tokens is the turn's request (``token_usage`` keyed by the generation, as
the ``stop`` hook's); a thinking bubble is thinking time; a tool bubble is one tool call keyed
as the hooks key theirs (``cursor_ids``); ``codeBlockData`` gives the user's edit decisions, keyed
to the edit call they decide; the composer's line totals are the session's lines (one key per
session, so they and the hooks' running totals count once). Times come from the data only.
``aiService.prompts``/``aiService.generations`` add no fact a bubble does not have (no ids, no
tokens); the monitor uses the generations' ``unixMs`` as the time of bubbles that have none.

Every id is derived from the record, so a re-scan or a restart adds nothing to raw_traces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from blueplane_capture import cursor_ids as ids
from blueplane_capture.cursor_mapping import TOOL_NAMES
from blueplane_core import events, privacy

PLATFORM = "cursor"
_DECISIONS = {"accepted": "accept", "rejected": "reject"}
#: below this a millisecond value is a performance-clock reading (ms since the process
#: started), not an epoch time: 1e12 ms is September 2001.
EPOCH_MS_MIN = 10**12
#: and from this on (year 5138) a value is not a time at all
EPOCH_MS_MAX = 10**14
THINKING, TOOL = 30, 15
_TIMING_KEYS = ("clientStartTime", "clientRpcSendTime", "clientSettleTime", "clientEndTime")
_FAILED = {"error": "error", "failed": "error", "cancelled": "cancelled", "aborted": "cancelled"}


def epoch_ms(value: Any) -> int | None:
    """Unix ms from epoch ms (int/float), epoch seconds, or an ISO string; None for anything
    else, including performance-clock values."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if EPOCH_MS_MIN <= value < EPOCH_MS_MAX:
            return int(value)
        if 10**9 <= value < 10**10:  # epoch seconds
            return int(value * 1000)
        return None
    if isinstance(value, str) and value:
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str(value: Any, limit: int = 128) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _json_obj(value: Any) -> dict[str, Any]:
    """A dict given as a dict or as a JSON string (``rawArgs``, ``params``)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def uri_path(uri: str) -> str:
    """``file:///home/x/p`` -> ``/home/x/p``; ``vscode-remote://ssh-remote+h/p`` -> ``/p``."""
    if "://" in uri:
        return unquote(urlsplit(uri).path)
    return uri


@dataclass
class Composer:
    """What the monitor knows about one composer when it maps its rows."""

    composer_id: str
    workspace: str = ""  # workspace hash
    root: str = ""  # workspace folder (in memory only, never stored)
    model: str = ""
    status: str = ""
    created_ms: int | None = None
    order: list[str] = field(default_factory=list)  # bubble ids in conversation order
    #: bubble id -> tool base key of the tool bubbles seen (for occurrence numbers)
    tools: dict[str, str] = field(default_factory=dict)

    def meta(self, model: str = "") -> dict[str, Any]:
        meta: dict[str, Any] = {"workspace_hash": self.workspace} if self.workspace else {}
        if model or self.model:
            meta["model"] = model or self.model
        return meta

    def occurrence(self, bubble_id: str, base: str) -> int:
        """1 + the tool bubbles before ``bubble_id`` (conversation order) with this base."""
        self.tools[bubble_id] = base
        position = {b: i for i, b in enumerate(self.order)}
        mine = position.get(bubble_id, len(position))
        return 1 + sum(
            1
            for other, other_base in self.tools.items()
            if other != bubble_id
            and other_base == base
            and position.get(other, len(position)) < mine
        )


def _event(
    event_type: str,
    session: str,
    payload: dict[str, Any],
    key: str,
    unix_ms: int | None,
    hook_type: str,
    metadata: dict[str, Any],
    stable_time: bool = True,
) -> dict[str, Any]:
    """``stable_time=False``: the time changes when the row is rewritten (a composer's
    ``lastUpdatedAt``), so it stays out of the id (the id must survive a re-scan)."""
    return events.make_event(
        event_type=event_type,
        platform=PLATFORM,
        source="database",
        session_id=(session or "unknown")[:256],
        payload=payload,
        metadata=metadata,
        hook_type=hook_type,
        event_id=events.derived_event_id("cursor-db", key, unix_ms if stable_time else None),
        timestamp=events.format_timestamp(unix_ms / 1000) if unix_ms else None,
    )


# ---------------------------------------------------------------------- workspace ItemTable


def generation_times(items: Any) -> dict[str, int]:
    """``aiService.generations``: generation UUID -> its epoch ms (a time source only)."""
    out = {}
    for item in items if isinstance(items, list) else []:
        uuid = _str(_obj(item).get("generationUUID"))
        when = epoch_ms(_obj(item).get("unixMs"))
        if uuid and when:
            out[uuid] = when
    return out


def workspace_composers(data: Any) -> list[str]:
    """``composer.composerData``: the composer ids a workspace lists."""
    composers = data.get("allComposers") if isinstance(data, dict) else None
    return [
        _str(c.get("composerId"), 256)
        for c in composers or []
        if isinstance(c, dict) and _str(c.get("composerId"))
    ]


def header_workspaces(data: Any) -> dict[str, str]:
    """Global ``composer.composerHeaders``: composer id -> ``workspaceIdentifier.id`` (the
    workspaceStorage folder name), for composers no workspace database lists."""
    composers = data.get("allComposers") if isinstance(data, dict) else data
    out = {}
    for item in composers if isinstance(composers, list) else []:
        composer = _str(_obj(item).get("composerId"), 256)
        workspace = _str(_obj(_obj(item).get("workspaceIdentifier")).get("id"), 256)
        if composer and workspace:
            out[composer] = workspace
    return out


# ------------------------------------------------------------------------ global cursorDiskKV


def bubble_ids(data: dict[str, Any]) -> list[str]:
    """A composer's bubble ids in conversation order (headers, else the inline list)."""
    headers = data.get("fullConversationHeadersOnly")
    if not isinstance(headers, list):
        headers = data.get("conversation")
    if not isinstance(headers, list):
        return []
    return [
        _str(h.get("bubbleId"), 256)
        for h in headers
        if isinstance(h, dict) and _str(h.get("bubbleId"))
    ]


def inline_bubbles(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Bubbles kept inside the composer row (no ``bubbleId:`` rows): legacy ``conversation[]``,
    or a ``conversationMap{bubbleId: bubble}`` in the order of the headers."""
    inline = data.get("conversation")
    if isinstance(inline, list) and inline:
        return [b for b in inline if isinstance(b, dict)]
    mapped = _obj(data.get("conversationMap"))
    return [
        dict(mapped[bid], bubbleId=mapped[bid].get("bubbleId") or bid)
        for bid in bubble_ids(data)
        if isinstance(mapped.get(bid), dict)
    ]


def composer_events(data: dict[str, Any], view: Composer, secret: bytes) -> list[dict[str, Any]]:
    """``composerData:<id>``: its start, its edit decisions and its line totals.

    Empty drafts (no bubble at all; most composers) are not sessions and give nothing.
    """
    composer = view.composer_id
    if not bubble_ids(data) and not _obj(data.get("conversationMap")):
        return []
    meta = view.meta()
    out = []
    start: dict[str, Any] = {"composer_id": composer, "start_source": "composer"}
    for source, target in (("unifiedMode", "mode"), ("forceMode", "force_mode")):
        if _str(data.get(source), 32):
            start[target] = _str(data.get(source), 32)
    if isinstance(data.get("isAgentic"), bool):
        start["is_agentic"] = data["isAgentic"]
    if _int(data.get("_v")) is not None:
        start["schema_version"] = _int(data.get("_v"))
    created = view.created_ms
    out.append(
        _event(
            "session_start",
            composer,
            start,
            f"composer\x00{composer}",
            created,
            "composerData",
            meta,
        )
    )
    updated = epoch_ms(data.get("lastUpdatedAt")) or created
    out += _decisions(data, view, secret, updated)

    added, removed = _int(data.get("totalLinesAdded")), _int(data.get("totalLinesRemoved"))
    if added or removed:
        payload = {
            "composer_id": composer,
            "scope": "composer",
            "session_lines_added": added or 0,
            "session_lines_removed": removed or 0,
        }
        out.append(
            _event(
                "file_edit",
                composer,
                payload,
                f"lines\x00{composer}\x00{added}\x00{removed}",
                updated,
                "composerData",
                meta,
                stable_time=False,
            )
        )
    return out


def composer_usage(data: dict[str, Any]) -> dict[str, list[int]]:
    """``usageData``: model -> [costInCents, amount] (Cursor's own accounting of the composer)."""
    out = {}
    for model, entry in _obj(data.get("usageData")).items():
        cents, amount = _int(_obj(entry).get("costInCents")), _int(_obj(entry).get("amount"))
        if isinstance(model, str) and cents is not None and amount:
            out[model[:128]] = [cents, amount]
    return out


def _code_blocks(blocks: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """``codeBlockData`` in either form as (file uri, entries in order)."""
    out = []
    for uri, entries in blocks.items() if isinstance(blocks, dict) else []:
        if isinstance(entries, dict):  # _v 10: {codeblockId: {...}}
            entries = list(entries.values())
        if isinstance(entries, list):
            out.append((str(uri), [e for e in entries if isinstance(e, dict)]))
    return out


def _decisions(
    data: dict[str, Any], view: Composer, secret: bytes, when: int | None
) -> list[dict[str, Any]]:
    """One ``edit_decision`` per accepted or rejected code block, keyed to its edit call: the
    n-th block of a file decides the n-th edit of that file (``cursor_ids``)."""
    out = []
    composer = view.composer_id
    for uri, entries in _code_blocks(data.get("codeBlockData")):
        path = uri_path(uri)
        base = ids.tool_base(secret, composer, ids.EDIT, ids.canonical_path(path, view.root))
        for occurrence, entry in enumerate(entries, start=1):
            decision = _DECISIONS.get(_str(entry.get("status"), 32))
            if not decision:
                continue
            key = ids.tool_key(base, occurrence)
            payload: dict[str, Any] = {
                "decision": decision,
                "decision_source": "user",
                "tool_name": "Edit",
                "tool_use_id": key,
                "file_extension": privacy.file_extension(path),
                "file_hash": privacy.keyed_hash(secret, path, "file"),
                "composer_id": composer,
            }
            for source, target in (("bubbleId", "bubble_id"), ("languageId", "language")):
                if _str(entry.get(source)):
                    payload[target] = _str(entry.get(source))
            out.append(
                _event(
                    "edit_decision",
                    composer,
                    payload,
                    f"decision\x00{key}\x00{decision}",
                    when,
                    "codeBlockData",
                    view.meta(),
                    stable_time=False,
                )
            )
    return out


def bubble_finished(bubble: dict[str, Any], composer_status: str) -> bool:
    """A reply is final once Cursor stamped its end time or the composer stopped generating."""
    timing = _obj(bubble.get("timingInfo"))
    return bool(timing.get("clientEndTime")) or composer_status not in ("generating",)


def bubble_time(
    bubble: dict[str, Any], generation_ms: int | None, fallback: int | None
) -> int | None:
    """When a bubble happened: ``createdAt``, else the earliest epoch value of its
    ``timingInfo`` (performance-clock values skipped), else its generation's ``unixMs``, else
    ``fallback`` (the composer's own time). Never the time it was read."""
    created = epoch_ms(bubble.get("createdAt"))
    if created:
        return created
    timing = _obj(bubble.get("timingInfo"))
    times = [epoch_ms(timing.get(k)) for k in _TIMING_KEYS]
    known = [t for t in times if t]
    return min(known) if known else generation_ms or fallback


def _duration(bubble: dict[str, Any]) -> int | None:
    timing = _obj(bubble.get("timingInfo"))
    end = epoch_ms(timing.get("clientEndTime")) or epoch_ms(timing.get("clientSettleTime"))
    start = epoch_ms(timing.get("clientRpcSendTime")) or epoch_ms(timing.get("clientStartTime"))
    return end - start if start and end and end >= start else None


def _usage_event(
    bubble: dict[str, Any], view: Composer, bubble_id: str, when: int | None
) -> dict[str, Any] | None:
    """The turn's request, from the bubble that carries the turn's ``tokenCount``."""
    tokens = bubble.get("tokenCount")
    if not isinstance(tokens, dict):
        return None  # absent, or a bare integer (older stores) that cannot be split
    input_tokens, output_tokens = _int(tokens.get("inputTokens")), _int(tokens.get("outputTokens"))
    if not input_tokens and not output_tokens:  # Cursor 3.x often stores {0, 0}: unknown
        return None
    model = _str(_obj(bubble.get("modelInfo")).get("modelName")) or view.model
    generation = _str(bubble.get("requestId"))
    payload: dict[str, Any] = {
        "request_id": generation or f"{view.composer_id}:{bubble_id}",
        "input_tokens": max(input_tokens or 0, 0),
        "output_tokens": max(output_tokens or 0, 0),
        "usage_final": True,
        "bubble_id": bubble_id,
    }
    if generation:
        payload["prompt_id"] = generation  # the turn's prompt (``cursor_ids.prompt_key``)
    if model:
        payload["model"] = model
    return _event(
        "token_usage",
        view.composer_id,
        payload,
        f"usage\x00{view.composer_id}\x00{bubble_id}",
        when,
        "bubble",
        view.meta(model),
    )


def _turn_request(view: Composer, bubble_id: str, request: str, when: int | None) -> dict[str, Any]:
    """A prompt's turn is one request even when no bubble of it carries tokens (Cursor 3.x
    often stores ``{0, 0}``): counted, tokens unknown, so its cost is unknown, never $0."""
    payload: dict[str, Any] = {
        "request_id": request,
        "prompt_id": request,
        "tokens_unknown": True,
        "bubble_id": bubble_id,
    }
    if view.model:
        payload["model"] = view.model
    return _event(
        "token_usage",
        view.composer_id,
        payload,
        f"turn\x00{view.composer_id}\x00{bubble_id}",
        when,
        "bubble",
        view.meta(),
    )


def bubble_events(
    view: Composer,
    bubble_id: str,
    bubble: dict[str, Any],
    secret: bytes,
    generation_ms: int | None = None,
    request_id: str = "",
) -> list[dict[str, Any]]:
    """``bubbleId:<composer>:<bubble>`` (or one inline ``conversation[]`` item): a prompt, a
    reply, thinking time or a tool call, plus the turn's request when it carries the tokens.
    ``request_id`` stands in for a user bubble's missing ``requestId`` (the next bubble's)."""
    kind = _int(bubble.get("type"))
    if kind not in (1, 2):
        return []
    composer = view.composer_id
    when = bubble_time(bubble, generation_ms, view.created_ms)
    request = _str(bubble.get("requestId")) or request_id
    key = f"bubble\x00{composer}\x00{bubble_id}"
    payload: dict[str, Any] = {"composer_id": composer, "bubble_id": bubble_id}
    if request:
        payload["generation_id"] = request
    text = _text(bubble.get("text"))
    if kind == 1:
        payload["prompt_id"] = ids.prompt_key(secret, request, text)
        payload["prompt_length"] = len(text)
        out = [_event("user_prompt", composer, payload, key, when, "bubble", view.meta())]
        if request:  # the turn's request; its tokens, if any, are on its last bubble
            out.append(_turn_request(view, bubble_id, request, when))
        return out
    model = _str(_obj(bubble.get("modelInfo")).get("modelName"))
    out = []
    capability = _int(bubble.get("capabilityType"))
    tool = _obj(bubble.get("toolFormerData"))
    thinking = _obj(bubble.get("thinking"))
    if capability == THINKING or (thinking and not text and not tool):
        payload["thought_length"] = len(_text(thinking.get("text")))
        duration = _int(bubble.get("thinkingDurationMs"))
        if duration is not None and duration >= 0:
            payload["duration_ms"] = duration
        out.append(
            _event("agent_thought", composer, payload, key, when, "bubble", view.meta(model))
        )
    elif capability == TOOL or tool:
        out.append(_tool_event(view, bubble_id, tool, payload, key, when, secret, model))
    else:
        payload["phase"] = "response"
        payload["response_length"] = len(text)
        duration = _duration(bubble)
        if duration is not None:
            payload["duration_ms"] = duration
        out.append(
            _event("assistant_response", composer, payload, key, when, "bubble", view.meta(model))
        )
    usage = _usage_event(bubble, view, bubble_id, when)
    if usage is not None:
        out.append(usage)
    return out


def _tool_event(
    view: Composer,
    bubble_id: str,
    tool: dict[str, Any],
    payload: dict[str, Any],
    key: str,
    when: int | None,
    secret: bytes,
    model: str,
) -> dict[str, Any]:
    """A tool bubble as the tool call it is, keyed as the hooks key the same call."""
    name = _str(tool.get("name")) or str(_int(tool.get("tool")) or "unknown")
    kind = ids.tool_kind(name)
    args = _json_obj(tool.get("rawArgs")) or _json_obj(tool.get("params"))
    argument = ids.tool_argument(kind, args, view.root) if kind else ""
    call = ""
    if argument:
        base = ids.tool_base(secret, view.composer_id, kind, argument)
        call = ids.tool_key(base, view.occurrence(bubble_id, base))
    call = call or _str(tool.get("toolCallId")) or f"{view.composer_id}:{bubble_id}"
    payload["tool_use_id"] = call
    payload["tool_name"] = TOOL_NAMES.get(kind, name)
    if payload["tool_name"] != name:
        payload["cursor_tool"] = name
    status = _str(tool.get("status"), 32)
    if status:
        payload["tool_status"] = status
    decision = _str(tool.get("userDecision"), 32)
    if decision:
        payload["user_decision"] = decision
    payload["success"] = status not in _FAILED and decision != "rejected"
    if status in _FAILED:
        payload["error_type"] = _FAILED[status]
    elif decision == "rejected":
        payload["error_type"] = "user_rejected"
    if kind == ids.SHELL:
        payload.update(privacy.program_facts(argument, secret))
    elif kind in (ids.READ, ids.EDIT) and argument:
        path = argument if argument.startswith("/") or not view.root else f"{view.root}/{argument}"
        payload["file_extension"] = privacy.file_extension(path)
        payload["file_hash"] = privacy.keyed_hash(secret, path, "file")
    return _event("tool_result", view.composer_id, payload, key, when, "bubble", view.meta(model))
