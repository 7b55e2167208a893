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

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: what :meth:`Kind.coerce` returns for a value that must be left out.
DROP: Any = type("Drop", (), {"__repr__": lambda self: "DROP"})()

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


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (isinstance(value, int) or -_INF < value < _INF)  # finite (NaN compares False)
    )


class Kind:
    """A kind of value a key may hold: how to check it, and what capture stores instead."""

    name = "value"

    def check(self, value: Any) -> bool:
        raise NotImplementedError

    def coerce(self, value: Any) -> Any:
        """The value to store (``value`` itself when it is of this kind), or :data:`DROP`."""
        return value if self.check(value) else DROP


class _Count(Kind):
    name = "count"

    def check(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    def coerce(self, value: Any) -> Any:
        if self.check(value):
            return value
        if _is_number(value) and value >= 0:
            return int(value)
        return DROP


class _Number(Kind):
    name = "number"

    def check(self, value: Any) -> bool:
        return _is_number(value)


class _Flag(Kind):
    name = "flag"

    def check(self, value: Any) -> bool:
        return isinstance(value, bool)


class _Hash(Kind):
    """A keyed hash (``privacy.keyed_hash``: 24 lowercase hex), or ``""`` for none."""

    name = "keyed hash"

    def check(self, value: Any) -> bool:
        return isinstance(value, str) and (
            value == "" or (len(value) == 24 and _HEX.issuperset(value))
        )


class _Chars(Kind):
    """A string of at most ``limit`` characters from ``chars``, starting with a letter/digit."""

    def __init__(self, name: str, chars: frozenset[str], limit: int) -> None:
        self.name = name
        self.chars = chars
        self.limit = limit

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, str)
            and 0 < len(value) <= self.limit
            and (value[0].isascii() and value[0].isalnum())
            and self.chars.issuperset(value)
        )


class Enum(Kind):
    """A value of a fixed set; anything else is stored as ``other`` (or left out)."""

    def __init__(self, name: str, values: frozenset[str] | set[str], fallback: str = "other"):
        self.name = name
        self.values = frozenset(values) | ({fallback} if fallback else set())
        self.fallback = fallback

    def check(self, value: Any) -> bool:
        return value in self.values if isinstance(value, str) else False

    def coerce(self, value: Any) -> Any:
        if self.check(value):
            return value
        return self.fallback if self.fallback and isinstance(value, str) else DROP


class _Model(Kind):
    """A model name of a known family (``claude-opus-4-8[1m]``, ``gpt-5``); a custom model's
    name may be a secret project's, so anything else is ``other``."""

    name = "model name"
    FAMILIES = (
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

    def check(self, value: Any) -> bool:
        if value == "other":
            return True
        return (
            isinstance(value, str)
            and 0 < len(value) <= 100
            and value.lower().startswith(self.FAMILIES)
            and (_NAME_CHARS | {"/"}).issuperset(value)
        )

    def coerce(self, value: Any) -> Any:
        if self.check(value):
            return value
        return "other" if isinstance(value, str) and value else DROP


class _Version(Kind):
    """``2.1.197``, ``1.7.52``, ``2.0.0-beta.1``: digits and dots, an optional short tag."""

    name = "version"

    def check(self, value: Any) -> bool:
        if not isinstance(value, str) or not 0 < len(value) <= 40:
            return False
        head, _, tail = value.partition("-") if "-" in value else value.partition("+")
        parts = head.split(".")
        return (
            1 <= len(parts) <= 4
            and all(p.isascii() and p.isdigit() for p in parts)
            and _VERSION_TAIL.issuperset(tail)
        )


class _Extension(Kind):
    name = "file extension"

    def check(self, value: Any) -> bool:
        return isinstance(value, str) and (
            value == ""
            or (value[:1] == "." and 1 < len(value) <= 13 and _EXT_CHARS.issuperset(value[1:]))
        )


class _Day(Kind):
    name = "day"

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, str)
            and len(value) == 10
            and value[4] == "-" == value[7]
            and (value[:4] + value[5:7] + value[8:]).isdigit()
        )


class ListOf(Kind):
    def __init__(self, item: Kind, limit: int = 256) -> None:
        self.item = item
        self.limit = limit
        self.name = f"list of {item.name}"

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) <= self.limit
            and all(self.item.check(v) for v in value)
        )

    def coerce(self, value: Any) -> Any:
        if not isinstance(value, list):
            return DROP
        kept = [self.item.coerce(v) for v in value[: self.limit]]
        return [v for v in kept if v is not DROP]


