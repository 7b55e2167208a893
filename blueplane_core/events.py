"""The event envelope (schema 1): its fields, the closed list of event types, ids, validation.

Every capture process builds events with :func:`make_event` and every consumer checks them with
:func:`validate`. Validation is a handful of dict and type checks so that it is cheap on the
ingest hot path. Standard library only: the hook imports this module.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from blueplane_core import allowlist

SCHEMA_VERSION = 1

#: The closed list of event types, each with what it means. Capture code maps every platform
#: event onto one of these; what it does not recognise becomes ``generic`` (never an error).
EVENT_TYPES: dict[str, str] = {
    "session_start": "a session began, resumed, was cleared or compacted",
    "session_end": "a session ended",
    "user_prompt": "the user submitted a prompt (its length, never its text)",
    "assistant_response": "the assistant produced a reply or finished a turn",
    "tool_use": "the agent asked to run a tool (before it runs)",
    "tool_result": "a tool finished, successfully or not, with its duration",
    "tool_batch": "a batch of tool calls finished (Claude Code PostToolBatch)",
    "permission_request": "the user was asked to allow a tool",
    "edit_decision": "an edit proposal was accepted or rejected",
    "file_edit": "a file was edited (extension and line counts only)",
    "file_read": "a file was read (extension only)",
    "shell": "a shell command ran (program name only)",
    "mcp_call": "an MCP tool was called",
    "subagent_start": "a subagent started",
    "subagent_stop": "a subagent finished",
    "compaction": "the conversation was compacted",
    "token_usage": "one API response's token counts",
    "api_request": "one API request as the client's telemetry reports it (tokens, cost, time)",
    "api_error": "an API request failed",
    "notification": "the client showed the user a notification",
    "agent_thought": "the agent spent time thinking (duration only)",
    "commit": "a git commit was made (hashed ids and counts only)",
    "metric": "one data point of a client's own metric (OpenTelemetry)",
    "usage_report": "an imported daily usage aggregate (Copilot)",
    "decision": "the assistant logged a decision through the MCP server",
    "outcome": "the assistant logged an outcome through the MCP server",
    "generic": "an event the capture did not recognise, kept as it came (sanitized)",
}

#: Where an event was captured.
SOURCES: frozenset[str] = frozenset(
    {"hook", "transcript", "database", "otlp", "git_hook", "import", "mcp", "synthetic"}
)

#: Priority of an event type for the workers: 1 user prompt / decisions .. 5 debug.
PRIORITY: dict[str, int] = {
    "user_prompt": 1,
    "edit_decision": 1,
    "decision": 1,
    "outcome": 1,
    "tool_use": 2,
    "tool_result": 2,
    "tool_batch": 2,
    "permission_request": 2,
    "assistant_response": 2,
    "file_edit": 2,
    "file_read": 2,
    "shell": 2,
    "mcp_call": 2,
    "token_usage": 2,
    "api_request": 2,
    "commit": 2,
    "usage_report": 2,
    "api_error": 3,
    "metric": 3,
    "agent_thought": 3,
    "session_start": 4,
    "session_end": 4,
    "subagent_start": 4,
    "subagent_stop": 4,
    "compaction": 4,
    "notification": 5,
    "generic": 5,
}

#: The privacy category of each event type, so that a whole category can be switched off in the
#: config (``privacy.disabled_categories``). Capture drops events of a disabled category.
CATEGORY: dict[str, str] = {
    "user_prompt": "prompts",
    "assistant_response": "responses",
    "agent_thought": "responses",
    "tool_use": "tools",
    "tool_result": "tools",
    "tool_batch": "tools",
    "permission_request": "tools",
    "mcp_call": "tools",
    "edit_decision": "edits",
    "file_edit": "edits",
    "file_read": "files",
    "shell": "shell",
    "commit": "git",
    "token_usage": "usage",
    "api_request": "usage",
    "api_error": "usage",
    "metric": "usage",
    "usage_report": "usage",
    "session_start": "sessions",
    "session_end": "sessions",
    "subagent_start": "sessions",
    "subagent_stop": "sessions",
    "compaction": "sessions",
    "notification": "sessions",
    "decision": "tracking",
    "outcome": "tracking",
    "generic": "other",
}

#: Envelope fields and the types they must have.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "event_id": str,
    "timestamp": str,
    "platform": str,
    "source": str,
    "session_id": str,
    "event_type": str,
    "hook_type": (str, type(None)),
    "metadata": dict,
    "payload": dict,
}

#: The largest envelope, in bytes of JSON, that ingest accepts.
MAX_EVENT_BYTES = 256 * 1024

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PLATFORM_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_MAX_SESSION_ID = 256


class InvalidEvent(ValueError):
    """An envelope that breaks the contract; the message is the reason stored in the DLQ."""


_FIELD_NAMES = frozenset(FIELDS)
_STR_FIELDS = ("event_id", "timestamp", "platform", "source", "session_id", "event_type")


def validate(event: Any) -> dict[str, Any]:
    """Return ``event`` unchanged if it is a valid schema-1 envelope, else raise InvalidEvent.

    The common case (a valid event) costs a few dict look-ups; the slow path only runs to
    explain what is wrong.
    """
    if type(event) is not dict or event.keys() != _FIELD_NAMES:
        _explain_shape(event)
    for name in _STR_FIELDS:
        if type(event[name]) is not str:
            raise InvalidEvent(f"field {name!r} has type {type(event[name]).__name__}")
    hook_type = event["hook_type"]
    if hook_type is not None and type(hook_type) is not str:
        raise InvalidEvent(f"field 'hook_type' has type {type(hook_type).__name__}")
    if not isinstance(event["metadata"], dict) or not isinstance(event["payload"], dict):
        raise InvalidEvent("fields 'metadata' and 'payload' must be JSON objects")
    if event["schema"] != SCHEMA_VERSION or type(event["schema"]) is not int:
        raise InvalidEvent(f"unsupported schema {event['schema']!r} (expected {SCHEMA_VERSION})")
    if event["event_type"] not in EVENT_TYPES:
        raise InvalidEvent(f"unknown event_type {event['event_type']!r}")
    if event["source"] not in SOURCES:
        raise InvalidEvent(f"unknown source {event['source']!r}")
    if not _UUID_RE.match(event["event_id"]):
        raise InvalidEvent(f"event_id {event['event_id']!r} is not a lowercase UUID")
    if not _PLATFORM_RE.match(event["platform"]):
        raise InvalidEvent(f"platform {event['platform']!r} is not a short lowercase name")
    session_id = event["session_id"]
    if not session_id or len(session_id) > _MAX_SESSION_ID:
        raise InvalidEvent("session_id must be 1 to 256 characters")
    parse_timestamp(event["timestamp"])
    return event


def _explain_shape(event: Any) -> None:
    if not isinstance(event, dict):
        raise InvalidEvent(f"envelope must be a JSON object, got {type(event).__name__}")
    missing = [f for f in FIELDS if f not in event]
    if missing:
        raise InvalidEvent(f"missing field(s): {', '.join(missing)}")
    extra = sorted(k for k in event if k not in FIELDS)
    raise InvalidEvent(f"unexpected field(s): {', '.join(extra)}")


def parse_timestamp(value: str) -> datetime:
    """Parse an envelope timestamp (UTC ISO-8601) or raise InvalidEvent."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"timestamp {value!r} is not ISO-8601") from None
    if parsed.tzinfo is None or parsed.utcoffset() != UTC.utcoffset(None):
        raise InvalidEvent(f"timestamp {value!r} is not UTC")
    return parsed


