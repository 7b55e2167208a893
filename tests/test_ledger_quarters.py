"""The ledger's quarter-hour roll-up (migration 9): equal to the ledger under every kind of
write, and ``costs`` answers the same from it as from the ledger alone (issue 14)."""

from __future__ import annotations

import random
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from blueplane_core import db, migrations, paths
from blueplane_query.filters import Filter
from blueplane_query.output import dumps
from blueplane_query.projects import Match
from blueplane_query.reports import costs
from blueplane_query.store import Store

_START = datetime(2026, 3, 20, tzinfo=UTC)  # around Europe's and America's DST changes
_MODELS = ("claude-opus-4-8", "claude-haiku-4-5", None)
_PROJECTS = ("a1" * 32, "b2" * 32, None)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _request(rng: random.Random, n: int) -> dict[str, Any]:
    at = _START + timedelta(seconds=rng.randrange(16 * 86400), milliseconds=rng.randrange(1000))
    if rng.random() < 0.2:  # exactly on a quarter hour, or just before one
        at = at.replace(minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0)
        at -= timedelta(milliseconds=rng.choice((0, 1)))
    session = rng.randrange(12)
    return {
        "request_key": f"api:{n}",
        "session_id": f"s{session}",
        "platform": "cursor" if session % 4 == 0 else "claude_code",
        "agent": "main",
        "model": rng.choice(_MODELS),
        "at_ms": int(at.timestamp() * 1000),
        "timestamp": _stamp(at),
        "input_tokens": rng.randrange(5000),
        "output_tokens": rng.randrange(3000),
        "cache_write_5m_tokens": rng.randrange(2000),
        "cache_write_1h_tokens": rng.randrange(1000),
        "cache_read_tokens": rng.randrange(90000),
        "cost_nusd": None if rng.random() < 0.1 else rng.randrange(10**9),
        "official_cost_nusd": rng.randrange(10**9) if rng.random() < 0.3 else None,
        "sources": "transcript",
        "project_hash": _PROJECTS[session % 3],
        "sequence": n,
    }


def _insert(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    conn.executemany(
        f"INSERT INTO api_requests ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})",
        [tuple(r[c] for c in columns) for r in rows],
    )


def _expected(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[int]]:
    """The roll-up computed here from the rows: quarter hours by datetime arithmetic."""
    sums: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * 10)
    for r in rows:
        at = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
        quarter = at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)
        key = (
            _stamp(quarter),
            r["session_id"],
            r["platform"],
            r["project_hash"] or "(none)",
            r["model"] or "(unknown)",
        )
        cw5, cw1 = r["cache_write_5m_tokens"], r["cache_write_1h_tokens"]
        add = (
            1,
            r["input_tokens"],
            r["output_tokens"],
            cw5,
            cw1,
            r["cache_read_tokens"],
            r["cost_nusd"] or 0,
            r["cost_nusd"] is None,
            r["official_cost_nusd"] or 0,
            r["official_cost_nusd"] is not None,
        )
        sums[key] = [a + int(b) for a, b in zip(sums[key], add, strict=True)]
    return dict(sums)


def _stored(conn: sqlite3.Connection) -> dict[tuple[str, ...], list[int]]:
    return {
        tuple(r[:5]): list(r[5:])
        for r in conn.execute(
            "SELECT quarter, session_id, platform, project, model, requests, input_tokens,"
            " output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens,"
            " cost_nusd, unpriced_requests, official_cost_nusd, official_requests"
            " FROM api_request_quarters"
        )
    }