class MapOf(Kind):
    def __init__(self, key: Kind, value: Kind, limit: int = 256) -> None:
        self.key = key
        self.value = value
        self.limit = limit
        self.name = f"map of {key.name} to {value.name}"

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, dict)
            and len(value) <= self.limit
            and all(self.key.check(k) and self.value.check(v) for k, v in value.items())
        )

    def coerce(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return DROP
        out: dict[str, Any] = {}
        for key, item in list(value.items())[: self.limit]:
            kept = self.value.coerce(item)
            if self.key.check(key) and kept is not DROP:
                out[key] = kept
        return out


COUNT: Kind = _Count()
LENGTH: Kind = _Count()
LENGTH.name = "length"
DURATION: Kind = _Number()
DURATION.name = "duration"
NUMBER: Kind = _Number()
FLAG: Kind = _Flag()
HASH: Kind = _Hash()
#: a lowercase token such as a reason or a notification type (no spaces, no capitals)
TOKEN: Kind = _Chars("token", _TOKEN_CHARS, 40)
#: an opaque id (uuid, ``toolu_...``, ``req_...``): no spaces, no slashes, at most 128
ID: Kind = _Chars("bounded identifier", _ID_CHARS, 128)
#: a name (tool, agent type, MCP server): like an id, brackets allowed
NAME: Kind = _Chars("name", _NAME_CHARS, 128)
ATTRIBUTE_KEY: Kind = _Chars("attribute name", _ATTR_KEY_CHARS, 64)
MODEL: Kind = _Model()
VERSION: Kind = _Version()
EXTENSION: Kind = _Extension()
DAY: Kind = _Day()

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
PROGRAM: Kind = Enum("well-known program", PROGRAMS)


def program_facts(name: str, hashed: Callable[[str], str]) -> dict[str, str]:
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
    | {f"http_{code}" for code in range(400, 600)}
)
ERROR_TYPE: Kind = Enum("error type", ERROR_TYPES)

EFFORT: Kind = Enum("effort level", {"low", "medium", "high", "xhigh", "max"})
PERMISSION_MODE: Kind = Enum(
    "permission mode",
    {"default", "plan", "acceptEdits", "auto", "dontAsk", "bypassPermissions"},
)
SPEED: Kind = Enum("speed", {"normal", "standard", "fast", "priority", "batch"})
PHASE: Kind = Enum(
    "phase", {"display", "turn_end", "response", "pre", "post", "boundary", "generation"}
)
DECISION: Kind = Enum("decision", {"accept", "reject", "accepted", "rejected", "unknown"})
#: Claude Code's ``query_source``: fixed words, or ``agent:<kind>:<agent type>``
QUERY_SOURCE: Kind = _Chars("query source", _TOKEN_CHARS | frozenset(":-"), 80)

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
    "language": Enum("language", LANGUAGES),
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
OTEL_ATTRIBUTES["type"] = _Chars("token", _TOKEN_CHARS | frozenset(_UPPER), 40)


