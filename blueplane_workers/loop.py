"""The consumer loop every worker kind shares: collect a batch, hand it over, repeat.

A batch is the consumer's own pending entries after a start, else entries other consumers left
idle past ``claim_idle_ms``, else new entries (up to ``batch_size`` or ``batch_timeout_ms``).
Inside a batch entries are handled in priority order (1 first). The worker kind's
:meth:`CdcWorker.handle` makes the batch's effects durable and acknowledges the entries in the
same step; an exception leaves them pending, to be delivered again (the delivery count bounds
the retries: past ``max_deliveries`` an entry is dead-lettered instead of handled).

Redis down, loading or refusing writes, and a full or read-only disk are not the entries' fault:
the same batch is handled again after a pause (``blueplane_core.backoff``: one log line a minute),
without re-reading it, so waiting never pushes good entries towards the dead-letter queue.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blueplane_core import config, db, migrations, paths, redis_conn, streams
from blueplane_core.backoff import Backoff, is_transient, until_done
from blueplane_core.config import Config
from blueplane_core.consumer import BatchCollector, BatchPolicy, consumer_name
from blueplane_core.lifecycle import (
    EXIT_OK,
    Heartbeat,
    Shutdown,
    publish_stats,
    setup_logging,
    tune_gc,
)
from blueplane_workers.cdc import CdcEntry, CdcReader, cdc_entry

MAX_BACKOFF_S = 5.0


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Run migrations only when some are missing: a worker restarting while another holds the
    write lock for a long batch must not wait for the lock just to learn nothing is to do."""
    if max(migrations.applied_versions(conn), default=0) < migrations.head():
        migrations.migrate(conn)


@dataclass(frozen=True)
class Settings(BatchPolicy):
    batch_size: int = 200
    batch_timeout_ms: int = 50
    max_deliveries: int = 3

    @classmethod
    def from_config(cls, cfg: Config) -> Settings:
        get = cfg.__getitem__
        return cls(
            batch_size=get("workers.batch_size"),
            batch_timeout_ms=get("workers.batch_timeout_ms"),
            claim_idle_ms=get("workers.claim_idle_ms"),
            max_deliveries=get("workers.max_deliveries"),
        )


