"""OTLP export requests -> Blueplane envelopes: decoding, privacy, and metric temporality.

The receiver (``otlp.py``) only speaks HTTP; everything about what an OTLP body means lives here
so it can be tested without a socket. Both wire forms are normalised to the OTLP/JSON shape
(lowerCamelCase keys, attribute ``{"key", "value": {"stringValue": ...}}``): protobuf bodies are
decoded with ``opentelemetry-proto`` and turned into that shape, so one mapper serves both.

Facts from the real client (formats.md section 3): Claude Code 2.1.197 sends numbers as strings
on some attributes (``prompt_length:"5"``, ``success:"true"``) and as JSON numbers on others, so
every attribute is coerced by name. Its ``event.sequence`` restarts when a session is resumed, so
a log record's identity is session + sequence + event name + time, never sequence alone.

Privacy: the prompt, response, error text, tool input and tool parameters may be present (the
user can switch them on in Claude Code); they are never copied. Known events take an explicit
list of keys; unknown events keep only numbers and short strings of non-private keys.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from blueplane_capture.claude_code_mapping import shared_event_id
from blueplane_core import allowlist, events, paths, privacy

log = logging.getLogger("blueplane.capture.otlp")

LOGS = "logs"
METRICS = "metrics"
TRACES = "traces"

#: Attribute keys never kept, whatever the event (identity of the account, free text).
_DROPPED_KEYS = frozenset(
    {
        "user.email",
        "user.account_uuid",
        "user.account_id",
        "prompt",
        "response",
        "error",
        "tool_input",
        "tool_parameters",
        "tool_output",
        "tool_result",
        "api_request_body",
        "api_response_body",
        "body",
        "full_command",
        "bash_command",
        "description",
        "error_message",
        "stack",
        "exception.message",
        "exception.stacktrace",
    }
)

#: Anthropic API error classes by HTTP status (public API docs), so api_error carries the same
#: short ``error_type`` a transcript would, without the error text.
_API_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_EDIT_TOOLS = frozenset({"Edit", "Write", "NotebookEdit", "MultiEdit"})
#: event types that Claude Code's hooks and transcripts also report, and the payload key that
#: identifies the fact in all three (``claude_code_mapping.shared_event_id``).
_SHARED_KEYS = {"user_prompt": "prompt_id", "tool_use": "tool_use_id", "tool_result": "tool_use_id"}


def _reason(exc: BaseException) -> str:
    """What a log line may say about a record that failed: our privacy refusals name keys;
    any other message could quote the record's values, so only its class is said."""
    if isinstance(exc, (allowlist.NotAllowed, privacy.PrivacyViolation)):
        return str(exc)[:200]
    return type(exc).__name__


class MalformedBody(ValueError):
    """The body is not an OTLP export request; the message is the reason sent back (HTTP 400)."""


# --------------------------------------------------------------------------------------------
# Decoding


