"""The insight worker: recomputes rule-based insights into SQLite ``insights``.

``python -m blueplane_workers.insights [--consumer NAME] [--burst]``; one process. It consumes
the ``insights`` group only to learn that something changed: for each batch it records durably
(``worker_progress`` ``insights/stale_since``) that insights are stale, then acknowledges the
entries. At most every ``insights.interval_s`` (and when the stream goes quiet after a burst of
at least ``CATCH_UP_ENTRIES``, as after a first start's backfill, once the metrics and
conversation workers have caught up too) it recomputes
every rule from the metrics and conversation tables (never raw content) and clears the stale
mark in the same transaction. A crash anywhere loses nothing: unacknowledged entries are
redelivered, and a stale mark left behind triggers a recomputation at the next start.
Recomputing from scratch is idempotent; rows keep ``created_at``; insights that no longer hold
are deleted.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from dataclasses import replace
from datetime import datetime

import orjson

from blueplane_core import config, db, redis_conn, streams
from blueplane_core.lifecycle import Heartbeat, Shutdown
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_workers import insight_phrasing, insight_rules
from blueplane_workers.cdc import CdcEntry, CdcReader
from blueplane_workers.loop import CdcWorker, Counters, Settings, main_for


def store_insights(
    conn: sqlite3.Connection,
    insights: list[insight_rules.Insight],
    phraser: insight_phrasing.Phraser | None = None,
    clear_stale_up_to: int | None = None,
) -> int:
    """Replace the insights table's content with ``insights`` (created_at kept); returns count."""
    now = int(time.time() * 1000)
    phraser = phraser or insight_phrasing.Off()
    with db.write_transaction(conn, db.write_lock_for(conn)):
        keep = []
        for item in insights:
            phrased = phraser.phrase(item)
            conn.execute(
                "INSERT INTO insights (kind, subject, severity, heuristic, title, evidence,"
                " suggestion, phrased, session_id, window_start, window_end, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (kind, subject) DO UPDATE SET severity = excluded.severity,"
                " heuristic = excluded.heuristic, title = excluded.title,"
                " evidence = excluded.evidence, suggestion = excluded.suggestion,"
                " phrased = coalesce(excluded.phrased, phrased), session_id = excluded.session_id,"
                " window_start = excluded.window_start, window_end = excluded.window_end,"
                " updated_at = excluded.updated_at",
                (
                    item.kind,
                    item.subject,
                    item.severity,
                    int(item.heuristic),
                    item.title,
                    orjson.dumps(item.evidence, option=orjson.OPT_SORT_KEYS).decode(),
                    item.suggestion,
                    phrased,
                    item.session_id,
                    item.window_start,
                    item.window_end,
                    now,
                    now,
                ),
            )
            keep.append((item.kind, item.subject))
        existing = conn.execute("SELECT kind, subject FROM insights").fetchall()
        stale = [row for row in existing if tuple(row) not in set(keep)]
        conn.executemany("DELETE FROM insights WHERE kind = ? AND subject = ?", stale)
        if clear_stale_up_to is not None:  # events that arrived meanwhile keep the mark
            conn.execute(
                "DELETE FROM worker_progress WHERE worker = 'insights' AND name = 'stale_since'"
                " AND updated_at <= ?",
                (clear_stale_up_to,),
            )
    return len(insights)


#: changes since the last recomputation after which a quiet stream recomputes at once rather than
#: at the next interval: a backfill's numbers get their insights when it ends, while a trickle
#: of live events still recomputes once per interval.
CATCH_UP_ENTRIES = 1000
#: CDC entries the insight worker takes per batch: it only notes that something changed, so a
#: batch costs one durable mark and one XACK whatever its size, and a first start's backlog is
#: gone in a few dozen batches rather than hundreds.
BATCH_SIZE = 2000
#: how often a quiet insight worker looks whether the other workers finished a burst.
CATCH_UP_POLL_S = 0.05
#: intervals a recomputation waits at most while full batches keep coming.
BACKLOG_WAIT = 10
#: the groups whose workers write what the rules read.
SOURCES = (streams.METRICS_GROUP, streams.CONVERSATIONS_GROUP)


