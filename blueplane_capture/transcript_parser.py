"""Claude Code transcript lines -> sanitized events (formats.md section 2).

One ``FileCursor`` per transcript file carries what a line needs from earlier lines of the same
file: responses whose usage may still grow, the tools called (so a tool result knows its tool),
whether the session start was reported. It is plain data so that ``offsets`` can persist it
together with the byte offset: a restart resumes exactly where the last run stopped.

Token usage (``token_usage``), the rule ccusage uses (formats.md 2.6): one API response is
written as several lines sharing ``message.id`` + ``requestId``; the event is keyed by that pair
(``shared_event_id("token_usage", ...)``, the same id whatever file or line it comes from), and
the line with the largest input+output+cache totals wins. Because ingest keeps the FIRST event
stored under an id, a response is emitted only once it is complete: when one of its lines has a
``stop_reason`` (2.1.x writes final usage on every line), when a later line of the file starts
another response (2.0.x streamed partial usage with ``stop_reason: null``), or when the monitor
flushes the file (end of a backfill, or the file stayed unchanged for ``settle_s``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blueplane_capture import claude_code_mapping as mapping
from blueplane_core import allowlist, events, privacy

NAMESPACE = "claude_code.transcript"
#: tool calls remembered per file for their results (a result follows its call closely).
MAX_TOOLS = 64
#: emitted responses remembered per file, so the other lines of a response add no event.
MAX_DONE = 64
_SEMVER_RE = re.compile(r"^\d+\.\d+\.\d+")
_NOT_PROMPTS = (
    "<local-command-",
    "<command-name>",
    "<command-message>",
    "<bash-",
    "[Request interrupted",
)


#: Every event ``TranscriptParser.parse`` makes needs one of these in the line's raw bytes: a
#: ``"user"`` or ``"assistant"`` type (session start, prompts, tool calls and results), a
#: ``"usage"`` object (token usage, API errors), an ``"agentId"`` (a subagent's start) or a
#: ``compact_boundary`` subtype. A line holding none of them (attachments, snapshots, hook
#: progress, queue and mode lines: a third of a history's bytes) cannot hold a fact, so the reader
#: skips it unparsed (``may_hold_fact``). Claude Code writes plain JSON (no escaped letters), and
#: a marker found inside other text only means the line is parsed as before.
FACT_MARKERS = (b'"user"', b'"assistant"', b'"usage"', b'"agentId"', b'"compact_boundary"')


def may_hold_fact(raw: bytes) -> bool:
    """False only for a transcript line that cannot make an event (``FACT_MARKERS``)."""
    return any(marker in raw for marker in FACT_MARKERS)


@dataclass
class FileCursor:
    """What the parser remembers about one transcript file between lines (and restarts)."""

    session_started: bool = False
    subagent_reported: bool = False
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    tools: dict[str, list[Any]] = field(default_factory=dict)  # tool_use_id -> [name, facts]
    done: list[str] = field(default_factory=list)  # responses already emitted (recent ones)
    last_timestamp: str = ""
    session_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "session_started": self.session_started,
            "subagent_reported": self.subagent_reported,
            "pending": self.pending,
            "tools": self.tools,
            "done": self.done,
            "last_timestamp": self.last_timestamp,
            "session_id": self.session_id,
        }

    def forget_details(self) -> None:
        """Drop what only matters while a session is active (its file went quiet)."""
        self.tools.clear()
        self.done.clear()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileCursor:
        return cls(
            session_started=bool(data.get("session_started")),
            subagent_reported=bool(data.get("subagent_reported")),
            pending=dict(data.get("pending") or {}),
            tools=dict(data.get("tools") or {}),
            done=list(data.get("done") or []),
            last_timestamp=str(data.get("last_timestamp") or ""),
            session_id=str(data.get("session_id") or ""),
        )


@dataclass
class FileInfo:
    """Facts about a transcript file that come from its path, not its lines."""

    path_key: str  # keyed hash of the path: a stable record key that reveals nothing
    fallback_session: str  # the file stem, for lines without sessionId
    is_subagent: bool = False
    agent_type: str = ""


def _timestamp(value: Any) -> str:
    """The envelope timestamp of a transcript timestamp ("" if unusable). Claude Code already
    writes the envelope's form (``2026-11-22T19:25:32.588Z``); anything else is converted."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if parsed.tzinfo is None:
        return ""
    if len(value) == 24 and value[19] == "." and value[23] == "Z":
        return value
    return events.format_timestamp(parsed.timestamp())


