"""Configuration: every key, its type, default and meaning, defined once.

Values come from ``~/.blueplane/config.toml`` (``[section]`` tables, ``key = value``) and are
overridden by environment variables named ``BLUEPLANE_<SECTION>_<KEY>`` (``ingest.processes`` ->
``BLUEPLANE_INGEST_PROCESSES``). A bad value stops the process at start with one line naming the
key, where it came from and what was expected: exit code ``EXIT_CONFIG`` tells supervisord that a
restart will not help.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blueplane_core import paths

#: exit code of a process that stopped on a configuration error (supervisord: not a crash).
EXIT_CONFIG = 78


@dataclass(frozen=True)
class Key:
    """One configuration key."""

    name: str  # "section.key"
    kind: type  # int, float, str, bool or list (of strings)
    default: Any
    help: str
    minimum: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def env_var(self) -> str:
        return "BLUEPLANE_" + self.name.upper().replace(".", "_")


KEYS: tuple[Key, ...] = (
    # Redis
    Key(
        "redis.url",
        str,
        "",
        "external Redis URL (`redis://host:port/db`, `rediss://` for TLS, `unix:///path`, or a "
        "Redis Cluster: `redis+cluster://host:port,host:port`, any of its nodes); empty = the "
        "embedded redis on a unix socket",
    ),
    Key("redis.socket_timeout_s", float, 5.0, "timeout of every Redis call", minimum=0.1),
    # Fast-path ingest
    Key("ingest.processes", int, 1, "ingester processes supervisord starts (numprocs)", 1),
    # 200, not 100: each commit writes the touched index pages and each batch costs two Redis
    # round trips whatever its size; 12% less CPU per event (bench/ingest.py), batch P95 ~2 ms.
    Key("ingest.batch_size", int, 200, "events written per SQLite transaction at most", 1),
    Key("ingest.batch_timeout_ms", int, 100, "longest wait to fill a batch", 1),
    Key("ingest.claim_idle_ms", int, 30_000, "pending entries idle this long are reclaimed", 1),
    Key("ingest.max_deliveries", int, 3, "deliveries before an entry is dead-lettered", 1),
    # Maintenance (checkpoints, trimming, retention)
    Key("maintenance.interval_s", float, 2.0, "how often WAL checkpoints and trims run", 0.05),
    Key("storage.cache_size_mb", int, 64, "SQLite page cache per writer connection", 1),
    Key(
        "storage.retention_days",
        int,
        90,
        "raw traces older than this move to the Parquet archive (docs/archive.md); 0 = never",
        0,
    ),
    # Privacy
    Key(
        "privacy.disabled_categories",
        list,
        [],
        "event categories never captured (prompts, responses, tools, edits, files, shell, git, "
        "usage, sessions, tracking, other)",
    ),
    Key(
        "privacy.project_labels",
        str,
        "basename",
        "basename: keep a project's folder name (last path component) in the local database "
        "so reports show it and --project accepts it; hash: keep only the keyed hash",
        choices=("basename", "hash"),
    ),
    # Workers
    Key("workers.metrics_processes", int, 1, "metrics worker processes", 1),
    Key("workers.conversations_processes", int, 1, "conversation worker processes", 1),
    Key("workers.batch_size", int, 200, "CDC entries a worker handles per batch at most", 1),
    Key("workers.batch_timeout_ms", int, 50, "longest a worker waits to fill a batch", 1),
    Key(
        "workers.conversations_batch_size",
        int,
        2000,
        "CDC entries a conversation worker handles per batch (touched sessions are refolded)",
        1,
    ),
    Key(
        "workers.conversations_batch_timeout_ms",
        int,
        1000,
        "longest a conversation worker waits to fill a batch (rows lag at most about this)",
        1,
    ),
    Key("workers.claim_idle_ms", int, 30_000, "worker entries idle this long are reclaimed", 1),
    Key("workers.max_deliveries", int, 3, "deliveries before a CDC entry is dead-lettered", 1),
    Key("pricing.file", str, "", "JSON price table whose models override the shipped prices"),
    Key("insights.interval_s", float, 30.0, "how often insights are recomputed", 1.0),
    Key(
        "insights.llm_provider",
        str,
        "off",
        "LLM that phrases insights from metadata",
        choices=("off", "local", "openai", "anthropic"),
    ),
    Key("insights.llm_model", str, "", "model name for insights.llm_provider"),
    Key("insights.llm_url", str, "", "endpoint for insights.llm_provider = local"),
    # Query side
    Key(
        "display.timezone",
        str,
        "",
        "zone of the days, weeks, months and times reports show (IANA name such as "
        "Europe/Berlin, UTC, or +05:30); empty = the machine's own zone; --tz overrides",
    ),
    Key("query.host", str, "127.0.0.1", "address of the HTTP API and dashboard"),
    Key("query.port", int, 7531, "port of the HTTP API and dashboard", 1),
    Key(
        "query.allow_remote",
        bool,
        False,
        "let query.host be an address other than loopback (the API has no authentication)",
    ),
    Key("query.max_connections", int, 64, "open HTTP and WebSocket connections at most", 1),
    # Capture
    Key("capture.otlp_host", str, "127.0.0.1", "address of the OTLP/HTTP receiver"),
    Key("capture.otlp_port", int, 4318, "port of the OTLP/HTTP receiver", 1),
    Key("capture.claude_dirs", list, [], "Claude Code data folders to watch (default: ~/.claude)"),
    Key("capture.cursor_dirs", list, [], "Cursor user folders to watch (default: per OS)"),
    Key("capture.hook_timeout_ms", int, 50, "longest a hook waits for Redis before spooling", 1),
)

_BY_NAME = {key.name: key for key in KEYS}


class ConfigError(Exception):
    """A configuration value that cannot be used; the message names key, origin and fix."""


@dataclass(frozen=True)
class Config:
    """Resolved configuration values, read with ``config["ingest.processes"]``."""

    values: dict[str, Any]
    file: Path
    origins: dict[str, str] = field(default_factory=dict)  # key -> "default" / file / env var

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def home(self) -> Path:
        return self.file.parent

    @property
    def embedded_redis(self) -> bool:
        return not self.values["redis.url"]


def load(env: dict[str, str] | None = None) -> Config:
    """Read the config file and the environment; raise ConfigError on the first bad value."""
    environ = os.environ if env is None else env
    file = paths.config_file()
    raw: dict[str, Any] = {}
    if file.exists():
        import tomllib  # only with a config file: ~1 MB in every process otherwise

        try:
            with file.open("rb") as handle:
                raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc})") from None
    values = {key.name: key.default for key in KEYS}
    origins = {key.name: "default" for key in KEYS}
    for section, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: '{section}' should be a [table] of keys")
        for name, value in table.items():
            full = f"{section}.{name}"
            key = _BY_NAME.get(full)
            if key is None:
                raise ConfigError(f"{file}: unknown key '{full}' (known: {', '.join(_BY_NAME)})")
            values[full] = _coerce(key, value, str(file))
            origins[full] = str(file)
    for key in KEYS:
        if key.env_var in environ:
            values[key.name] = _coerce(key, environ[key.env_var], f"environment {key.env_var}")
            origins[key.name] = key.env_var
    return Config(values=values, file=file, origins=origins)


def reference_markdown() -> str:
    """Every key as a Markdown table: the source of ``docs/config.md``."""
    lines = [
        "# Configuration keys",
        "",
        "Generated from `blueplane_core/config.py` by `blueplane config --markdown`; a test keeps",
        "it in step. Set a key in `~/.blueplane/config.toml` under its `[section]`, or with the",
        "environment variable.",
        "",
        "| key | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for key in KEYS:
        default = "(empty)" if key.default in ("", []) else f"`{key.default}`"
        lines.append(f"| `{key.name}` | `{key.env_var}` | {default} | {key.help} |")
    return "\n".join(lines) + "\n"


def _coerce(key: Key, value: Any, origin: str) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{origin}: {key.name} = {value!r}: expected {expected}")

    from_env = isinstance(value, str) and origin.startswith("environment")
    if key.kind is bool:
        if isinstance(value, bool):
            return value
        if from_env and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise fail("true or false")
    if key.kind in (int, float):
        if isinstance(value, bool):
            raise fail(f"a number ({key.help})")
        try:
            number = key.kind(value) if from_env or isinstance(value, (int, float)) else None
        except ValueError:
            number = None
        if number is None or (key.kind is int and isinstance(value, float)):
            raise fail(f"{'a whole number' if key.kind is int else 'a number'} ({key.help})")
        if key.minimum is not None and number < key.minimum:
            raise fail(f"at least {key.minimum:g} ({key.help})")
        return number
    if key.kind is list:
        if from_env:
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise fail("a list of strings")
    if not isinstance(value, str):
        raise fail(f"a string ({key.help})")
    if key.choices and value not in key.choices:
        raise fail(f"one of {', '.join(key.choices)}")
    return value


def load_or_exit(process: str) -> Config:
    """The configuration for a process's ``main()``; on a bad value, one line on stderr naming
    the process, key and file, and exit EXIT_CONFIG (supervisord then does not restart it).
    Every process starts here, so this is also where its umask becomes private."""
    paths.restrict_umask()
    try:
        return load()
    except ConfigError as exc:
        print(f"{process}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
