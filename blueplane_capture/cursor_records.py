"""Cursor ``state.vscdb`` records as sanitized envelopes (the monitor's mapping; no I/O here).

The shapes come from reverse-engineering notes (formats.md section 5); no real database was
available, so every field is optional and anything unexpected is skipped, never an error.
Confirmed by several independent sources, and used: workspace ``ItemTable`` keys
``aiService.prompts`` (``text``, ``commandType``), ``aiService.generations`` (``unixMs``,
``generationUUID``, ``type``, ``textDescription``), ``composer.composerData``
(``allComposers[].composerId``, ``createdAt``, ``unifiedMode``, ``forceMode``); global
``cursorDiskKV`` ``composerData:<id>`` (``_v``, ``composerId``, ``createdAt``,
``lastUpdatedAt``, ``status``, ``isAgentic``, ``unifiedMode``, ``modelConfig.modelName``,
``codeBlockData{uri:[{bubbleId, codeBlockIdx, status, diffId, languageId}]}``,
``totalLinesAdded``, ``totalLinesRemoved``, ``usageData``) and ``bubbleId:<composer>:<bubble>``
(``type`` 1 user / 2 assistant, ``text``, ``createdAt``, ``requestId``,
``tokenCount{inputTokens,outputTokens}``, ``modelInfo.modelName``, ``timingInfo``,
``toolFormerData{name,status}``, ``thinking``).

Every id is derived from the record (composer id, bubble id, generation UUID, content hash), so
a re-scan, or a restart that lost the monitor's state, adds nothing to raw_traces. Times come from
the data; only ``aiService.prompts`` has none (the time it was first seen is used).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from blueplane_core import events, privacy

PLATFORM = "cursor"
_DECISIONS = {"accepted": "accept", "rejected": "reject"}


def _ms(value: Any) -> int | None:
    """Unix ms from an int (ms) or an ISO string, as Cursor stores either."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value > 0:
        return int(value if value > 10**11 else value * 1000)
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


def uri_path(uri: str) -> str:
    """``file:///home/x/p`` -> ``/home/x/p`` (how Cursor names folders and files)."""
    if uri.startswith("file://"):
        return unquote(urlsplit(uri).path)
    return uri


def _event(
    event_type: str,
    session: str,
    payload: dict[str, Any],
    key: str,
    unix_ms: int | None,
    hook_type: str,
    metadata: dict[str, Any] | None = None,
    stable_time: bool = True,
) -> dict[str, Any]:
    """``stable_time=False``: the time changes when the row is rewritten (a composer's
    ``lastUpdatedAt``), so it stays out of the id (the id must survive a re-scan)."""
    when = unix_ms if unix_ms is not None else None
    return events.make_event(
        event_type=event_type,
        platform=PLATFORM,
        source="database",
        session_id=(session or "unknown")[:256],
        payload=payload,
        metadata=metadata or {},
        hook_type=hook_type,
        event_id=events.derived_event_id("cursor-db", key, when if stable_time else None),
        timestamp=events.format_timestamp(when / 1000) if when else None,
    )


# ---------------------------------------------------------------------- workspace ItemTable


def prompt_events(items: Any, workspace: str, seen: set[str], now_ms: int) -> list[dict[str, Any]]:
    """``aiService.prompts``: no id, no time, so identity is content hash + occurrence."""
    out = []
    counts: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = _text(item.get("text"))
        kind = (
            _str(item.get("commandType"), 32)
            if isinstance(item.get("commandType"), str)
            else str(_int(item.get("commandType")) or "")
        )
        digest = hashlib.sha256(f"{kind}\x00{text}".encode()).hexdigest()[:24]
        counts[digest] = counts.get(digest, 0) + 1
        identity = f"{digest}:{counts[digest]}"
        if identity in seen:
            continue
        seen.add(identity)
        payload = {"prompt_length": len(text), "command_type": kind, "capture": "prompt_history"}
        out.append(
            _event(
                "user_prompt",
                f"workspace:{workspace}",
                payload,
                f"prompt\x00{workspace}\x00{identity}",
                None,
                "aiService.prompts",
                {"workspace_hash": workspace},
            )
        )
        out[-1]["timestamp"] = events.format_timestamp(now_ms / 1000)
    return out


