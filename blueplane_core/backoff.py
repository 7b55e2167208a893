"""Waiting out failures that are not the data's fault: Redis down, still loading its data,
read-only or refusing writes (MISCONF after a failed save, NOREPLICAS, OOM), a full or read-only
disk under SQLite.

A consumer that meets one of these keeps its batch in memory and tries the same batch again
after a growing pause: nothing is acknowledged that was not stored, and re-reading is avoided
because every re-read raises the entries' delivery counts towards the dead-letter queue, where a
full disk would otherwise send perfectly good events. The log gets one line when the trouble
starts, one a minute while it lasts (with how many attempts failed), and one when work resumes.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from blueplane_core.lifecycle import Shutdown

T = TypeVar("T")

#: Redis error replies that describe the server's state, not the command.
_REDIS_STATES = (
    "MISCONF",
    "READONLY",
    "LOADING",
    "OOM",
    "NOREPLICAS",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "UNBLOCKED",  # a blocking read on a master that a cluster failover just demoted
)
#: SQLite messages of a disk or lock problem (SQLITE_FULL, IOERR, READONLY, CANTOPEN, BUSY).
_SQLITE_STATES = (
    "disk is full",
    "disk i/o error",
    "readonly",
    "read-only",
    "unable to open",
    "database is locked",
)
_OS_STATES = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO}


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the bus or the disk cannot take writes right now (retrying the same
    work later will succeed), as opposed to something wrong with the work itself."""
    from blueplane_core import resp

    if isinstance(exc, resp.Unavailable):
        return True  # the small client (capture processes) could not reach any node in time
    if isinstance(exc, resp.ReplyError):
        return str(exc).split(" ", 1)[0].upper() in _REDIS_STATES
    redis = sys.modules.get("redis")  # an error of redis-py only where redis-py is loaded
    if redis is not None:
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return True  # includes BusyLoadingError: Redis replaying its append-only file
        if isinstance(exc, redis.exceptions.SlotNotCoveredError):
            return True  # a cluster client that has not yet learnt who took over {bp}'s slot
        if isinstance(exc, redis.ResponseError):
            return str(exc).lstrip("-").split(" ", 1)[0].upper() in _REDIS_STATES
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(state in text for state in _SQLITE_STATES)
    if isinstance(exc, OSError):
        return exc.errno in _OS_STATES
    return False


class Backoff:
    """Pauses between attempts (doubling from ``first_s`` to ``max_s``) and rate-limited logs."""

    def __init__(
        self,
        log: logging.Logger,
        shutdown: Shutdown,
        first_s: float = 0.1,
        max_s: float = 5.0,
        log_every_s: float = 60.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.log = log
        self.shutdown = shutdown
        self.first_s = first_s
        self.max_s = max_s
        self.log_every_s = log_every_s
        self.on_wait = on_wait  # e.g. a heartbeat: waiting is alive, and says why
        self.delay = first_s
        self.failures = 0  # attempts failed in the current streak
        self.total = 0  # attempts failed since the start (for the heartbeat)
        self._since = 0.0
        self._logged_at = -1e18

    def wait(self, exc: BaseException, doing: str) -> bool:
        """Count a failed attempt, log if a minute passed, pause; False if shutting down."""
        now = time.monotonic()
        if self.failures == 0:
            self._since = now
        self.failures += 1
        self.total += 1
        if now - self._logged_at >= self.log_every_s:
            self._logged_at = now
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            self.log.warning(
                "%s waits: %s: %s (%d attempt(s) over %.0fs; retrying, next log in %.0fs)",
                doing,
                type(exc).__name__,
                reason,
                self.failures,
                now - self._since,
                self.log_every_s,
            )
        if self.on_wait is not None:
            self.on_wait(f"waiting: {type(exc).__name__} while {doing}")
        stop = self.shutdown.wait(self.delay)
        self.delay = min(self.delay * 2, self.max_s)
        return not stop

    def succeeded(self) -> None:
        """The work went through: log the recovery once and reset the pause."""
        if self.failures:
            self.log.info(
                "resumed after %d failed attempt(s) over %.0fs",
                self.failures,
                time.monotonic() - self._since,
            )
            self._logged_at = -1e18
        self.failures = 0
        self.delay = self.first_s


def until_done(step: Callable[[], T], backoff: Backoff, doing: str) -> T | None:
    """``step()``, repeated after transient failures (a process starting on a full disk or
    before Redis finished loading); None if shutdown came first. Other errors are raised."""
    while not backoff.shutdown.requested:
        try:
            result = step()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if not backoff.wait(exc, doing):
                return None
            continue
        backoff.succeeded()
        return result
    return None
