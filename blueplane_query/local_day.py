"""Today's bounds in the display zone, remembered until the day ends: the status line's "today".

``bp-query statusline`` runs after every message and must answer within 50 ms; "today" in the
user's zone is ``periods.zone`` (``zoneinfo``, ``os`` and ``sysconfig`` to import: ~3 ms, a
tenth of a line). The bounds of a local day change only at its end, so the first line of a day
computes them with ``periods`` (the one implementation: DST days of 23 or 25 hours included)
and writes them to a small state file; every later line that day reads them back, while now
lies inside them and the zone is the one they were computed for.

"The zone" is what ``periods.zone`` resolves the configured name from: the name itself and,
for the machine's own zone, ``$TZ`` and ``/etc/localtime`` (its link target and the file it
leads to). A change of any of them computes the bounds again. The file holds a digest of
that identity (never the names or paths themselves) and two integers.

Only builtin modules are imported here (``periods`` only when the bounds must be computed).
"""

import posix
import time

from blueplane_core import fast_start

#: the state file, in ``<home>/state`` (read positions and similar small state live there)
FILE_NAME = "statusline-day"
_LOCALTIME = "/etc/localtime"
_MERSENNE_61 = (1 << 61) - 1


def zone_identity(name: str) -> int:
    """A digest of what ``periods.zone(name)`` depends on (see the module docstring): the
    name, ``$TZ``, and ``/etc/localtime``'s link target and file identity."""
    try:
        target = posix.readlink(_LOCALTIME)
    except OSError:
        target = ""
    try:
        st = posix.stat(_LOCALTIME)
        file = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        file = ""
    text = "\0".join((name, fast_start.getenv("TZ") or "", target, file))
    # a residue modulo a prime: stable across processes (``hash`` is not) and C-fast
    return int.from_bytes(text.encode("utf-8", "surrogateescape"), "little") % _MERSENNE_61


def _path(home: str) -> str:
    return fast_start.join(home, "state", FILE_NAME)


def _remembered(path: str, identity: int, now: float) -> int | None:
    """The start of today (UTC epoch seconds) from the state file, if it is this zone's and now
    lies inside the day it holds."""
    try:
        fd = posix.open(path, posix.O_RDONLY)
    except OSError:
        return None
    try:
        fields = posix.read(fd, 128).split()
    except OSError:
        return None
    finally:
        posix.close(fd)
    try:
        held, start, end = (int(f) for f in fields)
    except ValueError:
        return None
    return start if held == identity and start <= now < end else None


def _remember(home: str, path: str, identity: int, start: int, end: int) -> None:
    """Write the state file whole under a name of this process, then rename it over the old one
    (parallel lines never read a half-written file). Failing to write only costs a recompute."""
    partial = f"{path}.{posix.getpid()}"
    try:
        fast_start.ensure_private_dir(fast_start.join(home, "state"))
        fd = posix.open(partial, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC, 0o600)
        try:
            posix.write(fd, f"{identity} {start} {end}\n".encode())
        finally:
            posix.close(fd)
        posix.rename(partial, path)
    except OSError:
        try:
            posix.unlink(partial)
        except OSError:
            pass


def bounds(name: str, now: float) -> tuple[int, int]:
    """``[start, end)`` of the local day holding ``now`` in the zone ``periods.zone(name)``
    names, as UTC epoch seconds, computed by ``periods`` (raises its ``BadOption`` for an
    unknown zone)."""
    from datetime import UTC, datetime, timedelta

    from blueplane_query import periods

    zone = periods.zone(name)
    day = zone.local(datetime.fromtimestamp(now, UTC)).date()
    start, end = zone.midnight(day), zone.midnight(day + timedelta(days=1))
    return int(start.timestamp()), int(end.timestamp())


def today_start(name: str, now: float | None = None, home: str | None = None) -> int:
    """When today began (UTC epoch seconds) in the zone ``name`` (``display.timezone``; ''
    for the machine's own): from the state file of ``home`` (default ``BLUEPLANE_HOME``) while
    it holds today for this zone, else computed and remembered."""
    now = time.time() if now is None else now
    home = fast_start.blueplane_home() if home is None else home
    path = _path(home)
    identity = zone_identity(name)
    start = _remembered(path, identity, now)
    if start is None:
        start, end = bounds(name, now)
        _remember(home, path, identity, start, end)
    return start
