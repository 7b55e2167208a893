"""The privacy allow-list: for every event type, the exact keys it may carry and their kinds.

This module (with :mod:`blueplane_core.allowlist_core`, see below) is the one place that says
what Blueplane keeps. Capture builds every payload through :func:`clean` (unknown keys are a
programming error and raise; values that are not of the key's kind are coerced to ``other`` or
dropped), and ingest checks every event with :func:`violation`
and dead-letters what breaks it, naming the key and never its value. Anything not listed here
is never stored, whatever a client sends: that is what makes the promise "no code, prompts,
paths, secrets or free text" checkable (``blueplane privacy`` prints what a database holds, and
``tests/test_canaries.py`` proves it over every byte Blueplane keeps).

A value is one of a few kinds: a count, a length, a duration, a number, a flag, a keyed hash, a
value of a fixed set (enum), a short lowercase token, a bounded identifier (no spaces, no
slashes), a model name of a known family, a version, a file extension, a day, a well-known
program, or a list / map of those. Free text has no kind, so it cannot be stored.

The kinds, the tables of the event types the hooks emit, and :func:`clean` are in
:mod:`blueplane_core.allowlist_core`, the part a hook process loads (all of this module cost a
fire 0.4M instructions more). This module imports it and adds the other event types and keys,
the OTel and Copilot kinds, and :func:`violation`. Each key and each event type is listed once,
in one of the two, and neither module has a copy of the other's code. Built on nothing but the
standard library's builtins (no ``re``).
"""

from blueplane_core.allowlist_core import (
    _PAYLOAD_KEYS,
    _REQUEST,
    _TOKEN_CHARS,
    _TOOL,
    _UPPER,
    ATTRIBUTE_KEY,
    COUNT,
    DAY,
    DECISION,
    DROP,
    EFFORT,
    ERROR_TYPE,
    FLAG,
    HASH,
    HOOK_TYPE,
    ID,
    KEYS,
    LENGTH,
    METADATA,
    MODEL,
    NAME,
    NUMBER,
    QUERY_SOURCE,
    SESSION_ID,
    SPEED,
    TOKEN,
    Kind,
    _chars,
    _is_number,
    _keys,
    allowed,
    enum,
)

# what capture and the hooks call, here as well: code outside the hook path names one module
from blueplane_core.allowlist_core import HOOK_NAME_KEYS as HOOK_NAME_KEYS
from blueplane_core.allowlist_core import PROGRAMS as PROGRAMS
from blueplane_core.allowlist_core import NotAllowed as NotAllowed
from blueplane_core.allowlist_core import clean as clean
from blueplane_core.allowlist_core import clean_event as clean_event
from blueplane_core.allowlist_core import hook_type as hook_type
from blueplane_core.allowlist_core import program_facts as program_facts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: Strings :func:`violation` saw pass, as (kind, string), and OTel attributes, as (name, string):
#: ingest meets the same session ids, names, versions and attribute values event after event,
#: and a set look-up costs a fraction of a check (the check took half the time before). Only
#: passes are kept, so a refused value is never held on to; a value is remembered with its
#: kind, so passing one kind says nothing about another. At most ``_PASSED_MAX`` (then the set
#: starts again: values unique to one event, such as request ids, must not grow it).
_PASSED: "set[tuple[Any, str]]" = set()
_PASSED_MAX = 2048


def _remember(passed: "tuple[Any, str]") -> None:
    if len(_PASSED) >= _PASSED_MAX:
        _PASSED.clear()
    _PASSED.add(passed)


def _passes(kind: Kind, value: "Any") -> bool:
    """``kind.check(value)``, remembered for strings that pass (see ``_PASSED``)."""
    if type(value) is not str:
        return kind.check(value)
    if (kind, value) in _PASSED:
        return True
    if not kind.check(value):
        return False
    _remember((kind, value))
    return True


#: Languages and editors Copilot (and the hooks) name: kept by name, anything else ``other``.
# fmt: off
LANGUAGES = frozenset(
    [
        "python", "javascript", "typescript", "typescriptreact", "javascriptreact", "java", "go",
        "rust", "ruby", "php", "c", "cpp", "csharp", "c#", "c++", "swift", "kotlin", "scala", "r",
        "dart", "lua", "perl", "shell", "shellscript", "bash", "powershell", "sql", "html", "css",
        "scss", "less", "sass", "json", "jsonc", "yaml", "toml", "xml", "markdown", "plaintext",
        "text", "dockerfile", "makefile", "terraform", "hcl", "graphql", "vue", "svelte",
        "elixir", "erlang", "haskell", "clojure", "fsharp", "ocaml", "julia", "matlab",
        "objective-c", "objective-cpp", "groovy", "vb", "zig", "nim", "solidity", "proto", "ini",
        "properties", "unknown", "others", "Plain text",
    ]
)
# fmt: on
# fmt: off
EDITORS = frozenset(
    [
        "vscode", "visualstudio", "jetbrains", "intellij", "pycharm", "webstorm", "goland",
        "rider", "clion", "phpstorm", "rubymine", "neovim", "vim", "emacs", "xcode", "eclipse",
        "copilot_chat_in_vscode", "github.com", "cli", "copilot_cli", "azure_data_studio",
        "unknown", "others",
    ]
)
# fmt: on

