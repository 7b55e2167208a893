"""One named consumer of one group on one stream: the reading rules every Blueplane consumer
follows (the ingesters on the events stream, each worker kind on the CDC stream).

- A consumer has a stable name (host + supervisord process number), so after a restart it
  re-reads its own pending entries first and finishes what it had in flight.
- Then, now and then, it takes over entries other consumers left idle past ``claim_idle_ms``
  (XAUTOCLAIM, its cursor followed to the end of the pending list).
- Otherwise it reads new entries, a batch closing at ``batch_size`` entries or
  ``batch_timeout_ms`` after its first entry.
- Every delivery carries its delivery count, so the consumer can dead-letter an entry that
  keeps failing. Acknowledging is the consumer's own business: each acknowledges in the same
  step that makes its effects durable.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from blueplane_core import redis_conn
from blueplane_core.lifecycle import Shutdown, supervisor_process_num


@dataclass
class Delivery:
    """One stream entry as delivered to this consumer."""

    id: bytes
    fields: dict[bytes, bytes] | None  # None: deleted or trimmed while pending (just ack it)
    deliveries: int = 1

    def get(self, name: bytes) -> bytes | None:
        return self.fields.get(name) if self.fields is not None else None


def ensure_group(client: Any, stream: str, group: str) -> None:
    """Create ``group`` at the start of ``stream`` (and the stream) unless it exists."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis_conn.reply_errors() as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def consumer_name(kind: str, explicit: str | None = None) -> str:
    """Stable across restarts under supervisord (host + process number), unique otherwise."""
    if explicit:
        return explicit
    if "SUPERVISOR_PROCESS_NAME" in os.environ:
        return f"{kind}-{_host()}-{supervisor_process_num()}"
    return f"{kind}-{_host()}-pid{os.getpid()}"


def _host() -> str:
    """The host name, as socket.gethostname() gives it (the socket module costs a consumer
    ~0.3 MB; the client speaks through _socket)."""
    return os.uname().nodename


def _raw_reply(response: object, **_: object) -> object:
    return response


def _items(reply: Any) -> list[Any]:
    """The [id, fields] items of an XREADGROUP reply, RESP2 (a list) or RESP3 (a map)."""
    if not reply:
        return []
    groups = reply.values() if isinstance(reply, dict) else (group[1] for group in reply)
    return [item for entries in groups for item in entries or []]


def _fields(raw: Any) -> dict[bytes, bytes] | None:
    if raw is None or isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=False))


def new_deliveries(reply: Any) -> list[Delivery]:
    """The entries of an XREADGROUP reply of new entries (an error reply: none)."""
    if isinstance(reply, Exception):
        return []
    return [Delivery(eid, _fields(raw)) for eid, raw in _items(reply)]


