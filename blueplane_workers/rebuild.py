"""Recomputing derived data from SQLite, the source of truth (``blueplane rebuild …``).

``metrics``: delete every metric key, then apply every stored event through the same code the live
worker uses (``MetricsApplier``), in sequence order. The applied-sequence bitmap is rebuilt with
them, so CDC entries still pending are then acknowledged without being counted twice. Run it
with the metrics workers stopped (``blueplane down`` or ``supervisorctl stop blueplane:metrics``):
a live worker applying between the deletion and the replay would be counted, then deleted.

``conversations``: recompute every session's rows (the worker does the same per session).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from blueplane_core import metric_keys as mk
from blueplane_core import pricing, streams
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_core.stored_events import StoredEvents
from blueplane_workers.metrics import MetricsApplier
from blueplane_workers.metrics_store import MetricsStore

BATCH = 500


def delete_metrics(client: ConsumerClient) -> int:
    """Delete every ``{bp}:metrics:*`` key; returns how many."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=mk.all_keys_pattern(), count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.delete(*batch))
            batch = []
    if batch:
        deleted += int(client.delete(*batch))
    return deleted


def rebuild_metrics(
    conn: sqlite3.Connection,
    client: ConsumerClient,
    prices: pricing.PriceTable,
    order: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute every metric from every stored event (raw_traces and the archive); returns the
    number of events applied.

    ``order`` (a permutation of the stored sequences) replays them in another order: tests use it
    to prove that the numbers do not depend on arrival order.
    """
    delete_metrics(client)
    store = MetricsStore(client, streams.METRICS_GROUP, "rebuild")
    stored = StoredEvents(conn)
    applier = MetricsApplier(store, stored, prices)
    if order is None:
        order = stored.sequences()
    sequences = list(order)
    applied = 0
    for start in range(0, len(sequences), BATCH):
        chunk = sequences[start : start + BATCH]
        done, _skipped, _retries = applier.apply({s: [b"0-0"] for s in chunk}, [], [])
        applied += done
        if progress:
            progress(applied)
    return applied
