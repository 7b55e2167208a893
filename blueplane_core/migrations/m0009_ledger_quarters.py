"""Migration 9: the request ledger summed per UTC quarter hour, kept exact by triggers.

``costs`` (by day, week, month, model or project) sums the whole ledger on every call: 86k
requests at 1M events, ~100 ms of SQLite in a command that must answer in 300 ms (issue 14).
``api_request_quarters`` holds the same sums per (UTC quarter hour, session, platform, project,
model): a report groups these rows instead, and takes the ledger's own rows only for the
partial quarter hours at the ends of a ``--since`` / ``--until`` range. A quarter hour, not an
hour: zones such as +05:30 and +05:45 start their days on a UTC quarter hour, so every time in
one quarter hour falls on one local day in every zone in use (``periods.Zone.whole_quarters``
says when not, and the report reads the ledger then). The session stays in the key because a
report counts the distinct sessions of each period.

The triggers keep it equal to the ledger inside the writer's own transaction, whatever writes
the ledger (the conversations worker replaces a session's rows with DELETE + INSERT), so no
writer knows about it. A row whose requests all went away is deleted, so a session never counts
in a quarter hour where it has no request. Key columns hold the report's own labels:
``project`` is ``'(none)'`` for a request without a project, ``model`` ``'(unknown)'`` without
a model (what ``costs`` shows for them).
"""

from __future__ import annotations

import sqlite3

#: the UTC quarter hour of a stored ``YYYY-MM-DDTHH:MM:SS.mmmZ`` time, as a stored time.
_QUARTER = (
    "substr({t}, 1, 14) || CASE WHEN substr({t}, 15, 2) < '15' THEN '00'"
    " WHEN substr({t}, 15, 2) < '30' THEN '15' WHEN substr({t}, 15, 2) < '45' THEN '30'"
    " ELSE '45' END || ':00.000Z'"
)
_TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)
_KEY = ("quarter", "session_id", "platform", "project", "model")
#: the summed columns and each one's value for one ledger row ``{r}`` (``new`` or ``old``).
_SUMS = (
    ("requests", "1"),
    *((k, f"{{r}}.{k}") for k in _TOKENS),
    ("cost_nusd", "COALESCE({r}.cost_nusd, 0)"),
    ("unpriced_requests", "{r}.cost_nusd IS NULL"),
    ("official_cost_nusd", "COALESCE({r}.official_cost_nusd, 0)"),
    ("official_requests", "{r}.official_cost_nusd IS NOT NULL"),
)


def _key_values(r: str) -> list[str]:
    return [
        _QUARTER.format(t=f"{r}.timestamp"),
        f"{r}.session_id",
        f"{r}.platform",
        f"COALESCE({r}.project_hash, '(none)')",
        f"COALESCE({r}.model, '(unknown)')",
    ]


def _add(r: str) -> str:
    values = [*_key_values(r), *(v.format(r=r) for _k, v in _SUMS)]
    return (
        f"INSERT INTO api_request_quarters ({', '.join(_KEY)}, {', '.join(k for k, _ in _SUMS)})"
        f" VALUES ({', '.join(values)}) ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
        + ", ".join(f"{k} = {k} + excluded.{k}" for k, _ in _SUMS)
        + ";"
    )


def _remove(r: str) -> str:
    match = " AND ".join(f"{k} = {v}" for k, v in zip(_KEY, _key_values(r), strict=True))
    return (
        "UPDATE api_request_quarters SET "
        + ", ".join(f"{k} = {k} - ({v.format(r=r)})" for k, v in _SUMS)
        + f" WHERE {match};"
        f" DELETE FROM api_request_quarters WHERE {match} AND requests = 0;"
    )


def apply(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE api_request_quarters ("
        " quarter TEXT NOT NULL, session_id TEXT NOT NULL, platform TEXT NOT NULL,"
        " project TEXT NOT NULL, model TEXT NOT NULL, "
        + ", ".join(f"{k} INTEGER NOT NULL" for k, _ in _SUMS)
        + f", PRIMARY KEY ({', '.join(_KEY)})) WITHOUT ROWID"
    )
    conn.execute(
        "CREATE TRIGGER api_request_quarters_insert AFTER INSERT ON api_requests"
        f" BEGIN {_add('new')} END"
    )
    conn.execute(
        "CREATE TRIGGER api_request_quarters_delete AFTER DELETE ON api_requests"
        f" BEGIN {_remove('old')} END"
    )
    conn.execute(
        "CREATE TRIGGER api_request_quarters_update AFTER UPDATE ON api_requests"
        f" BEGIN {_remove('old')} {_add('new')} END"
    )
    sums = ", ".join(
        "COUNT(*)" if k == "requests" else f"SUM({v.format(r='api_requests')})" for k, v in _SUMS
    )
    conn.execute(
        f"INSERT INTO api_request_quarters ({', '.join(_KEY)}, {', '.join(k for k, _ in _SUMS)})"
        f" SELECT {', '.join(_key_values('api_requests'))}, {sums}"
        " FROM api_requests GROUP BY 1, 2, 3, 4, 5"
    )
