"""Where the bus is, and the one place every process gets its Redis client.

Every process speaks RESP through ``blueplane_core.resp`` (no redis-py: it cost each process
~200 ms of imports and ~17 MB of memory):

* ``connect``: ``resp_consumer.ConsumerClient``, for the consumers (ingesters, workers,
  maintenance) and the admin commands: consumer groups, Lua scripts, MULTI, hiredis parsing.
* ``small_client``: ``resp.Client``, for processes that need a few commands (the capture
  processes: XADD and heartbeats; the query side: reads).

A Redis Cluster is named by its URL: ``redis+cluster://host:port[,host:port...]`` (TLS:
``rediss+cluster://``), any nodes of the cluster, owners of Blueplane's slot or not. Every key
carries the hash tag ``{bp}`` (``streams.HASH_TAG``), so the whole bus lives in one slot and its
Lua scripts and MULTIs stay on one node. Both clients follow the cluster's redirects.

This module imports neither client until a function is called. Code that may be handed
redis-py's client (the tests do) catches ``errors()`` / ``reply_errors()``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from blueplane_core import paths
from blueplane_core.config import Config

if TYPE_CHECKING:
    from blueplane_core import resp, resp_consumer


def redis_url(config: Config) -> str:
    """``redis.url`` when an external Redis is configured, else the embedded unix socket."""
    return config["redis.url"] or f"unix://{paths.redis_socket()}"


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].endswith("+cluster")


def connect(config: Config) -> resp_consumer.ConsumerClient:
    """The consumers' client with bounded timeouts; bytes in, bytes out (envelopes are orjson
    bytes). A cluster URL gives a client that follows the cluster's redirects."""
    from blueplane_core import resp_consumer

    return resp_consumer.ConsumerClient(redis_url(config), config["redis.socket_timeout_s"])


def small_client(config: Config, timeout_s: float | None = None) -> resp.Client:
    """The light client (no redis-py) on the configured Redis or cluster."""
    from blueplane_core import resp

    timeout = config["redis.socket_timeout_s"] if timeout_s is None else timeout_s
    return resp.Client(redis_url(config), timeout)


def errors() -> tuple[type[Exception], ...]:
    """The Redis error classes of the clients this process has loaded, for ``except``: code
    that may be handed either client catches both without importing redis-py itself."""
    from blueplane_core import resp

    found: tuple[type[Exception], ...] = (resp.RedisError,)
    exceptions = sys.modules.get("redis.exceptions")
    if exceptions is not None:  # redis-py is loaded: its errors, and its cluster client's
        found += (exceptions.RedisError, exceptions.RedisClusterException)
    return found


def reply_errors() -> tuple[type[Exception], ...]:
    """The error-reply classes (``-ERR``, ``-NOGROUP``, ``-BUSYGROUP``...) of the loaded clients."""
    from blueplane_core import resp

    found: tuple[type[Exception], ...] = (resp.ReplyError,)
    exceptions = sys.modules.get("redis.exceptions")
    if exceptions is not None:
        found += (exceptions.ResponseError,)
    return found


def groups_by_name(client: Any, stream: str) -> dict[str, dict[str, Any]]:
    """``XINFO GROUPS stream`` keyed by group name, decoded: the shared client answers names as
    bytes, redis-py as str. Raises what the client raises (see :func:`reply_errors`) when the
    stream does not exist."""
    return {
        (g["name"].decode() if isinstance(g["name"], bytes) else g["name"]): g
        for g in client.xinfo_groups(stream)
    }
