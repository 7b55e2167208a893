"""The allow-list's kinds and the tables of the event types hooks emit, with :func:`clean`.

A hook process loads this module only, not :mod:`blueplane_core.allowlist`, which imports it and
adds the other event types and keys, the OTel and Copilot kinds and ingest's check
(``violation``): loading those cost a Cursor fire 0.4M instructions and 18 page faults, of the
3.5M and 160 it spends beyond the bare interpreter. Each key and each event type is listed in
exactly one of the two modules. :func:`allowed` loads the full module when it is asked for an
event type, or a key, that is not here, so its answer never depends on which module a process
imported first. See :mod:`blueplane_core.allowlist` for what the kinds mean.

Built on nothing but the standard library's builtins (no ``re``, no ``from __future__``).
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: what :meth:`Kind.coerce` returns for a value that must be left out (a bare object: a class
#: of its own, for a readable repr, cost a hook process 0.1M instructions)
DROP: "Any" = object()

#: ``math.isfinite`` without loading ``math`` (a shared library: a hook pays for the ``dlopen``)
_INF = float("inf")
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"
_HEX = frozenset("0123456789abcdef")
_TOKEN_CHARS = frozenset(_LOWER + _DIGITS + "_")
_ID_CHARS = frozenset(_LOWER + _UPPER + _DIGITS + "_.:@+-")
_NAME_CHARS = _ID_CHARS | frozenset("[]")
_ATTR_KEY_CHARS = frozenset(_LOWER + _UPPER + _DIGITS + "_.")
_EXT_CHARS = frozenset(_LOWER + _DIGITS + "_+-")
_VERSION_TAIL = frozenset(_LOWER + _UPPER + _DIGITS + ".-+")


def _is_number(value: "Any") -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (isinstance(value, int) or -_INF < value < _INF)  # finite (NaN compares False)
    )


class Kind:
    """A kind of value a key may hold: ``check(value)`` says whether a value is of it,
    ``coerce(value)`` what capture stores instead (the value itself when it is of the kind, or
    :data:`DROP`).

    One class holding plain functions, not a subclass per kind: the hook processes import this
    module on every fire, and a class statement costs several times a function's."""

    __slots__ = ("check", "coerce", "name")

    def __init__(
        self,
        name: str,
        check: "Callable[[Any], bool]",
        coerce: "Callable[[Any], Any] | None" = None,
    ) -> None:
        self.name = name
        self.check = check
        self.coerce = coerce or (lambda value: value if check(value) else DROP)


def _is_count(value: "Any") -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _as_count(value: "Any") -> "Any":
    if _is_count(value):
        return value
    if _is_number(value) and value >= 0:
        return int(value)
    return DROP


def _is_flag(value: "Any") -> bool:
    return isinstance(value, bool)


def _is_hash(value: "Any") -> bool:
    """A keyed hash (``privacy.keyed_hash``: 24 lowercase hex), or ``""`` for none."""
    return isinstance(value, str) and (value == "" or (len(value) == 24 and _HEX.issuperset(value)))


def _chars(name: str, chars: frozenset[str], limit: int) -> Kind:
    """A string of at most ``limit`` characters from ``chars``, starting with a letter/digit."""

    def check(value: "Any") -> bool:
        return (
            isinstance(value, str)
            and 0 < len(value) <= limit
            and (value[0].isascii() and value[0].isalnum())
            and chars.issuperset(value)
        )

    return Kind(name, check)


def enum(
    name: str,
    values: frozenset[str] | set[str],
    fallback: str = "other",
    also: "Callable[[str], bool] | None" = None,
) -> Kind:
    """A value of a fixed set (or one ``also`` admits); any other string is stored as
    ``fallback`` (or left out when there is none)."""
    allowed = frozenset(values) | ({fallback} if fallback else set())

    def check(value: "Any") -> bool:
        return isinstance(value, str) and (value in allowed or (also is not None and also(value)))

    def coerce(value: "Any") -> "Any":
        if check(value):
            return value
        return fallback if fallback and isinstance(value, str) else DROP

    return Kind(name, check, coerce)


#: the families a model name may start with (``claude-opus-4-8[1m]``, ``gpt-5``); a custom
#: model's name may be a secret project's, so anything else is ``other``.
MODEL_FAMILIES = (
    "claude",
    "gpt",
    "o1",
    "o3",
    "o4",
    "gemini",
    "grok",
    "deepseek",
    "llama",
    "mistral",
    "codestral",
    "qwen",
    "kimi",
    "glm",
    "composer",
    "cursor",
    "sonnet",
    "opus",
    "haiku",
    "default",
    "auto",
    "anthropic",
    "openai",
    "google",
    "chatgpt",
    "codex",
    "synthetic",
)
_MODEL_CHARS = _NAME_CHARS | {"/"}


