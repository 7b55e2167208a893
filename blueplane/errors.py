"""One error wrapper for every ``blueplane`` command: a one-line message and a documented exit
code (README, "Exit codes"), never a traceback, whatever a command meets.

Commands raise what they meet (a Redis that is down or read-only, a data folder that cannot be
used, a damaged database); this module turns each kind into its line and code in one place.
``BLUEPLANE_DEBUG=1`` shows the traceback of an unexpected error instead.
"""

from __future__ import annotations

import errno
import sqlite3
import sys

from blueplane_core import config, lifecycle

EXIT_OK = 0
EXIT_FAILED = 1  # the command could not do what was asked (its message says why)
EXIT_USAGE = 2  # a bad option or argument (typer/click's own code)
EXIT_UNHEALTHY = 3  # `status`: something is unhealthy (each problem is named)
EXIT_SOFTWARE = 70  # an unexpected error: a bug, please report it with BLUEPLANE_DEBUG=1
EXIT_REDIS_UNAVAILABLE = lifecycle.EXIT_REDIS_UNAVAILABLE  # 69: Redis down, loading or refusing
EXIT_CANT_CREATE = 73  # the data folder (BLUEPLANE_HOME) or a file in it cannot be used
EXIT_IO = 74  # the database cannot be read or written (disk full, damaged file)
EXIT_CONFIG = config.EXIT_CONFIG  # 78: a bad value in config.toml or the environment
EXIT_INTERRUPTED = 130


def explain(exc: BaseException, redis_url: str = "") -> tuple[int, str]:
    """(exit code, one line) for an error a command let through."""
    from blueplane_core import redis_conn, resp

    where = f" at {redis_url}" if redis_url else ""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, config.ConfigError):
        return EXIT_CONFIG, str(exc)
    redis = sys.modules.get("redis")  # redis-py's errors where something loaded it
    loading = redis is not None and isinstance(exc, redis.BusyLoadingError)
    if loading or (isinstance(exc, resp.ReplyError) and str(exc).startswith("LOADING")):
        return EXIT_REDIS_UNAVAILABLE, f"Redis{where} is still loading its data; try again shortly"
    unreachable: tuple[type[Exception], ...] = (resp.Unavailable,)
    if redis is not None:
        unreachable += (redis.ConnectionError, redis.TimeoutError)
    if isinstance(exc, unreachable):
        return (
            EXIT_REDIS_UNAVAILABLE,
            f"Redis{where} is not reachable ({_first_line(exc)}); start it with `blueplane up`",
        )
    if isinstance(exc, redis_conn.errors()):
        return EXIT_REDIS_UNAVAILABLE, f"Redis{where} refused: {_first_line(exc)}"
    if isinstance(exc, sqlite3.Error):
        return EXIT_IO, f"the database cannot be used: {_first_line(exc)}"
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, "")
        target = f" {exc.filename}" if exc.filename else ""
        what = exc.strerror or _first_line(exc)
        code = EXIT_IO if exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT) else EXIT_CANT_CREATE
        return code, f"cannot use{target}: {what}" + (f" ({name})" if name else "")
    return EXIT_SOFTWARE, (
        f"internal error: {type(exc).__name__}: {_first_line(exc)} "
        "(BLUEPLANE_DEBUG=1 shows the traceback)"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
