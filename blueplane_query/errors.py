"""What can go wrong on the query side: exceptions carrying their one-line message and exit code.

The CLI prints ``str(error)`` on stderr and exits with ``error.exit_code``; the MCP server returns
the same line as a tool error. Nobody ever sees a traceback for these.
"""

from __future__ import annotations

#: exit codes (sysexits-style, so scripts can tell "nothing captured yet" from "Redis is down").
EXIT_OK = 0
EXIT_NOT_FOUND = 1  # an unknown session id, nothing to export
EXIT_USAGE = 2  # a bad option value (the same code typer/click use for usage errors)
EXIT_UNHEALTHY = 3  # `status`: the report is printed, and something in it is unhealthy
EXIT_NO_DATABASE = 66  # EX_NOINPUT: the database file does not exist yet
EXIT_DATA_ERROR = 65  # EX_DATAERR: a file that is not what it should be (team aggregate input)
EXIT_REDIS_UNAVAILABLE = 69  # EX_UNAVAILABLE: same as blueplane_core.lifecycle
EXIT_QUERY_TIMEOUT = 75  # EX_TEMPFAIL: a statement ran past the query time limit


class QueryError(Exception):
    """An expected failure: its message is the single line the user sees."""

    exit_code = EXIT_NOT_FOUND


class NoDatabase(QueryError):
    exit_code = EXIT_NO_DATABASE


class NotFound(QueryError):
    exit_code = EXIT_NOT_FOUND


class BadOption(QueryError):
    exit_code = EXIT_USAGE


class BadInput(QueryError):
    exit_code = EXIT_DATA_ERROR


class RedisUnavailable(QueryError):
    exit_code = EXIT_REDIS_UNAVAILABLE


class Unhealthy(QueryError):
    """``status`` found problems (the message lists them)."""

    exit_code = EXIT_UNHEALTHY


class QueryTimeout(QueryError):
    exit_code = EXIT_QUERY_TIMEOUT


class AccessDenied(QueryError):
    """The read-only connection refused a statement (a private table, or a write)."""

    exit_code = EXIT_USAGE