def format_timestamp(unix_seconds: float | None = None) -> str:
    """UTC ISO-8601 with milliseconds and a ``Z``, as the envelope wants it."""
    when = time.time() if unix_seconds is None else unix_seconds
    ms = int(round(when * 1000))
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def new_event_id(unix_ms: int | None = None) -> str:
    """A fresh time-ordered id (UUIDv7) for an event that happens once, such as a hook fire.

    Time-ordered ids land at the right edge of the UNIQUE index, which keeps inserts cheap.
    """
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    return str(uuid.UUID(int=value))


def derived_event_id(namespace: str, record_key: str, unix_ms: int | None = None) -> str:
    """A deterministic id (UUIDv8) for a fact read from a record that may be read again.

    The same ``namespace`` and ``record_key`` always give the same id, so re-reading a
    transcript or a database adds nothing. When the record has a stable time, pass it as
    ``unix_ms``: it becomes the id's prefix, so derived ids are time-ordered like UUIDv7.
    """
    digest = hashlib.sha256(f"{namespace}\x00{record_key}".encode()).digest()
    rand = int.from_bytes(digest[:16], "big")
    if unix_ms is None:
        prefix = rand >> 80
    else:
        prefix = unix_ms & 0xFFFF_FFFF_FFFF
    value = prefix << 80 | 0x8 << 76 | (rand >> 64 & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    return str(uuid.UUID(int=value))


_SCALARS = (str, int, float, bool)


class Checked(dict[str, Any]):
    """A payload or metadata that :func:`allowlist.clean` produced for ``event_type`` ("" for
    metadata, whose keys are the same for every type), holding scalars only, which refuses any
    change afterwards. Because it is allow-listed by construction and cannot change, the Emitter
    (the gate) verifies it by its type instead of checking every key and value a second time;
    a plain dict (an event built by hand, a broken mapping) is still checked in full."""

    __slots__ = ("event_type",)

    def __init__(self, items: dict[str, Any], event_type: str) -> None:
        dict.__init__(self, items)
        self.event_type = event_type

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a cleaned payload or metadata cannot change: build a new event")

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = pop = popitem = clear = setdefault = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        """Copies and pickles are built whole (dict's way sets items one by one, refused)."""
        return (Checked, (dict(self), self.event_type))

    def without(self, key: str) -> Checked:
        """A copy without ``key`` (leaving a key out keeps it allow-listed)."""
        return Checked({k: v for k, v in self.items() if k != key}, self.event_type)


def checked(items: dict[str, Any], event_type: str) -> dict[str, Any]:
    """``items`` (already cleaned for ``event_type``) as :class:`Checked` when every value is a
    scalar (a list or map could still change inside), else unchanged."""
    for value in items.values():
        if not isinstance(value, _SCALARS):
            return items
    return Checked(items, event_type)


def make_event(
    *,
    event_type: str,
    platform: str,
    source: str,
    session_id: str,
    payload: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    hook_type: str | None = None,
    event_id: str | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """Build a schema-1 envelope; the id defaults to a fresh UUIDv7 and the time to now.

    Payload and metadata go through the privacy allow-list (``allowlist.clean``): a key it does
    not list raises ``allowlist.NotAllowed``, a value not of its key's kind is coerced or left
    out. This is the only way capture code builds an event. They come back as :class:`Checked`
    (unchangeable) where they hold scalars only; a ``metadata`` that is already ``Checked`` (an
    earlier event's, reused) is not cleaned again.
    """
    if type(metadata) is Checked:
        payload, _ = allowlist.clean(event_type, payload or {}, {})
    else:
        payload, metadata = allowlist.clean(event_type, payload or {}, metadata or {})
        metadata = checked(metadata, "")
    payload = checked(payload, event_type)
    return {
        "schema": SCHEMA_VERSION,
        "event_id": event_id or new_event_id(),
        "timestamp": timestamp or format_timestamp(),
        "platform": platform,
        "source": source,
        "session_id": session_id,
        "event_type": event_type,
        "hook_type": hook_type,
        "metadata": metadata,
        "payload": payload,
    }


def summary(event: dict[str, Any]) -> tuple[str, str, int]:
    """(platform, tool name or "", tokens) of a valid event: its CDC summary for live views.

    Only names and numbers the event already carries under the privacy allow-lists, never text.
    Tokens count input, output, cache write and cache read, as the metrics worker does (5 m and
    1 h cache writes when the event splits them, else the undivided cache-creation figure).
    """
    payload = event.get("payload") or {}
    tool = payload.get("tool_name")

    def tokens(key: str) -> int:
        value = payload.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    cache_write = tokens("cache_creation_5m_tokens") + tokens("cache_creation_1h_tokens")
    total = (
        tokens("input_tokens")
        + tokens("output_tokens")
        + (cache_write or tokens("cache_creation_tokens"))
        + tokens("cache_read_tokens")
    )
    return str(event.get("platform") or ""), tool if isinstance(tool, str) else "", total
