"""Where the bus is, and the redis-py connection long-running processes use.

``redis_url`` is importable without redis-py (the query CLI and the hooks avoid its ~200 ms
import); ``connect`` imports it when it is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blueplane_core import paths
from blueplane_core.config import Config

if TYPE_CHECKING:
    import redis


def redis_url(config: Config) -> str:
    """``redis.url`` when an external Redis is configured, else the embedded unix socket."""
    return config["redis.url"] or f"unix://{paths.redis_socket()}"


def connect(config: Config) -> redis.Redis:
    """A client with bounded timeouts; bytes in, bytes out (envelopes are orjson bytes)."""
    import redis

    timeout = config["redis.socket_timeout_s"]
    return redis.Redis.from_url(
        redis_url(config),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
