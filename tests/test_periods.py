"""Days, ISO weeks, months, inclusive --until, --since 1y, --tz and 5-hour blocks (periods.py).

The blocks are checked against ccusage's own stored output for the live fixture transcripts
(tests/fixtures/real/ccusage_output/live_blocks.json, ccusage 20.0.24 run on
tests/fixtures/real/claude_code_live/transcripts); the entries are read from the transcripts here,
independently of Blueplane's capture.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from blueplane_core.pricing import Usage, load
from blueplane_query import periods
from blueplane_query.errors import BadOption
from blueplane_query.filters import Filter, parse_when
from tests.conftest import REPO
from tests.helpers import bp_query, bp_query_json
from tests.query_data import TOKENS, commit_event, fill, session_events

REAL = REPO / "tests" / "fixtures" / "real"
TOKEN_KEYS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


def _ccusage_entries() -> list[dict[str, Any]]:
    """Usage entries the way ccusage reads them: one per assistant line with usage, deduplicated
    by message id + request id, without the client's ``<synthetic>`` error lines."""
    prices = load()
    seen: set[tuple[str, str]] = set()
    out = []
    root = REAL / "claude_code_live" / "transcripts" / "projects"
    for path in sorted(root.rglob("*.jsonl")):
        for raw in path.read_text().splitlines():
            line = json.loads(raw)
            message = line.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if not usage or message.get("model") == "<synthetic>":
                continue
            key = (message.get("id"), line.get("requestId"))
            if all(key):
                if key in seen:
                    continue
                seen.add(key)
            split = usage.get("cache_creation") or {}
            cost = prices.cost_nusd(
                message["model"],
                Usage(
                    input_tokens=usage["input_tokens"],
                    output_tokens=usage["output_tokens"],
                    cache_write_5m_tokens=split.get("ephemeral_5m_input_tokens", 0),
                    cache_write_1h_tokens=split.get("ephemeral_1h_input_tokens", 0),
                    cache_read_tokens=usage.get("cache_read_input_tokens", 0),
                ),
            )
            out.append(
                {
                    "at": line["timestamp"],
                    "model": message["model"],
                    "input_tokens": usage["input_tokens"],
                    "output_tokens": usage["output_tokens"],
                    "cache_write_tokens": usage.get("cache_creation_input_tokens", 0),
                    "cache_read_tokens": usage.get("cache_read_input_tokens", 0),
                    "cost_nusd": cost,
                }
            )
    return sorted(out, key=lambda e: e["at"])


def test_blocks_match_ccusage_on_the_live_transcripts() -> None:
    from blueplane_query.periods import block_row

    expected = json.loads((REAL / "ccusage_output" / "live_blocks.json").read_text())["blocks"]
    (want,) = expected
    # ccusage ran at about 19:28 (272 minutes left of a block ending at midnight); the active
    # flag and the projection depend on "now", so the same instant is used here.
    now = datetime(2026, 11, 23, 0, 0, tzinfo=UTC) - timedelta(
        minutes=want["projection"]["remainingMinutes"]
    )
    found = periods.blocks(_ccusage_entries(), sums=(*TOKEN_KEYS, "cost_nusd"), now=now)
    assert len(found) == 1
    row = block_row(found[0])
    assert row["start"] == want["startTime"] and row["end"] == want["endTime"]
    assert row["last_activity"] == want["actualEndTime"]
    assert row["requests"] == want["entries"]  # each entry is one request here
    assert row["active"] is want["isActive"]
    assert row["models"] == want["models"]
    counts = want["tokenCounts"]
    assert row["input_tokens"] == counts["inputTokens"]
    assert row["output_tokens"] == counts["outputTokens"]
    assert row["cache_write_tokens"] == counts["cacheCreationInputTokens"]
    assert row["cache_read_tokens"] == counts["cacheReadInputTokens"]
    assert row["total_tokens"] == want["totalTokens"]
    assert row["cost_usd"] == pytest.approx(want["costUSD"], rel=1e-9)
    burn = want["burnRate"]
    assert row["burn_rate"]["cost_usd_per_hour"] == pytest.approx(burn["costPerHour"], rel=1e-9)
    assert row["burn_rate"]["tokens_per_minute"] == pytest.approx(burn["tokensPerMinute"])
    assert row["burn_rate"]["tokens_per_minute_for_indicator"] == pytest.approx(
        burn["tokensPerMinuteForIndicator"]
    )
    projection = row["projection"]
    assert round(projection["remaining_minutes"]) == want["projection"]["remainingMinutes"]
    assert round(projection["cost_usd"], 2) == want["projection"]["totalCost"]
    assert round(projection["total_tokens"]) == pytest.approx(
        want["projection"]["totalTokens"], abs=1
    )


