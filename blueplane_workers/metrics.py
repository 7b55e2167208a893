"""The metrics worker: CDC entries -> counters and histograms in Redis.

``python -m blueplane_workers.metrics [--consumer NAME] [--burst]``; one consumer of the
``metrics`` group, scaled with supervisord ``numprocs``. For each batch it reads the events by
sequence from SQLite, computes their effects (``metric_effects``, one fact one count) and applies
them together with the XACK in one Lua script (``metrics_store``): killing it at any instant
changes no final number. Key layout: ``blueplane_core.metric_keys``; formulas: docs/metrics.md.
"""

from __future__ import annotations

import sqlite3
import sys
import time

from blueplane_core import config, pricing, streams
from blueplane_core import metric_keys as mk
from blueplane_core.lifecycle import Heartbeat, Shutdown
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_core.stored_events import StoredEvents
from blueplane_workers import metric_effects
from blueplane_workers.cdc import CdcEntry, CdcReader
from blueplane_workers.loop import CdcWorker, Settings, main_for
from blueplane_workers.metrics_store import MetricsStore

#: a batch refused this many times in a row (heavy contention) is left pending and retried.
MAX_ATTEMPTS = 8


class MetricsApplier:
    """Applies events' effects exactly once; shared by the live worker and ``rebuild metrics``."""

    def __init__(self, store: MetricsStore, raw: StoredEvents, prices: pricing.PriceTable) -> None:
        self.store = store
        self.raw = raw
        self.prices = prices

    def apply(
        self,
        wanted: dict[int, list[bytes]],
        dead: list[list],
        acks: list[bytes],
        stream: str = streams.CDC_STREAM,
    ) -> tuple[int, int, int]:
        """Apply ``wanted``'s sequences, acknowledge ``acks``: (applied, skipped, retries)."""
        sequences = sorted(wanted)
        done = self.store.applied(sequences)
        todo = [s for s in sequences if s not in done]
        events = self.raw.by_sequence(todo)
        for seq in todo:
            if seq not in events:
                dead.append([f"sequence {seq} is not stored", b"", wanted[seq][0], 1])
        prepared = metric_effects.prepare(events, self.prices)
        for retries in range(MAX_ATTEMPTS):
            facts = {s: prepared[s] for s in events}
            states = self.store.fact_states(sorted(metric_effects.keyed_facts(facts)))
            effects = metric_effects.build(
                events, states, self.prices, facts=facts, load=self.raw.by_sequence
            )
            effects.dead = dead
            refused = self.store.apply(effects, acks, stream)
            if refused is None:
                return len(events), len(sequences) - len(events), retries
            for seq in refused.sequences:
                events.pop(seq, None)  # another consumer applied it meanwhile
        raise RuntimeError(f"batch refused {MAX_ATTEMPTS} times (contention on shared facts)")


class MetricsWorker(CdcWorker):
    kind = "metrics"

    def __init__(
        self,
        reader: CdcReader,
        applier: MetricsApplier,
        settings: Settings,
        shutdown: Shutdown | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        super().__init__(reader, settings, shutdown, heartbeat)
        self.applier = applier

    def handle(self, entries: list[CdcEntry]) -> None:
        todo, dead, acks = self.triage(entries)
        wanted = {seq: [e.id for e in group] for seq, group in todo.items()}
        applied, skipped, retries = self.applier.apply(wanted, dead, acks, self.reader.stream)
        self.counters.applied += applied
        self.counters.skipped += skipped
        self.counters.retries += retries
        now_ms = time.time() * 1000
        lag = self.counters.lag_ms  # ingest -> visible, from the CDC entry id's time
        lag += [now_ms - int(e.id[: e.id.index(b"-")]) for e in entries]
        del lag[:-10_000]


def build_worker(
    cfg: config.Config,
    consumer: str,
    conn: sqlite3.Connection,
    client: ConsumerClient,
    shutdown: Shutdown | None = None,
    heartbeat: Heartbeat | None = None,
    settings: Settings | None = None,
) -> MetricsWorker:
    prices = pricing.load(cfg["pricing.file"] or None)
    publish_meta(client, prices.version)
    store = MetricsStore(client, streams.METRICS_GROUP, consumer)
    reader = CdcReader(client, streams.METRICS_GROUP, consumer)
    applier = MetricsApplier(store, StoredEvents(conn), prices)
    settings = settings or Settings.from_config(cfg)
    return MetricsWorker(reader, applier, settings, shutdown, heartbeat)


def publish_meta(client: ConsumerClient, pricing_version: str) -> None:
    """Tell readers which key layout and which price table the counters were written with."""
    client.hset(
        mk.META_KEY,
        mapping={"layout_version": mk.LAYOUT_VERSION, "pricing_version": pricing_version},
    )


def _check_prices(cfg: config.Config) -> None:
    pricing.load(cfg["pricing.file"] or None)


def main(argv: list[str] | None = None) -> int:
    return main_for("metrics", build_worker, argv, _check_prices)


__all__ = ["MetricsApplier", "MetricsWorker", "build_worker", "main", "mk", "publish_meta"]

if __name__ == "__main__":
    sys.exit(main())