def decode(signal: str, body: bytes, content_type: str) -> dict[str, Any]:
    """An export request in the OTLP/JSON shape, from a JSON or protobuf body."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(f"body is not JSON: {exc}") from None
    elif kind in ("application/x-protobuf", "application/protobuf"):
        request = _decode_protobuf(signal, body)
    else:
        raise MalformedBody(f"unsupported Content-Type {content_type!r}")
    if not isinstance(request, dict):
        raise MalformedBody("body must be a JSON object (an OTLP export request)")
    top = _TOP_KEYS[signal]
    resources = request.get(top[0], request.get(top[1], []))
    if not isinstance(resources, list):
        raise MalformedBody(f"{top[0]} must be a list")
    return {top[0]: resources}


_TOP_KEYS = {
    LOGS: ("resourceLogs", "resource_logs"),
    METRICS: ("resourceMetrics", "resource_metrics"),
    TRACES: ("resourceSpans", "resource_spans"),
}


def _decode_protobuf(signal: str, body: bytes) -> Any:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    kinds: dict[str, Any] = {
        LOGS: logs_service_pb2.ExportLogsServiceRequest,
        METRICS: metrics_service_pb2.ExportMetricsServiceRequest,
        TRACES: trace_service_pb2.ExportTraceServiceRequest,
    }
    message_type = kinds[signal]
    try:
        message = message_type.FromString(body)
    except DecodeError as exc:
        raise MalformedBody(f"body is not a protobuf {message_type.__name__}: {exc}") from None
    return json_format.MessageToDict(message, use_integers_for_enums=True)


def _get(obj: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake, default)
    return default if value is None else value


def any_value(value: Any) -> Any:
    """A Python value from an OTLP AnyValue (``{"stringValue": "x"}`` -> ``"x"``)."""
    if not isinstance(value, dict):
        return value
    for key, val in value.items():
        if key in (
            "stringValue",
            "string_value",
            "boolValue",
            "bool_value",
            "doubleValue",
            "double_value",
        ):
            return val
        if key in ("intValue", "int_value"):
            try:
                return int(val)
            except (TypeError, ValueError):
                return val
        if key in ("arrayValue", "array_value"):
            return [any_value(v) for v in (val or {}).get("values", [])]
        if key in ("kvlistValue", "kvlist_value"):
            return attributes((val or {}).get("values", []))
        if key in ("bytesValue", "bytes_value"):
            return None  # opaque bytes are never kept
    return None


def attributes(items: Any) -> dict[str, Any]:
    """``[{"key": k, "value": AnyValue}, ...]`` as a dict."""
    out: dict[str, Any] = {}
    if not isinstance(items, list):
        return out
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


# --------------------------------------------------------------------------------------------
# Coercion and privacy


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value)) if value.strip() else None
        except ValueError:
            return None
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, (int, float)):
        return bool(value)
    return None


def is_private(key: str) -> bool:
    """Attributes that identify the account or may hold text: never kept."""
    lowered = key.lower()
    return (
        lowered in _DROPPED_KEYS
        or key in privacy.FORBIDDEN_KEYS
        or lowered.startswith("user.account")
        or "email" in lowered
    )


def safe_attributes(attrs: dict[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    """Numbers and flags under a safe name, and the string attributes the allow-list names
    (``allowlist.OTEL_ATTRIBUTES``, each validated); everything else is left behind."""
    skipped = set(skip)
    kept = {k: v for k, v in attrs.items() if k not in skipped and not is_private(k)}
    cleaned = allowlist.ATTRIBUTES.coerce(kept)
    return cleaned if isinstance(cleaned, dict) else {}


def _put(payload: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "":
        payload[key] = value


# --------------------------------------------------------------------------------------------
# Logs -> events


def _timestamp(record: dict[str, Any], attrs: dict[str, Any]) -> tuple[str, int]:
    """(envelope timestamp, unix ms) from the record, never from capture time if avoidable."""
    for camel, snake in (
        ("timeUnixNano", "time_unix_nano"),
        ("observedTimeUnixNano", "observed_time_unix_nano"),
    ):
        nanos = as_int(_get(record, camel, snake))
        if nanos:
            ms = nanos // 1_000_000
            return events.format_timestamp(ms / 1000), ms
    stamp = attrs.get("event.timestamp")
    if isinstance(stamp, str):
        try:
            parsed = events.parse_timestamp(stamp.replace("Z", "+00:00"))
            ms = int(parsed.timestamp() * 1000)
            return events.format_timestamp(ms / 1000), ms
        except events.InvalidEvent:
            pass
    ms = int(time.time() * 1000)
    return events.format_timestamp(ms / 1000), ms


def _platform(resource: dict[str, Any]) -> str:
    return "claude_code" if resource.get("service.name") == "claude-code" else "otel"


def _session(attrs: dict[str, Any], resource: dict[str, Any]) -> str:
    """The session id as sent when it is an identifier, else a keyed hash of it."""
    session = attrs.get("session.id") or resource.get("session.id")
    if not session:
        return "unknown"
    text = str(session)
    if allowlist.SESSION_ID.check(text):
        return text
    return "h-" + privacy.keyed_hash(_secret(), text, "session")


_SECRET: list[bytes] = []


def _secret() -> bytes:
    """The installation's key, read once per process (keyed hashes of ids and series)."""
    if not _SECRET:
        _SECRET.append(privacy.load_secret())
    return _SECRET[0]


def _event_name(attrs: dict[str, Any]) -> str:
    """The event's name from ``event.name``, never from the body (which may be any text): a
    name that is not a short lowercase identifier becomes ``otel.other``."""
    name = attrs.get("event.name")
    if not isinstance(name, str) or not name:
        return "log"
    if name.startswith("claude_code."):
        name = name[len("claude_code.") :]
    return name if _is_safe_name(name) else "otel.other"


_SAFE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.")


def _is_safe_name(name: str) -> bool:
    return 0 < len(name) <= 64 and name[0].isalpha() and _SAFE_NAME_CHARS.issuperset(name)