def _is_model(value: "Any") -> bool:
    if value == "other":
        return True
    return (
        isinstance(value, str)
        and 0 < len(value) <= 100
        and value.lower().startswith(MODEL_FAMILIES)
        and _MODEL_CHARS.issuperset(value)
    )


def _as_model(value: "Any") -> "Any":
    if _is_model(value):
        return value
    return "other" if isinstance(value, str) and value else DROP


def _is_version(value: "Any") -> bool:
    """``2.1.197``, ``1.7.52``, ``2.0.0-beta.1``: digits and dots, an optional short tag."""
    if not isinstance(value, str) or not 0 < len(value) <= 40:
        return False
    head, _, tail = value.partition("-") if "-" in value else value.partition("+")
    parts = head.split(".")
    return (
        1 <= len(parts) <= 4
        and all(p.isascii() and p.isdigit() for p in parts)
        and _VERSION_TAIL.issuperset(tail)
    )


def _is_extension(value: "Any") -> bool:
    return isinstance(value, str) and (
        value == ""
        or (value[:1] == "." and 1 < len(value) <= 13 and _EXT_CHARS.issuperset(value[1:]))
    )


def _is_day(value: "Any") -> bool:
    return (
        isinstance(value, str)
        and len(value) == 10
        and value[4] == "-" == value[7]
        and (value[:4] + value[5:7] + value[8:]).isdigit()
    )


def list_of(item: Kind, limit: int = 256) -> Kind:
    def check(value: "Any") -> bool:
        return isinstance(value, list) and len(value) <= limit and all(map(item.check, value))

    def coerce(value: "Any") -> "Any":
        if not isinstance(value, list):
            return DROP
        kept = [item.coerce(v) for v in value[:limit]]
        return [v for v in kept if v is not DROP]

    return Kind(f"list of {item.name}", check, coerce)


def map_of(key: Kind, item: Kind, limit: int = 256) -> Kind:
    def check(value: "Any") -> bool:
        return (
            isinstance(value, dict)
            and len(value) <= limit
            and all(key.check(k) and item.check(v) for k, v in value.items())
        )

    def coerce(value: "Any") -> "Any":
        if not isinstance(value, dict):
            return DROP
        out: dict[str, Any] = {}
        for k, v in list(value.items())[:limit]:
            kept = item.coerce(v)
            if key.check(k) and kept is not DROP:
                out[k] = kept
        return out

    return Kind(f"map of {key.name} to {item.name}", check, coerce)


COUNT = Kind("count", _is_count, _as_count)
LENGTH = Kind("length", _is_count, _as_count)
DURATION = Kind("duration", _is_number)
NUMBER = Kind("number", _is_number)
FLAG = Kind("flag", _is_flag)
HASH = Kind("keyed hash", _is_hash)
#: a lowercase token such as a reason or a notification type (no spaces, no capitals)
TOKEN = _chars("token", _TOKEN_CHARS, 40)
#: an opaque id (uuid, ``toolu_...``, ``req_...``): no spaces, no slashes, at most 128
ID = _chars("bounded identifier", _ID_CHARS, 128)
#: a name (tool, agent type, MCP server): like an id, brackets allowed
NAME = _chars("name", _NAME_CHARS, 128)
ATTRIBUTE_KEY = _chars("attribute name", _ATTR_KEY_CHARS, 64)
MODEL = Kind("model name", _is_model, _as_model)
VERSION = Kind("version", _is_version)
EXTENSION = Kind("file extension", _is_extension)
DAY = Kind("day", _is_day)

# ------------------------------------------------------------------------------ fixed sets