def _entry(at: datetime) -> dict[str, Any]:
    return {"at": at, "model": "m", "input_tokens": 1, "cost_nusd": 10}


def test_block_rule_per_request() -> None:
    t0 = datetime(2026, 11, 22, 10, 55, 30, tzinfo=UTC)
    found = periods.blocks(
        [
            _entry(t0),  # opens a block at 10:00 (floored to the UTC hour)
            _entry(datetime(2026, 11, 22, 15, 0, tzinfo=UTC)),  # exactly start + 5h: stays
            _entry(datetime(2026, 11, 22, 15, 0, 1, tzinfo=UTC)),  # past start + 5h: next block
            _entry(datetime(2026, 11, 23, 1, 30, tzinfo=UTC)),  # a long gap: its own block
        ],
        sums=("input_tokens", "cost_nusd"),
        now=datetime(2026, 11, 24, tzinfo=UTC),
    )
    assert [(b["start"], b["requests"]) for b in found] == [
        ("2026-11-22T10:00:00.000Z", 2),
        ("2026-11-22T15:00:00.000Z", 1),
        ("2026-11-23T01:00:00.000Z", 1),
    ]
    assert [b["active"] for b in found] == [False, False, False]
    # an unpriced request is counted as such and left out of the sum, never priced at 0
    unpriced = periods.blocks(
        [_entry(t0), {**_entry(t0 + timedelta(minutes=1)), "cost_nusd": None}],
        sums=("input_tokens", "cost_nusd"),
        now=t0,
    )
    assert unpriced[0]["unpriced"] == 1 and unpriced[0]["cost_nusd"] == 10


@pytest.mark.parametrize(
    "name", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
def test_local_day_in_sql_equals_the_zone_rules(name: str) -> None:
    """The SQL day of a stored time equals Python's zoneinfo day, around DST changes too."""
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    zone = periods.zone(name)
    stamps: list[datetime] = []
    for year in (2024, 2025, 2026):
        start = datetime(year, 1, 1, tzinfo=UTC)
        for _ in range(400):
            stamps.append(start + timedelta(seconds=rng.randrange(366 * 86400)))
        # minutes around each transition of the year
        for at, _minutes in periods._offsets(zone.name, zone.tz):
            if at.year == year:
                stamps.extend(at + timedelta(minutes=m) for m in range(-3, 4))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (ts TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(periods._stamp(s),) for s in stamps])
    rows = conn.execute(f"SELECT ts, {zone.day_sql('ts')} FROM t").fetchall()
    for ts, day in rows:
        assert day == zone.day_of(ts), (name, ts)


def test_iso_weeks_and_months() -> None:
    # 2026-11-22 is a Sunday: the last day of ISO week 47; Monday the 23rd opens week 48.
    assert periods.label("week", "2026-11-22") == "2026-W47"
    assert periods.label("week", "2026-11-23") == "2026-W48"
    # 2026 starts on a Thursday, so it has 53 ISO weeks and 2027-01-01..03 belong to 2026-W53;
    # %W (the old grouping) would have called 2027-01-01 week 00 of 2027.
    assert periods.label("week", "2027-01-01") == "2026-W53"
    assert periods.label("week", "2027-01-04") == "2027-W01"
    assert periods.label("month", "2026-11-30") == "2026-11"


