"""The fast-path loop: stream -> SQLite -> CDC -> ACK, in batches of 100 events or 100 ms.

Order of one batch, and why it is safe to die anywhere in it:

1. read entries (own pending first after a start, then new ones, and now and then entries other
   consumers left idle);
2. parse and validate each; what fails goes to the DLQ with its reason and original bytes;
3. write the good ones in one SQLite transaction (duplicates ignored row by row);
4. in one Lua call: CDC entries for every stored event (new or already there), dead letters,
   XACK of everything handled.

A kill before 3 commits loses nothing (entries stay pending and are read again); a kill between
3 and 4 means the rows exist and the entries are redelivered: the insert ignores them and their
CDC entries are sent then. An entry delivered more than ``max_deliveries`` times is dead-lettered
without being processed again, so one poison entry cannot stall the stream.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field

import orjson
import redis

from blueplane_core import events, streams
from blueplane_core.lifecycle import Heartbeat, Shutdown
from blueplane_ingest.bus import Entry, IngestBus, Outcome
from blueplane_ingest.writer import BatchWriter

log = logging.getLogger("blueplane.ingest")

#: bound of the back-off while Redis is unreachable.
MAX_BACKOFF_S = 5.0
#: how often the ingester looks for a newer compression dictionary.
DICTIONARY_CHECK_S = 30.0


@dataclass(frozen=True)
class Settings:
    batch_size: int = 100
    batch_timeout_ms: int = 100
    claim_idle_ms: int = 30_000
    max_deliveries: int = 3
    #: how long an idle read blocks before the loop checks shutdown, heartbeats and reclaims.
    idle_block_ms: int = 1000


@dataclass
class Counters:
    """What this process did, reported in its stats and log lines."""

    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    left_pending: int = 0
    batch_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def as_dict(self) -> dict[str, float]:
        ordered = sorted(self.batch_ms)

        def pct(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3) if ordered else 0.0

        return {
            "batches": self.batches,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead": self.dead,
            "left_pending": self.left_pending,
            "batch_p50_ms": pct(0.50),
            "batch_p95_ms": pct(0.95),
            "batch_p99_ms": pct(0.99),
        }


class Ingester:
    """One consumer of the ``processors`` group. Drive it with :meth:`run`."""

    def __init__(
        self,
        bus: IngestBus,
        writer: BatchWriter,
        settings: Settings,
        shutdown: Shutdown | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.bus = bus
        self.writer = writer
        self.settings = settings
        self.shutdown = shutdown or Shutdown()
        self.heartbeat = heartbeat
        self.counters = Counters()
        self._own_pending = True  # re-read what we were given before dying, first
        self._next_reclaim = 0.0
        self._next_dictionary_check = time.monotonic() + DICTIONARY_CHECK_S
        self._next_stats = 0.0

    # -- the loop -----------------------------------------------------------------------------

    def run(self, burst: bool = False) -> Counters:
        """Process until shutdown is requested (or, with ``burst``, until nothing is left)."""
        self.bus.setup()
        backoff = 0.1
        log.info("consumer %s started", self.bus.consumer)
        while not self.shutdown.requested:
            try:
                handled = self.step()
                backoff = 0.1
            except redis.ConnectionError as exc:
                log.warning("redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self.shutdown.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if burst and not handled and not self._own_pending:
                break
        self.publish_stats(force=True)
        if self.heartbeat:
            self.heartbeat.clear()
        log.info("consumer %s stopped: %s", self.bus.consumer, self.counters.as_dict())
        return self.counters

    def step(self) -> int:
        """Collect and process one batch; returns how many entries it handled."""
        self.housekeeping()
        entries = self.collect()
        if entries:
            self.process(entries)
        return len(entries)

    def housekeeping(self) -> None:
        now = time.monotonic()
        if self.heartbeat:
            self.heartbeat.beat(f"stored={self.counters.stored}")
        self.publish_stats()
        if now >= self._next_dictionary_check:
            self._next_dictionary_check = now + DICTIONARY_CHECK_S
            if self.writer.refresh_dictionary():
                log.info("using compression dictionary %d", self.writer.encoder.dictionary_id)

    def collect(self) -> list[Entry]:
        """The next batch: own pending, else reclaimed, else new entries (size or time bound)."""
        size = self.settings.batch_size
        if self._own_pending:
            entries = self.bus.read_own_pending(size)
            if entries:
                return entries
            self._own_pending = False
        now = time.monotonic()
        if now >= self._next_reclaim:
            self._next_reclaim = now + max(0.05, min(self.settings.claim_idle_ms / 2000, 5.0))
            reclaimed = self.bus.reclaim(self.settings.claim_idle_ms, size)
            if reclaimed:
                log.info("reclaimed %d idle entries", len(reclaimed))
                return reclaimed
        batch: list[Entry] = []
        deadline = 0.0
        while len(batch) < size and not self.shutdown.requested:
            if batch:
                remaining_ms = int((deadline - time.monotonic()) * 1000)
                if remaining_ms <= 0:
                    break
                block = remaining_ms
            else:
                block = self.settings.idle_block_ms
            got = self.bus.read_new(size - len(batch), block)
            if not got:
                break
            if not batch:
                deadline = time.monotonic() + self.settings.batch_timeout_ms / 1000
            batch.extend(got)
        return batch

    def process(self, entries: list[Entry]) -> None:
        outcome = Outcome()
        good: list[tuple[Entry, dict, bytes]] = []
        for entry in entries:
            reason = None
            if entry.deleted:
                outcome.ack.append(entry.id)
                continue
            if entry.deliveries > self.settings.max_deliveries:
                reason = f"delivered {entry.deliveries} times without being acknowledged"
            elif entry.data is None:
                reason = f"entry has no field {streams.EVENT_FIELD!r}"
            elif len(entry.data) > events.MAX_EVENT_BYTES:
                reason = f"event of {len(entry.data)} bytes exceeds {events.MAX_EVENT_BYTES}"
            else:
                try:
                    event = orjson.loads(entry.data)
                    events.validate(event)
                    good.append((entry, event, entry.data))
                    continue
                except orjson.JSONDecodeError as exc:
                    reason = f"unparseable JSON: {exc}"
                except events.InvalidEvent as exc:
                    reason = f"invalid envelope: {exc}"
            outcome.dead.append((entry, reason))
            outcome.ack.append(entry.id)
        if good:
            self._store(good, outcome)
        self.bus.finish(outcome)
        self.counters.dead += len(outcome.dead)
        for entry, reason in outcome.dead:
            log.warning("dead-lettered %s: %s", entry.id.decode(), reason)

    def _store(self, good: list[tuple[Entry, dict, bytes]], outcome: Outcome) -> None:
        started = time.perf_counter()
        try:
            stored = self.writer.write([(event, raw) for _, event, raw in good])
            written = good
        except sqlite3.Error as exc:
            log.warning("batch write failed (%s); writing its %d events one by one", exc, len(good))
            stored, written = [], []
            for item in good:
                try:
                    stored += self.writer.write([(item[1], item[2])])
                    written.append(item)
                except sqlite3.Error as one_exc:
                    # Left pending: read again later; the delivery count bounds the retries.
                    log.warning("event %s not stored: %s", item[0].id.decode(), one_exc)
                    self.counters.left_pending += 1
                    self._own_pending = True
        self.counters.batch_ms.append((time.perf_counter() - started) * 1000)
        self.counters.batches += 1
        for (entry, event, _raw), where in zip(written, stored, strict=True):
            event_type = event["event_type"]
            outcome.cdc.append(
                (where.sequence, event_type, event["session_id"], events.PRIORITY[event_type])
            )
            outcome.ack.append(entry.id)
            if where.new:
                self.counters.stored += 1
            else:
                self.counters.duplicates += 1

    def publish_stats(self, force: bool = False) -> None:
        """Write this consumer's counters to ``{bp}:stats:<consumer>`` for status and benches."""
        now = time.monotonic()
        if not force and now < self._next_stats:
            return
        self._next_stats = now + 1.0
        stats = self.counters.as_dict()
        stats["json_bytes"] = self.writer.json_bytes
        stats["stored_bytes"] = self.writer.stored_bytes
        stats["updated_at"] = time.time()
        try:
            key = streams.stats_key(self.bus.consumer)
            self.bus.client.hset(key, mapping=stats)  # type: ignore[arg-type]
            self.bus.client.expire(key, 7 * 24 * 3600)
        except redis.RedisError:
            pass
