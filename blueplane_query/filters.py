"""The filter every query command takes: ``--since/--until``, ``--platform``, ``--project``.

Times are parsed once here so that the CLI, the MCP tools and the exports all agree on what
"7d" or "2026-11-01" means. Stored timestamps are UTC ISO-8601 strings (``...T12:00:00.000Z``)
that sort as text, so a period becomes a plain string range in SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from blueplane_query.errors import BadOption

_RELATIVE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}

#: the period of "current" metrics when no --since is given.
DEFAULT_PERIOD = timedelta(days=7)


def parse_when(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``7d`` / ``24h`` / ``30m`` / ``2w`` ago, ``today``, ``yesterday``, ``now``, or ISO date/time.

    A naive date or time is taken as UTC (stored timestamps are UTC).
    """
    if value is None or value == "":
        return None
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    if text == "now":
        return now
    if text == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "yesterday":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadOption(
            f"cannot read the time {value!r}: use 7d, 24h, 30m, today, yesterday, "
            "or a date such as 2026-11-01"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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

    @classmethod
    def parse(
        cls,
        since: str | None = None,
        until: str | None = None,
        platform: str | None = None,
        project: str | None = None,
        *,
        now: datetime | None = None,
    ) -> Filter:
        start = parse_when(since, now=now)
        end = parse_when(until, now=now)
        if start and end and start >= end:
            raise BadOption(f"--since ({since}) must be before --until ({until})")
        return cls(start, end, platform or None, (project or "").lower() or None)

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
        if project and self.project:
            clauses.append(f"{project} LIKE ?")
            params.append(self.project.replace("%", "").replace("_", "") + "%")
        return (" AND ".join(clauses) or "1"), params

    def as_dict(self) -> dict[str, Any]:
        """The filter as it appears in every ``--json`` answer (key ``filter``)."""
        return {
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "platform": self.platform,
            "project": self.project,
        }