def generation_events(items: Any, workspace: str, seen: set[str]) -> list[dict[str, Any]]:
    """``aiService.generations``: one event per generation UUID, at its own time."""
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        uuid = _str(item.get("generationUUID"))
        if not uuid or uuid in seen:
            continue
        seen.add(uuid)
        payload: dict[str, Any] = {"generation_id": uuid, "phase": "generation"}
        if _str(item.get("type"), 32):
            payload["generation_type"] = _str(item.get("type"), 32)
        description = item.get("textDescription")
        if isinstance(description, str):
            payload["description_length"] = len(description)
        out.append(
            _event(
                "assistant_response",
                f"workspace:{workspace}",
                payload,
                f"generation\x00{uuid}",
                _ms(item.get("unixMs")),
                "aiService.generations",
                {"workspace_hash": workspace},
            )
        )
    return out


def workspace_composers(data: Any) -> list[dict[str, Any]]:
    """``composer.composerData``: the composers a workspace lists (heads only)."""
    composers = data.get("allComposers") if isinstance(data, dict) else None
    return [c for c in composers or [] if isinstance(c, dict) and _str(c.get("composerId"))]


# ------------------------------------------------------------------------ global cursorDiskKV


def composer_events(
    data: dict[str, Any], workspace: str, totals: dict[str, Any], secret: bytes
) -> list[dict[str, Any]]:
    """``composerData:<id>``: its start, its edit decisions, and line-count increments.

    ``totals`` is the monitor's memory of this composer (last line totals emitted); it is
    updated in place.
    """
    composer = _str(data.get("composerId"), 256)
    if not composer:
        return []
    meta: dict[str, Any] = {"workspace_hash": workspace} if workspace else {}
    model = _str(_obj(data.get("modelConfig")).get("modelName"))
    if model:
        meta["model"] = model
    out = []
    start: dict[str, Any] = {"composer_id": composer, "start_source": "composer"}
    for source, target in (("unifiedMode", "mode"), ("forceMode", "force_mode")):
        if _str(data.get(source), 32):
            start[target] = _str(data.get(source), 32)
    if isinstance(data.get("isAgentic"), bool):
        start["is_agentic"] = data["isAgentic"]
    if _int(data.get("_v")) is not None:
        start["schema_version"] = _int(data.get("_v"))
    created = _ms(data.get("createdAt"))
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

    blocks = data.get("codeBlockData")
    for uri, entries in blocks.items() if isinstance(blocks, dict) else []:
        path = uri_path(str(uri))
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            decision = _DECISIONS.get(_str(entry.get("status"), 32))
            if not decision:
                continue
            payload: dict[str, Any] = {
                "decision": decision,
                "decision_source": "user",
                "file_extension": privacy.file_extension(path),
                "file_hash": privacy.keyed_hash(secret, path, "file"),
                "composer_id": composer,
            }
            for source, target in (
                ("bubbleId", "bubble_id"),
                ("diffId", "diff_id"),
                ("languageId", "language"),
            ):
                if _str(entry.get(source)):
                    payload[target] = _str(entry.get(source))
            if _int(entry.get("codeBlockIdx")) is not None:
                payload["code_block_idx"] = _int(entry.get("codeBlockIdx"))
            key = (
                f"decision\x00{composer}\x00{payload['file_hash']}\x00"
                f"{payload.get('bubble_id', '')}\x00{payload.get('code_block_idx', '')}"
                f"\x00{payload.get('diff_id', '')}\x00{decision}"
            )
            out.append(
                _event(
                    "edit_decision",
                    composer,
                    payload,
                    key,
                    _ms(data.get("lastUpdatedAt")) or created,
                    "codeBlockData",
                    meta,
                    stable_time=False,
                )
            )

    added, removed = _int(data.get("totalLinesAdded")), _int(data.get("totalLinesRemoved"))
    if added is not None or removed is not None:
        added, removed = added or 0, removed or 0
        before_added, before_removed = totals.get("added", 0), totals.get("removed", 0)
        delta_added, delta_removed = added - before_added, removed - before_removed
        if delta_added < 0 or delta_removed < 0:  # totals went down (a revert): start over
            delta_added, delta_removed = max(delta_added, 0), max(delta_removed, 0)
        if delta_added or delta_removed:
            payload = {
                "composer_id": composer,
                "scope": "composer",
                "lines_added": delta_added,
                "lines_removed": delta_removed,
                "total_lines_added": added,
                "total_lines_removed": removed,
            }
            when = _ms(data.get("lastUpdatedAt")) or created
            out.append(
                _event(
                    "file_edit",
                    composer,
                    payload,
                    f"lines\x00{composer}\x00{added}\x00{removed}",
                    when,
                    "composerData",
                    meta,
                    stable_time=False,
                )
            )
        totals["added"], totals["removed"] = added, removed
    return out


