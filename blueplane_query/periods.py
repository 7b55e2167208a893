"""Days, ISO weeks, months and 5-hour billing blocks in the user's time zone: the one place.

Every report that groups by time (``bp-query``, the MCP server, the HTTP API) buckets through
this module, so a request lands on the same day, week, month and block in all of them.

Stored timestamps are UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ`` strings. The zone is ``--tz`` (or the MCP
/ HTTP ``tz`` argument), else the config key ``display.timezone``, else the machine's own zone.

Why SQL groups by local *day* and Python rolls days up into ISO weeks and months: the SQLite
shipped here (3.40) knows no time zones and no ISO week (``%V`` arrived in 3.46). A zone's UTC
offset is constant between its transitions, so the local day of a stored time is
``date(ts, '+N minutes')`` with N picked by a ``CASE`` over the zone's transitions, newest first
(most rows are recent, so most rows stop at the first branch). Days are few; rolling them up in
Python is free, and ``date.isocalendar`` gives true ISO weeks (``2026-W48``).

Billing blocks follow ccusage's rule per request (not per session or per hour): the first
request opens a block at its time floored to the UTC hour; a request more than five hours after
the block's start, or more than five hours after the previous request, closes it and opens the
next. Burn rates run from the block's first request to its last, as ccusage computes them.

``bp-query statusline`` loads this module (for the live block) in a process that must answer
within 50 ms, so it imports no more than ``datetime`` (no dataclasses, pathlib, typing or
functools: together ~25 ms); ``zoneinfo`` and ``os`` (~3 ms) only when a zone is looked up, which
the status line does once a day (``local_day``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

from blueplane_query import provenance as prov
from blueplane_query.errors import BadOption

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

#: the groupings a calendar can label (``block`` is separate: it needs every request in order).
CALENDAR_GROUPINGS = ("day", "week", "month")
BLOCK = timedelta(hours=5)

#: the span over which a zone's offset transitions are turned into SQL (times outside it take the
#: offset at its nearest end; only historic or far-future zone changes could differ).
_SPAN_START = datetime(2000, 1, 1, tzinfo=UTC)
_SPAN_YEARS_AHEAD = 1


# -- the zone ---------------------------------------------------------------------------------


class Zone:
    """A time zone with the name the user gave (shown in every answer as ``tz``). A value:
    equal and hashed by both fields, never changed."""

    __slots__ = ("name", "tz")

    def __init__(self, name: str, tz: tzinfo) -> None:
        self.name = name
        self.tz = tz

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Zone):
            return NotImplemented
        return (self.name, self.tz) == (other.name, other.tz)

    def __hash__(self) -> int:
        return hash((self.name, self.tz))

    def __repr__(self) -> str:
        return f"Zone(name={self.name!r}, tz={self.tz!r})"

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.tz)

    def day_of(self, when: datetime | str) -> str:
        """The local calendar day ``YYYY-MM-DD`` of a time (aware, or a stored string)."""
        return self.local(_aware(when)).date().isoformat()

    def midnight(self, day: date) -> datetime:
        """The instant (UTC) at which a local calendar day begins."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)

    def show(self, stamp: str | None, *, seconds: bool = False) -> str:
        """A stored UTC string as local ``YYYY-MM-DD HH:MM`` for the human tables."""
        if not stamp:
            return "—"
        shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
        return self.local(_aware(stamp)).strftime(shape)

    def day_sql(self, column: str, first: str | None = None, last: str | None = None) -> str:
        """A SQL expression: the local day ``YYYY-MM-DD`` of a stored UTC timestamp column.

        ``first`` / ``last`` (stored UTC strings): the times the column can hold; the expression
        then knows the zone's offsets from a day before ``first`` (instead of from 2000: 16 ms
        of zone look-ups per process) to a year from now or a day after ``last``."""
        spans = self.offsets(first, last)
        if len(spans) == 1:
            return _date_expr(column, spans[0][1])
        branches = " ".join(
            f"WHEN {column} >= '{_stamp(start)}' THEN {_date_expr(column, minutes)}"
            for start, minutes in reversed(spans[1:])
        )
        return f"CASE {branches} ELSE {_date_expr(column, spans[0][1])} END"

    def offsets(
        self, first: str | None = None, last: str | None = None
    ) -> tuple[tuple[datetime, int], ...]:
        """``(from, offset minutes)`` per stretch of constant offset (see :func:`_offsets`),
        from a day before ``first`` (default 2000) to a year from now or a day after ``last``."""
        start = _SPAN_START
        if first:
            start = max(start, _aware(first).replace(hour=0, minute=0, second=0, microsecond=0))
            start -= timedelta(days=1)
        end = None
        if last:
            end = _aware(last) + timedelta(days=1)
        return _offsets(self.name, self.tz, start, end)

    def whole_quarters(self, first: str | None = None, last: str | None = None) -> bool:
        """True if every offset of the zone (between ``first`` and ``last``) is a multiple of
        15 minutes and begins on a UTC quarter hour: then all times of one UTC quarter hour
        fall on one local day, and a roll-up per quarter hour groups by day exactly (+05:30 and
        +05:45 do; an offset such as +05:17 does not)."""
        spans = self.offsets(first, last)
        if any(minutes % 15 for _start, minutes in spans):
            return False
        return all(
            start.minute % 15 == 0 and not start.second and not start.microsecond
            for start, _minutes in spans[1:]
        )