def test_times_parse_in_the_zone_and_until_is_inclusive() -> None:
    berlin = periods.zone("Europe/Berlin")
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    # Berlin is UTC+1 in November: its 2026-11-22 runs from 23:00 UTC the day before.
    start = parse_when("2026-11-22", now=now, zone=berlin)
    end = parse_when("2026-11-22", now=now, zone=berlin, end=True)
    assert start == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert parse_when("today", now=now, zone=berlin) == start
    assert parse_when("yesterday", now=now, zone=berlin, end=True) == start
    flt = Filter.parse("2026-11-22", "2026-11-22", tz="Europe/Berlin", now=now)
    assert (flt.since, flt.until) == (start, end)  # --since D --until D is the day D
    assert flt.as_dict()["tz"] == "Europe/Berlin"
    # a year and months go back by the calendar (2024 is a leap year: 366 days)
    assert parse_when("1y", now=datetime(2025, 3, 1, tzinfo=UTC)) == datetime(
        2024, 3, 1, tzinfo=UTC
    )
    assert parse_when("1mo", now=datetime(2026, 3, 31, tzinfo=UTC)) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert parse_when("2years", now=now) == datetime(2024, 11, 22, 12, tzinfo=UTC)
    assert parse_when("2026-11", now=now, end=True) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_when("2026-W48", now=now) == datetime(2026, 11, 23, tzinfo=UTC)
    # a time without an offset is a time in the zone; one with an offset is that instant
    assert parse_when("2026-11-22T10:00", zone=berlin) == datetime(2026, 11, 22, 9, tzinfo=UTC)
    assert parse_when("2026-11-22T10:00Z", zone=berlin) == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert periods.zone("+05:30").midnight(date(2026, 1, 1)) == datetime(
        2025, 12, 31, 18, 30, tzinfo=UTC
    )
    with pytest.raises(BadOption, match="unknown time zone"):
        periods.zone("Mars/Olympus")
    with pytest.raises(BadOption, match="cannot read the time"):
        parse_when("3 fortnights")


