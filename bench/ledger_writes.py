"""What the ledger's quarter-hour roll-up (migration 9) costs the conversations worker's writes.

The worker replaces a session's rows in one transaction: DELETE from each of its tables, then
INSERT the session's rows again (``ConversationsWorker.write_session``). This replays exactly
that, session by session, on two copies of a filled database, one with the roll-up's triggers
and one without, alternating rounds, and prints CPU time per session rewritten and per ledger
row, with the ratio. Real SQLite, the rows a real fill stored. ``--indexes``: the copies differ
in the covering time indexes of migrations 10 and 12 instead (both copies keep the triggers;
the other has the time-only indexes they replaced).

    .venv/bin/python bench/ledger_writes.py /work/data-query/small/fill-20000-*/telemetry.db
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from blueplane_workers.conversations import SESSION_TABLES  # noqa: E402


def rewrite_all(conn: sqlite3.Connection, sessions: dict[str, dict[str, list[tuple]]]) -> float:
    """CPU seconds to replace every session's rows, one transaction per session."""
    columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in SESSION_TABLES}
    started = time.process_time()
    for session_id, tables in sessions.items():
        conn.execute("BEGIN IMMEDIATE")
        for table in SESSION_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
        for table in reversed(SESSION_TABLES):  # parents first, as the worker inserts
            rows = tables.get(table)
            if rows:
                marks = ",".join("?" * len(columns[table]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.execute("COMMIT")
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database", type=Path, help="a filled telemetry.db (migration 8 applied)")
    parser.add_argument("--sessions", type=int, default=400, help="sessions to rewrite per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--indexes",
        action="store_true",
        help="compare the covering time indexes (migrations 10, 12) instead of the triggers",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bp-ledger-writes-"))
    try:
        copies = {}
        for name in ("with", "without"):
            path = folder / f"{name}.db"
            shutil.copy(args.database, path)
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if name == "without" and args.indexes:
                conn.execute("DROP INDEX idx_tool_calls_time_cover")
                conn.execute("CREATE INDEX idx_tool_calls_time ON tool_calls (timestamp)")
                conn.execute("DROP INDEX idx_api_requests_timestamp_cover")
                conn.execute("CREATE INDEX idx_api_requests_timestamp ON api_requests (timestamp)")
            elif name == "without":
                for trigger in ("insert", "delete", "update"):
                    conn.execute(f"DROP TRIGGER api_request_quarters_{trigger}")
            copies[name] = conn
        reader = copies["with"]
        picked = [
            r[0]
            for r in reader.execute(
                "SELECT session_id FROM api_requests GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT ?",
                (args.sessions,),
            )
        ]
        sessions: dict[str, dict[str, list[tuple]]] = {}
        for sid in picked:
            sessions[sid] = {
                t: reader.execute(f"SELECT * FROM {t} WHERE session_id = ?", (sid,)).fetchall()
                for t in SESSION_TABLES
            }
        ledger_rows = sum(len(s["api_requests"]) for s in sessions.values())
        all_rows = sum(len(rows) for s in sessions.values() for rows in s.values())
        print(
            f"{len(sessions)} sessions, {ledger_rows} ledger rows, {all_rows} rows in all per "
            f"round; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        totals = {"with": 0.0, "without": 0.0}
        for round_ in range(args.rounds):
            for name in ("without", "with") if round_ % 2 else ("with", "without"):
                cpu = rewrite_all(copies[name], sessions)
                totals[name] += cpu
                print(
                    f"  round {round_ + 1} {name:7}: {cpu * 1e3:7.1f} ms CPU,"
                    f" {cpu * 1e6 / len(sessions):6.1f} us/session,"
                    f" {cpu * 1e6 / ledger_rows:5.1f} us/ledger row"
                )
        extra = (totals["with"] - totals["without"]) / args.rounds
        what = "covering indexes" if args.indexes else "triggers"
        print(
            f"{what}: x{totals['with'] / totals['without']:.2f} CPU of a session rewrite;"
            f" +{extra * 1e6 / ledger_rows:.1f} us per ledger row deleted and inserted again"
        )
        for conn in copies.values():
            conn.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