class GroupReader:
    """Reads ``stream`` as ``consumer`` of ``group``."""

    def __init__(self, client: Any, stream: str, group: str, consumer: str) -> None:
        """``client``: ``redis_conn.connect``'s, or redis-py's (tests, admin commands)."""
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._claim_cursor: bytes | str = b"0-0"
        # The shared client returns XREADGROUP replies as parsed. Given a redis-py client, reads
        # go through a Redis object of their own (same connection pool) whose XREADGROUP replies
        # stay raw too: redis-py's conversion into dicts cost more per entry than the rest of
        # the read. A RedisCluster has no single pool; its dict replies read the same.
        self._reads = client
        if hasattr(client, "connection_pool"):
            self._reads = sys.modules["redis"].Redis(connection_pool=client.connection_pool)
            self._reads.set_response_callback("XREADGROUP", _raw_reply)

    def setup(self) -> None:
        ensure_group(self.client, self.stream, self.group)

    def read_new(self, count: int, block_ms: int) -> list[Delivery]:
        """Entries never delivered before (``>``), blocking up to ``block_ms``."""
        reply = self._reads.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=max(1, block_ms)
        )
        return new_deliveries(reply)

    def new_entries_command(self, count: int) -> tuple[Any, ...]:
        """XREADGROUP of up to ``count`` new entries, not blocking: a command to send ahead of
        another (``ConsumerClient.send_ahead``); :func:`new_deliveries` reads its reply."""
        return (
            "XREADGROUP", "GROUP", self.group, self.consumer,
            "COUNT", count, "STREAMS", self.stream, ">",
        )  # fmt: skip

    def read_own_pending(self, count: int) -> list[Delivery]:
        """Entries this consumer was given before and never acknowledged."""
        reply = self._reads.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=count)
        items = _items(reply)
        if not items:
            return []
        counts = self._delivery_counts(items[0][0], items[-1][0], len(items))
        return [Delivery(eid, _fields(raw), counts.get(eid, 1)) for eid, raw in items]

    def reclaim(self, min_idle_ms: int, count: int) -> list[Delivery]:
        """Entries other consumers left pending past ``min_idle_ms`` (XAUTOCLAIM)."""
        reply = self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, self._claim_cursor, count=count
        )
        self._claim_cursor = reply[0] if reply[0] else b"0-0"
        items = [(eid, raw) for eid, raw in reply[1] if eid is not None]
        deleted = reply[2] if len(reply) > 2 else []
        found = [Delivery(eid, None, 0) for eid in deleted]
        if items:
            counts = self._delivery_counts(items[0][0], items[-1][0], len(items))
            found += [Delivery(eid, _fields(raw), counts.get(eid, 1)) for eid, raw in items]
        return found

    def ack(self, ids: list[bytes]) -> int:
        return int(self.client.xack(self.stream, self.group, *ids)) if ids else 0

    def _delivery_counts(self, first: bytes, last: bytes, count: int) -> dict[bytes, int]:
        rows = self.client.xpending_range(
            self.stream, self.group, min=first, max=last, count=count, consumername=self.consumer
        )
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}


@dataclass(frozen=True)
class BatchPolicy:
    batch_size: int = 100
    batch_timeout_ms: int = 100
    claim_idle_ms: int = 30_000
    #: how long an idle read blocks before the loop checks shutdown, heartbeats and reclaims;
    #: keep it below the Redis socket timeout.
    idle_block_ms: int = 1000


class BatchCollector:
    """Decides what the next batch is: own pending, else reclaimed, else new entries."""

    def __init__(
        self,
        reader: GroupReader,
        policy: BatchPolicy,
        shutdown: Shutdown,
        log: logging.Logger,
    ) -> None:
        self.reader = reader
        self.policy = policy
        self.shutdown = shutdown
        self.log = log
        #: True after a start or a failure: re-read this consumer's pending entries first.
        self.own_pending = True
        self._next_reclaim = 0.0
        #: the last batch of new entries was full: the stream had a backlog
        self._backlog = False
        #: how long a read of new entries blocks when none are there; a worker waiting on
        #: something besides its stream (the insight worker on its sources) shortens it
        self.idle_block_ms = policy.idle_block_ms

    def reads_new_next(self) -> bool:
        """The next :meth:`collect` would read new entries: no own pending entries to re-read
        and no reclaim due (a worker may then read them ahead, while it finishes a batch)."""
        return (
            not self.own_pending
            and time.monotonic() < self._next_reclaim
            and not self.shutdown.requested
        )

    def collect(self) -> list[Delivery]:
        size = self.policy.batch_size
        if self.own_pending:
            pending = self.reader.read_own_pending(size)
            if pending:
                return pending
            self.own_pending = False
        now = time.monotonic()
        if now >= self._next_reclaim:
            self._next_reclaim = now + max(0.05, min(self.policy.claim_idle_ms / 2000, 5.0))
            reclaimed = self.reader.reclaim(self.policy.claim_idle_ms, size)
            if reclaimed:
                self.log.info("reclaimed %d idle entries", len(reclaimed))
                return reclaimed
        batch: list[Delivery] = []
        deadline = 0.0
        while len(batch) < size and not self.shutdown.requested:
            if batch:
                remaining_ms = int((deadline - time.monotonic()) * 1000)
                if remaining_ms <= 0:
                    break
                block = remaining_ms
            else:
                block = self.idle_block_ms
            wanted = size - len(batch)
            got = self.reader.read_new(wanted, block)
            if not got:
                break
            if not batch:
                deadline = time.monotonic() + self.policy.batch_timeout_ms / 1000
            batch.extend(got)
            if self._backlog and len(got) < wanted:
                break  # a backlog just ran out (a backfill's end): no waiting for more
        self._backlog = len(batch) >= size
        return batch