class InsightWorker(CdcWorker):
    kind = "insights"

    def __init__(
        self,
        reader: CdcReader,
        conn: sqlite3.Connection,
        settings: Settings,
        interval_s: float,
        phraser: insight_phrasing.Phraser | None = None,
        shutdown: Shutdown | None = None,
        heartbeat: Heartbeat | None = None,
        now: datetime | None = None,
    ) -> None:
        super().__init__(reader, settings, shutdown, heartbeat)
        self.conn = conn
        self.interval_s = interval_s
        self.phraser = phraser or insight_phrasing.Off()
        self.now = now  # fixed "now" for tests; None = the clock
        self.burst_mode = False
        self._last_run = 0.0
        #: changes applied since the stream was last quiet: an interval's recomputation in the
        #: middle of a burst does not reset it, so the burst's end still recomputes at once
        self._burst = 0
        self.runs = 0

    def handle(self, entries: list[CdcEntry]) -> None:
        """Note durably that insights are stale, then acknowledge (with any dead letters)."""
        todo, dead, acks = self.triage(entries)
        if todo:
            mark_stale(self.conn)
        self.acknowledge(dead, acks)
        self.counters.applied += len(todo)
        self._burst += len(todo)
        since = time.monotonic() - self._last_run
        # a full batch means more is waiting (a backfill): the rules would read tables the other
        # workers are still filling, so they wait for the quiet (``idle``), or for long
        backlog = len(entries) >= self.settings.batch_size
        waited = self.runs > 0 and since >= BACKLOG_WAIT * self.interval_s
        if since >= self.interval_s and (not backlog or waited):
            self.recompute_if_stale()

    def idle(self) -> None:
        due = time.monotonic() - self._last_run >= self.interval_s or self.burst_mode
        catching_up = self._burst >= CATCH_UP_ENTRIES
        caught_up = catching_up and self._sources_caught_up()
        if due or caught_up:
            self.recompute_if_stale()
        if caught_up or not catching_up:
            self._burst = 0  # the stream is quiet and its burst (if any) recomputed
        # the workers the rules read are finishing a burst (a first start's last numbers): the
        # next read of the quiet stream comes back after CATCH_UP_POLL_S, not a whole idle block
        # (1 s), and this check runs again, so the recomputation follows their catching up
        waiting = catching_up and not caught_up
        self.collector.idle_block_ms = (
            min(int(CATCH_UP_POLL_S * 1000), self.settings.idle_block_ms)
            if waiting
            else self.settings.idle_block_ms
        )

    def _sources_caught_up(self) -> bool:
        """Whether the workers whose tables the rules read (metrics, conversations) have
        applied every change: insights computed before would miss their last rows."""
        try:
            groups = redis_conn.groups_by_name(self.reader.client, streams.CDC_STREAM)
        except redis_conn.errors():
            return False
        return all(
            g in groups and int(groups[g].get("pending") or 0) + int(groups[g].get("lag") or 0) == 0
            for g in SOURCES
        )

    def run(self, burst: bool = False) -> Counters:
        self.burst_mode = burst
        counters = super().run(burst)
        self.recompute_if_stale()
        return counters

    def recompute_if_stale(self) -> int:
        if stale_since(self.conn) is None:
            return 0
        return self.recompute()

    def recompute(self) -> int:
        """Recompute every insight and clear the stale mark in the same transaction."""
        started = stale_since(self.conn)
        clock = time.monotonic()
        found = insight_rules.compute(self.reader.client, self.conn, self.now)
        computed = time.monotonic()
        count = store_insights(self.conn, found, self.phraser, clear_stale_up_to=started)
        self.log.info(
            "recomputed %d insights: rules %.0f ms, store %.0f ms",
            count,
            (computed - clock) * 1000,
            (time.monotonic() - computed) * 1000,
        )
        self._last_run = time.monotonic()
        self.runs += 1
        return count


def mark_stale(conn: sqlite3.Connection) -> None:
    """Record (durably) that events arrived since the last recomputation."""
    now = time.time_ns()
    conn.execute(
        "INSERT INTO worker_progress (worker, name, value, updated_at) VALUES"
        " ('insights', 'stale_since', ?, ?) ON CONFLICT (worker, name) DO UPDATE SET"
        " updated_at = excluded.updated_at",
        (now, now // 1_000_000),
    )


def stale_since(conn: sqlite3.Connection) -> int | None:
    row = conn.execute(
        "SELECT updated_at FROM worker_progress WHERE worker = 'insights' AND name = 'stale_since'"
    ).fetchone()
    return int(row[0]) if row else None


def build_worker(
    cfg: config.Config,
    consumer: str,
    conn: sqlite3.Connection,
    client: ConsumerClient,
    shutdown: Shutdown | None = None,
    heartbeat: Heartbeat | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> InsightWorker:
    phraser = insight_phrasing.from_config(
        cfg["insights.llm_provider"], cfg["insights.llm_model"], cfg["insights.llm_url"]
    )
    reader = CdcReader(client, streams.INSIGHTS_GROUP, consumer)
    return InsightWorker(
        reader,
        conn,
        settings or replace(Settings.from_config(cfg), batch_size=BATCH_SIZE),
        cfg["insights.interval_s"],
        phraser,
        shutdown,
        heartbeat,
        now,
    )


def main(argv: list[str] | None = None) -> int:
    return main_for("insights", build_worker, argv)


if __name__ == "__main__":
    sys.exit(main())
