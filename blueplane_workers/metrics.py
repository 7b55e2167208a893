"""The metrics worker: CDC entries -> counters in Redis.

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
from dataclasses import dataclass
from typing import Any

from blueplane_core import config, pricing, streams
from blueplane_core import metric_keys as mk
from blueplane_core.consumer import new_deliveries
from blueplane_core.lifecycle import Heartbeat, Shutdown
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_core.stored_events import StoredEvents
from blueplane_workers import metric_effects
from blueplane_workers.cdc import CdcEntry, CdcReader, cdc_entry
from blueplane_workers.facts import Fact
from blueplane_workers.loop import CdcWorker, Settings, main_for
from blueplane_workers.metrics_store import Ahead, MetricsStore, Preread

#: a batch refused this many times in a row (heavy contention) is left pending and retried.
MAX_ATTEMPTS = 8


@dataclass
class Loaded:
    """Events read by sequence and their facts: the part of a batch's work that needs nothing
    from Redis, so it can be done while Redis applies the previous batch."""

    events: dict[int, dict[str, Any]]
    facts: dict[int, list[Fact]]
    #: their applied bits and fact states, when read right behind the previous script
    preread: Preread | None = None


class MetricsApplier:
    """Applies events' effects exactly once; shared by the live worker and ``rebuild metrics``."""

    def __init__(self, store: MetricsStore, raw: StoredEvents, prices: pricing.PriceTable) -> None:
        self.store = store
        self.raw = raw
        self.prices = prices

    def load(self, sequences: list[int]) -> Loaded:
        events = self.raw.by_sequence(sequences)
        return Loaded(events, metric_effects.prepare(events, self.prices))

    def apply(
        self,
        wanted: dict[int, list[bytes]],
        dead: list[list],
        acks: list[bytes],
        stream: str = streams.CDC_STREAM,
        loaded: Loaded | None = None,
        ahead: Ahead | None = None,
    ) -> tuple[int, int, int]:
        """Apply ``wanted``'s sequences, acknowledge ``acks``: (applied, skipped, retries).

        ``loaded``: :meth:`load`'s result for (at least) these sequences, when the caller read
        them ahead; ``ahead``: a command sent before the script and the work done meanwhile.
        """
        sequences = sorted(wanted)
        pre = loaded.preread if loaded is not None else None
        if pre is not None and pre.sequences.issuperset(sequences):
            done = pre.applied
        else:
            done, pre = self.store.applied(sequences), None
        todo = [s for s in sequences if s not in done]
        if loaded is None:
            loaded = self.load(todo)
        stored = loaded.events
        events = {s: stored[s] for s in todo if s in stored}
        for seq in todo:
            if seq not in events:
                dead.append([f"sequence {seq} is not stored", b"", wanted[seq][0], 1])
        prepared = loaded.facts
        for retries in range(MAX_ATTEMPTS):
            facts = {s: prepared[s] for s in events}
            keys = sorted(metric_effects.keyed_facts(facts))
            if pre is not None and retries == 0 and all(k in pre.states for k in keys):
                states = {k: pre.states[k] for k in keys}
            else:
                states = self.store.fact_states(keys)
            effects = metric_effects.build(
                events, states, self.prices, facts=facts, load=self.raw.by_sequence
            )
            effects.dead = dead
            refused = self.store.apply(effects, acks, stream, ahead)
            ahead = None  # sent with the first attempt
            if refused is None:
                return len(events), len(sequences) - len(events), retries
            for seq in refused.sequences:
                events.pop(seq, None)  # another consumer applied it meanwhile
        raise RuntimeError(f"batch refused {MAX_ATTEMPTS} times (contention on shared facts)")


class MetricsWorker(CdcWorker):
    """The live worker. While Redis runs a batch's script, it reads the next batch's new entries
    (sent ahead of the script on the same connection) and loads their events and facts: the
    worker's Python and Redis's Lua overlap, each on its own core. The next batch's applied bits
    and fact states are read after the script's reply, so exactly-once holds as before."""

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
        #: entries read ahead during the last script, and their events and facts (or None)
        self._next: tuple[list[CdcEntry], Loaded | None] | None = None

    def collect(self) -> list[CdcEntry]:
        read_ahead, self._next = self._next, None
        if read_ahead is not None and read_ahead[0] and not self.collector.own_pending:
            self._next = read_ahead  # handle() takes its loaded events
            return read_ahead[0]
        return super().collect()

    def handle(self, entries: list[CdcEntry]) -> None:
        loaded = None
        if self._next is not None:
            if self._next[0] is entries:
                loaded = self._next[1]
            else:  # read ahead by an attempt that failed: they are this consumer's pending
                self.collector.own_pending = True
        self._next = None
        todo, dead, acks = self.triage(entries)
        wanted = {seq: [e.id for e in group] for seq, group in todo.items()}
        ahead = None
        if self.collector.reads_new_next():
            command = self.reader.new_entries_command(self.settings.batch_size)
            ahead = Ahead(command, self._read_ahead, self._read_behind)
        applied, skipped, retries = self.applier.apply(
            wanted, dead, acks, self.reader.stream, loaded, ahead
        )
        self.counters.applied += applied
        self.counters.skipped += skipped
        self.counters.retries += retries
        now_ms = time.time() * 1000
        lag = self.counters.lag_ms  # ingest -> visible, from the CDC entry id's time
        lag += [now_ms - int(e.id[: e.id.index(b"-")]) for e in entries]
        del lag[:-10_000]

    def _read_ahead(self, reply: Any) -> tuple[list[int], list[str]]:
        """The next batch's entries, events and facts (no Redis: the script's reply is due);
        returns the sequences and fact keys whose bits and states to read behind the script.
        Failing to load them is not this batch's failure: the next batch loads them again."""
        entries = [cdc_entry(d) for d in new_deliveries(reply)]
        self._next = (entries, None)
        try:
            sequences = sorted(
                {e.sequence for e in entries if e.sequence is not None and not e.deleted}
            )
            loaded = self.applier.load(sequences)
        except Exception:
            self.log.debug("reading the next batch's events ahead failed", exc_info=True)
            return [], []
        self._next = (entries, loaded)
        return sequences, sorted(metric_effects.keyed_facts(loaded.facts))

    def _read_behind(self, preread: Preread | None) -> None:
        if self._next is not None and self._next[1] is not None:
            self._next[1].preread = preread


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