def bubble_finished(bubble: dict[str, Any], composer_status: str) -> bool:
    """A reply is final once Cursor stamped its end time or the composer stopped generating."""
    timing = _obj(bubble.get("timingInfo"))
    return bool(timing.get("clientEndTime")) or composer_status not in ("generating",)


def bubble_event(
    composer: str, bubble_id: str, bubble: dict[str, Any], workspace: str
) -> dict[str, Any] | None:
    """``bubbleId:<composer>:<bubble>``: a user message or an assistant reply (lengths only)."""
    kind = _int(bubble.get("type"))
    if kind not in (1, 2):
        return None
    meta: dict[str, Any] = {"workspace_hash": workspace} if workspace else {}
    text = _text(bubble.get("text"))
    payload: dict[str, Any] = {"composer_id": composer, "bubble_id": bubble_id}
    if _str(bubble.get("requestId")):
        payload["request_id"] = _str(bubble.get("requestId"))
    when = _ms(bubble.get("createdAt"))
    if kind == 1:
        payload["prompt_length"] = len(text)
        return _event(
            "user_prompt",
            composer,
            payload,
            f"bubble\x00{composer}\x00{bubble_id}",
            when,
            "bubble",
            meta,
        )
    payload["phase"] = "response"
    payload["response_length"] = len(text)
    model_info = _obj(bubble.get("modelInfo"))
    if _str(model_info.get("modelName")):
        payload["model"] = meta["model"] = _str(model_info.get("modelName"))
    tokens = _obj(bubble.get("tokenCount"))
    input_tokens, output_tokens = _int(tokens.get("inputTokens")), _int(tokens.get("outputTokens"))
    if input_tokens or output_tokens:  # Cursor 3.x often stores {0, 0}: that is "unknown"
        payload["input_tokens"], payload["output_tokens"] = input_tokens or 0, output_tokens or 0
    timing = _obj(bubble.get("timingInfo"))
    start, end = _ms(timing.get("clientStartTime")), _ms(timing.get("clientEndTime"))
    if start and end and end >= start:
        payload["duration_ms"] = end - start
    tool = _obj(bubble.get("toolFormerData"))
    if _str(tool.get("name")):
        payload["tool_name"] = _str(tool.get("name"))
        if _str(tool.get("status"), 32):
            payload["tool_status"] = _str(tool.get("status"), 32)
    thinking = _obj(bubble.get("thinking"))
    if isinstance(thinking.get("text"), str):
        payload["thought_length"] = len(thinking["text"])
    return _event(
        "assistant_response",
        composer,
        payload,
        f"bubble\x00{composer}\x00{bubble_id}",
        when,
        "bubble",
        meta,
    )