#: Programs kept by name in ``shell`` / Bash facts: common developer tools. Anything else (a
#: script, a project's own binary) is ``other`` plus a keyed hash (``program_hash``).
# fmt: off
PROGRAMS = frozenset(
    [
        "git", "gh", "hub", "npm", "npx", "pnpm", "yarn", "bun", "node", "deno", "tsc", "tsx",
        "eslint", "prettier", "jest", "vitest", "mocha", "webpack", "vite", "next", "python",
        "python3", "pip", "pip3", "pipx", "uv", "poetry", "pytest", "ruff", "mypy", "black",
        "isort", "flake8", "pylint", "tox", "nox", "coverage", "cargo", "rustc", "rustup", "go",
        "gofmt", "java", "javac", "mvn", "gradle", "kotlin", "dotnet", "ruby", "gem", "bundle",
        "rake", "rails", "php", "composer", "perl", "swift", "xcodebuild", "make", "cmake",
        "ninja", "gcc", "g++", "clang", "clang++", "ld", "docker", "docker-compose", "podman",
        "kubectl", "helm", "terraform", "ansible", "aws", "gcloud", "az", "ssh", "scp", "rsync",
        "curl", "wget", "ls", "cat", "head", "tail", "less", "more", "grep", "rg", "egrep",
        "fgrep", "find", "fd", "sed", "awk", "sort", "uniq", "wc", "cut", "tr", "xargs", "tee",
        "echo", "printf", "cd", "pwd", "mkdir", "rmdir", "rm", "cp", "mv", "ln", "touch", "chmod",
        "chown", "stat", "file", "du", "df", "tar", "zip", "unzip", "gzip", "gunzip", "jq", "yq",
        "diff", "patch", "which", "whereis", "type", "env", "export", "source", "bash", "sh",
        "zsh", "fish", "test", "true", "false", "sleep", "date", "kill", "ps", "top", "lsof",
        "open", "xdg-open", "code", "cursor", "vim", "nvim", "nano", "emacs", "sqlite3", "psql",
        "mysql", "redis-cli", "supervisorctl", "systemctl", "brew", "apt", "apt-get", "dnf",
        "yum", "pacman", "claude", "blueplane", "bp-query", "sqlfluff", "shellcheck", "tree",
        "realpath", "basename", "dirname", "readlink", "time", "timeout", "watch",
    ]
)
# fmt: on
PROGRAM = enum("well-known program", PROGRAMS)


def program_facts(name: str, hashed: "Callable[[str], str]") -> dict[str, str]:
    """What a shell command's program may leave behind: its name when it is a well-known tool,
    else ``other`` and ``hashed(name)`` (a keyed hash: a script's name can say what a project
    is about). ``privacy.program_facts`` and the hooks' ``primitives.program_facts`` call this
    with their own program-name parser and keyed hash."""
    if not name:
        return {}
    if name in PROGRAMS:
        return {"program": name}
    return {"program": "other", "program_hash": hashed(name)}


#: Classes of a tool failure (``claude_code_mapping.error_type``), an API error (Anthropic's
#: public error types, Claude Code's StopFailure ``error``), or a Cursor failure type.
ERROR_TYPES = frozenset(
    {
        # tool failures
        "error",
        "exit_code",
        "hook_blocked",
        "denied",
        "interrupted",
        "timeout",
        "ShellError",
        "permission_denied",
        "not_found",
        # API errors (by HTTP status, and the client's own classes)
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
        "rate_limit",
        "overloaded",
        "authentication_failed",
        "invalid_request",
        "model_not_found",
        "server_error",
        "max_output_tokens",
        "unknown",
        # Cursor postToolUseFailure failure_type
        "tool_error",
        "user_rejected",
        "cancelled",
        "aborted",
    }
)


def _is_http_error(value: str) -> bool:
    """``http_400`` ... ``http_599``: an API error named by its HTTP status."""
    code = value[5:]
    return (
        value[:5] == "http_"
        and len(code) == 3
        and code.isascii()
        and code.isdigit()
        and (code[0] in "45")
    )


ERROR_TYPE = enum("error type", ERROR_TYPES, also=_is_http_error)

EFFORT = enum("effort level", {"low", "medium", "high", "xhigh", "max"})
PERMISSION_MODE = enum(
    "permission mode",
    {"default", "plan", "acceptEdits", "auto", "dontAsk", "bypassPermissions"},
)
SPEED = enum("speed", {"normal", "standard", "fast", "priority", "batch"})
PHASE = enum("phase", {"display", "turn_end", "response", "pre", "post", "boundary", "generation"})
DECISION = enum("decision", {"accept", "reject", "accepted", "rejected", "unknown"})
#: Claude Code's ``query_source``: fixed words, or ``agent:<kind>:<agent type>``
QUERY_SOURCE = _chars("query source", _TOKEN_CHARS | frozenset(":-"), 80)

# ------------------------------------------------------------------------ keys by event type

