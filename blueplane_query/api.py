"""The REST API under ``/api/v1``: one table of endpoints, each a call of a report function.

Every endpoint answers ``GET`` with the same dict, and so the same JSON keys, as the ``bp-query
--json`` command of the same name (docs/query.md): an endpoint parses its query parameters into
a :class:`~blueplane_query.filters.Filter` and keyword arguments, runs one function of
``blueplane_query.reports`` (or ``health`` / ``export``) on a read-only
:class:`~blueplane_query.store.Store` in a worker thread, and returns the dict. No endpoint holds
logic of its own, and none writes anything. The same table generates the OpenAPI document
(``openapi.py``), so the document cannot list a parameter the code does not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blueplane_query.errors import (
    AccessDenied,
    BadOption,
    NoDatabase,
    NotFound,
    QueryError,
    QueryTimeout,
    RedisUnavailable,
)

PREFIX = "/api/v1"

#: HTTP status of each expected failure (the body is ``{"error": <the CLI's one line>}``).
STATUS = (
    (BadOption, 400),
    (NotFound, 404),
    (AccessDenied, 403),
    (NoDatabase, 503),
    (RedisUnavailable, 503),
    (QueryTimeout, 504),
    (QueryError, 500),
)


def status_of(exc: QueryError) -> int:
    return next(code for kind, code in STATUS if isinstance(exc, kind))


@dataclass(frozen=True)
class Param:
    """One query parameter: its JSON-schema type, limits and default."""

    name: str
    kind: str  # "string" | "integer" | "number" | "boolean"
    help: str
    default: Any = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, raw: str | None) -> Any:
        if raw is None or raw == "":
            return self.default
        try:
            value: Any
            if self.kind == "integer":
                value = int(raw)
            elif self.kind == "number":
                value = float(raw)
            elif self.kind == "boolean":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                value = raw.lower() in ("true", "1")
            else:
                value = raw
        except ValueError:
            raise BadOption(f"{self.name}={raw!r}: expected {self.kind}") from None
        if self.enum and value not in self.enum:
            raise BadOption(f"{self.name}={raw!r}: use one of {', '.join(self.enum)}")
        if self.minimum is not None and value < self.minimum:
            raise BadOption(f"{self.name}={raw!r}: at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise BadOption(f"{self.name}={raw!r}: at most {self.maximum:g}")
        return value


FILTER_PARAMS = (
    Param("since", "string", "start: 7d, 24h, 30m, today, yesterday, or an ISO date/time (UTC)"),
    Param("until", "string", "end (exclusive), same forms"),
    Param("platform", "string", "only this platform: claude_code, cursor, git, ..."),
    Param("project", "string", "only this project: a project hash or its first characters"),
    Param("tz", "string", "time zone of days, weeks and months (Europe/Berlin, UTC, +05:30)"),
)


@dataclass(frozen=True)
class Endpoint:
    """A GET endpoint: its path, what it returns, its parameters and the call it makes."""

    path: str
    name: str
    summary: str
    run: Callable[[dict[str, Any]], Any]
    params: tuple[Param, ...] = ()
    filters: bool = True
    #: the answer's top-level keys and their JSON types (checked against real answers by a test)
    keys: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    #: not JSON: a file download (export)
    download: bool = False

    def arguments(self, query: dict[str, str], path_params: dict[str, str]) -> dict[str, Any]:
        """Parsed parameters (unknown names are an error: a typo must not silently widen)."""
        from blueplane_query.filters import Filter

        known = {p.name for p in self.params} | (
            {p.name for p in FILTER_PARAMS} if self.filters else set()
        )
        unknown = sorted(set(query) - known)
        if unknown:
            raise BadOption(f"unknown parameter {unknown[0]!r} for {self.path}")
        args: dict[str, Any] = {p.name: p.parse(query.get(p.name)) for p in self.params}
        args.update(path_params)
        if self.filters:
            args["filter"] = Filter.parse(
                query.get("since"),
                query.get("until"),
                query.get("platform"),
                query.get("project"),
                tz=query.get("tz"),
            )
        return args


def _store(fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
    from blueplane_query.store import run

    return run(fn, *a, **kw)


# -- the calls: one report function each --------------------------------------------------------


def _metrics(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import overview

    return _store(overview.current_metrics, a["filter"], live=overview.live_reader())


def _overview(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import overview

    return _store(overview.overview_cards, a["filter"], live=overview.live_reader())


def _live(a: dict[str, Any]) -> Any:
    from blueplane_query.filters import Filter
    from blueplane_query.live import connect, snapshot

    with connect() as reader:
        return snapshot(reader, Filter(platform=a["platform"]))


def _sessions(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import sessions

    return _store(
        sessions.list_sessions,
        a["filter"],
        min_acceptance=a["min_acceptance"],
        limit=a["limit"],
        page=a["page"],
    )


def _session(a: dict[str, Any]) -> Any:
    from blueplane_query.periods import zone
    from blueplane_query.reports import sessions

    return _store(sessions.session_detail, a["session_id"], zone=zone(a["tz"]))


def _timeline(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import sessions

    return _store(sessions.session_timeline, a["session_id"])


def _tools(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import tools

    return _store(tools.tool_performance, a["filter"])


def _heatmap(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import tools

    return _store(tools.tool_heatmap, a["filter"], top=a["top"])


def _costs(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import costs

    return _store(costs.costs, a["filter"], by=a["by"])


def _requests(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import ledger

    return _store(
        ledger.list_requests,
        a["filter"],
        session_id=a["session"],
        limit=a["limit"],
        page=a["page"],
    )


def _commits(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import commits

    return _store(commits.commit_share, a["filter"])


def _insights(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import insights

    return _store(insights.list_insights, a["filter"], limit=a["limit"])


def _acceptance(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import acceptance

    return _store(acceptance.analyze_acceptance, a["filter"], top=a["top"])


def _errors(a: dict[str, Any]) -> Any:
    from blueplane_query.reports import errors

    return _store(errors.error_patterns, a["filter"], top=a["top"])


def _export(a: dict[str, Any]) -> Any:
    from blueplane_query.export import export_download

    return _store(export_download, a["filter"], fmt=a["format"], anonymize=a["anonymize"])


def _health(a: dict[str, Any]) -> Any:
    from blueplane_query.health import pipeline_health

    return pipeline_health()


_FILTER_KEYS: dict[str, str | tuple[str, ...]] = {"filter": "object"}
_PERIOD_KEYS: dict[str, str | tuple[str, ...]] = {"filter": "object", "period": "object"}
_TOP = Param("top", "integer", "rows per breakdown", 15, minimum=1, maximum=100)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/metrics",
        "metrics",
        "Headline metrics of a period (default: the last 7 days) vs the period before, and "
        "today's live counters (`bp-query metrics`).",
        _metrics,
        keys={
            **_PERIOD_KEYS,
            "previous_period": "object",
            "figures": "object",
            "live": "object",
            "copilot": ("object", "null"),
            "empty": "boolean",
            "database": "string",
        },
    ),
    Endpoint(
        "/metrics/overview",
        "overview",
        "Today, the last 7 and 30 days: cost computed and official side by side, tokens, "
        "sessions, acceptance, error rates, active hours.",
        _overview,
        keys={
            **_FILTER_KEYS,
            "tz": "string",
            "cards": "array",
            "official_available": "boolean",
            "provenance": "object",
        },
    ),
    Endpoint(
        "/metrics/live",
        "live",
        "Live counters of this hour, today and all time, and the current 5-hour block, from "
        "Redis (what /ws/metrics pushes and `bp-query watch --json` prints).",
        _live,
        params=(Param("platform", "string", "only this platform"),),
        filters=False,
        keys={
            "scope": "string",
            "at": "string",
            "zone": "string",
            "today": "object",
            "this_hour": "object",
            "total": "object",
            "block": ("object", "null"),
        },
    ),
    Endpoint(
        "/sessions",
        "sessions",
        "Sessions, newest first, paged (`bp-query sessions`).",
        _sessions,
        params=(
            Param("min_acceptance", "number", "only sessions at or above (0-1)", None, None, 0, 1),
            Param("limit", "integer", "rows per page", 20, minimum=1, maximum=200),
            Param("page", "integer", "page number, 1 = newest", 1, minimum=1),
        ),
        keys={
            "filter": "object",
            "page": "integer",
            "limit": "integer",
            "total": "integer",
            "sessions": "array",
            "provenance": "object",
        },
    ),
    Endpoint(
        "/sessions/{session_id}",
        "session",
        "Deep analysis of one session (`bp-query session ID`).",
        _session,
        params=(FILTER_PARAMS[-1],),
        filters=False,
        keys={
            "session": "object",
            "by_model": "array",
            "tools": "array",
            "errors": "object",
            "edits": "object",
            "timeline": "array",
            "insights": "array",
            "provenance": "object",
            "tz": "string",
        },
    ),
    Endpoint(
        "/sessions/{session_id}/timeline",
        "session_timeline",
        "One session in time order: turns (prompts, compactions, subagents), tool calls with "
        "their results, edits with their decisions.",
        _timeline,
        filters=False,
        keys={"session": "object", "total": "integer", "items": "array", "provenance": "object"},
    ),
    Endpoint(
        "/tools",
        "tools",
        "Calls, errors and P50/P95 duration per tool (`bp-query tools`).",
        _tools,
        keys={
            **_PERIOD_KEYS,
            "source": ("string", "null"),
            "tools": "array",
            "notes": "array",
            "provenance": "object",
        },
    ),
    Endpoint(
        "/tools/heatmap",
        "tool_heatmap",
        "Calls and errors per tool and UTC hour of day.",
        _heatmap,
        params=(Param("top", "integer", "tools shown", 12, minimum=1, maximum=50),),
        keys={
            **_PERIOD_KEYS,
            "hours": "array",
            "tools": "array",
            "max_calls": "integer",
            "provenance": "string",
        },
    ),
    Endpoint(
        "/costs",
        "costs",
        "Cost and tokens by day, week, month, model, project or 5-hour block "
        "(`bp-query costs --by day`, and so on).",
        _costs,
        params=(
            Param(
                "by",
                "string",
                "grouping",
                "day",
                enum=("day", "week", "month", "model", "project", "block"),
            ),
        ),
        keys={
            "filter": "object",
            "by": "string",
            "source": "string",
            "rows": "array",
            "totals": "object",
            "provenance": "object",
        },
    ),
    Endpoint(
        "/requests",
        "requests",
        "The request ledger: one row per API request (tokens, computed and official cost, "
        "sources), newest first, paged (`bp-query requests`).",
        _requests,
        params=(
            Param("session", "string", "only this session's requests (its full id)"),
            Param("limit", "integer", "rows per page", 50, minimum=1, maximum=500),
            Param("page", "integer", "page number, 1 = newest", 1, minimum=1),
        ),
        keys={
            "filter": "object",
            "page": "integer",
            "limit": "integer",
            "total": "integer",
            "requests": "array",
            "provenance": "object",
        },
    ),
    Endpoint(
        "/commits",
        "commits",
        "Commits and the share made with an agent's help (`bp-query commits`).",
        _commits,
        keys={
            **_FILTER_KEYS,
            "commits": "integer",
            "agent_assisted": "integer",
            "assisted_share": ("number", "null"),
            "lines_added": "integer",
            "lines_removed": "integer",
            "assisted_lines_added": "integer",
            "by_day": "array",
            "provenance": "object",
        },
    ),
    Endpoint(
        "/insights",
        "insights",
        "Workflow insights with their evidence (`bp-query insights`).",
        _insights,
        params=(Param("limit", "integer", "insights at most", 50, minimum=1, maximum=200),),
        keys={**_FILTER_KEYS, "total": "integer", "insights": "array"},
    ),
    Endpoint(
        "/acceptance",
        "acceptance",
        "Edit acceptance overall and by extension, tool, platform and day.",
        _acceptance,
        params=(_TOP,),
        keys={
            **_PERIOD_KEYS,
            "overall": "object",
            "by_extension": "array",
            "by_tool": "array",
            "by_platform": "array",
            "by_day": "array",
            "provenance": "string",
        },
    ),
    Endpoint(
        "/errors",
        "errors",
        "Where failures cluster: tools, sessions, API errors, error insights.",
        _errors,
        params=(Param("top", "integer", "rows per breakdown", 10, minimum=1, maximum=100),),
        keys={
            **_PERIOD_KEYS,
            "totals": "object",
            "failing_tools": "array",
            "errors_by_type": "array",
            "failing_programs": "array",
            "sessions_with_most_errors": "array",
            "insights": "array",
            "tool_source": ("string", "null"),
            "notes": "array",
            "provenance": "string",
        },
    ),
    Endpoint(
        "/export",
        "export",
        "The processed data as a download, in the formats of `bp-query export` (CSV and "
        "Parquet, one file per table, come as a zip).",
        _export,
        params=(
            Param(
                "format",
                "string",
                "file format",
                "json",
                enum=("json", "csv", "parquet", "markdown"),
            ),
            Param("anonymize", "boolean", "re-key every identifier", False),
        ),
        download=True,
    ),
    Endpoint(
        "/health",
        "health",
        "Pipeline health: processes, streams and lag, dead letters, database (`bp-query status`).",
        _health,
        filters=False,
        keys={
            "hook_losses": "object",
            "healthy": "boolean",
            "problems": "array",
            "supervisor": "boolean",
            "programs": "array",
            "checked_at": "number",
            "redis": "object",
            "processes": "array",
            "consumers": "array",
            "streams": "array",
            "dlq": ("object", "null"),
            "database": "object",
        },
    ),
)
