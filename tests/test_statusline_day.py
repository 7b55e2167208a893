"""The status line's "today" (``blueplane_query.local_day``): the local day's bounds, computed by
``periods`` once and remembered in a state file until the day ends or the zone changes.

Every expected instant below is worked out by hand from the zones' rules (Berlin: CET +1,
CEST +2 from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC; New York and Chicago on daylight
time from 2026-03-08; Tokyo +9 all year).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blueplane_query import local_day
from tests.conftest import PYTHON, python_env


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("zone", "now", "start", "end"),
    [
        # the spring-forward day has 23 hours, the fall-back day 25
        ("Europe/Berlin", "2026-03-29T12:00:00", "2026-03-28T23:00:00", "2026-03-29T22:00:00"),
        ("Europe/Berlin", "2026-10-25T12:00:00", "2026-10-24T22:00:00", "2026-10-25T23:00:00"),
        # just before and at local midnight
        ("Europe/Berlin", "2026-03-29T21:59:59", "2026-03-28T23:00:00", "2026-03-29T22:00:00"),
        ("Europe/Berlin", "2026-03-29T22:00:00", "2026-03-29T22:00:00", "2026-03-30T22:00:00"),
        ("+05:30", "2026-01-01T20:00:00", "2026-01-01T18:30:00", "2026-01-02T18:30:00"),
        ("UTC", "2026-01-01T20:00:00", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),
    ],
)
def test_the_bounds_of_a_local_day(zone: str, now: str, start: str, end: str) -> None:
    assert local_day.bounds(zone, at(now)) == (at(start), at(end))


def test_the_day_is_remembered_until_it_ends_and_for_its_zone_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(tmp_path)
    state = tmp_path / "state" / local_day.FILE_NAME
    berlin_start = at("2026-03-28T23:00:00")
    assert local_day.today_start("Europe/Berlin", at("2026-03-29T12:00:00"), home) == berlin_start
    held = state.read_bytes()
    assert len(held.split()) == 3 and all(f.isdigit() for f in held.split())  # no zone name
    assert b"Berlin" not in held
    # what is remembered is read back: a file holding another start for the same zone is used
    identity, _start, end = held.split()
    state.write_bytes(b"%s %d %s\n" % (identity, berlin_start - 60, end))
    assert local_day.today_start("Europe/Berlin", at("2026-03-29T21:59:59"), home) == (
        berlin_start - 60
    )
    # the next local day (the day held has ended) is computed again
    assert local_day.today_start("Europe/Berlin", at("2026-03-29T22:00:00"), home) == at(
        "2026-03-29T22:00:00"
    )
    # another zone, the same instant: New York's day, not Berlin's
    now = at("2026-03-29T23:00:00")
    assert local_day.today_start("America/New_York", now, home) == at("2026-03-29T04:00:00")
    # the machine's own zone follows $TZ: a changed $TZ is not answered from the file
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert local_day.today_start("", now, home) == at("2026-03-29T15:00:00")
    monkeypatch.setenv("TZ", "America/Chicago")
    assert local_day.today_start("", now, home) == at("2026-03-29T05:00:00")
    assert local_day.today_start("local", now, home) == at("2026-03-29T05:00:00")


def test_a_broken_or_unwritable_state_file_only_costs_a_recompute(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "state").mkdir(parents=True)
    state = home / "state" / local_day.FILE_NAME
    state.write_bytes(b"not three numbers\n")
    now = at("2026-10-25T12:00:00")
    assert local_day.today_start("Europe/Berlin", now, str(home)) == at("2026-10-24T22:00:00")
    assert state.read_bytes() != b"not three numbers\n"  # replaced
    state.unlink()
    state.mkdir()  # cannot be read or replaced: the day is computed, nothing is left behind
    assert local_day.today_start("Europe/Berlin", now, str(home)) == at("2026-10-24T22:00:00")
    assert [p.name for p in (home / "state").iterdir()] == [local_day.FILE_NAME]


def test_a_remembered_day_is_answered_without_loading_the_zone(tmp_path: Path) -> None:
    """The point of remembering: the second status line of a day imports no zoneinfo."""
    script = (
        "import sys; from blueplane_query import local_day;"
        "local_day.today_start('Europe/Berlin');"
        "print('zoneinfo' in sys.modules)"
    )
    env = python_env({"BLUEPLANE_HOME": str(tmp_path)})
    runs = [
        subprocess.run(
            [PYTHON, "-c", script], capture_output=True, env=env, check=True, timeout=60
        ).stdout
        for _ in range(2)
    ]
    assert runs == [b"True\n", b"False\n"]
