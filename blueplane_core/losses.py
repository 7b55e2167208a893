"""Events a hook could hand neither to Redis nor to the spool: counted where a full disk cannot
stop the count.

A hook whose XADD fails spools the event to disk; when the disk is full too, the event is lost.
That loss must not be silent: ``record`` adds one to a counter kept in a file of fixed size
(``SIZE`` bytes, created by ``blueplane up`` before any disk fills), rewritten in place, so
counting needs no new block. ``status`` shows it (``read``). Standard library only: the hooks
import this module.
"""

from __future__ import annotations

import fcntl
import os
import time

#: the counter file is exactly this long: "<count> <last unix time>" padded with spaces.
SIZE = 64
NAME = "hook_losses"


def counter_file(home: str) -> str:
    return os.path.join(home, "state", NAME)


def prepare(home: str) -> None:
    """Create the counter file at its full size if it is missing (done while there is room)."""
    path = counter_file(home)
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, _encode(0, 0))
    finally:
        os.close(fd)


def record(home: str, count: int = 1) -> bool:
    """Add ``count`` lost events; False if even that was impossible (no counter file)."""
    try:
        fd = os.open(counter_file(home), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # parallel hooks: no lost increment
        total, _last = _decode(os.pread(fd, SIZE, 0))
        os.pwrite(fd, _encode(total + count, int(time.time())), 0)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def read(home: str) -> tuple[int, int]:
    """(events lost, unix time of the last loss); (0, 0) without a counter file."""
    try:
        with open(counter_file(home), "rb") as handle:
            return _decode(handle.read(SIZE))
    except OSError:
        return 0, 0


def _encode(total: int, last: int) -> bytes:
    return f"{total} {last}".encode().ljust(SIZE - 1) + b"\n"


def _decode(raw: bytes) -> tuple[int, int]:
    parts = raw.split()
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 0, 0
