"""The conversation worker: CDC entries -> conversations, turns, code changes and commits.

``python -m blueplane_workers.conversations [--consumer NAME] [--burst]``. For each batch it
takes the sessions the entries belong to and recomputes each session's rows from ALL its stored
events, in sequence order (``conversation_fold``), inside one ``BEGIN IMMEDIATE`` transaction
per batch. Then it acknowledges the entries (after COMMIT).

Why this is exactly once and order-free: the rows are a function of the session's stored events
only. Ingest commits an event before it announces it, and the write lock makes each rebuild read
everything committed before it, so the last rebuild of a session — whichever consumer runs it —
sees every announced event. A crash before COMMIT leaves the entries pending (redelivered,
rebuilt again: same rows); a crash between COMMIT and XACK only repeats an identical rebuild.

Commits (platform ``git``) get a row each; whether a commit was agent-assisted (agent activity in
its workspace in the 5 minutes before it) and which session it is linked to (the session with the
last agent activity in its workspace in the hour before it) is recomputed for the commits near
every batch's events, so the answer does not depend on which arrived first.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from blueplane_core import config, db, events, pricing, streams
from blueplane_core.lifecycle import Heartbeat, Shutdown
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_core.stored_events import StoredEvents
from blueplane_workers.cdc import CdcEntry, CdcReader
from blueplane_workers.conversation_fold import Folded, fold, has_activity
from blueplane_workers.facts import Fact, facts_of
from blueplane_workers.loop import CdcWorker, Settings, main_for

#: a commit is linked to the session with agent activity in its workspace this long before it.
LINK_WINDOW_S = 3600
ASSIST_WINDOW_S = 300
#: sessions whose decoded events a worker keeps in memory (the active ones).
CACHE_SESSIONS = 256

#: a session's rows, all recomputed together (children first: they reference conversations).
SESSION_TABLES = (
    "api_requests",
    "api_errors",
    "code_changes",
    "tool_calls",
    "conversation_turns",
    "conversations",
)
_COPILOT_NUMBERS = (
    "suggestions",
    "acceptances",
    "lines_suggested",
    "lines_accepted",
    "active_users",
    "chat_turns",
)

#: event types that are agent activity (as metrics' ``facts.is_agent_activity``).
_EVENT_TYPES = tuple(t for t in events.EVENT_TYPES if t not in ("commit", "usage_report"))


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    marks = ",".join("?" * len(columns))
    values = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    conn.executemany(
        f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", map(values, rows)
    )


def _shift(timestamp: str, seconds: int) -> str:
    moved = datetime.fromisoformat(timestamp) + timedelta(seconds=seconds)
    return (
        moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}Z"
    )


@dataclass
class _SessionFold:
    """A session folded from its first ``count`` stored events (``picked``: those not from git,
    whose Copilot reports are written too)."""

    session_id: str
    count: int
    picked: list[tuple[int, dict[str, Any]]]
    folded: Folded | None


class ConversationStore:
    """Writes one session's rows and the commits; the caller owns the transaction."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        prices: pricing.PriceTable,
        cache_sessions: int = CACHE_SESSIONS,
    ) -> None:
        self.conn = conn
        self.raw = StoredEvents(conn)  # raw_traces and the archive: the whole history
        self.prices = prices
        self.cache_sessions = cache_sessions
        # session -> (events, their facts): stored events never change and are committed in
        # sequence order, so only events after the last cached sequence need reading again.
        self._cache: OrderedDict[str, tuple[list[tuple[int, dict]], list[list[Fact]]]] = (
            OrderedDict()
        )

    def session_events(
        self, session_id: str, known: dict[int, dict[str, Any]] | None = None
    ) -> tuple[list[tuple[int, dict]], list[list[Fact]]]:
        """All stored events of a session in sequence order, with their facts (``known``: the
        batch's events, already decoded)."""
        events, facts = self._cache.pop(session_id, ([], []))
        after = events[-1][0] if events else 0
        for seq, event in self.raw.iterate(after=after, session_id=session_id, known=known):
            events.append((seq, event))
            facts.append(facts_of(event, self.prices, seq))
        if self.cache_sessions:
            self._cache[session_id] = (events, facts)
            while len(self._cache) > self.cache_sessions:
                self._cache.popitem(last=False)
        return events, facts

    def up_to_date(self, session_id: str) -> bool:
        """The session's rows were built from every event it has (by any consumer)."""
        row = self.conn.execute(
            "SELECT last_sequence FROM conversations WHERE session_id = ?", (session_id,)
        ).fetchone()
        if row is None:
            return False
        return self.raw.newest_sequence(session_id) == row[0]

    def rebuild_session(self, session_id: str) -> Folded | None:
        return self.write_session(self.fold_session(session_id))

    def fold_session(
        self, session_id: str, known: dict[int, dict[str, Any]] | None = None
    ) -> _SessionFold:
        """A session's rows from every event stored so far (reads only; no lock needed)."""
        events, facts = self.session_events(session_id, known)
        keep = [i for i, (_s, e) in enumerate(events) if e["platform"] != "git"]
        picked = events if len(keep) == len(events) else [events[i] for i in keep]
        folded = None
        if has_activity(picked):  # else start-up-only events, a lone SessionEnd, MCP tracking
            kept_facts = facts if len(keep) == len(events) else [facts[i] for i in keep]
            folded = fold(session_id, picked, self.prices, kept_facts)
        return _SessionFold(session_id, len(events), picked, folded)

    def write_session(self, done: _SessionFold) -> Folded | None:
        """Replace a session's rows with ``done`` (inside the caller's write transaction)."""
        conn = self.conn
        session_id, folded = done.session_id, done.folded
        for table in SESSION_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
        self._copilot_reports(done.picked)
        if folded is None:
            return None
        row = dict(folded.conversation, updated_at=int(time.time() * 1000))
        _insert(conn, "conversations", [row])
        _insert(conn, "conversation_turns", folded.turns)
        _insert(conn, "code_changes", folded.changes)
        _insert(conn, "tool_calls", folded.calls)
        _insert(conn, "api_requests", folded.requests)
        _insert(conn, "api_errors", folded.errors)
        return folded

    def _copilot_reports(self, stored: list[tuple[int, dict[str, Any]]]) -> None:
        """Copilot daily reports -> ``copilot_usage`` rows (the newest report of a day wins)."""
        for seq, event in stored:
            if event["event_type"] != "usage_report":
                continue
            p = event["payload"]
            day = p.get("day")
            if not isinstance(day, str) or not day:
                continue
            numbers = [
                p.get(k) if isinstance(p.get(k), int) and not isinstance(p.get(k), bool) else 0
                for k in _COPILOT_NUMBERS
            ]
            self.conn.execute(
                "INSERT INTO copilot_usage (report_kind, org_hash, user_hash, day,"
                f" {', '.join(_COPILOT_NUMBERS)}, sequence) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (report_kind, org_hash, user_hash, day) DO UPDATE SET"
                + ", ".join(f" {k} = excluded.{k}" for k in (*_COPILOT_NUMBERS, "sequence"))
                + " WHERE excluded.sequence >= copilot_usage.sequence",
                (
                    str(p.get("report_kind") or ""),
                    str(p.get("org_hash") or ""),
                    str(p.get("user_hash") or ""),
                    day[:10],
                    *numbers,
                    seq,
                ),
            )

    def refresh_commits(self, stored: Iterable[tuple[int, dict[str, Any]]]) -> int:
        """Insert commit rows and recompute agent_assisted / linked session near these events."""
        windows: dict[str, tuple[str, str]] = {}
        for seq, event in stored:
            workspace = event["metadata"].get("workspace_hash")
            if not isinstance(workspace, str) or not workspace:
                continue
            ts = event["timestamp"]
            if event["platform"] == "git" and event["event_type"] == "commit":
                commit = event["payload"].get("commit_hash")
                if isinstance(commit, str) and commit:
                    p = event["payload"]
                    self.conn.execute(
                        "INSERT OR IGNORE INTO commits (commit_hash, workspace_hash, timestamp,"
                        " lines_added, lines_removed, files_changed, sequence)"
                        " VALUES (?,?,?,?,?,?,?)",
                        (
                            commit,
                            workspace,
                            ts,
                            p.get("lines_added") or 0,
                            p.get("lines_removed") or 0,
                            p.get("files_changed"),
                            seq,
                        ),
                    )
            low, high = windows.get(workspace, (ts, ts))
            windows[workspace] = (min(low, ts), max(high, ts))
        refreshed = 0
        for workspace, (low, high) in windows.items():
            commits = self.conn.execute(
                "SELECT commit_hash, timestamp FROM commits WHERE workspace_hash = ?"
                " AND timestamp BETWEEN ? AND ?",
                (workspace, low, _shift(high, LINK_WINDOW_S)),
            ).fetchall()
            for commit, ts in commits:
                assisted, linked = self._agent_activity(workspace, ts)
                self.conn.execute(
                    "UPDATE commits SET agent_assisted = ?, linked_session_id = ?"
                    " WHERE commit_hash = ?",
                    (int(assisted), linked, commit),
                )
                refreshed += 1
        return refreshed

    def _agent_activity(self, workspace: str, ts: str) -> tuple[bool, str | None]:
        row = self.raw.last_activity(workspace, _shift(ts, -LINK_WINDOW_S), ts, _EVENT_TYPES)
        if row is None:
            return False, None
        gap = datetime.fromisoformat(ts) - datetime.fromisoformat(row[1])
        return gap.total_seconds() <= ASSIST_WINDOW_S, row[0]

    def apply(self, sequences: Iterable[int]) -> tuple[int, int]:
        """Rebuild the sessions of ``sequences`` and refresh nearby commits, in ONE transaction.

        The sessions are folded BEFORE the write lock is taken (stored events never change, so
        reading needs no lock): the lock is held only to check that no event of a session was
        stored meanwhile (else it is folded again with them), replace the rows and refresh the
        commits, so the ingesters are not held up by the folding. Returns (sessions rebuilt,
        events found). The caller acknowledges after this returns.
        """
        found = self.raw.by_sequence(sequences)
        sessions = sorted({e["session_id"] for e in found.values()})
        ready = {s: self.fold_session(s, found) for s in sessions if not self.up_to_date(s)}
        with db.write_transaction(self.conn, db.write_lock_for(self.conn)):
            for session_id in sessions:
                if self.up_to_date(session_id):
                    continue
                done = ready.get(session_id)
                # without the cache, session_events would read every event just to count them
                if (
                    done is None
                    or not self.cache_sessions
                    or done.count != len(self.session_events(session_id)[0])  # what came since
                ):
                    done = self.fold_session(session_id)
                self.write_session(done)
            self.refresh_commits(sorted(found.items()))
        return len(sessions), len(found)


