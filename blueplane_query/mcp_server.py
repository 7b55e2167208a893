"""``bp-mcp``: the MCP stdio server that lets an AI assistant read its own telemetry.

Each tool has a hand-written, exact JSON input schema; arguments are validated against it before
anything runs. The protocol itself (stdio, the initialize handshake) is ``mcp_stdio``: the SDK's
import alone took longer than the whole handshake may. Every read tool calls the same
``blueplane_query.reports`` function as the CLI command of the same name and returns its dict as
structured content (and as JSON text for clients that only read text).

Read-only by construction, like the CLI: SQLite through :class:`~blueplane_query.store.Store`,
Redis through the read-only reader. The two tracking tools (``log_decision``, ``log_outcome``) do
not write anywhere themselves: they emit an event onto the bus through
``blueplane_core.emit.Emitter`` like any capture (``source: mcp``, ``platform: blueplane``), and
the pipeline stores it.

stdout is the protocol channel: nothing here prints, and logging goes to stderr, configured in
:func:`main` only (never at import).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from blueplane_query.errors import QueryError

log = logging.getLogger("blueplane.mcp")

SERVER_NAME = "blueplane"

_FILTER_PROPS: dict[str, Any] = {
    "since": {
        "type": "string",
        "description": "Start of the period: '7d', '24h', '30m', '2w', '3mo', '1y', 'today', "
        "'yesterday', a date '2026-11-01', a month '2026-11', an ISO week '2026-W48', or an ISO "
        "date/time (days in the tz zone). Default for period metrics: the last 7 days.",
    },
    "until": {
        "type": "string",
        "description": "End of the period, same forms; a day, month or week given here is "
        "included (since=D, until=D is the day D).",
    },
    "platform": {
        "type": "string",
        "description": "Only this platform: claude_code, cursor, git, copilot, otel, ...",
    },
    "project": {
        "type": "string",
        "description": "Only this project: its folder name (e.g. 'blueplane'), its path, or "
        "its project hash (or the first characters of it). An unknown name is an error.",
    },
}


_TZ_PROP: dict[str, Any] = {
    "tz": {
        "type": "string",
        "description": "Time zone of days, weeks, months and blocks: an IANA name "
        "(Europe/Berlin), UTC, local, or an offset (+05:30). Default: the config's "
        "display.timezone, else the machine's zone.",
    }
}


def _schema(
    props: dict[str, Any] | None = None, required: list[str] | None = None, *, filters: bool = True
) -> dict[str, Any]:
    properties = {**({**_FILTER_PROPS, **_TZ_PROP} if filters else {}), **(props or {})}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


#: name -> (description, input schema, read_only)
TOOLS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "get_current_metrics": (
        "Headline metrics of a period (default: the last 7 days) compared with the period "
        "before: sessions, prompts, edit acceptance rate, tokens by kind, cost in USD (with the "
        "number of unpriced requests), tool and API error rates, lines changed, active hours and "
        "lines per active hour. Each figure has value, previous, change_pct and provenance "
        "(official / derived / estimated); cost also has official_usd, the cost the client "
        "itself reported. 'copilot' holds GitHub Copilot's own daily suggestion and acceptance "
        "numbers when imported. 'live' holds today's real-time counters from Redis.",
        _schema(),
        True,
    ),
    "get_session_metrics": (
        "With session_id: the deep analysis of one session (summary, timeline of turns, tools "
        "used, tokens and cost, errors, edits by file extension, insights). Without it: the "
        "list of sessions matching the filters, newest first, paged.",
        _schema(
            {
                "session_id": {
                    "type": "string",
                    "description": "A session id or an unambiguous "
                    "prefix of one (at least 4 characters).",
                },
                "min_acceptance": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "List only sessions with at least this edit "
                    "acceptance rate (0-1).",
                },
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
                "page": {"type": "integer", "minimum": 1, "default": 1},
            }
        ),
        True,
    ),
    "get_tool_performance": (
        "Per tool: calls, errors, error rate and P50/P95 duration in ms over the period "
        "(default: last 7 days). Durations are the stored calls' own (nearest rank). "
        "Filters by platform and project apply to every figure.",
        _schema(),
        True,
    ),
    "analyze_acceptance": (
        "Edit acceptance over the period (default: last 7 days): accepted, rejected and "
        "undecided edits with acceptance rate, lines and mean decision time, overall and by "
        "file extension, tool, platform and day.",
        _schema({"top": {"type": "integer", "minimum": 1, "maximum": 100, "default": 15}}),
        True,
    ),
    "get_error_patterns": (
        "Where failures cluster in the period (default: last 7 days): tool and API error "
        "totals and rates, the tools failing most, the sessions with the most errors, and "
        "error-related insights. Error texts are never stored, only counts and classes.",
        _schema({"top": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}),
        True,
    ),
    "get_costs": (
        "Cost in USD and tokens grouped by day, week, month, model or project, or as 5-hour "
        "billing blocks (with burn rate and, for the active block, a projection). Unpriced "
        "usage is counted separately, never as 0 USD.",
        _schema(
            {
                "by": {
                    "type": "string",
                    "enum": ["day", "week", "month", "model", "project", "block"],
                    "default": "day",
                }
            }
        ),
        True,
    ),
    "search_sessions": (
        "Find past sessions similar to a described task, from metadata only: the tools it "
        "would use, the file extensions it touches, its size and the outcome wanted. Returns "
        "the best matches with a 0-1 score and the parts of the score.",
        _schema(
            {
                "tools": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Tool names, e.g. ['Edit', 'Bash', 'Grep'].",
                },
                "file_extensions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Extensions, e.g. ['.py', '.md'].",
                },
                "size": {
                    "description": "small (~2 prompts), medium (~6), large (~15), or a number "
                    "of prompts.",
                    "anyOf": [
                        {"type": "string", "enum": ["small", "medium", "large"]},
                        {"type": "integer", "minimum": 1},
                    ],
                },
                "outcome": {
                    "type": "string",
                    "enum": ["clean", "errors", "rejected"],
                    "description": "clean: no errors and no rejected edit; errors: tool or "
                    "API errors; rejected: some edit was rejected.",
                },
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
            }
        ),
        True,
    ),
    "get_insights": (
        "Workflow insights found by the insights worker (e.g. error-prone tools, retry loops, "
        "low cache hit ratio), most severe first, each with its evidence numbers and a "
        "suggestion. Pattern-based ones are labelled heuristic.",
        _schema({"limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}),
        True,
    ),
    "log_decision": (
        "Record that you made a decision (emits a 'decision' event into Blueplane). Only the "
        "category, confidence, number of alternatives and the rationale's length are kept, "
        "never its text. Returns decision_id: pass it to log_outcome later.",
        _schema(
            {
                "category": {
                    "type": "string",
                    "enum": [
                        "architecture",
                        "implementation",
                        "tooling",
                        "debugging",
                        "testing",
                        "refactoring",
                        "other",
                    ],
                },
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "alternatives_considered": {"type": "integer", "minimum": 0, "maximum": 1000},
                "rationale": {"type": "string", "description": "Why; only its length is stored."},
                "session_id": {
                    "type": "string",
                    "maxLength": 256,
                    "description": "Your session id, to relate this to your session.",
                },
            },
            ["category"],
            filters=False,
        ),
        False,
    ),
    "log_outcome": (
        "Record how a task or decision turned out (emits an 'outcome' event into Blueplane). "
        "Only the result, whether tests passed and the summary's length are kept.",
        _schema(
            {
                "result": {
                    "type": "string",
                    "enum": ["success", "partial", "failure", "abandoned"],
                },
                "decision_id": {"type": "string", "description": "The id log_decision returned."},
                "tests_passed": {"type": "boolean"},
                "summary": {
                    "type": "string",
                    "description": "What happened; only its length is stored.",
                },
                "session_id": {"type": "string", "maxLength": 256},
            },
            ["result"],
            filters=False,
        ),
        False,
    ),
}


_UUID_CHARS = frozenset("0123456789abcdef-")


def tracking_id(given: str, kind: str) -> str:
    """An id a caller passed to a tracking tool, as it may be stored: a session or decision id
    of the known form (a lowercase UUID, as Claude Code, Cursor and ``log_decision`` issue
    them) as given, anything else as a keyed hash (it could be any text, and ids end up in
    key names and tables)."""
    if len(given) == 36 and _UUID_CHARS.issuperset(given) and given.count("-") == 4:
        return given
    from blueplane_core import privacy

    return "mcp-" + privacy.keyed_hash(privacy.load_secret(), given, kind)


class Tracking:
    """Emits decision / outcome events through the pipeline (lazy Redis connection)."""

    def __init__(self) -> None:
        self.session_id = f"mcp-{uuid.uuid4()}"  # this server run, when the caller gives none
        self._emitter: Any = None

    def _emit(self, event_type: str, session_id: str | None, payload: dict[str, Any]) -> str:
        from blueplane_core import config, events, redis_conn
        from blueplane_core.emit import Emitter

        if self._emitter is None:  # the small client: no redis-py in the MCP server
            self._emitter = Emitter(redis_conn.small_client(config.load()))
        event = events.make_event(
            event_type=event_type,
            platform="blueplane",
            source="mcp",
            session_id=tracking_id(session_id, "mcp_session") if session_id else self.session_id,
            hook_type=None,
            payload=payload,
        )
        try:
            if not self._emitter.emit(event):
                raise QueryError(f"{event_type} events are switched off in the privacy settings")
        except redis_conn.errors() as exc:
            self._emitter = None
            raise QueryError(f"Redis is not reachable, nothing was logged ({exc})") from None
        return str(event["event_id"])

    def decision(self, args: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"category": args["category"]}
        if "confidence" in args:
            payload["confidence"] = float(args["confidence"])
        if "alternatives_considered" in args:
            payload["alternatives"] = int(args["alternatives_considered"])
        payload["rationale_length"] = len(args.get("rationale") or "")
        event_id = self._emit("decision", args.get("session_id"), payload)
        return {
            "logged": True,
            "decision_id": event_id,
            "event_type": "decision",
            "kept": sorted(payload),
        }

    def outcome(self, args: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"result": args["result"]}
        if args.get("decision_id"):
            payload["decision_id"] = tracking_id(str(args["decision_id"]), "mcp_decision")
        if "tests_passed" in args:
            payload["tests_passed"] = bool(args["tests_passed"])
        payload["summary_length"] = len(args.get("summary") or "")
        event_id = self._emit("outcome", args.get("session_id"), payload)
        return {
            "logged": True,
            "event_id": event_id,
            "event_type": "outcome",
            "kept": sorted(payload),
        }


def _filter(args: dict[str, Any]) -> Any:
    from blueplane_query.filters import Filter

    return Filter.parse(
        args.get("since"),
        args.get("until"),
        args.get("platform"),
        args.get("project"),
        tz=args.get("tz"),
    )


def _with_store(fn: Callable[..., dict[str, Any]], *a: Any, **kw: Any) -> dict[str, Any]:
    from blueplane_query.store import run

    return run(fn, *a, **kw)


def run_tool(name: str, args: dict[str, Any], tracking: Tracking) -> dict[str, Any]:
    """Run one tool synchronously (the server calls it in a worker thread); raises QueryError."""
    from blueplane_query.reports import (
        acceptance,
        costs,
        errors,
        insights,
        overview,
        sessions,
        similar,
        tools,
    )

    if name == "get_current_metrics":
        return _with_store(overview.current_metrics, _filter(args), live=overview.live_reader())
    if name == "get_session_metrics":
        if args.get("session_id"):
            from blueplane_query.periods import zone

            return _with_store(
                sessions.session_detail, args["session_id"], zone=zone(args.get("tz"))
            )
        return _with_store(
            sessions.list_sessions,
            _filter(args),
            min_acceptance=args.get("min_acceptance"),
            limit=args.get("limit", 20),
            page=args.get("page", 1),
        )
    if name == "get_tool_performance":
        return _with_store(tools.tool_performance, _filter(args))
    if name == "analyze_acceptance":
        return _with_store(acceptance.analyze_acceptance, _filter(args), top=args.get("top", 15))
    if name == "get_error_patterns":
        return _with_store(errors.error_patterns, _filter(args), top=args.get("top", 10))
    if name == "get_costs":
        return _with_store(costs.costs, _filter(args), by=args.get("by", "day"))
    if name == "search_sessions":
        return _with_store(
            similar.search_sessions,
            _filter(args),
            tools=args.get("tools"),
            file_extensions=args.get("file_extensions"),
            size=args.get("size"),
            outcome=args.get("outcome"),
            limit=args.get("limit", 10),
        )
    if name == "get_insights":
        return _with_store(insights.list_insights, _filter(args), limit=args.get("limit", 50))
    if name == "log_decision":
        return tracking.decision(args)
    if name == "log_outcome":
        return tracking.outcome(args)
    raise QueryError(f"unknown tool {name!r}")


INSTRUCTIONS = (
    "Blueplane: local, privacy-first telemetry of your AI coding sessions. Read tools answer "
    "from processed data only; log_decision / log_outcome record metadata (never text)."
)


def tool_list() -> list[dict[str, Any]]:
    """``tools/list``: every tool with its exact input schema and its hints."""
    return [
        {
            "name": name,
            "description": description,
            "inputSchema": schema,
            "annotations": {
                "readOnlyHint": read_only,
                "destructiveHint": False,
                "idempotentHint": read_only,
                "openWorldHint": False,
            },
        }
        for name, (description, schema, read_only) in TOOLS.items()
    ]


class Server:
    """The MCP methods of this server, for :func:`blueplane_query.mcp_stdio.serve`."""

    def __init__(self) -> None:
        self.tracking = Tracking()
        self._validators: dict[str, Any] | None = None

    def handlers(self) -> dict[str, Any]:
        return {
            "initialize": self.initialize,
            "ping": lambda _params: {},
            "tools/list": lambda _params: {"tools": tool_list()},
            "tools/call": self.call_tool,
        }

    def initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        from blueplane_query.mcp_stdio import negotiated_version

        return {
            "protocolVersion": negotiated_version(params.get("protocolVersion")),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": SERVER_NAME, "version": _version()},
            "instructions": INSTRUCTIONS,
        }

    def validators(self) -> dict[str, Any]:
        """A JSON-schema validator per tool (built once; jsonschema is imported here, after the
        handshake, since initialize does not need it)."""
        if self._validators is None:
            import jsonschema

            self._validators = {
                name: jsonschema.Draft202012Validator(schema)
                for name, (_d, schema, _r) in TOOLS.items()
            }
        return self._validators

    def warm(self) -> None:
        """Import what the first tool call needs while the client reads the handshake."""
        self.validators()
        import blueplane_query.reports.overview  # noqa: F401  (pulls store, filters, periods)

    def call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        from blueplane_query.mcp_stdio import INVALID_PARAMS, RpcError
        from blueplane_query.output import dumps

        name, args = params.get("name"), params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(args, dict):
            raise RpcError(INVALID_PARAMS, "tools/call needs a tool name and an arguments object")
        validator = self.validators().get(name)
        if validator is None:
            return _tool_error(f"unknown tool {name!r}; call tools/list for the list")
        problems = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
        if problems:
            where = "/".join(str(p) for p in problems[0].path) or "arguments"
            return _tool_error(f"invalid arguments for {name}: {where}: {problems[0].message}")
        started = time.perf_counter()
        try:
            result = run_tool(name, args, self.tracking)
        except QueryError as exc:
            log.info("tool %s: %s", name, exc)
            return _tool_error(str(exc))
        except Exception as exc:  # a bug must not kill the server; the log keeps the trace
            log.exception("tool %s failed", name)
            return _tool_error(f"internal error in {name}: {type(exc).__name__}: {exc}")
        log.info("tool %s answered in %.0f ms", name, (time.perf_counter() - started) * 1000)
        text = dumps(result, pretty=False).decode()
        return {
            "content": [{"type": "text", "text": text}],
            "structuredContent": result,
            "isError": False,
        }


def _tool_error(text: str) -> dict[str, Any]:
    """A tool's failure, told to the model as the tool's result (not a protocol error)."""
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("blueplane")
    except Exception:
        return "0"


def main() -> None:
    """Console-script entry point (``bp-mcp``): serve MCP over stdin/stdout until EOF."""
    from blueplane_core import lifecycle, paths
    from blueplane_query import mcp_stdio

    paths.restrict_umask()
    lifecycle.setup_logging("bp-mcp")
    server = Server()
    try:
        mcp_stdio.serve(server.handlers(), after_initialize=server.warm)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