def _json_attr(value: Any) -> dict[str, Any]:
    """A JSON-object attribute sent as a string (``tool_parameters``), or {}."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _map_log(name: str, a: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(event_type, payload) for one Claude Code log event; unknown ones become ``generic``."""
    p: dict[str, Any] = {}
    _put(p, "prompt_id", a.get("prompt.id"))
    if name == "user_prompt":
        _put(p, "prompt_length", as_int(a.get("prompt_length")))
        _put(p, "command_source", a.get("command_source"))
        return "user_prompt", p  # the ``prompt`` attribute is never read
    if name in ("api_request", "api_error", "assistant_response"):
        for key in ("request_id", "model", "query_source", "speed", "effort"):
            _put(p, key, a.get(key))
        _put(p, "duration_ms", as_int(a.get("duration_ms")))
        _put(p, "agent_name", a.get("agent.name"))
    if name == "api_request":
        for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
            _put(p, key, as_int(a.get(key)))
        _put(p, "cost_usd", as_float(a.get("cost_usd")))
        return "api_request", p
    if name == "api_error":
        status = as_int(a.get("status_code"))
        _put(p, "status_code", status)
        _put(p, "attempt", as_int(a.get("attempt")))
        given = a.get("error_type")
        if isinstance(given, str) and given and len(given) <= 64:
            p["error_type"] = given
        elif status:
            p["error_type"] = _API_ERROR_TYPES.get(status, f"http_{status}")
        else:
            p["error_type"] = "error"
        p["success"] = False
        return "api_error", p
    if name == "assistant_response":
        _put(p, "response_length", as_int(a.get("response_length")))
        return "assistant_response", p
    if name in ("tool_result", "tool_decision"):
        _put(p, "tool_name", a.get("tool_name"))
        _put(p, "tool_use_id", a.get("tool_use_id"))
        params = _json_attr(a.get("tool_parameters"))
        command = params.get("full_command") or params.get("bash_command")
        p.update(privacy.program_facts(command if isinstance(command, str) else None, _secret()))
        tool_input = _json_attr(a.get("tool_input"))
        _put(p, "file_extension", privacy.file_extension(tool_input.get("file_path")))
    if name == "tool_result":
        _put(p, "success", as_bool(a.get("success")))
        _put(p, "duration_ms", as_int(a.get("duration_ms")))
        error_type = a.get("error_type")
        if isinstance(error_type, str) and len(error_type) <= 64:
            _put(p, "error_type", error_type)
        for key in ("tool_input_size_bytes", "tool_result_size_bytes"):
            _put(p, key, as_int(a.get(key)))
        return "tool_result", p
    if name == "tool_decision":
        _put(p, "decision", a.get("decision"))
        _put(p, "decision_source", a.get("decision_source") or a.get("source"))
        # An edit proposal accepted or rejected is what acceptance rates count; a decision on any
        # other tool is the agent asking to run it (before it runs), i.e. ``tool_use``.
        return ("edit_decision" if a.get("tool_name") in _EDIT_TOOLS else "tool_use"), p
    if name == "subagent_completed":
        _put(p, "agent_type", a.get("agent_type"))
        _put(p, "model", a.get("model"))
        for key in ("duration_ms", "total_tokens", "total_tool_uses"):
            _put(p, key, as_int(a.get(key)))
        _put(p, "is_async", as_bool(a.get("is_async")))
        p["is_sidechain"] = True
        return "subagent_stop", p
    if name == "compaction":
        _put(p, "trigger", a.get("trigger"))
        _put(p, "success", as_bool(a.get("success")))
        for key in ("duration_ms", "pre_tokens", "post_tokens"):
            _put(p, key, as_int(a.get(key)))
        return "compaction", p
    p = {"original_type": name}
    p["attributes"] = safe_attributes(
        a, skip=("session.id", "user.id", "event.name", "event.timestamp", "event.sequence")
    )
    return "generic", p


