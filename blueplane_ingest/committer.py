"""The durable half of a batch: SQLite commit, then CDC entries + dead letters + XACK.

Nothing is acknowledged before its rows are committed. A write the disk or Redis cannot take
right now (full disk, read-only Redis: ``blueplane_core.backoff``) is retried with the same batch
after a pause, never row by row and never re-read (re-reading would count towards the DLQ).

Measured and rejected: committing on a second thread while the next batch is parsed. Even with
the multi-row INSERT running in one GIL-free SQLite step, the GIL hand-offs between the two
threads (a convoy behind the 5 ms switch interval) made one ingester 25-45% slower, and batch
P95 doubled. More throughput comes from more ingester processes, which the flock write lock
(``blueplane_core.db.WriteLock``) keeps from stalling each other.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from blueplane_core import events
from blueplane_core.backoff import is_transient
from blueplane_core.consumer import Delivery
from blueplane_ingest.bus import IngestBus, Outcome
from blueplane_ingest.writer import BatchWriter, Stored

log = logging.getLogger("blueplane.ingest")
T = TypeVar("T")
#: called after a transient failure with (error, what was being done); False: stop retrying.
Retry = Callable[[BaseException, str], bool]


@dataclass
class Prepared:
    """A batch whose events were parsed, validated and compressed, ready to commit."""

    entries: list[Delivery] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)  # dead letters and acks already decided


@dataclass
class Tally:
    """What the committer did; read by the loop's stats."""

    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    left_pending: int = 0
    batch_ms: list[float] = field(default_factory=list)

    def record_latency(self, ms: float, keep: int = 20_000) -> None:
        self.batch_ms.append(ms)
        if len(self.batch_ms) > keep * 2:
            del self.batch_ms[:-keep]


#: how often the committer looks for a newer compression dictionary (trained by maintenance).
DICTIONARY_CHECK_S = 30.0


class Committer:
    """Owns the SQLite write connection's transactions and the batch's Redis epilogue."""

    def __init__(
        self, writer: BatchWriter, bus: IngestBus, on_left_pending: Callable[[], None]
    ) -> None:
        self.writer = writer
        self.bus = bus
        self.tally = Tally()
        self._on_left_pending = on_left_pending
        self._next_dictionary_check = time.monotonic() + DICTIONARY_CHECK_S

    def commit(self, batch: Prepared, retry: Retry | None = None) -> None:
        """Commit the batch's rows, then send its CDC entries and dead letters and acknowledge.

        With ``retry``, a transient failure of either step waits (``retry`` pauses and logs) and
        repeats that step; when ``retry`` says stop (shutdown), the error is raised and the
        entries stay pending."""
        now = time.monotonic()
        if now >= self._next_dictionary_check:
            self._next_dictionary_check = now + DICTIONARY_CHECK_S
            if self.writer.refresh_dictionary():
                log.info("using compression dictionary %d", self.writer.encoder.dictionary_id)
        outcome = batch.outcome
        if batch.events:
            started = time.perf_counter()
            stored, committed = _until_done(lambda: self._store(batch), retry, "storing events")
            self.tally.record_latency((time.perf_counter() - started) * 1000)
            self.tally.batches += 1
            for entry, event, where in committed_with(committed, stored):
                if where.archived:  # every worker applied it before it was archived
                    outcome.ack.append(entry.id)
                    self.tally.duplicates += 1
                    continue
                event_type = event["event_type"]
                outcome.cdc.append(
                    (
                        where.sequence,
                        event_type,
                        event["session_id"],
                        events.PRIORITY[event_type],
                        *events.summary(event),
                    )
                )
                outcome.ack.append(entry.id)
                if where.new:
                    self.tally.stored += 1
                else:
                    self.tally.duplicates += 1
        if outcome.ack or outcome.dead:
            _until_done(lambda: self.bus.finish(outcome), retry, "acknowledging stored events")
        self.tally.dead += len(outcome.dead)
        for entry, reason in outcome.dead:
            log.warning("dead-lettered %s: %s", entry.id.decode(), reason)

    def _store(self, batch: Prepared) -> tuple[list[Stored], list[tuple[Delivery, dict[str, Any]]]]:
        try:
            stored = self.writer.store(batch.events, batch.rows)
            return stored, list(zip(batch.entries, batch.events, strict=True))
        except sqlite3.Error as exc:
            if is_transient(exc):
                raise  # the disk, not an event: the whole batch waits
            log.warning(
                "batch write failed (%s); writing its %d events one by one", exc, len(batch.events)
            )
        stored, committed = [], []
        for entry, event, row in zip(batch.entries, batch.events, batch.rows, strict=True):
            try:
                stored += self.writer.store([event], [row])
                committed.append((entry, event))
            except sqlite3.Error as exc:
                if is_transient(exc):
                    raise
                # Left pending: read again later; the delivery count bounds the retries.
                log.warning("event %s not stored: %s", entry.id.decode(), exc)
                self.tally.left_pending += 1
                self._on_left_pending()
        return stored, committed


def _until_done(step: Callable[[], T], retry: Retry | None, doing: str) -> T:
    while True:
        try:
            return step()
        except Exception as exc:
            if retry is None or not is_transient(exc) or not retry(exc, doing):
                raise


def committed_with(
    committed: list[tuple[Delivery, dict[str, Any]]], stored: list[Stored]
) -> list[tuple[Delivery, dict[str, Any], Stored]]:
    return [(entry, event, where) for (entry, event), where in zip(committed, stored, strict=True)]
