"""``bp-query``: the read-only analytics CLI, a thin layer over ``blueplane_query.reports``.

Every command takes the same filter (``--since/--until/--platform/--project``) and ``--json``
(stable keys, documented in docs/query.md). Each command computes a plain dict with a library
function and either prints it as JSON or renders it with rich (``render.py``); none holds logic
of its own.

Why argparse and not typer here: a command must answer in 300 ms as a fresh process. The typer
installed here (0.29) builds a pydantic adapter for every parameter, which costs ~170 ms of
imports before a command runs (measured with ``python -X importtime``); argparse costs ~3 ms.
The ``blueplane`` admin CLI, where start-up time does not matter, stays typer (see
``install.py``). rich, pyarrow and the report modules are imported inside the command
that needs them.

Expected failures (no database yet, unknown session, Redis down, a bad option) print one line on
stderr and exit with a named code from ``blueplane_query.errors``; nothing prints a traceback
(``BLUEPLANE_DEBUG=1`` shows it for an unexpected error).

``bp-query statusline`` is answered before anything else is imported (argparse, typing and
pathlib cost ~15 ms, and Claude Code waits for the line): see :func:`main`.
"""

from __future__ import annotations

import os
import sys

from blueplane_query.errors import EXIT_USAGE, QueryError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any, NoReturn

PROG = "bp-query"


