"""Files a capture process could not read: counted, logged once, retried later.

One unreadable transcript or spool file must never stop capture of everything else (issue 12).
A monitor asks :meth:`FileFaults.due` before touching a file that failed, reports a failure
with :meth:`failed` and a success with :meth:`recovered`. A failing file is logged once per
failure streak (not on every poll), named with ``paths.for_log`` and the error's kind only:
``str(OSError)`` carries the full path, and a parser's message may carry record values.
"""

from __future__ import annotations

import errno
import logging
import time
from pathlib import Path

#: a file that failed is tried again after this long (permissions fixed, file completed...).
RETRY_S = 60.0


def describe(exc: BaseException) -> str:
    """The kind of an error without its message (no path, no payload): ``PermissionError
    (EACCES)``, ``IsADirectoryError (EISDIR)``, ``ValueError``."""
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    return f"{type(exc).__name__} ({name})" if name else type(exc).__name__


class FileFaults:
    """Failing files of one monitor: when each may be tried again, and how many failures."""

    def __init__(self, log: logging.Logger, retry_s: float = RETRY_S) -> None:
        self.log = log
        self.retry_s = retry_s
        self.count = 0  # failures, for the heartbeat
        self._retry_at: dict[str, float] = {}

    def due(self, key: str, now: float | None = None) -> bool:
        """Whether ``key`` may be read now (it never failed, or its retry time came)."""
        at = self._retry_at.get(key)
        return at is None or (time.monotonic() if now is None else now) >= at

    def failed(self, key: str, shown: str, exc: BaseException, action: str = "skipped") -> None:
        """Count one failure of ``key``; log it if it starts a streak; retry after RETRY_S."""
        self.count += 1
        if key not in self._retry_at:
            self.log.warning(
                "%s %s: %s; retrying every %.0fs", shown, action, describe(exc), self.retry_s
            )
        self._retry_at[key] = time.monotonic() + self.retry_s

    def recovered(self, key: str, shown: str) -> None:
        if self._retry_at.pop(key, None) is not None:
            self.log.info("%s readable again", shown)

    @property
    def failing(self) -> int:
        """Files failing now (their retry is pending)."""
        return len(self._retry_at)

    def forget(self, keep: set[str]) -> None:
        """Drop files that are gone (a vanished file is not a failure to retry)."""
        for key in [k for k in self._retry_at if k not in keep]:
            del self._retry_at[key]


def is_regular_file(path: Path) -> bool:
    """A regular file, not a folder named like one, a FIFO or a dangling/looping symlink."""
    try:
        return path.is_file()
    except OSError:
        return False
