"""The Redis connection every long-running process uses (hooks write raw RESP instead)."""

from __future__ import annotations

import redis

from blueplane_core import paths
from blueplane_core.config import Config


def redis_url(config: Config) -> str:
    """``redis.url`` when an external Redis is configured, else the embedded unix socket."""
    return config["redis.url"] or f"unix://{paths.redis_socket()}"


def connect(config: Config) -> redis.Redis:
    """A client with bounded timeouts; bytes in, bytes out (envelopes are orjson bytes)."""
    timeout = config["redis.socket_timeout_s"]
    return redis.Redis.from_url(
        redis_url(config),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