def _tokens(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class TranscriptParser:
    """Turns parsed transcript lines into envelopes; holds no state of its own."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._hashes: dict[tuple[str, str], str] = {}
        #: a file's lines repeat their metadata: each distinct one is cleaned once and the
        #: (unchangeable) result shared by the events that carry it
        self._metas: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}

    def _hash(self, value: str, kind: str) -> str:
        """``privacy.keyed_hash``, memoized: a file repeats its cwd and branch on every line."""
        key = (kind, value)
        found = self._hashes.get(key)
        if found is None:
            if len(self._hashes) > 4096:
                self._hashes.clear()
            found = self._hashes[key] = privacy.keyed_hash(self.secret, value, kind)
        return found

    @staticmethod
    def moves_cursor(line: dict[str, Any]) -> bool:
        """Whether parsing ``line`` changes its file's cursor at all: only a line with a usable
        timestamp does (a line ``may_hold_fact`` rules out then sets only the last timestamp
        and session)."""
        return bool(_timestamp(line.get("timestamp")))

    # ------------------------------------------------------------------ envelope helpers

    def _metadata(self, line: dict[str, Any], info: FileInfo) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        cwd = line.get("cwd")
        if isinstance(cwd, str) and cwd:
            meta["workspace_hash"] = self._hash(cwd, "workspace")
            meta["project_hash"] = self._hash(cwd, "project")
            label = self._hashes.get(("label", cwd))
            if label is None:  # memoized like the hashes: every line repeats its cwd
                label = self._hashes[("label", cwd)] = privacy.project_label(cwd)
            if label:  # the Emitter drops it unless privacy.project_labels = "basename"
                meta["project_label"] = label
        branch = line.get("gitBranch")
        if isinstance(branch, str) and branch:
            meta["git_branch_hash"] = self._hash(branch, "branch")
        version = line.get("version")
        if isinstance(version, str) and version:
            meta["client_version"] = version[:32]
        agent_id = line.get("agentId")
        if isinstance(agent_id, str) and agent_id:
            meta["agent_id"] = agent_id
        agent_type = line.get("attributionAgent") or info.agent_type
        if isinstance(agent_type, str) and agent_type:
            meta["agent_type"] = agent_type
        return meta

    def _event(
        self,
        kind: str,
        event_id: str,
        timestamp: str,
        session: str,
        meta: dict[str, Any],
        payload: dict[str, Any],
    ) -> dict[str, Any]:
        key = tuple(meta.items())
        cleaned = self._metas.get(key)
        event = events.make_event(
            event_type=kind,
            platform=mapping.PLATFORM,
            source="transcript",
            session_id=session[:256],
            payload=payload,
            metadata=meta if cleaned is None else cleaned,
            event_id=event_id,
            timestamp=timestamp,
        )
        if cleaned is None and type(event["metadata"]) is events.Checked:
            if len(self._metas) > 1024:
                self._metas.clear()
            self._metas[key] = event["metadata"]
        return event

    # ---------------------------------------------------------------------- the lines

    def parse(
        self, line: dict[str, Any], cursor: FileCursor, info: FileInfo, position: int
    ) -> list[dict[str, Any]]:
        """Events of one transcript line; ``position`` is the line's byte offset in its file."""
        out: list[dict[str, Any]] = []
        timestamp = _timestamp(line.get("timestamp"))
        if not timestamp:
            return out  # snapshots, last-prompt, mode lines: nothing to count
        cursor.last_timestamp = timestamp
        session = line.get("sessionId")
        session = session if isinstance(session, str) and session else info.fallback_session
        if not allowlist.SESSION_ID.check(session):  # not an id: it could be any text
            session = "h-" + privacy.keyed_hash(self.secret, session, "session")
        cursor.session_id = session
        meta = self._metadata(line, info)
        sidechain = bool(line.get("isSidechain")) or info.is_subagent
        kind = line.get("type")

        if not info.is_subagent and not cursor.session_started and kind in ("user", "assistant"):
            cursor.session_started = True
            out.append(
                self._event(
                    "session_start",
                    mapping.shared_event_id("session_start", session),
                    timestamp,
                    session,
                    meta,
                    {"start_source": "transcript"},
                )
            )
        agent_id = line.get("agentId")
        if info.is_subagent and not cursor.subagent_reported and isinstance(agent_id, str):
            cursor.subagent_reported = True
            body: dict[str, Any] = {"agent_id": agent_id, "is_sidechain": True}
            if info.agent_type:
                body["agent_type"] = info.agent_type
            out.append(
                self._event(
                    "subagent_start",
                    mapping.shared_event_id("subagent_start", f"{session}:{agent_id}"),
                    timestamp,
                    session,
                    meta,
                    body,
                )
            )

        message = line.get("message")
        message = message if isinstance(message, dict) else {}
        if isinstance(message.get("usage"), dict):
            out.extend(
                self._usage(
                    line,
                    message,
                    cursor,
                    info,
                    timestamp,
                    session,
                    meta,
                    sidechain,
                    position,
                )
            )
        if kind == "assistant":
            out.extend(self._tool_uses(message, cursor, timestamp, session, meta, sidechain))
        elif kind == "user":
            out.extend(self._user(line, message, cursor, timestamp, session, meta, sidechain))
        elif kind == "system" and line.get("subtype") == "compact_boundary":
            out.append(self._compaction(line, timestamp, session, meta))
        return out

    def _usage(
        self,
        line: dict[str, Any],
        message: dict[str, Any],
        cursor: FileCursor,
        info: FileInfo,
        timestamp: str,
        session: str,
        meta: dict[str, Any],
        sidechain: bool,
        position: int,
    ) -> list[dict[str, Any]]:
        """Hold or emit the usage of one response line (ccusage's acceptance rules)."""
        model = message.get("model")
        message_id = message.get("id")
        request_id = line.get("requestId")
        version = line.get("version")
        if model == "<synthetic>" or line.get("isApiErrorMessage"):
            # a client-made line, no API usage; an API error line is the failure itself
            return self._api_error(line, message, timestamp, session, meta, sidechain)
        if version is not None and not (isinstance(version, str) and _SEMVER_RE.match(version)):
            return []
        if "" in (model, message_id, request_id, line.get("sessionId")):
            return []
        usage = message["usage"]
        cache_split = usage.get("cache_creation")
        record: dict[str, Any] = {
            "timestamp": timestamp,
            "session": session,
            "meta": meta,
            "model": model if isinstance(model, str) else "",
            "message_id": message_id if isinstance(message_id, str) else "",
            "request_id": request_id if isinstance(request_id, str) else "",
            "input_tokens": _tokens(usage.get("input_tokens")),
            "output_tokens": _tokens(usage.get("output_tokens")),
            "cache_creation_tokens": _tokens(usage.get("cache_creation_input_tokens")),
            "cache_read_tokens": _tokens(usage.get("cache_read_input_tokens")),
            "is_sidechain": sidechain,
            "complete": message.get("stop_reason") is not None,
        }
        if isinstance(cache_split, dict):
            record["cache_creation_5m_tokens"] = _tokens(
                cache_split.get("ephemeral_5m_input_tokens")
            )
            record["cache_creation_1h_tokens"] = _tokens(
                cache_split.get("ephemeral_1h_input_tokens")
            )
        if isinstance(usage.get("speed"), str):
            record["speed"] = usage["speed"]
        if isinstance(line.get("costUSD"), (int, float)) and not isinstance(line["costUSD"], bool):
            record["transcript_cost_usd"] = float(line["costUSD"])
        if record["message_id"] and record["request_id"]:
            key = f"{record['message_id']}:{record['request_id']}"
        elif record["message_id"]:
            key = record["message_id"]
        else:  # nothing to dedupe on: this line is its own response
            key = f"{info.path_key}@{position}"
        record["total"] = sum(
            record[k]
            for k in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
        )
        out: list[dict[str, Any]] = []
        for other in [k for k in cursor.pending if k != key]:  # another response began
            out.append(self._release(cursor, other, cursor.pending.pop(other)))
        if key in cursor.done:
            return out  # another line of a response already emitted complete
        held = cursor.pending.get(key)
        best = record if held is None or record["total"] > held["total"] else held
        if record["complete"]:
            cursor.pending.pop(key, None)
            out.append(self._release(cursor, key, best))
        else:
            cursor.pending[key] = best
        return out

    def _api_error(
        self,
        line: dict[str, Any],
        message: dict[str, Any],
        timestamp: str,
        session: str,
        meta: dict[str, Any],
        sidechain: bool,
    ) -> list[dict[str, Any]]:
        """An ``api_error`` for a transcript's API error line (``isApiErrorMessage``, or a
        ``<synthetic>`` reply whose text starts with "API Error"); the text itself is dropped.
        Its request id joins it with OTel's ``api_error`` of the same failure."""
        content = message.get("content")
        first = content[0] if isinstance(content, list) and content else {}
        text = first.get("text") if isinstance(first, dict) else content
        is_error = line.get("isApiErrorMessage") is True or (
            isinstance(text, str) and text.startswith("API Error")
        )
        if not is_error:
            return []
        request_id = line.get("requestId")
        payload: dict[str, Any] = {"success": False, "error_type": "api_error"}
        status = line.get("apiErrorStatus")
        if isinstance(status, int) and not isinstance(status, bool):
            payload["status_code"] = status
        if isinstance(request_id, str) and request_id:
            payload["request_id"] = request_id[:128]
            key = request_id
        else:
            key = f"{session}:{line.get('uuid')}:{timestamp}"
        if sidechain:
            payload["is_sidechain"] = True
        return [
            self._event(
                "api_error",
                mapping.shared_event_id("api_error", key),
                timestamp,
                session,
                meta,
                payload,
            )
        ]

    def _release(self, cursor: FileCursor, key: str, record: dict[str, Any]) -> dict[str, Any]:
        cursor.done.append(key)
        del cursor.done[:-MAX_DONE]
        return self._usage_event(key, record)

    def _usage_event(self, key: str, record: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            k: record[k]
            for k in (
                "model",
                "message_id",
                "request_id",
                "input_tokens",
                "output_tokens",
                "cache_creation_tokens",
                "cache_read_tokens",
                "cache_creation_5m_tokens",
                "cache_creation_1h_tokens",
                "speed",
                "transcript_cost_usd",
                "is_sidechain",
            )
            if k in record and record[k] != ""
        }
        payload["usage_final"] = bool(record.get("complete"))
        meta = dict(record.get("meta") or {})
        if record.get("model"):
            meta["model"] = record["model"]
        return self._event(
            "token_usage",
            mapping.shared_event_id("token_usage", key),
            record["timestamp"],
            record["session"],
            meta,
            payload,
        )

    def flush(self, cursor: FileCursor) -> list[dict[str, Any]]:
        """Emit every held response of a file (it is finished, or quiet for long enough)."""
        out = [self._release(cursor, key, record) for key, record in cursor.pending.items()]
        cursor.pending.clear()
        return out

    def _tool_uses(
        self,
        message: dict[str, Any],
        cursor: FileCursor,
        timestamp: str,
        session: str,
        meta: dict[str, Any],
        sidechain: bool,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        content = message.get("content")
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict) or block.get("type") != "tool_use":
                continue
            tool_use_id, name = block.get("id"), block.get("name")
            if not isinstance(tool_use_id, str) or not isinstance(name, str):
                continue
            facts = mapping.tool_input_facts(name, block.get("input"), self.secret)
            cursor.tools[tool_use_id] = [name, facts]
            while len(cursor.tools) > MAX_TOOLS:
                cursor.tools.pop(next(iter(cursor.tools)))
            payload = {"tool_name": name, "tool_use_id": tool_use_id, **facts}
            if sidechain:
                payload["is_sidechain"] = True
            tool_meta = dict(meta)
            if isinstance(message.get("model"), str) and message["model"] != "<synthetic>":
                tool_meta["model"] = message["model"]
            out.append(
                self._event(
                    "tool_use",
                    mapping.shared_event_id("tool_use", tool_use_id),
                    timestamp,
                    session,
                    tool_meta,
                    payload,
                )
            )
        return out

    def _user(
        self,
        line: dict[str, Any],
        message: dict[str, Any],
        cursor: FileCursor,
        timestamp: str,
        session: str,
        meta: dict[str, Any],
        sidechain: bool,
    ) -> list[dict[str, Any]]:
        content = message.get("content")
        prompt_id = line.get("promptId")
        if isinstance(content, str):
            if line.get("isMeta") or line.get("isCompactSummary") or sidechain:
                return []
            if content.lstrip().startswith(_NOT_PROMPTS):
                return []
            payload: dict[str, Any] = {"prompt_length": len(content)}
            if isinstance(prompt_id, str) and prompt_id:
                payload["prompt_id"] = prompt_id
                event_id = mapping.shared_event_id("user_prompt", prompt_id)
            else:
                uuid = line.get("uuid") if isinstance(line.get("uuid"), str) else timestamp
                event_id = events.derived_event_id(f"{NAMESPACE}.user_prompt", f"{session}:{uuid}")
            if isinstance(line.get("permissionMode"), str):
                payload["permission_mode"] = line["permissionMode"]
            return [self._event("user_prompt", event_id, timestamp, session, meta, payload)]
        out: list[dict[str, Any]] = []
        if not isinstance(content, list):
            return out
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        structured = line.get("toolUseResult")
        for block in results:
            tool_use_id = block.get("tool_use_id")
            if not isinstance(tool_use_id, str):
                continue
            failed = bool(block.get("is_error"))
            payload = {"tool_use_id": tool_use_id, "success": not failed}
            known = cursor.tools.get(tool_use_id)
            if known:
                payload["tool_name"] = known[0]
                payload.update(known[1])
            if failed:
                text = block.get("content")
                payload["error_type"] = mapping.error_type(
                    text if isinstance(text, str) else structured
                )
            elif len(results) == 1:
                payload.update(mapping.tool_response_facts(structured))
            if isinstance(prompt_id, str) and prompt_id:
                payload["prompt_id"] = prompt_id
            if sidechain:
                payload["is_sidechain"] = True
            out.append(
                self._event(
                    "tool_result",
                    mapping.shared_event_id("tool_result", tool_use_id),
                    timestamp,
                    session,
                    meta,
                    payload,
                )
            )
        return out

    def _compaction(
        self, line: dict[str, Any], timestamp: str, session: str, meta: dict[str, Any]
    ) -> dict[str, Any]:
        info = line.get("compactMetadata")
        info = info if isinstance(info, dict) else {}
        payload: dict[str, Any] = {"phase": "boundary"}
        if isinstance(info.get("trigger"), str):
            payload["trigger"] = info["trigger"]
        for source, target in (
            ("preTokens", "pre_tokens"),
            ("postTokens", "post_tokens"),
            ("durationMs", "duration_ms"),
        ):
            if isinstance(info.get(source), int):
                payload[target] = info[source]
        uuid = line.get("uuid") if isinstance(line.get("uuid"), str) else timestamp
        return self._event(
            "compaction",
            events.derived_event_id(f"{NAMESPACE}.compaction", f"{session}:{uuid}"),
            timestamp,
            session,
            meta,
            payload,
        )

    def session_end(self, cursor: FileCursor, info: FileInfo, offset: int) -> dict[str, Any] | None:
        """The end of a session whose main file went quiet (keyed by where the file stood, so a
        resumed session that goes quiet again ends again, and a re-read adds nothing)."""
        if info.is_subagent or not cursor.session_started or not cursor.last_timestamp:
            return None
        session = cursor.session_id or info.fallback_session
        return self._event(
            "session_end",
            events.derived_event_id(f"{NAMESPACE}.session_end", f"{session}:{offset}"),
            cursor.last_timestamp,
            session,
            {},
            {"reason": "transcript_idle"},
        )
