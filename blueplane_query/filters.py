"""The filter every query command takes: ``--since/--until``, ``--platform``, ``--project``.

Times are parsed once here so that the CLI, the MCP tools and the exports all agree on what
"7d" or "2026-11-01" means. Stored timestamps are UTC ISO-8601 strings (``...T12:00:00.000Z``)
that sort as text, so a period becomes a plain string range in SQL. Dates, ``today`` and
``yesterday`` are days in the filter's zone (``--tz``, else ``display.timezone``, else the
machine's zone: see ``periods.py``), and a date given to ``--until`` includes that day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from blueplane_query.errors import BadOption
from blueplane_query.periods import Zone

if TYPE_CHECKING:
    from blueplane_query.projects import Match
    from blueplane_query.store import Store

_RELATIVE = re.compile(r"^(\d+)\s*([a-z]+)$")
_UNITS = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "wk", "week", "weeks"), "weeks"),
    **dict.fromkeys(("mo", "mon", "month", "months"), "months"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "years"),
}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-w(\d{2})$")

#: the period of "current" metrics when no --since is given.
DEFAULT_PERIOD = timedelta(days=7)

#: how the user may write a time, for help texts and error messages (one place).
TIME_FORMS = "7d, 24h, 30m, 2w, 3mo, 1y, today, yesterday, a date (2026-11-01), 2026-11 or 2026-W48"

UTC_ZONE = Zone("UTC", UTC)


def _months_back(when: datetime, months: int) -> datetime:
    """The same local day and time ``months`` calendar months earlier (the 31st clamps)."""
    index = when.year * 12 + when.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    day = when.day
    while True:
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


def parse_when(
    value: str | None,
    *,
    now: datetime | None = None,
    zone: Zone = UTC_ZONE,
    end: bool = False,
) -> datetime | None:
    """A point in time from ``7d`` / ``1y`` ago, ``today``, ``yesterday``, ``now``, a date, a
    month (``2026-11``), an ISO week (``2026-W48``) or an ISO date/time.

    Calendar values are days in ``zone``. With ``end`` (``--until``), a calendar value is
    inclusive: ``--until 2026-11-22`` ends when that day does, so ``--since D --until D`` is the
    day D. A date/time without an offset is a time in ``zone``.
    """
    if value is None or value == "":
        return None
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    if text == "now":
        return now
    today = zone.local(now).date()
    if text in ("today", "yesterday"):
        day = today if text == "today" else today - timedelta(days=1)
        return zone.midnight(day + timedelta(days=1) if end else day)
    match = _RELATIVE.match(text)
    if match and match.group(2) in _UNITS:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        if unit in ("months", "years"):
            local = zone.local(now)
            back = _months_back(local, amount * (12 if unit == "years" else 1))
            return back.astimezone(UTC)
        return now - timedelta(**{unit: amount})
    month = _MONTH.match(text)
    if month:
        year, number = int(month.group(1)), int(month.group(2))
        if 1 <= number <= 12:
            if end:
                year, number = (year + 1, 1) if number == 12 else (year, number + 1)
            return zone.midnight(date(year, number, 1))
    week = _WEEK.match(text)
    if week:
        try:
            monday = date.fromisocalendar(int(week.group(1)), int(week.group(2)), 1)
        except ValueError:
            monday = None
        if monday:
            return zone.midnight(monday + timedelta(days=7) if end else monday)
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return zone.midnight(day + timedelta(days=1) if end else day)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadOption(f"cannot read the time {value!r}: use {TIME_FORMS}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone.tz)
    return parsed.astimezone(UTC)


def iso(when: datetime) -> str:
    """The stored form of a time: UTC, milliseconds, ``Z`` (sorts like the stored strings)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Filter:
    """Which data a command looks at. ``None`` means "no limit" for every field."""

    since: datetime | None = None
    until: datetime | None = None
    platform: str | None = None
    project: str | None = None  # a project hash, or a prefix of one (like a short git hash)
    zone: Zone = field(default=UTC_ZONE, compare=False)  # the days, weeks and months of reports
    #: the hashes ``project`` resolved to (:meth:`bind`); unbound, ``project`` is a hash prefix
    match: Match | None = field(default=None, compare=False)

    @classmethod
    def parse(
        cls,
        since: str | None = None,
        until: str | None = None,
        platform: str | None = None,
        project: str | None = None,
        *,
        tz: str | None = None,
        now: datetime | None = None,
    ) -> Filter:
        """The filter of a command's options; ``tz`` None = ``display.timezone`` (config)."""
        from blueplane_query.periods import zone as find_zone

        where = find_zone(tz)
        start = parse_when(since, now=now, zone=where)
        end = parse_when(until, now=now, zone=where, end=True)
        if start and end and start >= end:
            raise BadOption(f"--since ({since}) must be before --until ({until})")
        return cls(start, end, platform or None, (project or "").strip() or None, where)

    def bind(self, store: Store) -> Filter:
        """This filter with ``--project`` (a name, path or hash) resolved against the store;
        raises NotFound when it names no captured project. Every caller with a store (CLI,
        MCP server, HTTP API) binds before running a report."""
        if not self.project or self.match is not None:
            return self
        from blueplane_query.projects import resolve

        return replace(self, match=resolve(store, self.project))

    def period(self, *, now: datetime | None = None) -> tuple[datetime, datetime]:
        """A bounded period: the filter's own, else the last ``DEFAULT_PERIOD`` up to now."""
        end = self.until or now or datetime.now(UTC)
        start = self.since or end - DEFAULT_PERIOD
        return start, end

    def bounded(self, *, now: datetime | None = None) -> Filter:
        start, end = self.period(now=now)
        return replace(self, since=start, until=end)

    def previous(self, *, now: datetime | None = None) -> Filter:
        """The period of the same length just before this one (for "change vs previous")."""
        start, end = self.period(now=now)
        return replace(self, since=start - (end - start), until=start)

    def sql(
        self,
        *,
        time: str | None = "timestamp",
        platform: str | None = "platform",
        project: str | None = "project_hash",
    ) -> tuple[str, list[Any]]:
        """A ``WHERE`` fragment (``1`` when empty) and its parameters, for the given columns.

        Pass ``None`` for a column the table does not have; that part of the filter is skipped.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if time and self.since:
            clauses.append(f"{time} >= ?")
            params.append(iso(self.since))
        if time and self.until:
            clauses.append(f"{time} < ?")
            params.append(iso(self.until))
        if platform and self.platform:
            clauses.append(f"{platform} = ?")
            params.append(self.platform)
        if project and self.project and self.match is not None:
            hashes = (
                self.match.workspaces
                if project.endswith("workspace_hash")
                else (self.match.projects)
            )
            clauses.append(f"{project} IN ({','.join('?' * len(hashes))})" if hashes else "0")
            params.extend(hashes)
        elif project and self.project:
            clauses.append(f"{project} LIKE ?")
            params.append(self.project.lower().replace("%", "").replace("_", "") + "%")
        return (" AND ".join(clauses) or "1"), params

    def as_dict(self) -> dict[str, Any]:
        """The filter as it appears in every ``--json`` answer (key ``filter``)."""
        return {
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "platform": self.platform,
            "project": self.project,
            # the project hashes --project matched (null: no project filter, or not resolved)
            "project_hashes": list(self.match.projects) if self.match else None,
            "tz": self.zone.name,
        }
