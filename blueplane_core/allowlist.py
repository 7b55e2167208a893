"""The privacy allow-list: for every event type, the exact keys it may carry and their kinds.

This is the one place that says what Blueplane keeps. Capture builds every payload through
:func:`clean` (unknown keys are a programming error and raise; values that are not of the key's
kind are coerced to ``other`` or dropped), and ingest checks every event with :func:`violation`
and dead-letters what breaks it, naming the key and never its value. Anything not listed here
is never stored, whatever a client sends: that is what makes the promise "no code, prompts,
paths, secrets or free text" checkable (``blueplane privacy`` prints what a database holds, and
``tests/test_canaries.py`` proves it over every byte Blueplane keeps).

A value is one of a few kinds: a count, a length, a duration, a number, a flag, a keyed hash, a
value of a fixed set (enum), a short lowercase token, a bounded identifier (no spaces, no
slashes), a model name of a known family, a version, a file extension, a day, a well-known
program, or a list / map of those. Free text has no kind, so it cannot be stored.

Built on nothing but the standard library's builtins (no ``re``): the hook processes import it
directly, so there is no second copy to keep in step.
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

#: The kind of every key any event may carry. A key means the same thing in every event type.
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
    "decision_id": ID,
    "diff_id": ID,
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
    "language": enum("language", LANGUAGES),
    # names
    "tool_name": NAME,
    "tool_names": list_of(NAME),
    "agent_type": NAME,
    "agent_name": NAME,
    "mcp_server": NAME,
    "model": MODEL,
    "program": PROGRAM,
    "metric_name": NAME,
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
    "mode": TOKEN,
    "force_mode": TOKEN,
    "is_agentic": FLAG,
    "schema_version": COUNT,
    "result": TOKEN,
    "fields": list_of(ATTRIBUTE_KEY, 64),
    # hashes
    "file_hash": HASH,
    "program_hash": HASH,
    "mcp_server_hash": HASH,
    "commit_hash": HASH,
    "author_hash": HASH,
    "org_hash": _chars("keyed hash", _TOKEN_CHARS, 24),  # a hash, or ``unscoped``
    "user_hash": HASH,
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
    "tests_passed": FLAG,
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
    "rationale_length": LENGTH,
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
    "code_block_idx": COUNT,
    "files_changed": COUNT,
    "binary_files": COUNT,
    "parent_count": COUNT,
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
#: event type, ``PAYLOAD`` for all.
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
    "api_request": _keys(
        *_REQUEST,
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "cost_usd",
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
    "metric": _keys("metric_name", "value", "unit", "temporality", "attributes", "count", "model"),
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
    its own work."""
    table = _ALLOWED.get(event_type)
    if table is None:
        names = _PAYLOAD_KEYS.get(event_type)
        if names is None:
            return None
        table = _ALLOWED[event_type] = {name: KEYS[name] for name in names}
    return table


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


def kind_of(event_type: str, section: str, key: str) -> str:
    """The name of the kind of ``key`` (for ``blueplane privacy``), or ``not allowed``."""
    kinds = METADATA if section == "metadata" else (allowed(event_type) or {})
    kind = kinds.get(key)
    return kind.name if kind else "not allowed"