def _date_expr(column: str, minutes: int) -> str:
    return f"date({column}, '{minutes:+d} minutes')" if minutes else f"date({column})"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _aware(when: datetime | str) -> datetime:
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _minutes(tz: tzinfo, at: datetime) -> int:
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


#: ``_offsets`` computed in this process, per (name, tz, start, end).
_OFFSETS: dict[tuple[object, ...], tuple[tuple[datetime, int], ...]] = {}


def _offsets(
    name: str, tz: tzinfo, start: datetime = _SPAN_START, end: datetime | None = None
) -> tuple[tuple[datetime, int], ...]:
    """``(from, offset minutes)`` for each stretch of constant offset, oldest first, from
    ``start`` to ``end`` or a year from now, whichever is later (a time outside takes the
    offset at the nearest end).

    Found by sampling the zone once a day and bisecting each change to the minute (zones change
    their offset at most a few times a year, never twice in a day); computed once per zone and
    span in a process.
    """
    horizon = datetime.now(UTC) + timedelta(days=366 * _SPAN_YEARS_AHEAD)  # (no Feb 29 trap)
    if end is None or end < horizon:
        end = horizon
    end = end.replace(hour=0, minute=0, second=0, microsecond=0)  # one key per day
    key = (name, tz, start, end)
    known = _OFFSETS.get(key)
    if known is None:
        if len(_OFFSETS) >= 16:
            _OFFSETS.clear()
        known = _OFFSETS[key] = _compute_offsets(tz, start, end)
    return known


def _compute_offsets(
    tz: tzinfo, start: datetime, end: datetime
) -> tuple[tuple[datetime, int], ...]:
    spans: list[tuple[datetime, int]] = [(start, _minutes(tz, start))]
    at = start
    step = timedelta(days=1)
    while at < end:
        nxt = at + step
        after = _minutes(tz, nxt)
        if after != spans[-1][1]:
            lo, hi = at, nxt  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    break
                if _minutes(tz, mid) == spans[-1][1]:
                    lo = mid
                else:
                    hi = mid
            spans.append((hi, after))
        at = nxt
    return tuple(spans)


