"""Every Redis metric key the metrics worker writes, and how to read it back: the one definition.

The metrics worker (``blueplane_workers.metrics``) writes these keys; the query side imports this
module to read them. Build keys only with the functions below, never by hand. The formulas behind
each counter are in ``docs/metrics.md``.

Layout (all keys start with ``streams.METRICS_PREFIX`` = ``{bp}:metrics:``)::

    {bp}:metrics:c:<scope>:<period>            HASH   counter name -> integer
    {bp}:metrics:idx:<dimension>               ZSET   dimension value -> last seen (unix s)
    {bp}:metrics:min:<scope>:<hour start>      HASH   "<minute start>|<counter>" -> value
                                                      (scope all, a platform or a workspace)
    {bp}:metrics:meta                          HASH   layout version, pricing version

``scope`` is ``all`` or ``<dimension>=<value>`` with dimension one of :data:`DIMENSIONS`
(``platform=claude_code``, ``model=claude-opus-4-8``, ``tool=Edit``, ``workspace=<hash>``,
``session=<id>``). ``period`` is ``total``, ``d<YYYY-MM-DD>`` (UTC day) or ``h<YYYY-MM-DDTHH>``
(UTC hour). Sessions are kept for ``total`` and days only (a session is its own time window).

Counters (hash fields of ``c:`` keys, all integers; see :data:`COUNTERS`): money is in
nano-dollars (``cost_nusd``; 1 USD = 1e9) so sums are exact and a rebuild gives the same digits.
A scope/period whose ``unpriced_requests`` is above 0 has an **unknown** cost part: show cost as
"X USD + N unpriced requests", never as if the unpriced part were 0.

Bookkeeping keys the query side never needs (``applied:``, ``fact``, ``active:``, ``wsact:``,
``wscommit:``, ``assisted``, ``committargets``) are private to the worker; they are named here
too so that ``rebuild`` can delete every metric key. ``distinct:`` sets are read by the live
view: the union of several hours' (or workspaces') sets counts their sessions once.

Changes to this layout: bump :data:`LAYOUT_VERSION` and note them here.
  * 1 (2026-11-23): first layout.
  * 2 (2026-11-28): the four-rung time-series ladder (``ts:``/``rts:`` keys, most of the
    worker's writes) is replaced by one per-minute series of the last day (``min:`` keys) for
    scope all, per platform and per workspace, which the live 5-hour block reads.
  * 3 (2026-11-28): no duration histograms (``hist:`` keys, 57% of the worker's increments
    on the synthetic mix): nothing read them; durations are exact in SQLite
    (``tool_calls.duration_ms``, ``code_changes.decision_ms``, ``raw_traces.duration_ms``).
    ``rebuild metrics`` deletes the ones an older worker wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime

from blueplane_core import streams

TYPE_CHECKING = False  # collections.abc and typing cost the status line ~4 ms
if TYPE_CHECKING:
    from collections.abc import Mapping

LAYOUT_VERSION = 3
PREFIX = streams.METRICS_PREFIX

#: dimensions a counter is broken down by (``scope`` = ``<dimension>=<value>``).
DIMENSIONS: tuple[str, ...] = ("platform", "model", "tool", "workspace", "session")

#: every counter field, with its meaning (formulas in docs/metrics.md).
COUNTERS: dict[str, str] = {
    "events": "stored events, every source counted (raw volume)",
    "sessions": "distinct sessions with at least one event in the scope and period",
    "prompts": "user prompts, one per prompt id whichever sources saw it",
    "requests": "API requests (responses), one per request id",
    "tool_calls": "tool calls, one per tool_use_id",
    "tool_errors": "tool calls whose result was a failure",
    "input_tokens": "input tokens of API requests",
    "output_tokens": "output tokens of API requests",
    "cache_write_tokens": "cache-creation tokens (5 m + 1 h) of API requests",
    "cache_read_tokens": "cache-read tokens of API requests",
    "cost_nusd": "computed cost of priced requests, nano-USD (1e-9 USD)",
    "reported_cost_nusd": "cost the client's own telemetry reported (official), nano-USD",
    "unpriced_requests": "requests whose model has no price: their cost is unknown",
    "api_errors": "API requests that failed",
    "lines_added": "lines added by edits",
    "lines_removed": "lines removed by edits",
    "edits_accepted": "edit proposals accepted",
    "edits_rejected": "edit proposals rejected (or never answered)",
    "active_ms": "active time: gaps between a session's events of at most 5 minutes, summed",
    "compactions": "conversation compactions",
    "subagents": "subagents started",
    "commits": "git commits",
    "agent_assisted_commits": "commits with agent activity in the workspace in the 5 min before",
}

#: counters kept per minute (scope ``all``, per platform and per workspace) for
#: :data:`MINUTE_RETENTION_S`: the live 5-hour block finds where it started and its burn rate
#: from them (a project's block sums its workspaces').
MINUTE_COUNTERS: tuple[str, ...] = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_nusd",
)
#: dimensions (besides scope ``all``) that have a per-minute series.
MINUTE_DIMENSIONS: tuple[str, ...] = ("platform", "workspace")
#: how long a minute is kept (a day: the live block looks back that far), and the chunk size.
MINUTE_RETENTION_S = 86400
MINUTE_CHUNK_S = 3600

#: an event gap longer than this is idle time (active-time and agent-assisted-commit windows).
IDLE_GAP_S = 300


# -- scopes and periods ------------------------------------------------------------------------


def scope(dimension: str | None = None, value: str | None = None) -> str:
    """``all`` or ``<dimension>=<value>``."""
    if dimension is None:
        return "all"
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    return f"{dimension}={value}"


def day_period(day: str) -> str:
    """Period of a UTC day given as ``YYYY-MM-DD``."""
    return "d" + day


def hour_period(hour: str) -> str:
    """Period of a UTC hour given as ``YYYY-MM-DDTHH``."""
    return "h" + hour


def periods_of(timestamp: str) -> tuple[str, str, str]:
    """(total, day, hour) periods of an envelope timestamp (``2026-11-23T18:04:05.123Z``)."""
    return "total", "d" + timestamp[:10], "h" + timestamp[:13]


# -- key builders ------------------------------------------------------------------------------


def counters_key(scope_: str, period: str = "total") -> str:
    """HASH of counters (:data:`COUNTERS`) of one scope and period."""
    return f"{PREFIX}c:{scope_}:{period}"


def index_key(dimension: str) -> str:
    """ZSET of the values seen for a dimension, scored by last-seen unix seconds."""
    return f"{PREFIX}idx:{dimension}"


def minute_chunk_key(scope_: str, hour_start: int) -> str:
    """HASH of a scope's per-minute counters in one hour: ``<minute start>|<counter>`` -> value.
    It expires :data:`MINUTE_RETENTION_S` after the hour ends."""
    return f"{PREFIX}min:{scope_}:{hour_start}"


def minute_chunk_keys(scope_: str, start_s: int, end_s: int) -> list[str]:
    """The chunk keys covering ``[start_s, end_s]`` (read each with HGETALL)."""
    first = start_s - start_s % MINUTE_CHUNK_S
    return [minute_chunk_key(scope_, h) for h in range(first, end_s + 1, MINUTE_CHUNK_S)]


def minute_field(minute_start: int, counter: str) -> str:
    return f"{minute_start}|{counter}"


def parse_minute_field(field: bytes | str) -> tuple[int, str]:
    """(minute start, counter) of a field of a ``min:`` hash."""
    text = field.decode() if isinstance(field, bytes) else field
    minute, _, counter = text.partition("|")
    return int(minute), counter


def parse_minute_fields(fields: list[bytes] | list[str]) -> tuple[list[int], list[str]]:
    """(minute starts, counters) of many fields of ``min:`` hashes, in order: one decode and one
    split for all of them (the live block reads a day of fields, thousands, per status line)."""
    if not fields:
        return [], []
    text = b"|".join(fields).decode() if isinstance(fields[0], bytes) else "|".join(fields)  # type: ignore[arg-type]
    parts = text.split("|")
    return [int(m) for m in parts[::2]], parts[1::2]


META_KEY = f"{PREFIX}meta"

# Worker bookkeeping (private).
FACTS_KEY = f"{PREFIX}fact"  # HASH fact id -> state of the best source applied
ASSISTED_KEY = f"{PREFIX}assisted"  # SET of commit ids already counted as agent-assisted
COMMIT_TARGETS_KEY = f"{PREFIX}committargets"  # HASH commit id -> counters to bump if assisted


def applied_key(group: str) -> str:
    """Bitmap: bit ``sequence`` set once that raw_traces row's effects were applied."""
    return f"{PREFIX}applied:{group}"