def _parser_class() -> type[argparse.ArgumentParser]:
    """argparse that reports a usage error in one line (and the usual exit code 2)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            print(f"{PROG}: {message} (see `{self.prog} --help`)", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)

    return _Parser


def _filter_args(p: argparse.ArgumentParser) -> None:
    from blueplane_query.filters import TIME_FORMS

    p.add_argument("--since", help=f"start: {TIME_FORMS} (days in the --tz zone)")
    p.add_argument(
        "--until",
        help="end, same forms; a day, month or week is included (--since D --until D = day D)",
    )
    p.add_argument("--platform", help="only this platform: claude_code, cursor, git, ...")
    p.add_argument(
        "--project", help="only this project: its folder name, its path, or its hash (or a prefix)"
    )


def _tz_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tz",
        help="time zone of days, weeks, months and times shown (Europe/Berlin, UTC, +05:30); "
        "default: config display.timezone, else this machine's zone",
    )


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        dest="as_json",
        help="machine-readable output (stable keys, see docs/query.md)",
    )


def _fraction(text: str) -> float:
    import argparse

    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("a fraction between 0 and 1 (0.8 = 80%%)")
    return value


def _positive(text: str) -> int:
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    from pathlib import Path

    _Parser = _parser_class()
    parser = _Parser(
        prog=PROG,
        description="Read-only analytics over what Blueplane captured (never writes anything).",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="read the demo's own data (`blueplane demo`, ~/.blueplane-demo), not yours",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str, *, filters: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if filters:
            _filter_args(p)
        _tz_arg(p)
        _json_arg(p)
        return p

    command(
        "metrics",
        "Current metrics (acceptance, tokens, cost, errors, productivity) versus "
        "the previous period.",
    )
    p = command("sessions", "Sessions, newest first, with size, tokens, cost and outcome.")
    p.add_argument("--min-acceptance", type=_fraction, help="only sessions at or above (0-1)")
    p.add_argument("--limit", type=_positive, default=20, help="rows per page (default 20)")
    p.add_argument("--page", type=_positive, default=1, help="page number, 1 = newest")
    p = command(
        "session",
        "Deep analysis of one session: timeline, tools, tokens and cost, errors, edits, insights.",
        filters=False,
    )
    p.add_argument("session_id", help="a session id, or its first characters")
    command("tools", "Calls, errors and P50/P95 duration per tool.")
    p = command(
        "costs",
        "Cost and tokens by day, week, month, model or project, or 5-hour "
        "billing blocks with burn rate.",
    )
    p.add_argument(
        "--by", default="day", choices=("day", "week", "month", "model", "project", "block")
    )
    p = command(
        "requests",
        "The request ledger: one row per API request with its tokens and its computed and "
        "official cost, newest first.",
    )
    p.add_argument("--session", help="only this session's requests (its full id)")
    p.add_argument("--limit", type=_positive, default=50, help="rows per page (default 50)")
    p.add_argument("--page", type=_positive, default=1, help="page number, 1 = newest")
    command("commits", "Commits and the share made with an agent's help.")
    p = command("insights", "Workflow insights (heuristics, each with its evidence numbers).")
    p.add_argument("--limit", type=_positive, default=50)
    command(
        "status",
        "Pipeline health: processes, streams and lag, dead letters, database "
        "(the same as `blueplane status`).",
        filters=False,
    )
    p = sub.add_parser(
        "statusline",
        help="One line for Claude Code's status bar (reads its JSON on stdin; never fails).",
        description="Today's cost, the current 5-hour block (cost, time left, burn rate) and the "
        "session's cost, for Claude Code's statusLine; `blueplane install statusline` sets it up.",
    )
    p.add_argument("--chain", metavar="COMMAND", help="also show this status-line command's line")
    p = command(
        "watch", "A live view of the metrics, refreshed from Redis (--json: one line per refresh)."
    )
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument("--count", type=int, default=0, help="refreshes before exiting (0 = Ctrl-C)")
    p = command("export", "Export processed data (sessions, turns, edits, commits, insights).")
    p.add_argument(
        "-f", "--format", dest="fmt", required=True, choices=("json", "csv", "parquet", "markdown")
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="file to write")
    p.add_argument(
        "--anonymize",
        action="store_true",
        help="re-key every identifier, drop anything that could identify anyone",
    )
    team = sub.add_parser("team", help="Team reports from anonymized exports.")
    team_sub = team.add_subparsers(
        dest="team_command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    p = team_sub.add_parser("aggregate", help="Merge anonymized JSON exports into one report.")
    p.add_argument("files", nargs="+", type=Path, help="anonymized JSON exports")
    p.add_argument("-o", "--output", type=Path, help="also write the report here (JSON)")
    _tz_arg(p)
    _json_arg(p)
    return parser


# -- commands: each returns (compute, name of the render function) ----------------------------


def _filter(a: argparse.Namespace) -> Any:
    from blueplane_query.filters import Filter

    return Filter.parse(a.since, a.until, a.platform, a.project, tz=a.tz)


def _with_store(fn: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    from blueplane_query.store import run

    return run(fn, *args, **kwargs)


def _metrics(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.reports import overview

    return _with_store(overview.current_metrics, _filter(a), live=overview.live_reader())


def _sessions(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.reports import sessions

    return _with_store(
        sessions.list_sessions,
        _filter(a),
        min_acceptance=a.min_acceptance,
        limit=a.limit,
        page=a.page,
    )


def _session(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.periods import zone
    from blueplane_query.reports import sessions

    return _with_store(sessions.session_detail, a.session_id, zone=zone(a.tz))


def _tools(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.reports import tools

    return _with_store(tools.tool_performance, _filter(a))


def _costs(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.reports import costs

    return _with_store(costs.costs, _filter(a), by=a.by)


def _requests(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.reports import ledger

    return _with_store(
        ledger.list_requests, _filter(a), session_id=a.session, limit=a.limit, page=a.page
    )


def _commits(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.reports import commits

    return _with_store(commits.commit_share, _filter(a))


def _insights(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.reports import insights

    return _with_store(insights.list_insights, _filter(a), limit=a.limit)


def _status(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.errors import RedisUnavailable
    from blueplane_query.health import pipeline_health

    health = pipeline_health()
    if not health["redis"]["reachable"]:
        if a.as_json:  # the JSON still says all it can; the exit code says Redis is down
            from blueplane_query.output import write_json

            write_json(health)
        raise RedisUnavailable(health["redis"]["error"])
    return health


def _export(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.export import export

    return _with_store(export, _filter(a), fmt=a.fmt, output=a.output, anonymize=a.anonymize)


def _team(a: argparse.Namespace) -> dict[str, Any]:
    from blueplane_query.team import aggregate

    return aggregate(a.files, output=a.output)


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "metrics": _metrics,
    "sessions": _sessions,
    "session": _session,
    "tools": _tools,
    "costs": _costs,
    "requests": _requests,
    "commits": _commits,
    "insights": _insights,
    "status": _status,
    "export": _export,
    "team": _team,
}


def _answer(args: argparse.Namespace) -> int:
    """Run a command; print JSON or render it; map expected failures to one line + exit code."""
    try:
        if args.command == "watch":
            from blueplane_query.live import watch

            watch(
                _filter(args),
                interval=max(args.interval, 0.1),
                count=max(args.count, 0),
                as_json=args.as_json,
            )
            return 0
        result = COMMANDS[args.command](args)
        if args.as_json:
            from blueplane_query.output import write_json

            write_json(result)
        else:
            from blueplane_query import render
            from blueplane_query.output import console

            console().print(getattr(render, args.command)(result))
        if args.command == "status" and not result["healthy"]:
            from blueplane_query.errors import Unhealthy

            raise Unhealthy("unhealthy: " + "; ".join(result["problems"]))
        return 0
    except QueryError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0 if args.command == "watch" else 130
    except BrokenPipeError:  # `bp-query sessions | head`
        return 0
    except Exception as exc:
        if os.environ.get("BLUEPLANE_DEBUG"):
            raise
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} "
            "(BLUEPLANE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (``bp-query``)."""
    os.umask(0o077)  # = paths.restrict_umask(), without importing more before a command runs
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["statusline"] and "-h" not in argv and "--help" not in argv:
        # Claude Code runs it after every message: no parser, no usage errors, always a line
        from blueplane_query import statusline

        if own_process:
            statusline.short_lived()
        code = statusline.run(argv[1:])
        if own_process:  # as the launcher does: the line is out, skip the interpreter's teardown
            sys.stdout.flush()
            os._exit(code)
        return code
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    if args.demo:
        from blueplane_core import paths
        from blueplane_query.errors import EXIT_NO_DATABASE

        demo_home = paths.demo_home()
        if not demo_home.exists():
            print(
                f"{PROG}: no demo data in {demo_home}: run `blueplane demo` first", file=sys.stderr
            )
            return EXIT_NO_DATABASE
        os.environ["BLUEPLANE_HOME"] = str(demo_home)  # same switch as `blueplane demo` makes
        os.environ.pop("BLUEPLANE_REDIS_URL", None)
    return _answer(args)


if __name__ == "__main__":
    sys.exit(main())