class _Attributes(Kind):
    """OTel attributes that survive: numbers and flags under a safe name, allow-listed
    string attributes of their kind."""

    name = "attributes (numbers and allow-listed names)"

    def _keep(self, key: Any, value: Any) -> Any:
        if not ATTRIBUTE_KEY.check(key):
            return DROP
        if _is_number(value) or isinstance(value, bool):
            return value
        kind = OTEL_ATTRIBUTES.get(key)
        if kind is None or not isinstance(value, str):
            return DROP
        return kind.coerce(value)

    def check(self, value: Any) -> bool:
        if not isinstance(value, dict) or len(value) > 64:
            return False
        keep = self._keep
        for key, item in value.items():  # one pass: ingest checks every OTel event's attributes
            kept = keep(key, item)
            if kept is DROP or kept != item:
                return False
        return True

    def coerce(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return DROP
        out: dict[str, Any] = {}
        for key, item in value.items():
            kept = self._keep(key, item)
            if kept is not DROP and len(out) < 64:
                out[key] = kept
        return out


ATTRIBUTES: Kind = _Attributes()


class _CopilotTotals(Kind):
    """A Copilot day record: documented field names over numbers, flags and names of
    languages, editors, features and model families; nothing else (no repository names, no
    custom model names, no logins)."""

    name = "Copilot totals (numbers and fixed names)"
    _NAME_KEYS = frozenset({"name", "language", "editor", "ide", "feature", "model", "surface"})
    _DROP_KEYS = frozenset(
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
    _FIELD = _Chars("field", _TOKEN_CHARS, 64)

    def _name_ok(self, value: str) -> bool:
        lowered = value.lower()
        return (
            lowered in LANGUAGES
            or lowered in EDITORS
            or value in _COPILOT_FEATURES
            or MODEL.check(value)
        )

    def _clean(self, value: Any, key: str, depth: int) -> Any:
        if depth > 8:
            return DROP
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                if not isinstance(k, str) or not self._FIELD.check(k) or k in self._DROP_KEYS:
                    continue
                kept = self._clean(v, k, depth + 1)
                if kept is not DROP:
                    out[k] = kept
            return out
        if isinstance(value, list):
            items = [self._clean(v, key, depth + 1) for v in value[:512]]
            return [v for v in items if v is not DROP]
        if _is_number(value) or isinstance(value, bool) or value is None:
            return value
        if isinstance(value, str) and key in self._NAME_KEYS:
            return value if self._name_ok(value) else "other"
        if isinstance(value, str) and key in ("day", "date", "report_day") and DAY.check(value):
            return value
        return DROP

    def check(self, value: Any) -> bool:
        return isinstance(value, dict) and self._clean(value, "", 0) == value

    def coerce(self, value: Any) -> Any:
        return self._clean(value, "", 0) if isinstance(value, dict) else DROP


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
COPILOT_TOTALS: Kind = _CopilotTotals()

# ------------------------------------------------------------------------ keys by event type

#: The kind of every key any event may carry. A key means the same thing in every event type.
KEYS: dict[str, Kind] = {
    # ids that tie facts together (opaque, bounded)
    "prompt_id": ID,
    "tool_use_id": ID,
    "tool_use_ids": ListOf(ID),
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
    "operation": Enum("edit operation", {"create", "edit", "delete", "read"}),
    "language": Enum("language", LANGUAGES),
    # names
    "tool_name": NAME,
    "tool_names": ListOf(NAME),
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
    "suggestion_types": ListOf(NAME),
    "hook_event_name": NAME,
    "parse_error": TOKEN,
    "status": TOKEN,
    "tool_status": TOKEN,
    "generation_type": TOKEN,
    "command_type": TOKEN,
    "capture": TOKEN,
    "scope": TOKEN,
    "unit": Enum(
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
    "fields": ListOf(ATTRIBUTE_KEY, 64),
    # hashes
    "file_hash": HASH,
    "program_hash": HASH,
    "mcp_server_hash": HASH,
    "commit_hash": HASH,
    "author_hash": HASH,
    "org_hash": _Chars("keyed hash", _TOKEN_CHARS, 24),  # a hash, or ``unscoped``
    "user_hash": HASH,
    # files
    "file_extension": EXTENSION,
    "file_extensions": MapOf(EXTENSION, COUNT),
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


def _keys(*names: str) -> dict[str, Kind]:
    return {name: KEYS[name] for name in (*_COMMON, *names)}


#: event type -> payload key -> kind. The complete list of what each event may hold.
PAYLOAD: dict[str, dict[str, Kind]] = {
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
        "tool_name",
        "tool_use_id",
        "agent_id",
        "agent_type",
        "notification_type",
        "trigger",
        "reason",
        "hook_event_name",
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


class _Label(Kind):
    """A project's folder name, kept only when the user asks (``privacy.project_labels =
    "basename"``; the Emitter drops it otherwise): printable, no path separator."""

    name = "project label (opt-in)"

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, str)
            and 0 < len(value) <= 128
            and value.isprintable()
            and "/" not in value
            and "\\" not in value
        )


#: metadata key -> kind, the same for every event type.
METADATA: dict[str, Kind] = {
    "project_label": _Label(),
    "workspace_hash": HASH,
    "project_hash": HASH,
    "git_branch_hash": HASH,
    "model": MODEL,
    "client_version": VERSION,
    "agent_id": ID,
    "agent_type": NAME,
}

#: Envelope strings that are not free: a session id and a hook / OTel event name.
SESSION_ID: Kind = _Chars("session id", _ID_CHARS, 256)
HOOK_TYPE: Kind = NAME


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
    section: str, event_type: str, given: dict[str, Any], allowed: dict[str, Kind]
) -> dict[str, Any]:
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


def clean(
    event_type: str, payload: dict[str, Any], metadata: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, metadata) as they may be stored: values not of their key's kind coerced
    (``other``) or left out. A key not on the allow-list raises :class:`NotAllowed`: which
    keys an event carries is decided by code, so that is a bug to fix, not data to drop."""
    allowed = PAYLOAD.get(event_type)
    if allowed is None:
        raise NotAllowed(f"unknown event type {event_type!r}")
    return (
        _clean_section("payload", event_type, payload, allowed),
        _clean_section("metadata", event_type, metadata, METADATA),
    )


def clean_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with payload and metadata cleaned (see :func:`clean`), in place."""
    event["payload"], event["metadata"] = clean(
        event["event_type"], event["payload"], event["metadata"]
    )
    return event


def violation(event: dict[str, Any]) -> str | None:
    """Why ``event`` (a valid envelope) may not be stored, or None. Names keys, never values."""
    event_type = event["event_type"]
    allowed = PAYLOAD.get(event_type)
    if allowed is None:
        return f"{event_type}: no allow-list for this event type"
    if not SESSION_ID.check(event["session_id"]):
        return "session_id is not a bounded identifier"
    hook_type = event["hook_type"]
    if hook_type is not None and not HOOK_TYPE.check(hook_type):
        return "hook_type is not a name"
    for section, given, kinds in (
        ("payload", event["payload"], allowed),
        ("metadata", event["metadata"], METADATA),
    ):
        for key, value in given.items():
            kind = kinds.get(key)
            if kind is None:
                return f"{event_type}: {section} key {str(key)[:64]!r} is not on the allow-list"
            if not kind.check(value):
                return f"{event_type}: {section}.{key} is not a {kind.name}"
    return None


def kind_of(event_type: str, section: str, key: str) -> str:
    """The name of the kind of ``key`` (for ``blueplane privacy``), or ``not allowed``."""
    kinds = METADATA if section == "metadata" else PAYLOAD.get(event_type, {})
    kind = kinds.get(key)
    return kind.name if kind else "not allowed"
