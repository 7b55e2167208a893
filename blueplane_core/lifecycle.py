"""What every supervised process does the same way: log lines, shutdown signals, heartbeats.

First SIGTERM or SIGINT sets a flag: the loop finishes its batch, acknowledges, exits 0. A second
signal exits at once.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from blueplane_core import redis_conn, streams

#: exit codes supervisord can tell apart (see supervisord.conf ``exitcodes``).
EXIT_OK = 0
EXIT_CRASH = 1
EXIT_REDIS_UNAVAILABLE = 69


def setup_logging(process: str) -> logging.Logger:
    """One line per event worth knowing, to stderr, tagged with the process name."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {process}[%(process)d] %(levelname)s %(message)s")
    )
    root = logging.getLogger("blueplane")
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("BLUEPLANE_LOG_LEVEL", "INFO").upper())
    root.propagate = False
    return root


class Shutdown:
    """A flag set by the first SIGTERM/SIGINT; the second signal exits immediately."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def install(self) -> Shutdown:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._event.is_set():
            os._exit(128 + signum)
        self._event.set()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` unless shutdown is requested; True if it was."""
        return self._event.wait(seconds)


class Heartbeat:
    """Refreshes this process's field of ``{bp}:heartbeats`` at most every few seconds."""

    def __init__(self, client: Any, name: str, every_s: float = 5.0) -> None:
        """``client``: redis-py's or the small one (``redis_conn``); both have hset/hdel."""
        self._client = client
        self._name = name
        self._every = every_s
        self._last = 0.0

    def beat(self, info: str = "") -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        try:
            value = f"{os.getpid()} {int(time.time())} {info}".strip()
            self._client.hset(streams.HEARTBEATS_KEY, self._name, value)
        except redis_conn.errors():
            pass  # liveness is best effort; the loop reports Redis errors itself

    def clear(self) -> None:
        try:
            self._client.hdel(streams.HEARTBEATS_KEY, self._name)
        except redis_conn.errors():
            pass


def tune_gc() -> None:
    """Collect reference cycles less often, in a long-running process that decodes many events.

    Its objects (decoded events, facts, rows) hold no cycles and are freed by reference
    counting; at the default pace (a pass every 700 new containers, a full one whenever the heap
    has grown by a quarter) the collector spent about 30% of the conversation worker's CPU in a
    first start's backfill, walking its cache of sessions again and again. What start-up loaded
    is frozen out of the collections altogether. Call it once start-up is done."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def publish_stats(client: Any, consumer: str, stats: dict[str, float]) -> None:
    """Write a consumer's counters where ``status`` and the benchmarks read them (best effort)."""
    key = streams.stats_key(consumer)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, mapping=stats)  # type: ignore[arg-type]
        pipe.expire(key, 7 * 24 * 3600)
        pipe.sadd(streams.STATS_INDEX_KEY, consumer)
        pipe.execute()
    except redis_conn.errors():
        pass


def supervisor_process_num(default: int = 0) -> int:
    """The ``%(process_num)s`` supervisord gave this process, or ``default``."""
    name = os.environ.get("SUPERVISOR_PROCESS_NAME", "")
    digits = len(name) - len(name.rstrip("0123456789"))
    return int(name[-digits:]) if digits else default