# --------------------------------------------------------------------------- OTel attributes

#: Attributes of OTel metric points and unknown log events kept as strings, each with its
#: kind; every other string attribute is dropped (numbers and flags are kept under any safe
#: name). Resource attributes are not kept at all beyond ``RESOURCE`` (``otlp_mapping``).
OTEL_ATTRIBUTES: dict[str, Kind] = {
    "type": TOKEN,  # input/output/cacheRead/..., cli/user, added/removed
    "model": MODEL,
    "terminal.type": TOKEN,
    "decision": DECISION,
    "source": TOKEN,
    "tool_name": NAME,
    "language": enum("language", LANGUAGES),
    "start_type": TOKEN,
    "query_source": QUERY_SOURCE,
    "effort": EFFORT,
    "speed": SPEED,
    "agent.name": NAME,
    "agent.source": TOKEN,
    "span.type": TOKEN,
    "hook_event": NAME,
    "hook_type": TOKEN,
    "hook_source": NAME,
    "command_source": TOKEN,
    "command_name": TOKEN,
    "stop_reason": TOKEN,
    "trigger": TOKEN,
    "status": TOKEN,
    "error_type": ERROR_TYPE,
    "success": TOKEN,
}
# camelCase values such as ``cacheRead`` are tokens too
OTEL_ATTRIBUTES["type"] = _chars("token", _TOKEN_CHARS | frozenset(_UPPER), 40)


def _attribute(key: "Any", value: "Any") -> "Any":
    """What survives of one OTel attribute: numbers and flags under a safe name, allow-listed
    string attributes of their kind."""
    if not ATTRIBUTE_KEY.check(key):
        return DROP
    if _is_number(value) or isinstance(value, bool):
        return value
    kind = OTEL_ATTRIBUTES.get(key)
    if kind is None or not isinstance(value, str):
        return DROP
    return kind.coerce(value)


def _are_attributes(value: "Any") -> bool:
    if not isinstance(value, dict) or len(value) > 64:
        return False
    for key, item in value.items():  # one pass: ingest checks every OTel event's attributes
        if type(item) is str and (key, item) in _PASSED:
            continue
        kept = _attribute(key, item)
        if kept is DROP or kept != item:
            return False
        if type(item) is str:
            _remember((key, item))
    return True


def _as_attributes(value: "Any") -> "Any":
    if not isinstance(value, dict):
        return DROP
    out: dict[str, Any] = {}
    for key, item in value.items():
        kept = _attribute(key, item)
        if kept is not DROP and len(out) < 64:
            out[key] = kept
    return out


ATTRIBUTES = Kind("attributes (numbers and allow-listed names)", _are_attributes, _as_attributes)


#: Copilot record fields holding a name (kept when it is a known one), and fields never kept.
_COPILOT_NAME_KEYS = frozenset({"name", "language", "editor", "ide", "feature", "model", "surface"})
_COPILOT_DROP_KEYS = frozenset(
    {
        "repositories",
        "user_login",
        "user_id",
        "organization_id",
        "enterprise_id",
        "team_id",
        "login",
    }
)
_COPILOT_FIELD = _chars("field", _TOKEN_CHARS, 64)


def _copilot_name_ok(value: str) -> bool:
    lowered = value.lower()
    return (
        lowered in LANGUAGES
        or lowered in EDITORS
        or value in _COPILOT_FEATURES
        or MODEL.check(value)
    )


def _copilot_clean(value: "Any", key: str, depth: int) -> "Any":
    """A Copilot day record: documented field names over numbers, flags and names of
    languages, editors, features and model families; nothing else (no repository names, no
    custom model names, no logins)."""
    if depth > 8:
        return DROP
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not _COPILOT_FIELD.check(k) or k in _COPILOT_DROP_KEYS:
                continue
            kept = _copilot_clean(v, k, depth + 1)
            if kept is not DROP:
                out[k] = kept
        return out
    if isinstance(value, list):
        items = [_copilot_clean(v, key, depth + 1) for v in value[:512]]
        return [v for v in items if v is not DROP]
    if _is_number(value) or isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and key in _COPILOT_NAME_KEYS:
        return value if _copilot_name_ok(value) else "other"
    if isinstance(value, str) and key in ("day", "date", "report_day") and DAY.check(value):
        return value
    return DROP


# fmt: off
_COPILOT_FEATURES = frozenset(
    [
        "code_completion", "chat_panel", "chat_panel_ask_mode", "chat_panel_agent_mode",
        "chat_panel_edit_mode", "chat_panel_custom_mode", "chat_inline", "agent_edit",
        "copilot_cli", "code_review", "pull_request", "ask_mode", "agent_mode", "edit_mode",
        "inline_chat", "completions", "chat", "others", "unknown",
    ]
)
# fmt: on
COPILOT_TOTALS = Kind(
    "Copilot totals (numbers and fixed names)",
    lambda value: isinstance(value, dict) and _copilot_clean(value, "", 0) == value,
    lambda value: _copilot_clean(value, "", 0) if isinstance(value, dict) else DROP,
)