def _ledger(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT * FROM api_requests")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor]


@pytest.fixture
def rng() -> random.Random:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    return random.Random(seed)


def test_the_roll_up_equals_the_ledger_after_inserts_updates_and_deletes(
    rng: random.Random,
) -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    _insert(conn, [_request(rng, n) for n in range(400)])
    assert _stored(conn) == _expected(_ledger(conn))
    # what the conversations worker does: a session's rows deleted and written again, changed
    conn.execute("BEGIN")
    conn.execute("DELETE FROM api_requests WHERE session_id = 's3'")
    again = [_request(rng, n) for n in range(400, 460)]
    _insert(conn, [dict(r, session_id="s3", platform="claude_code") for r in again])
    conn.execute("COMMIT")
    assert _stored(conn) == _expected(_ledger(conn))
    # updates that move a request to another quarter hour, model or project, or change sums
    for _ in range(60):
        key = f"api:{rng.randrange(460)}"
        moved = _request(rng, 0)
        column = rng.choice(
            ("timestamp", "model", "project_hash", "cost_nusd", "official_cost_nusd", "session_id")
        )
        conn.execute(
            f"UPDATE api_requests SET {column} = ? WHERE request_key = ?", (moved[column], key)
        )
    assert _stored(conn) == _expected(_ledger(conn))
    conn.execute(
        "DELETE FROM api_requests WHERE request_key IN (?, ?, ?)", ("api:1", "api:2", "api:5")
    )
    conn.execute("DELETE FROM api_requests WHERE session_id IN ('s1', 's7')")
    assert _stored(conn) == _expected(_ledger(conn))
    # a quarter hour whose requests all went away has no row: no session counts there
    assert (
        conn.execute("SELECT COUNT(*) FROM api_request_quarters WHERE requests = 0").fetchone()[0]
        == 0
    )
    conn.execute("DELETE FROM api_requests")
    assert _stored(conn) == {}


def test_the_migration_rolls_up_a_ledger_written_before_it(rng: random.Random) -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn, [m for m in migrations.MIGRATIONS if m[0] < 9])
    _insert(conn, [_request(rng, n) for n in range(300)])
    assert 9 in migrations.migrate(conn)
    assert _stored(conn) == _expected(_ledger(conn))


#: zones whose offsets are whole quarter hours (the roll-up answers) and one that is not.
_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "+05:30", "+05:45", "-03:30", "+05:17")


def test_costs_answer_the_same_from_the_roll_up_as_from_the_ledger(rng: random.Random) -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    _insert(conn, [_request(rng, n) for n in range(600)])
    plain = paths.database().with_name("ledger-only.db")
    conn.execute("VACUUM INTO ?", (str(plain),))
    with sqlite3.connect(plain) as other:
        other.execute("DROP TABLE api_request_quarters")
    now = _START + timedelta(days=17)
    filters: list[dict[str, Any]] = [
        {},
        {"since": "2026-03-25", "until": "2026-03-30"},
        {"since": "2026-03-28T10:07:31", "until": "2026-04-02T17:52:00"},  # partial quarters
        {"since": "2026-03-28T10:07:31", "until": "2026-03-28T10:11:00"},  # inside one quarter
        {"since": "10d", "platform": "cursor"},
    ]
    answers = 0
    with Store(paths.database()) as rolled, Store(plain) as ledger:
        for tz in _ZONES:
            for spec in filters:
                flt = Filter.parse(**spec, tz=tz, now=now)
                for project in (None, _PROJECTS[0]):
                    if project:
                        match = Match(projects=(project,), workspaces=())
                        flt = Filter(flt.since, flt.until, flt.platform, project, flt.zone, match)
                    for by in ("day", "week", "month", "model", "project"):
                        got = dumps(costs.costs(rolled, flt, by=by, now=now))
                        want = dumps(costs.costs(ledger, flt, by=by, now=now))
                        assert got == want, (tz, spec, project, by)
                        answers += 1
    assert answers == len(_ZONES) * len(filters) * 2 * 5


def test_the_roll_up_answers_unless_a_zone_splits_its_quarter_hours(rng: random.Random) -> None:
    """Which rows ``costs`` groups: the roll-up's whole quarter hours and the ledger's rows at
    the ends, or the ledger alone where a quarter hour could span two local days."""
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    _insert(conn, [_request(rng, n) for n in range(20)])
    first, last = "2026-03-20T00:00:00.000Z", "2026-04-05T00:00:00.000Z"
    with Store(paths.database()) as store:
        for tz, by, start in (
            ("+05:45", "day", ("2026-03-25T04:22:00.000Z", "2026-03-25T04:30:00.000Z")),
            ("Asia/Kathmandu", "week", ("2026-03-25T04:22:00.000Z", "2026-03-25T04:30:00.000Z")),
            ("+05:17", "day", None),
            ("+05:17", "model", ("2026-03-25T04:50:00.000Z", "2026-03-25T05:00:00.000Z")),
        ):
            flt = Filter.parse("2026-03-25T10:07:00", "2026-03-28", tz=tz)
            sql, params = costs._source(store, flt, by, *costs.ledger_filter(flt), first, last)
            assert ("api_request_quarters" in sql) == (start is not None), (tz, by)
            if start:  # the partial quarter hour at the start comes from the ledger
                assert tuple(params[:2]) == start, (tz, by)