def local_zone() -> Zone:
    """The machine's own zone: ``$TZ``, else the zone ``/etc/localtime`` names, else its offset."""
    import os
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return Zone(name, ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    localtime = "/etc/localtime"
    try:
        target = os.path.realpath(localtime)
        if "zoneinfo/" in target:
            key = target.split("zoneinfo/", 1)[1]
            return Zone(key, ZoneInfo(key))
        if os.path.exists(localtime):
            with open(localtime, "rb") as handle:
                return Zone("localtime", ZoneInfo.from_file(handle, key="localtime"))
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    fixed = datetime.now().astimezone().tzinfo or UTC
    return Zone(str(fixed), fixed)


def zone(name: str | None = None) -> Zone:
    """The zone named (``--tz``), else ``display.timezone`` from the config, else the local one.

    Accepts IANA names (``Europe/Berlin``), ``UTC``, ``local``, and fixed offsets (``+05:30``).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name is None:
        from blueplane_core import config

        try:
            name = str(config.load()["display.timezone"])
        except config.ConfigError as exc:
            raise BadOption(str(exc)) from None
    text = name.strip()
    if text in ("", "local"):
        return local_zone()
    if text.upper() in ("UTC", "Z", "GMT"):
        return Zone("UTC", UTC)
    if text[:1] in "+-" and len(text) in (3, 5, 6):
        try:
            offset = datetime.strptime(text.replace(":", "")[1:].ljust(4, "0"), "%H%M")
            delta = timedelta(hours=offset.hour, minutes=offset.minute)
            from datetime import timezone

            return Zone(text, timezone(delta if text[0] == "+" else -delta))
        except ValueError:
            pass
    try:
        return Zone(text, ZoneInfo(text))
    except (ZoneInfoNotFoundError, ValueError):
        raise BadOption(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or "
            "America/New_York, UTC, local, or an offset such as +05:30"
        ) from None


# -- calendar labels --------------------------------------------------------------------------


def label(by: str, day: str) -> str:
    """The period a local day belongs to: the day itself, its ISO week (``2026-W48``), or month."""
    if by == "day":
        return day
    if by == "month":
        return day[:7]
    if by == "week":
        year, week, _ = date.fromisoformat(day).isocalendar()
        return f"{year}-W{week:02d}"
    raise ValueError(f"not a calendar grouping: {by}")


def label_sql(by: str, day: str) -> str:
    """:func:`label` as a SQL expression over a ``YYYY-MM-DD`` expression ``day`` (so a report
    can group by week or month inside SQLite). An ISO week is the week of its Thursday: the
    Thursday of ``day``'s week is three days back, then forward to the next Thursday."""
    if by == "day":
        return day
    if by == "month":
        return f"substr({day}, 1, 7)"
    if by == "week":
        thursday = f"date({day}, '-3 days', 'weekday 4')"
        return (
            f"strftime('%Y', {thursday}) || '-W' ||"
            f" printf('%02d', (CAST(strftime('%j', {thursday}) AS INTEGER) - 1) / 7 + 1)"
        )
    raise ValueError(f"not a calendar grouping: {by}")


def week_sql(zone: Zone, column: str, first: str, last: str, *, within: bool = False) -> str:
    """:func:`label` ``week`` of a stored UTC timestamp ``column`` as a SQL expression that
    compares the timestamp with the UTC instants at which the zone's weeks begin (a binary
    search of string comparisons), for the weeks from the one holding ``first`` to the one
    holding ``last``; a time outside them takes the day-by-day expression of
    :func:`label_sql`. Same labels, a fraction of the cost: that expression computes the local
    day and its Thursday per row, the bulk of a ``costs --by week`` scan.

    ``within``: the column holds times between ``first`` and ``last`` only (a table's own
    bounds), so the day-by-day expression needs the zone's offsets near them only."""
    monday = _aware(first).astimezone(zone.tz).date()
    monday -= timedelta(days=monday.weekday())
    end = _aware(last).astimezone(zone.tz).date()
    starts: list[tuple[str, str]] = []  # (UTC instant the week begins, its label), oldest first
    while monday <= end:
        starts.append((_stamp(zone.midnight(monday)), label("week", monday.isoformat())))
        monday += timedelta(days=7)
    bounds = (first, last) if within else (None, None)
    if not starts:
        return label_sql("week", zone.day_sql(column, *bounds))
    after = _stamp(zone.midnight(monday))

    def search(part: list[tuple[str, str]]) -> str:
        if len(part) == 1:
            return f"'{part[0][1]}'"
        mid = len(part) // 2
        return (
            f"CASE WHEN {column} >= '{part[mid][0]}' THEN {search(part[mid:])}"
            f" ELSE {search(part[:mid])} END"
        )

    return (
        f"CASE WHEN {column} >= '{starts[0][0]}' AND {column} < '{after}' THEN {search(starts)}"
        f" ELSE {label_sql('week', zone.day_sql(column, *bounds))} END"
    )


# -- 5-hour billing blocks --------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR_US = 3_600_000_000
_BLOCK_US = 5 * _HOUR_US


def _epoch_us(entry: dict[str, Any]) -> int:
    """An entry's time in UTC epoch microseconds: its ``at_ms`` (the ledger's integer time),
    else its ``at`` (aware datetime or stored string), exactly."""
    ms = entry.get("at_ms")
    if ms is not None:
        return int(ms) * 1000
    return (_aware(entry["at"]) - _EPOCH) // timedelta(microseconds=1)


def blocks(
    entries: Iterable[dict[str, Any]],
    *,
    sums: Sequence[str],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Requests in time order (each a dict with ``at`` or ``at_ms``, ``model`` and the ``sums``
    columns) grouped into 5-hour billing blocks by ccusage's rule.

    A ``None`` in a summed column (an unpriced request's cost) is counted in ``unpriced`` and
    left out of the sum, never read as 0. Times are integers (microseconds) inside the loop and
    datetimes only per block: a month of a busy ledger is tens of thousands of requests.
    """
    now = now or datetime.now(UTC)
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    models: set[str] = set()
    start = last = 0
    for entry in entries:
        at = _epoch_us(entry)
        if not current or at - start > _BLOCK_US or at - last > _BLOCK_US:
            start = at - at % _HOUR_US  # the UTC hour (ccusage floors in UTC whatever the zone)
            last = at
            models = set()
            current = {
                "start": start,
                "first": at,
                "last": at,
                "requests": 0,
                "unpriced": 0,
                "models": models,
                **{k: 0 for k in sums},
            }
            out.append(current)
        if at > last:
            last = current["last"] = at
        current["requests"] += int(entry.get("requests", 1))
        model = entry.get("model")
        if model:
            models.add(model)
        missing = False
        for k in sums:
            value = entry.get(k)
            if value is None:
                missing = True
            else:
                current[k] += value
        current["unpriced"] += missing
    return [_block(b, sums, now) for b in out]


#: the token columns a block sums (besides the cost), as ``costs --by block`` shows them.
TOKEN_SUMS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


def _block(b: dict[str, Any], sums: Sequence[str], now: datetime) -> dict[str, Any]:
    start, first, last = (_EPOCH + timedelta(microseconds=b[k]) for k in ("start", "first", "last"))
    end = start + BLOCK
    active = now - last < BLOCK and now < end
    minutes = (last - first).total_seconds() / 60
    return {
        "start": _stamp(start),
        "end": _stamp(end),
        "first_activity": _stamp(first),
        "last_activity": _stamp(last),
        "active": active,
        "requests": b["requests"],
        "unpriced": b["unpriced"],
        "models": sorted(b["models"]),
        **{k: b[k] for k in sums},
        # first to last request: the span ccusage divides by for burn rates (0 = no rate)
        "active_minutes": minutes,
        "remaining_minutes": max(0.0, (end - now).total_seconds() / 60) if active else None,
    }


def block_row(b: dict[str, Any]) -> dict[str, Any]:
    """A block from ``periods.blocks`` with cost in USD, burn rate and projection (ccusage's)."""
    tokens = sum(int(b[k]) for k in TOKEN_SUMS)
    cost = b["cost_nusd"] / 1e9
    minutes = b["active_minutes"]
    burn: dict[str, Any] | None = None
    if minutes > 0:  # ccusage: no rate for a block whose requests share one instant
        burn = {
            "cost_usd_per_hour": cost / minutes * 60,
            "tokens_per_minute": tokens / minutes,
            "tokens_per_minute_for_indicator": (b["input_tokens"] + b["output_tokens"]) / minutes,
        }
    row: dict[str, Any] = {
        "start": b["start"],
        "end": b["end"],
        "first_activity": b["first_activity"],
        "last_activity": b["last_activity"],
        "active": b["active"],
        "requests": b["requests"],
        "models": b["models"],
        **{k: int(b[k]) for k in TOKEN_SUMS},
        "total_tokens": tokens,
        "cost_usd": cost,
        "unpriced_requests": b["unpriced"],
        "burn_rate": burn,
        "projection": None,
    }
    remaining = b["remaining_minutes"]
    if b["active"] and burn is not None and remaining is not None:
        row["projection"] = {
            "cost_usd": cost + burn["cost_usd_per_hour"] / 60 * remaining,
            "total_tokens": tokens + burn["tokens_per_minute"] * remaining,
            "remaining_minutes": remaining,
            "provenance": prov.ESTIMATED,
        }
    return row