# ------------------------------------------------------------------------ keys by event type

#: The kinds of the keys only events other than the hooks' carry (``allowlist_core.KEYS``
#: has the rest).
KEYS.update(
    {
        "decision_id": ID,
        "diff_id": ID,
        "language": enum("language", LANGUAGES),
        "metric_name": NAME,
        "unit": enum(
            "unit",
            {
                "",
                "1",
                "tokens",
                "USD",
                "s",
                "ms",
                "us",
                "ns",
                "By",
                "KiBy",
                "MiBy",
                "count",
                "%",
                "{token}",
                "{tokens}",
                "{request}",
                "{session}",
                "{commit}",
                "{line}",
                "{lines}",
                "{call}",
                "{decision}",
                "{pull_request}",
                "lines",
                "requests",
                "sessions",
                "commits",
                "seconds",
                "milliseconds",
                "bytes",
                "percent",
            },
        ),
        "temporality": TOKEN,
        "report_kind": TOKEN,
        "category": TOKEN,
        "result": TOKEN,
        "org_hash": _chars("keyed hash", _TOKEN_CHARS, 24),  # a hash, or ``unscoped``
        "user_hash": HASH,
        "tests_passed": FLAG,
        "rationale_length": LENGTH,
        "code_block_idx": COUNT,
        "alternatives": COUNT,
        "confidence": NUMBER,
        "value": NUMBER,
        "count": COUNT,
        "attributes": ATTRIBUTES,
        # Copilot day records
        "day": DAY,
        "totals": COPILOT_TOTALS,
        "suggestions": NUMBER,
        "acceptances": NUMBER,
        "lines_suggested": NUMBER,
        "lines_accepted": NUMBER,
        "active_users": NUMBER,
        "engaged_users": NUMBER,
        "chat_turns": NUMBER,
        "chat_acceptances": NUMBER,
        "active_chat_users": NUMBER,
        "interactions": NUMBER,
    }
)

#: The event types hooks do not emit (``allowlist_core._PAYLOAD_KEYS`` has theirs).
_PAYLOAD_KEYS.update(
    {
        "edit_decision": _keys(
            *_TOOL,
            "decision",
            "decision_source",
            "composer_id",
            "code_block_idx",
            "generation_id",
            "bubble_id",
            "diff_id",
            "language",
        ),
        "shell": _keys(
            "tool_name", "program", "program_hash", "output_length", "generation_id", "duration_ms"
        ),
        "mcp_call": _keys(
            "tool_name",
            "mcp_server_hash",
            "input_length",
            "result_length",
            "generation_id",
            "duration_ms",
        ),
        "api_request": _keys(
            *_REQUEST,
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "cost_usd",
        ),
        "metric": _keys(
            "metric_name", "value", "unit", "temporality", "attributes", "count", "model"
        ),
        "usage_report": _keys(
            "report_kind",
            "day",
            "org_hash",
            "user_hash",
            "totals",
            "suggestions",
            "acceptances",
            "lines_suggested",
            "lines_accepted",
            "lines_removed",
            "active_users",
            "engaged_users",
            "chat_turns",
            "chat_acceptances",
            "active_chat_users",
            "interactions",
        ),
        "decision": _keys("category", "confidence", "alternatives", "rationale_length"),
        "outcome": _keys("result", "decision_id", "tests_passed", "summary_length"),
    }
)

if TYPE_CHECKING:
    #: event type -> payload key -> kind, for every event type (built on first use).
    PAYLOAD: dict[str, dict[str, Kind]]


def __getattr__(name: str) -> "Any":
    """``PAYLOAD`` (every event type's :func:`allowed` table), built when first asked for."""
    if name == "PAYLOAD":
        table = {event_type: allowed(event_type) for event_type in _PAYLOAD_KEYS}
        globals()["PAYLOAD"] = table
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def violation(event: "dict[str, Any]", verified: tuple[str, ...] = ()) -> str | None:
    """Why ``event`` (a valid envelope) may not be stored, or None. Names keys, never values.

    ``verified``: sections ("payload", "metadata") the caller knows to be clean, not checked
    again (the Emitter's ``events.Checked`` ones, allow-listed when made and unchangeable)."""
    event_type = event["event_type"]
    payload_kinds = allowed(event_type)
    if payload_kinds is None:
        return f"{event_type}: no allow-list for this event type"
    if not _passes(SESSION_ID, event["session_id"]):
        return "session_id is not a bounded identifier"
    hook_type = event["hook_type"]
    if hook_type is not None and not _passes(HOOK_TYPE, hook_type):
        return "hook_type is not a name"
    for section, given, kinds in (
        ("payload", event["payload"], payload_kinds),
        ("metadata", event["metadata"], METADATA),
    ):
        if section in verified:
            continue
        for key, value in given.items():
            kind = kinds.get(key)
            if kind is None:
                return f"{event_type}: {section} key {str(key)[:64]!r} is not on the allow-list"
            if not _passes(kind, value):
                return f"{event_type}: {section}.{key} is not a {kind.name}"
    return None