@dataclass
class Mapped:
    """Events built from one request, plus what was skipped (counted and logged)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    state_updates: dict[str, dict[str, int | float]] = field(default_factory=dict)


def _resources(request: dict[str, Any], top: str, snake: str) -> Iterator[dict[str, Any]]:
    for item in request.get(top) or request.get(snake) or []:
        if isinstance(item, dict):
            yield item


def log_events(request: dict[str, Any]) -> Mapped:
    """Envelopes for every log record of an ExportLogsServiceRequest."""
    out = Mapped()
    for r_index, resource_logs in enumerate(_resources(request, "resourceLogs", "resource_logs")):
        resource = attributes((resource_logs.get("resource") or {}).get("attributes"))
        platform = _platform(resource)
        version = resource.get("service.version")
        scopes = _get(resource_logs, "scopeLogs", "scope_logs", [])
        for s_index, scope_logs in enumerate(scopes if isinstance(scopes, list) else []):
            records = _get(scope_logs, "logRecords", "log_records", [])
            for l_index, record in enumerate(records if isinstance(records, list) else []):
                where = f"resourceLogs[{r_index}].scopeLogs[{s_index}].logRecords[{l_index}]"
                try:
                    out.events.append(_log_event(record, resource, platform, version))
                except (TypeError, ValueError, AttributeError) as exc:
                    out.skipped += 1
                    log.warning("skipped log record at %s: %s", where, _reason(exc))
    return out


def _log_event(
    record: dict[str, Any], resource: dict[str, Any], platform: str, version: Any
) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise TypeError("log record is not an object")
    attrs = attributes(record.get("attributes"))
    name = _event_name(attrs)
    timestamp, unix_ms = _timestamp(record, attrs)
    session = _session(attrs, resource)
    event_type, payload = _map_log(name, attrs)
    sequence = attrs.get("event.sequence")
    time_ns = _get(record, "timeUnixNano", "time_unix_nano", "")
    if sequence is not None and session != "unknown":
        key = f"{session}\x00{sequence}\x00{name}\x00{time_ns}"
    else:
        # keyed: an id derived from the record's bytes must not be a guessable hash of its text
        key = privacy.keyed_hash(
            _secret(), orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode(), "otlp-log"
        )
    event_id = events.derived_event_id("otlp-log", key, unix_ms)
    shared_key = payload.get(_SHARED_KEYS.get(event_type, ""))
    if platform == "claude_code" and isinstance(shared_key, str) and shared_key:
        # the same fact as the hook's / transcript's copy: one id, stored once (docs/events.md)
        event_id = shared_event_id(event_type, shared_key)
    metadata: dict[str, Any] = {}
    _put(metadata, "client_version", version if isinstance(version, str) else None)
    _put(metadata, "model", attrs.get("model") if isinstance(attrs.get("model"), str) else None)
    return events.make_event(
        event_type=event_type,
        platform=platform,
        source="otlp",
        session_id=session,
        payload=payload,
        metadata=metadata,
        hook_type=name[:100],
        event_id=event_id,
        timestamp=timestamp,
    )


# --------------------------------------------------------------------------------------------
# Metrics -> events


class CumulativeState:
    """The last value of every cumulative series, persisted so a restart does not double count.

    OTLP sums come as DELTA (each export carries the increment; Claude Code's default) or
    CUMULATIVE (each export carries the running total since ``startTimeUnixNano``). A cumulative
    point becomes an event holding the increment since the previous point of the same series.
    The state is written (tmp + rename) only after the events of a request are on the bus, so a
    request answered 503 leaves it untouched and the retried export is counted once.
    """

    #: series not seen for this long are forgotten (their process is long gone)
    MAX_AGE_NS = 30 * 24 * 3600 * 1_000_000_000

    def __init__(self, file: Path | None = None) -> None:
        self.file = file or paths.state_dir() / "otlp_cumulative.json"
        self.lock = threading.Lock()
        self.series: dict[str, dict[str, int | float]] = {}
        try:
            loaded = orjson.loads(self.file.read_bytes())
            if isinstance(loaded, dict):
                self.series = loaded
        except FileNotFoundError:
            pass
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning(
                "ignoring unreadable cumulative state %s: %s", self.file.name, type(exc).__name__
            )

    def increment(
        self,
        key: str,
        start_ns: int,
        time_ns: int,
        value: float,
        monotonic: bool,
        pending: dict[str, dict[str, int | float]],
    ) -> float | None:
        """The increment since the last point of ``key`` (None: already counted)."""
        prev = pending.get(key) or self.series.get(key)
        pending[key] = {"s": start_ns, "t": time_ns, "v": value}
        if prev is None or prev.get("s") != start_ns:
            return value  # a series we never saw, or one that restarted: all of it is new
        if time_ns <= prev.get("t", 0):
            pending[key] = prev
            return None  # a retried or out-of-order export
        delta = value - float(prev.get("v", 0.0))
        if monotonic and delta < 0:
            return value  # a reset without a new start time
        return delta

    def commit(self, updates: dict[str, dict[str, int | float]]) -> None:
        if not updates:
            return
        self.series.update(updates)
        newest = max(int(entry.get("t", 0)) for entry in self.series.values())
        self.series = {
            key: entry
            for key, entry in self.series.items()
            if newest - int(entry.get("t", 0)) <= self.MAX_AGE_NS
        }
        paths.write_private(self.file, orjson.dumps(self.series))


_DELTA, _CUMULATIVE = 1, 2


def metric_events(request: dict[str, Any], state: CumulativeState) -> Mapped:
    """Envelopes (``metric``) for every data point; cumulative points become increments.

    Call with ``state.lock`` held, and ``state.commit(result.state_updates)`` once the events
    are on the bus.
    """
    out = Mapped()
    resources = _resources(request, "resourceMetrics", "resource_metrics")
    for r_index, resource_metrics in enumerate(resources):
        resource = attributes((resource_metrics.get("resource") or {}).get("attributes"))
        resource_id = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode()
        scopes = _get(resource_metrics, "scopeMetrics", "scope_metrics", [])
        for s_index, scope_metrics in enumerate(scopes if isinstance(scopes, list) else []):
            scope_name = str((scope_metrics.get("scope") or {}).get("name", ""))
            for m_index, metric in enumerate(scope_metrics.get("metrics") or []):
                where = f"resourceMetrics[{r_index}].scopeMetrics[{s_index}].metrics[{m_index}]"
                try:
                    _metric(metric, resource, f"{resource_id}\x00{scope_name}", state, out)
                except (TypeError, ValueError, AttributeError, KeyError) as exc:
                    out.skipped += 1
                    log.warning("skipped metric at %s: %s", where, _reason(exc))
    return out


def _metric(
    metric: dict[str, Any],
    resource: dict[str, Any],
    origin: str,
    state: CumulativeState,
    out: Mapped,
) -> None:
    name = metric["name"]
    if not isinstance(name, str) or not name:
        raise ValueError("metric without a name")
    name = name if _is_safe_name(name) else "otel.other"
    unit = str(metric.get("unit") or "")
    if "sum" in metric:
        data, kind = metric["sum"], "sum"
    elif "gauge" in metric:
        data, kind = metric["gauge"], "gauge"
    elif "histogram" in metric:
        data, kind = metric["histogram"], "histogram"
    else:
        raise ValueError(f"metric {name!r} has no sum, gauge or histogram")
    temporality = as_int(_get(data, "aggregationTemporality", "aggregation_temporality", 0))
    monotonic = bool(_get(data, "isMonotonic", "is_monotonic", False))
    points = _get(data, "dataPoints", "data_points", [])
    for point in points if isinstance(points, list) else []:
        attrs = attributes(point.get("attributes"))
        start_ns = as_int(_get(point, "startTimeUnixNano", "start_time_unix_nano", 0)) or 0
        time_ns = as_int(_get(point, "timeUnixNano", "time_unix_nano", 0)) or 0
        if kind == "histogram":
            raw = as_float(point.get("sum"))
            count = as_int(point.get("count"))
        else:
            raw = as_float(_get(point, "asDouble", "as_double"))
            if raw is None:
                raw = as_float(_get(point, "asInt", "as_int"))
            count = None
        if raw is None:
            raise ValueError(f"data point of {name!r} has no value")
        identity = orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode()
        # keyed: the series id is kept in the state file and must not be a guessable hash
        series = privacy.keyed_hash(_secret(), f"{origin}\x00{name}\x00{identity}", "series")
        value: float | None = raw
        if kind != "gauge" and temporality == _CUMULATIVE:
            value = state.increment(series, start_ns, time_ns, raw, monotonic, out.state_updates)
            if count is not None:
                counted = state.increment(
                    series + ":count", start_ns, time_ns, float(count), True, out.state_updates
                )
                count = int(counted) if counted is not None else None
            if value is None or (value == 0 and not count):
                continue  # already counted, or nothing happened in this interval
        unix_ms = time_ns // 1_000_000 if time_ns else int(time.time() * 1000)
        payload: dict[str, Any] = {
            "metric_name": name,
            "value": value,
            "unit": unit,
            "temporality": {_DELTA: "delta", _CUMULATIVE: "cumulative"}.get(temporality or 0, kind),
            "attributes": safe_attributes(attrs, skip=("session.id", "user.id")),
        }
        if count is not None:
            payload["count"] = count
        if isinstance(attrs.get("model"), str):
            payload["model"] = attrs["model"]
        metadata: dict[str, Any] = {}
        _put(metadata, "client_version", resource.get("service.version"))
        out.events.append(
            events.make_event(
                event_type="metric",
                platform=_platform(resource),
                source="otlp",
                session_id=_session(attrs, resource),
                payload=payload,
                metadata=metadata,
                hook_type=name[:100],
                event_id=events.derived_event_id(
                    "otlp-metric", f"{series}\x00{start_ns}\x00{time_ns}", unix_ms
                ),
                timestamp=events.format_timestamp(unix_ms / 1000),
            )
        )