def distinct_key(scope_: str, period: str) -> str:
    """SET of session ids counted in ``sessions`` for a scope and period."""
    return f"{PREFIX}distinct:{scope_}:{period}"


def active_key(session_id: str) -> str:
    """ZSET of the seconds a session had events (member = score = unix s)."""
    return f"{PREFIX}active:{session_id}"


def workspace_activity_key(workspace: str) -> str:
    """ZSET of the seconds a workspace had agent activity."""
    return f"{PREFIX}wsact:{workspace}"


def workspace_commits_key(workspace: str) -> str:
    """ZSET of a workspace's commit ids scored by commit time (unix s)."""
    return f"{PREFIX}wscommit:{workspace}"


def all_keys_pattern() -> str:
    """SCAN pattern matching every metric key (used by ``rebuild metrics``)."""
    return PREFIX + "*"


# -- reading counters --------------------------------------------------------------------------


def decode_counters(raw: Mapping[bytes | str, bytes | str]) -> dict[str, int]:
    """HGETALL of a ``c:`` key -> {counter: int} (missing counters are 0)."""
    values = {name: 0 for name in COUNTERS}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        values[name] = int(value)
    return values


def cost_usd(counters: Mapping[str, int]) -> float | None:
    """The cost in USD of a decoded counters hash, or None when every request was unpriced."""
    if counters.get("requests", 0) and counters.get("unpriced_requests", 0) >= counters["requests"]:
        return None
    return counters.get("cost_nusd", 0) / 1e9


def unix_seconds(timestamp: str) -> int:
    """Envelope timestamp -> unix seconds."""
    return int(datetime.fromisoformat(timestamp).timestamp())


def day_of(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d")
