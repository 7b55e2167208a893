"""Where the bus is, and the one place every process gets its Redis client.

Two kinds of client, one address (``redis_url``):

* ``connect``: redis-py, for the consumers (ingesters, workers, maintenance) and the admin
  commands: consumer groups, Lua scripts, MULTI. A cluster URL gives a ``RedisCluster``.
* ``small_client``: ``blueplane_core.resp.Client``, for processes that need a few commands
  (the capture processes: XADD and heartbeats; the query side: reads). It imports no redis-py
  (~200 ms and ~22 MB per process) and follows a cluster's redirects too.

A Redis Cluster is named by its URL: ``redis+cluster://host:port[,host:port...]`` (TLS:
``rediss+cluster://``), any nodes of the cluster, owners of Blueplane's slot or not. Every key
carries the hash tag ``{bp}`` (``streams.HASH_TAG``), so the whole bus lives in one slot and its
Lua scripts and MULTIs stay on one node.

This module imports neither client until a function is called.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from blueplane_core import paths
from blueplane_core.config import Config

if TYPE_CHECKING:
    import redis

    from blueplane_core import resp

#: attempts redis-py's cluster client makes on a connection error or CLUSTERDOWN before the
#: error reaches the process's own loop; with the backoff below they span a failover's few
#: seconds (cluster-node-timeout plus the election).
CLUSTER_RETRIES = 10
CLUSTER_BACKOFF_CAP_S = 1.0


def redis_url(config: Config) -> str:
    """``redis.url`` when an external Redis is configured, else the embedded unix socket."""
    return config["redis.url"] or f"unix://{paths.redis_socket()}"


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].endswith("+cluster")


def connect(config: Config) -> redis.Redis:
    """A redis-py client with bounded timeouts; bytes in, bytes out (envelopes are orjson
    bytes). A ``RedisCluster`` for a cluster URL (it has the same command methods)."""
    url = redis_url(config)
    timeout = config["redis.socket_timeout_s"]
    if is_cluster_url(url):
        return _cluster(url, timeout)
    import redis

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )


def _cluster(url: str, timeout: float) -> Any:
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry

    from blueplane_core import resp

    address = resp.Address(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        username=address.username or None,
        password=address.password or None,
        ssl=address.tls,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.05, cap=CLUSTER_BACKOFF_CAP_S), CLUSTER_RETRIES
        ),
    )


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