class ConversationWorker(CdcWorker):
    kind = "conversations"

    def __init__(
        self,
        reader: CdcReader,
        store: ConversationStore,
        settings: Settings,
        shutdown: Shutdown | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        super().__init__(reader, settings, shutdown, heartbeat)
        self.store = store

    def handle(self, entries: list[CdcEntry]) -> None:
        todo, dead, acks = self.triage(entries)
        _sessions, found = self.store.apply(todo)
        self.counters.applied += found
        self.counters.skipped += len(todo) - found
        self.acknowledge(dead, acks)


def rebuild_conversations(conn: sqlite3.Connection, prices: pricing.PriceTable) -> int:
    """Recompute every session's rows and every commit from every stored event (raw_traces and
    the archive); returns the number of sessions."""
    store = ConversationStore(conn, prices)
    sessions = store.raw.sessions()
    for start in range(0, len(sessions), 200):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for session_id in sessions[start : start + 200]:
                store.rebuild_session(session_id)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.execute("BEGIN IMMEDIATE")
    try:
        store.refresh_commits(store.raw.of_type("commit"))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(sessions)


def build_worker(
    cfg: config.Config,
    consumer: str,
    conn: sqlite3.Connection,
    client: ConsumerClient,
    shutdown: Shutdown | None = None,
    heartbeat: Heartbeat | None = None,
    settings: Settings | None = None,
) -> ConversationWorker:
    prices = pricing.load(cfg["pricing.file"] or None)
    reader = CdcReader(client, streams.CONVERSATIONS_GROUP, consumer)
    if settings is None:
        settings = replace(
            Settings.from_config(cfg),
            batch_size=cfg["workers.conversations_batch_size"],
            batch_timeout_ms=cfg["workers.conversations_batch_timeout_ms"],
        )
    return ConversationWorker(
        reader, ConversationStore(conn, prices), settings, shutdown, heartbeat
    )


def _check_prices(cfg: config.Config) -> None:
    pricing.load(cfg["pricing.file"] or None)


def main(argv: list[str] | None = None) -> int:
    return main_for("conversations", build_worker, argv, _check_prices)


if __name__ == "__main__":
    sys.exit(main())
