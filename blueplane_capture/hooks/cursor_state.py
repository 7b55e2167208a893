"""What a Cursor hook remembers about its conversation between fires: occurrence counters.

Cursor's shell, MCP, read and edit hooks carry no call id, so a call is keyed by "the n-th call
of this kind on this argument in this conversation" (``cursor_ids``); n is counted here, in one
small JSON file per conversation under ``<home>/state/cursor-hooks/``, named by a keyed hash.
The file holds keyed hashes and integers only. Cursor may fire hooks in parallel, so every
update is one read-modify-write under an exclusive lock (``posix.lockf``, a POSIX record lock
over the whole file: ``fcntl.flock`` would load a shared library on every fire). Anything
failing here yields occurrence 1 (the event is still captured). C modules only, like the rest
of ``hooks``.
"""

import posix

from blueplane_capture.hooks.primitives import keyed_hash
from blueplane_core.fast_start import dumps, ensure_private_dir, join, loads

#: a conversation's file stops growing at this many counters (oldest first out).
MAX_COUNTERS = 2000
#: files of conversations untouched this long are removed (at a conversation's start).
MAX_AGE_S = 30 * 86400


def _open(home: str, secret: bytes, session: str) -> int:
    """The conversation's file, opened for update (created, with its folder, when missing)."""
    folder = join(home, "state", "cursor-hooks")
    path = join(folder, keyed_hash(secret, session, "cursor_session") + ".json")
    flags = posix.O_RDWR | posix.O_CREAT
    try:
        return posix.open(path, flags, 0o600)
    except FileNotFoundError:  # the first conversation: the folder is made once, not per fire
        ensure_private_dir(folder)
        return posix.open(path, flags, 0o600)


def bump(home: str, secret: bytes, session: str, deltas: dict[str, int]) -> dict[str, int]:
    """Add each delta to its counter of ``session``; returns the new values. On any failure
    the values are the deltas themselves (as if it were the first call)."""
    try:
        fd = _open(home, secret, session)
    except OSError:
        return dict(deltas)
    try:
        posix.lockf(fd, posix.F_LOCK, 0)  # from offset 0 (just opened) to any length
        raw = b""
        while chunk := posix.read(fd, 1 << 16):
            raw += chunk
        try:
            counters = loads(raw.decode()) if raw else {}
        except ValueError:
            counters = {}
        if not isinstance(counters, dict):
            counters = {}
        values = {}
        for counter, delta in deltas.items():
            previous = counters.pop(counter, 0)
            values[counter] = (previous if isinstance(previous, int) else 0) + delta
            counters[counter] = values[counter]  # re-inserted last: recent counters at the end
        while len(counters) > MAX_COUNTERS:
            del counters[next(iter(counters))]
        data = dumps(counters)
        # Overwritten in place and cut only when shorter: truncating to zero first made the
        # file system free and reallocate the file's block on every fire (0.2-1.5 ms).
        written = 0
        while written < len(data):
            written += posix.pwrite(fd, data[written:], written)
        if len(data) < len(raw):
            posix.ftruncate(fd, len(data))
        return values
    except (OSError, ValueError, TypeError):
        return dict(deltas)
    finally:
        posix.close(fd)  # closing releases the lock (the process's only descriptor of it)


def prune(home: str, now: float) -> int:
    """Remove the files of conversations untouched for ``MAX_AGE_S``; returns how many."""
    folder = join(home, "state", "cursor-hooks")
    removed = 0
    try:
        entries = posix.scandir(folder)
    except OSError:
        return 0
    with entries:
        for entry in entries:
            try:
                if entry.name.endswith(".json") and now - entry.stat().st_mtime > MAX_AGE_S:
                    posix.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
    return removed
