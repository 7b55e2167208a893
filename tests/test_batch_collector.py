"""How a consumer closes a batch of new entries (``blueplane_core.consumer.BatchCollector``)."""

from __future__ import annotations

import logging
from typing import Any

import redis

from blueplane_core.consumer import BatchCollector, BatchPolicy, Delivery, GroupReader
from blueplane_core.lifecycle import Shutdown

STREAM = "test:collect"


class CountingReader(GroupReader):
    """A real group reader that counts its reads of new entries."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, STREAM, "g", "c")
        self.reads: list[int] = []  # entries each read returned

    def read_new(self, count: int, block_ms: int) -> list[Delivery]:
        got = super().read_new(count, block_ms)
        self.reads.append(len(got))
        return got


def test_a_backlog_that_runs_out_is_handed_over_without_waiting(
    redis_client: redis.Redis,
) -> None:
    """A backfill's last entries are handled at once (the conversation worker's batch timeout
    is a second); a trickle after a batch that was not full still waits to fill its batch."""
    for n in range(7):
        redis_client.xadd(STREAM, {"n": str(n)})
    reader = CountingReader(redis_client)
    reader.setup()
    policy = BatchPolicy(batch_size=5, batch_timeout_ms=300, idle_block_ms=300)
    collector = BatchCollector(reader, policy, Shutdown(), logging.getLogger("test"))
    collector.own_pending = False
    assert len(collector.collect()) == 5  # full: a backlog
    assert len(collector.collect()) == 2  # it ran out: handed over after that one read
    assert reader.reads == [5, 2]
    redis_client.xadd(STREAM, {"n": "7"})
    assert len(collector.collect()) == 1
    assert reader.reads == [5, 2, 1, 0]  # no backlog before it: it waited for more