def test_default_zone_is_the_config_then_the_machine(
    blueplane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLUEPLANE_DISPLAY_TIMEZONE")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert periods.zone().name == "Asia/Tokyo"
    (blueplane_home / "config.toml").write_text('[display]\ntimezone = "America/Chicago"\n')
    assert periods.zone().name == "America/Chicago"
    assert periods.zone("UTC").name == "UTC"  # --tz wins over both


# -- through bp-query, on data the real pipeline stored ---------------------------------------


#: two one-prompt sessions: A at 23:30 UTC on Sunday 2026-11-22 (already Monday the 23rd in
#: Berlin, UTC+1), B at 10:00 UTC on Tuesday 2026-11-24.
_A = ("aaaaaaaa-0000-4000-8000-00000000000a", datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
_B = ("bbbbbbbb-0000-4000-8000-00000000000b", datetime(2026, 11, 24, 10, 0, tzinfo=UTC))


@pytest.fixture
def two_days(redis_client: redis.Redis) -> None:
    batch = []
    for sid, at in (_A, _B):
        batch.extend(session_events(sid, "claude_code", "ab" * 12, at.timestamp(), 1))
    batch.append(commit_event("c0" * 12, "ab" * 12, _A[1].timestamp() + 600))  # 23:40 UTC
    fill(redis_client, batch)


def _periods(result: dict[str, Any]) -> dict[str, int]:
    return {r["period"]: r["sessions"] for r in result["rows"]}


def test_costs_follow_the_zone_weeks_and_inclusive_until(two_days: None) -> None:
    assert _periods(bp_query_json("costs", "--by", "day", "--since", "1y", "--tz", "UTC")) == {
        "2026-11-22": 1,
        "2026-11-24": 1,
    }
    berlin = bp_query_json("costs", "--by", "day", "--since", "2026-11-01", "--tz", "Europe/Berlin")
    assert _periods(berlin) == {"2026-11-23": 1, "2026-11-24": 1}
    assert berlin["filter"]["tz"] == "Europe/Berlin"
    # ISO weeks: Sunday the 22nd is in W47 in UTC; in Berlin A is on Monday, in W48
    assert _periods(bp_query_json("costs", "--by", "week", "--tz", "UTC", "--since", "1y")) == {
        "2026-W47": 1,
        "2026-W48": 1,
    }
    assert _periods(
        bp_query_json("costs", "--by", "week", "--tz", "Europe/Berlin", "--since", "1y")
    ) == {"2026-W48": 2}
    # --since D --until D is the day D, in the zone asked for
    one_day = bp_query_json(
        "costs", "--since", "2026-11-23", "--until", "2026-11-23", "--tz", "+01:00"
    )
    assert _periods(one_day) == {"2026-11-23": 1}
    assert one_day["totals"]["output_tokens"] == TOKENS["output_tokens"]  # A's one request
    assert _periods(bp_query_json("costs", "--since", "2026-11-23", "--until", "2026-11-23")) == {}
    # the config's zone is the default, and --tz overrides it
    env = {"BLUEPLANE_DISPLAY_TIMEZONE": "Europe/Berlin"}
    assert _periods(bp_query_json("costs", "--since", "1y", env=env)) == _periods(berlin)
    assert "2026-11-22" in _periods(bp_query_json("costs", "--since", "1y", "--tz", "UTC", env=env))
    sessions = bp_query_json(
        "sessions", "--since", "2026-W48", "--until", "2026-W48", "--tz", "UTC"
    )
    assert [s["session_id"] for s in sessions["sessions"]] == [_B[0]]
    human = bp_query("sessions", "--since", "1y", "--tz", "Europe/Berlin")
    assert "2026-11-23 00:30" in human.stdout and "Europe/Berlin" in human.stdout, human.stdout
    # commits (and every other per-day breakdown) use the same local day
    for tz, day in (("UTC", "2026-11-22"), ("Europe/Berlin", "2026-11-23")):
        commits = bp_query_json("commits", "--since", "1y", "--tz", tz)
        assert [d["day"] for d in commits["by_day"]] == [day]
    bad = bp_query("costs", "--tz", "Mars/Olympus")
    assert bad.returncode == 2 and "unknown time zone" in bad.stderr


def test_until_before_since_is_refused_in_one_line(two_days: None) -> None:
    bad = bp_query("costs", "--since", "2026-11-24", "--until", "2026-11-23")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_mcp_tools_take_the_zone_and_inclusive_dates(two_days: None) -> None:
    from tests.test_mcp_server import body, session_calls

    _tools, results = session_calls(
        [
            ("get_costs", {"by": "day", "since": "1y", "tz": "Europe/Berlin"}),
            ("get_costs", {"since": "2026-11-23", "until": "2026-11-23", "tz": "+01:00"}),
            ("get_session_metrics", {"since": "2026-W48", "until": "2026-W48", "tz": "UTC"}),
            ("get_costs", {"tz": "Mars/Olympus"}),
        ]
    )
    berlin, one_day, week, bad = results
    assert _periods(body(berlin)) == {"2026-11-23": 1, "2026-11-24": 1}
    assert _periods(body(one_day)) == {"2026-11-23": 1}
    assert [s["session_id"] for s in body(week)["sessions"]] == [_B[0]]
    assert bad.is_error and "unknown time zone" in bad.content[0].text


def test_label_sql_names_the_same_week_and_month_as_label() -> None:
    """Every day of seven years, year ends with ISO week 53 and week 1 in December included."""
    import sqlite3
    from datetime import date, timedelta

    from blueplane_query.periods import label, label_sql

    days = [date(2019, 12, 1) + timedelta(days=n) for n in range(7 * 366)]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE days (n INTEGER PRIMARY KEY, day TEXT)")
    conn.executemany("INSERT INTO days (day) VALUES (?)", [(d.isoformat(),) for d in days])
    for by in ("day", "week", "month"):
        got = [r[0] for r in conn.execute(f"SELECT {label_sql(by, 'day')} FROM days ORDER BY n")]
        assert got == [label(by, d.isoformat()) for d in days], by


@pytest.mark.parametrize(
    "tz",
    [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Australia/Lord_Howe",  # a 30-minute DST shift
        "America/Santiago",  # DST changes at local midnight
        "+05:45",
    ],
)
def test_week_sql_names_the_week_of_each_stamps_local_day(tz: str) -> None:
    """Every 37 minutes over two years and a millisecond either side of each local Monday
    midnight, against ``label`` of the local day computed in Python; stamps outside the span
    given to ``week_sql`` take its fallback and must agree too."""
    zone = periods.zone(tz)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(minutes=37 * n) for n in range(2 * 366 * 24 * 60 // 37)]
    monday = date(2025, 1, 6)
    while monday < date(2027, 1, 1):
        midnight = zone.midnight(monday)
        stamps += [midnight + timedelta(milliseconds=d) for d in (-1, 0, 1)]
        monday += timedelta(days=7)
    text = [periods._stamp(s) for s in stamps]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, ts TEXT)")
    conn.executemany("INSERT INTO t (ts) VALUES (?)", [(s,) for s in text])
    # the span covers the middle year only: the rest goes through the fallback expression
    expr = periods.week_sql(zone, "ts", "2025-07-01T00:00:00.000Z", "2026-06-30T23:59:59.999Z")
    got = [r[0] for r in conn.execute(f"SELECT {expr} FROM t ORDER BY n")]
    assert got == [periods.label("week", zone.day_of(s)) for s in text]