#: The kind of every key a hook's event may carry (``allowlist`` adds the other keys). A key
#: means the same thing in every event type.
KEYS: dict[str, Kind] = {
    # ids that tie facts together (opaque, bounded)
    "prompt_id": ID,
    "tool_use_id": ID,
    "tool_use_ids": list_of(ID),
    "request_id": ID,
    "message_id": ID,
    "turn_id": ID,
    "agent_id": ID,
    "generation_id": ID,
    "composer_id": ID,
    "bubble_id": ID,
    "cursor_tool": NAME,
    "source": TOKEN,
    "duration": DURATION,
    "failure_type": TOKEN,
    "subagent_id": ID,
    "subagent_type": NAME,
    "user_decision": TOKEN,
    "tokens_unknown": FLAG,
    "session_lines_added": COUNT,
    "session_lines_removed": COUNT,
    "operation": enum("edit operation", {"create", "edit", "delete", "read"}),
    # names
    "tool_name": NAME,
    "tool_names": list_of(NAME),
    "agent_type": NAME,
    "agent_name": NAME,
    "mcp_server": NAME,
    "model": MODEL,
    "program": PROGRAM,
    "original_type": NAME,
    # fixed sets and tokens
    "error_type": ERROR_TYPE,
    "effort": EFFORT,
    "permission_mode": PERMISSION_MODE,
    "speed": SPEED,
    "phase": PHASE,
    "decision": DECISION,
    "query_source": QUERY_SOURCE,
    "start_source": TOKEN,
    "reason": TOKEN,
    "trigger": TOKEN,
    "notification_type": TOKEN,
    "command_source": TOKEN,
    "decision_source": TOKEN,
    "suggestion_types": list_of(NAME),
    "hook_event_name": NAME,
    "parse_error": TOKEN,
    "status": TOKEN,
    "tool_status": TOKEN,
    "generation_type": TOKEN,
    "command_type": TOKEN,
    "capture": TOKEN,
    "scope": TOKEN,
    "mode": TOKEN,
    "force_mode": TOKEN,
    "is_agentic": FLAG,
    "schema_version": COUNT,
    "fields": list_of(ATTRIBUTE_KEY, 64),
    # hashes
    "file_hash": HASH,
    "program_hash": HASH,
    "mcp_server_hash": HASH,
    "commit_hash": HASH,
    "author_hash": HASH,
    # files
    "file_extension": EXTENSION,
    "file_extensions": map_of(EXTENSION, COUNT),
    # counts, lengths, durations, numbers, flags
    "duration_ms": DURATION,
    "success": FLAG,
    "is_sidechain": FLAG,
    "is_async": FLAG,
    "is_tab": FLAG,
    "is_merge": FLAG,
    "usage_final": FLAG,
    "has_instructions": FLAG,
    "display_final": FLAG,
    "display_index": COUNT,
    "status_code": COUNT,
    "attempt": COUNT,
    "input_tokens": COUNT,
    "output_tokens": COUNT,
    "cache_read_tokens": COUNT,
    "cache_creation_tokens": COUNT,
    "cache_creation_5m_tokens": COUNT,
    "cache_creation_1h_tokens": COUNT,
    "total_tokens": COUNT,
    "total_tool_uses": COUNT,
    "pre_tokens": COUNT,
    "post_tokens": COUNT,
    "cost_usd": NUMBER,
    "transcript_cost_usd": NUMBER,
    "tool_count": COUNT,
    "background_task_count": COUNT,
    "tool_input_size_bytes": COUNT,
    "tool_result_size_bytes": COUNT,
    "prompt_length": LENGTH,
    "response_length": LENGTH,
    "summary_length": LENGTH,
    "thought_length": LENGTH,
    "output_length": LENGTH,
    "input_length": LENGTH,
    "result_length": LENGTH,
    "content_length": LENGTH,
    "description_length": LENGTH,
    "error_length": LENGTH,
    "input_bytes": LENGTH,
    "lines_added": COUNT,
    "lines_removed": COUNT,
    "total_lines_added": COUNT,
    "total_lines_removed": COUNT,
    "edit_count": COUNT,
    "attachment_count": COUNT,
    "rule_count": COUNT,
    "loop_count": COUNT,
    "files_changed": COUNT,
    "binary_files": COUNT,
    "parent_count": COUNT,
}

