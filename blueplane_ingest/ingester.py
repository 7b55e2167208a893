"""The fast-path loop: stream -> SQLite -> CDC -> ACK, in batches of 200 events or 100 ms.

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

Redis down, loading its data or refusing writes, and a full disk are waited out
(``blueplane_core.backoff``): one log line a minute, the batch kept and tried again, work resuming
by itself; the process never exits for them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from blueplane_core import allowlist, events, redis_conn, streams
from blueplane_core.backoff import Backoff, is_transient
from blueplane_core.consumer import BatchCollector, BatchPolicy, Delivery
from blueplane_core.lifecycle import Heartbeat, Shutdown, publish_stats
from blueplane_ingest.bus import EVENT_FIELD, IngestBus
from blueplane_ingest.committer import Committer, Prepared
from blueplane_ingest.writer import BatchWriter

log = logging.getLogger("blueplane.ingest")

#: bound of the back-off while Redis or the disk cannot take writes.
MAX_BACKOFF_S = 5.0


@dataclass(frozen=True)
class Settings(BatchPolicy):
    max_deliveries: int = 3


def redacted(entry: Delivery, event: dict[str, Any]) -> Delivery:
    """``entry`` with its event's payload and metadata values replaced by their JSON types, so
    the dead letter shows which keys arrived without keeping a value the allow-list refused."""
    shape = dict(event)
    for name, kind in (("session_id", allowlist.SESSION_ID), ("hook_type", allowlist.HOOK_TYPE)):
        if shape[name] is not None and not kind.check(shape[name]):
            shape[name] = "(refused)"
    for section in ("payload", "metadata"):
        shape[section] = {str(k): type(v).__name__ for k, v in event[section].items()}
    fields = dict(entry.fields or {})
    fields[EVENT_FIELD] = orjson.dumps(shape)
    return Delivery(entry.id, fields, entry.deliveries)


def _percentile(ordered: list[float], p: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3) if ordered else 0.0


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
        self.committer = Committer(writer, bus, self._left_pending)
        self.collector = BatchCollector(bus, settings, self.shutdown, log)
        self.backoff = Backoff(
            log, self.shutdown, max_s=MAX_BACKOFF_S, on_wait=heartbeat.beat if heartbeat else None
        )
        self._next_stats = 0.0

    # -- the loop -----------------------------------------------------------------------------

    def run(self, burst: bool = False) -> dict[str, float]:
        """Process until shutdown is requested (or, with ``burst``, until nothing is left).

        Returns the counters (see :meth:`counters`).
        """
        if not self._setup():
            return self.counters()
        log.info("consumer %s started", self.bus.consumer)
        while not self.shutdown.requested:
            try:
                handled = self.step()
                self.backoff.succeeded()
            except redis_conn.reply_errors() as exc:
                if "NOGROUP" not in str(exc) and not is_transient(exc):
                    raise
                if "NOGROUP" in str(exc):
                    # The stream or group vanished (a FLUSHALL, a new Redis): recreate, go on.
                    log.warning("consumer group missing (%s); recreating it", exc)
                    self._setup()
                    continue
                self.collector.own_pending = True
                self.backoff.wait(exc, "reading the events stream")
                continue
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # Whatever was committed but not acknowledged stays pending: read it again.
                self.collector.own_pending = True
                self.backoff.wait(exc, "reading the events stream")
                continue
            if burst and not handled and not self.collector.own_pending:
                break
        self.publish_stats(force=True)
        if self.heartbeat:
            self.heartbeat.clear()
        counters = self.counters()
        log.info("consumer %s stopped: %s", self.bus.consumer, counters)
        return counters

    def _setup(self) -> bool:
        """Create the groups, waiting while Redis is down or still loading its data (a restart
        replaying a long append-only file answers LOADING for a while); False on shutdown."""
        while not self.shutdown.requested:
            try:
                self.bus.setup()
                self.backoff.succeeded()
                return True
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.backoff.wait(exc, "starting")
        return False

    def step(self) -> int:
        """Collect and process one batch; returns how many entries it read."""
        self.housekeeping()
        entries = self.collector.collect()
        if entries:
            self.process(entries)
        return len(entries)

    def _left_pending(self) -> None:
        self.collector.own_pending = True

    def housekeeping(self) -> None:
        if self.heartbeat:
            self.heartbeat.beat(f"stored={self.committer.tally.stored}")
        self.publish_stats()

    def prepare(self, entries: list[Delivery]) -> Prepared:
        """Parse, validate and compress a batch; decide the dead letters (nothing durable yet)."""
        batch = Prepared()
        good_raw: list[bytes] = []
        for entry in entries:
            if entry.fields is None:  # deleted while pending: nothing to store
                batch.outcome.ack.append(entry.id)
                continue
            data = entry.fields.get(EVENT_FIELD)
            if entry.deliveries > self.settings.max_deliveries:
                reason = f"delivered {entry.deliveries} times without being acknowledged"
            elif data is None:
                reason = f"entry has no field {streams.EVENT_FIELD!r}"
            elif len(data) > events.MAX_EVENT_BYTES:
                reason = f"event of {len(data)} bytes exceeds {events.MAX_EVENT_BYTES}"
            else:
                try:
                    event = events.validate(orjson.loads(data))
                    problem = allowlist.violation(event)
                    if problem:
                        # the original bytes hold what the allow-list refused: keep its shape
                        batch.outcome.dead.append((redacted(entry, event), f"privacy: {problem}"))
                        batch.outcome.ack.append(entry.id)
                        continue
                    batch.entries.append(entry)
                    batch.events.append(event)
                    good_raw.append(data)
                    continue
                except orjson.JSONDecodeError as exc:
                    reason = f"unparseable JSON: {exc}"
                except events.InvalidEvent as exc:
                    reason = f"invalid envelope: {exc}"
            batch.outcome.dead.append((entry, reason))
            batch.outcome.ack.append(entry.id)
        batch.rows = self.writer.rows(list(zip(batch.events, good_raw, strict=True)))
        return batch

    def process(self, entries: list[Delivery]) -> None:
        """Prepare one batch, then commit and acknowledge it."""
        self.committer.commit(self.prepare(entries), retry=self.backoff.wait)

    def counters(self) -> dict[str, float]:
        tally = self.committer.tally
        ordered = sorted(tally.batch_ms[-20_000:])
        return {
            "batches": tally.batches,
            "stored": tally.stored,
            "duplicates": tally.duplicates,
            "dead": tally.dead,
            "left_pending": tally.left_pending,
            "waits": self.backoff.total,
            "batch_p50_ms": _percentile(ordered, 0.50),
            "batch_p95_ms": _percentile(ordered, 0.95),
            "batch_p99_ms": _percentile(ordered, 0.99),
        }

    def publish_stats(self, force: bool = False) -> None:
        """Write this consumer's counters to ``{bp}:stats:<consumer>`` for status and benches."""
        now = time.monotonic()
        if not force and now < self._next_stats:
            return
        self._next_stats = now + 1.0
        stats: dict[str, float] = self.counters()
        stats["json_bytes"] = self.writer.json_bytes
        stats["stored_bytes"] = self.writer.stored_bytes
        stats["updated_at"] = time.time()
        publish_stats(self.bus.client, self.bus.consumer, stats)