@dataclass
class Counters:
    batches: int = 0
    entries: int = 0
    applied: int = 0
    skipped: int = 0  # already applied (redelivered or duplicate CDC entries)
    dead: int = 0
    retries: int = 0  # batches refused once because another consumer changed shared state
    errors: int = 0
    lag_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = {k: v for k, v in self.__dict__.items() if k != "lag_ms"}
        if self.lag_ms:  # ingest -> applied, from the CDC entry ids' times (last 10,000)
            ordered = sorted(self.lag_ms)
            for p in (50, 95, 99):
                out[f"lag_p{p}_ms"] = round(
                    ordered[min(len(ordered) - 1, p * len(ordered) // 100)], 1
                )
        return out


class CdcWorker:
    """Base of the metrics, conversation and insight workers. Drive it with :meth:`run`."""

    kind = "worker"

    def __init__(
        self,
        reader: CdcReader,
        settings: Settings,
        shutdown: Shutdown | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.reader = reader
        self.settings = settings
        self.shutdown = shutdown or Shutdown()
        self.heartbeat = heartbeat
        self.counters = Counters()
        self.log = logging.getLogger(f"blueplane.workers.{self.kind}")
        self.collector = BatchCollector(reader, settings, self.shutdown, self.log)
        self.backoff = Backoff(
            self.log,
            self.shutdown,
            max_s=MAX_BACKOFF_S,
            on_wait=heartbeat.beat if heartbeat else None,
        )
        self._next_stats = 0.0

    # -- to implement --------------------------------------------------------------------------

    def handle(self, entries: list[CdcEntry]) -> None:
        """Make the effects of ``entries`` durable and acknowledge them (atomically)."""
        raise NotImplementedError

    def idle(self) -> None:
        """Called when a read found nothing (periodic work of a worker kind)."""

    # -- the loop ------------------------------------------------------------------------------

    def run(self, burst: bool = False) -> Counters:
        """Process until shutdown (or, with ``burst``, until nothing is left to read)."""
        while not self.shutdown.requested:  # Redis may be down or still loading its data
            try:
                self.reader.setup()
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.backoff.wait(exc, "starting")
        self.log.info("consumer %s started", self.reader.consumer)
        while not self.shutdown.requested:
            try:
                handled = self.step()
                self.backoff.succeeded()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.collector.own_pending = True  # whatever was read stays pending
                self.backoff.wait(exc, "reading the CDC stream")
                continue
            if not handled:
                self.idle()
                if burst and not self.collector.own_pending:
                    break
        self.publish_stats(force=True)
        if self.heartbeat:
            self.heartbeat.clear()
        self.log.info("consumer %s stopped: %s", self.reader.consumer, self.counters.as_dict())
        return self.counters

    def step(self) -> int:
        if self.heartbeat:
            self.heartbeat.beat(f"applied={self.counters.applied}")
        self.publish_stats()
        entries = self.collect()
        if not entries:
            return 0
        entries.sort(key=lambda e: (e.priority, e.id))
        try:
            self._handle_until_done(entries)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise  # shutting down while waiting: the entries stay pending
            # Left pending: delivered again later; the delivery count dead-letters a poison batch.
            self.counters.errors += 1
            self.log.exception("batch of %d entries failed; left pending", len(entries))
            self.collector.own_pending = True
            self.shutdown.wait(0.2)
            return len(entries)
        self.counters.batches += 1
        self.counters.entries += len(entries)
        return len(entries)

    def _handle_until_done(self, entries: list[CdcEntry]) -> None:
        """``handle``, repeated on the same entries while Redis or the disk cannot take it."""
        while True:
            try:
                self.handle(entries)
                return
            except Exception as exc:
                if not is_transient(exc) or not self.backoff.wait(exc, "applying a batch"):
                    raise

    def collect(self) -> list[CdcEntry]:
        return [cdc_entry(d) for d in self.collector.collect()]

    def triage(
        self, entries: list[CdcEntry]
    ) -> tuple[dict[int, list[CdcEntry]], list[list], list[bytes]]:
        """(entries by sequence to handle, dead letters [reason, original, id, deliveries], acks).

        ``acks`` holds every entry id of the batch: a worker acknowledges all of them together
        with its effects (dead letters are written in the same step).
        """
        todo: dict[int, list[CdcEntry]] = {}
        dead: list[list] = []
        for entry in entries:
            if entry.deleted:
                continue
            if entry.deliveries > self.settings.max_deliveries:
                reason = f"delivered {entry.deliveries} times without being acknowledged"
            elif entry.sequence is None:
                reason = f"CDC entry has no valid {streams.CDC_SEQUENCE!r} field"
            else:
                todo.setdefault(entry.sequence, []).append(entry)
                continue
            dead.append([reason, entry.raw, entry.id, entry.deliveries])
        self.counters.dead += len(dead)
        for reason, _raw, eid, _n in dead:
            self.log.warning("dead-lettered %s: %s", eid.decode(), reason)
        return todo, dead, [e.id for e in entries]

    def acknowledge(self, dead: list[list[Any]], acks: list[bytes]) -> None:
        """Dead letters and the XACK of the batch in one MULTI, after the effects are durable
        (the metrics worker does both inside its own Lua step instead)."""
        pipe = self.reader.client.pipeline(transaction=True)
        for reason, raw, eid, deliveries in dead:
            pipe.xadd(
                streams.DLQ_STREAM,
                {
                    streams.DLQ_REASON: reason,
                    streams.DLQ_ORIGINAL: raw,
                    streams.DLQ_SOURCE_ID: eid,
                    streams.DLQ_CONSUMER: self.reader.consumer,
                    streams.DLQ_DELIVERIES: deliveries,
                    streams.DLQ_SOURCE_STREAM: self.reader.stream,
                },
            )
        if acks:
            pipe.xack(self.reader.stream, self.reader.group, *acks)
        pipe.execute()

    def publish_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_stats:
            return
        self._next_stats = now + 1.0
        stats: dict[str, float] = dict(self.counters.as_dict())
        stats["updated_at"] = time.time()
        publish_stats(self.reader.client, self.reader.consumer, stats)


def main_for(
    kind: str,
    build: Callable[..., CdcWorker],
    argv: list[str] | None = None,
    check_config: Callable[[config.Config], None] | None = None,
) -> int:
    """The ``main()`` of every worker process: config, logging, signals, connections, run.

    ``check_config`` may raise ValueError for a value the kind cannot use (a bad price table),
    which, like a ConfigError, stops the process with one line and the config exit code.
    """
    paths.restrict_umask()
    parser = argparse.ArgumentParser(prog=f"blueplane-{kind}")
    parser.add_argument("--consumer", help="consumer name (default: host + supervisor number)")
    parser.add_argument("--burst", action="store_true", help="exit when the stream is drained")
    args = parser.parse_args(argv)
    try:
        cfg = config.load()
        if check_config is not None:
            check_config(cfg)
    except (config.ConfigError, ValueError) as exc:
        print(f"blueplane {kind}: {exc}", file=sys.stderr)
        return config.EXIT_CONFIG
    name = consumer_name(kind, args.consumer)
    setup_logging(name)
    shutdown = Shutdown().install()
    client = redis_conn.connect(cfg)

    def open_database() -> sqlite3.Connection:
        conn = db.connect_writer(paths.database(), cache_size_mb=cfg["storage.cache_size_mb"])
        try:
            ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    log = logging.getLogger(f"blueplane.workers.{kind}")
    conn = until_done(open_database, Backoff(log, shutdown), "opening the database")
    if conn is None:
        return EXIT_OK
    # building may ask Redis (the time-series backend): wait while it loads its data
    worker = until_done(
        lambda: build(cfg, name, conn, client, shutdown, Heartbeat(client, name)),
        Backoff(log, shutdown),
        "starting",
    )
    if worker is None:
        conn.close()
        return EXIT_OK
    tune_gc()
    worker.run(burst=args.burst)
    conn.close()
    return EXIT_OK