#: Keys every event type may carry in its payload (ids that tie a fact to a turn, the client's
#: settings at the time).
_COMMON = (
    "prompt_id",
    "composer_id",
    "bubble_id",
    "agent_id",
    "permission_mode",
    "effort",
    "is_sidechain",
    "generation_id",
    "tool_name",
    "duration_ms",
)
_TOOL = (
    "tool_name",
    "tool_use_id",
    "agent_type",
    "mcp_server",
    "file_extension",
    "file_hash",
    "program",
    "program_hash",
)
_REQUEST = ("request_id", "model", "query_source", "speed", "duration_ms", "agent_name")


#: the names and ids an unrecognised hook event may carry into a ``generic`` event (never
#: content): the Claude Code mapping copies these, and ``generic`` admits them.
HOOK_NAME_KEYS = (
    "tool_name",
    "tool_use_id",
    "agent_id",
    "agent_type",
    "notification_type",
    "trigger",
    "reason",
    "hook_event_name",
)


def _keys(*names: str) -> tuple[str, ...]:
    return (*_COMMON, *names)


#: event type -> the payload keys it may carry (each of the kind :data:`KEYS` gives). The
#: complete list of what each event may hold; as key -> kind tables: :func:`allowed` for one
#: event type, ``allowlist.PAYLOAD`` for all.
_PAYLOAD_KEYS: dict[str, tuple[str, ...]] = {
    "session_start": _keys(
        "start_source", "composer_id", "mode", "force_mode", "is_agentic", "schema_version"
    ),
    "session_end": _keys("reason"),
    "user_prompt": _keys(
        "prompt_length",
        "command_source",
        "attachment_count",
        "rule_count",
        "generation_id",
        "tool_name",
        "duration_ms",
        "command_type",
        "capture",
        "composer_id",
        "bubble_id",
        "request_id",
    ),
    "assistant_response": _keys(
        *_REQUEST,
        "phase",
        "response_length",
        "turn_id",
        "display_index",
        "display_final",
        "background_task_count",
        "generation_id",
        "status",
        "loop_count",
        "tool_name",
        "generation_type",
        "description_length",
        "composer_id",
        "bubble_id",
        "input_tokens",
        "output_tokens",
        "tool_status",
        "thought_length",
    ),
    "agent_thought": _keys("thought_length", "generation_id", "duration_ms", "tool_name"),
    "tool_use": _keys(
        "cursor_tool",
        *_TOOL,
        "decision",
        "decision_source",
        "generation_id",
        "duration_ms",
        "input_length",
        "mcp_server_hash",
    ),
    "tool_result": _keys(
        "content_length",
        "edit_count",
        "result_length",
        "session_lines_added",
        "session_lines_removed",
        "cursor_tool",
        "tool_status",
        "user_decision",
        "input_length",
        *_TOOL,
        "success",
        "error_type",
        "error_length",
        "duration_ms",
        "lines_added",
        "lines_removed",
        "tool_input_size_bytes",
        "tool_result_size_bytes",
        "generation_id",
        "output_length",
    ),
    "tool_batch": _keys("tool_count", "tool_names", "tool_use_ids"),
    "permission_request": _keys(*_TOOL, "suggestion_types"),
    "file_edit": _keys(
        "session_lines_added",
        "session_lines_removed",
        "file_extension",
        "file_hash",
        "operation",
        "edit_count",
        "lines_added",
        "lines_removed",
        "is_tab",
        "generation_id",
        "tool_name",
        "duration_ms",
        "composer_id",
        "scope",
        "total_lines_added",
        "total_lines_removed",
    ),
    "file_read": _keys(
        "file_extension",
        "file_hash",
        "content_length",
        "attachment_count",
        "rule_count",
        "is_tab",
        "generation_id",
        "tool_name",
        "duration_ms",
    ),
    "subagent_start": _keys(
        "agent_id", "agent_type", "model", "generation_id", "duration_ms", "tool_name"
    ),
    "subagent_stop": _keys(
        "agent_id",
        "agent_type",
        "model",
        "response_length",
        "duration_ms",
        "total_tokens",
        "total_tool_uses",
        "is_async",
        "generation_id",
        "tool_name",
    ),
    "compaction": _keys(
        "phase",
        "trigger",
        "has_instructions",
        "summary_length",
        "success",
        "duration_ms",
        "pre_tokens",
        "post_tokens",
        "generation_id",
        "tool_name",
    ),
    "token_usage": _keys(
        "cost_usd",
        "loop_count",
        "status",
        "tokens_unknown",
        "phase",
        "request_id",
        "message_id",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "cache_creation_5m_tokens",
        "cache_creation_1h_tokens",
        "speed",
        "usage_final",
        "transcript_cost_usd",
    ),
    "api_error": _keys(
        *_REQUEST, "status_code", "attempt", "error_type", "error_length", "success"
    ),
    "notification": _keys("notification_type"),
    "commit": _keys(
        "commit_hash",
        "author_hash",
        "files_changed",
        "lines_added",
        "lines_removed",
        "binary_files",
        "file_extensions",
        "parent_count",
        "is_merge",
    ),
    "generic": _keys(
        "source",
        "duration",
        "failure_type",
        "subagent_id",
        "subagent_type",
        "original_type",
        "fields",
        "attributes",
        *HOOK_NAME_KEYS,
        "parse_error",
        "input_bytes",
        "status",
        "duration_ms",
        "loop_count",
        "file_extension",
        "file_hash",
        "program",
        "program_hash",
        "mcp_server",
        "generation_id",
        "error_type",
    ),
}


