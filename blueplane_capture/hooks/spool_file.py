"""The spool: one file per event that a hook could not hand to Redis in time.

``capture-spool`` (``blueplane_capture.spool``) pushes these files to the events stream and
deletes each one only after its XADD succeeded. A file appears atomically (written under a
dot-name, then renamed), so the drainer never reads half an event. The event id is fixed when
the file is written, so a file pushed twice is still stored once (ingest's UNIQUE event_id).
"""

import posix

from blueplane_core.fast_start import blueplane_home, ensure_private_dir, join

#: a spooled event is ``<event_id>.json`` holding the envelope's JSON bytes.
SUFFIX = ".json"


def spool_dir() -> str:
    """``paths.spool_dir()`` without pathlib."""
    return join(blueplane_home(), "spool")


def write(event_id: str, data: bytes) -> str:
    """Write one event atomically into the spool; returns the file's path.

    No fsync: it would cost milliseconds on every spooled fire, and the rename already
    guarantees the drainer sees either the whole event or nothing.
    """
    folder = spool_dir()
    try:
        posix.stat(folder)
    except FileNotFoundError:
        ensure_private_dir(folder)
    final = join(folder, event_id + SUFFIX)
    tmp = join(folder, f".{event_id}.{posix.getpid()}.tmp")
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view) :]
        finally:
            posix.close(fd)
        posix.rename(tmp, final)
    except OSError:
        try:  # a full disk: leave no empty or partial temporary file behind
            posix.unlink(tmp)
        except OSError:
            pass
        raise
    return final