def _is_label(value: "Any") -> bool:
    """A project's folder name, kept only when the user asks (``privacy.project_labels =
    "basename"``; the Emitter drops it otherwise): printable, no path separator."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 128
        and value.isprintable()
        and "/" not in value
        and "\\" not in value
    )


#: metadata key -> kind, the same for every event type.
METADATA: dict[str, Kind] = {
    "project_label": Kind("project label (opt-in)", _is_label),
    "workspace_hash": HASH,
    "project_hash": HASH,
    "git_branch_hash": HASH,
    "model": MODEL,
    "client_version": VERSION,
    "agent_id": ID,
    "agent_type": NAME,
}

#: Envelope strings that are not free: a session id and a hook / OTel event name.
SESSION_ID = _chars("session id", _ID_CHARS, 256)
HOOK_TYPE = NAME


def hook_type(name: str) -> str | None:
    """The envelope's ``hook_type`` for a client's event name: the name when it is one,
    ``other`` when it is text (a client may send anything there), None for none."""
    if not name:
        return None
    return name if HOOK_TYPE.check(name) else "other"


# ----------------------------------------------------------------------------- the checks


class NotAllowed(ValueError):
    """An event holds a key or value the allow-list does not admit. The message names the
    event type and the key, never the value."""


def _clean_section(
    section: str, event_type: str, given: "dict[str, Any]", allowed: dict[str, Kind]
) -> "dict[str, Any]":
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        kind = allowed.get(key)
        if kind is None:
            raise NotAllowed(f"{event_type}: {section} key {key!r} is not on the allow-list")
        if value == "" and kind is not HASH:
            continue
        kept = kind.coerce(value)
        if kept is not DROP:
            out[key] = kept
    return out


_ALLOWED: dict[str, dict[str, Kind]] = {}


def allowed(event_type: str) -> dict[str, Kind] | None:
    """Payload key -> kind for one event type (None: not an event type), built when first
    needed: a hook process handles one event, and building all forty tables cost it more than
    its own work. An event type or key listed only in the full allow-list loads it first."""
    table = _ALLOWED.get(event_type)
    if table is None:
        names = _PAYLOAD_KEYS.get(event_type)
        if names is None or not all(name in KEYS for name in names):
            from blueplane_core import allowlist  # noqa: F401  (adds its event types and keys)

            names = _PAYLOAD_KEYS.get(event_type)
            if names is None:
                return None
        table = _ALLOWED[event_type] = {name: KEYS[name] for name in names}
    return table


def clean(
    event_type: str, payload: "dict[str, Any]", metadata: "dict[str, Any]"
) -> "tuple[dict[str, Any], dict[str, Any]]":
    """(payload, metadata) as they may be stored: values not of their key's kind coerced
    (``other``) or left out. A key not on the allow-list raises :class:`NotAllowed`: which
    keys an event carries is decided by code, so that is a bug to fix, not data to drop."""
    kinds = allowed(event_type)
    if kinds is None:
        raise NotAllowed(f"unknown event type {event_type!r}")
    return (
        _clean_section("payload", event_type, payload, kinds),
        _clean_section("metadata", event_type, metadata, METADATA),
    )


def clean_event(event: "dict[str, Any]") -> "dict[str, Any]":
    """``event`` with payload and metadata cleaned (see :func:`clean`), in place."""
    event["payload"], event["metadata"] = clean(
        event["event_type"], event["payload"], event["metadata"]
    )
    return event
