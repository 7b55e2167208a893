"""Small helpers the tests share: waiting on conditions, running stages in-process."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def ingest_all(consumer: str = "test-ingest", claim_idle_ms: int = 30_000) -> dict[str, float]:
    """Run one ingester in-process until the events stream is drained; returns its counters.

    Uses the test's BLUEPLANE_HOME database and BLUEPLANE_REDIS_URL, like a real process would.
    """
    from blueplane_core import config, db, migrations, paths, redis_conn
    from blueplane_ingest.bus import IngestBus
    from blueplane_ingest.ingester import Ingester, Settings
    from blueplane_ingest.writer import BatchWriter

    cfg = config.load()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    try:
        settings = Settings(idle_block_ms=20, claim_idle_ms=claim_idle_ms)
        writer = BatchWriter(conn, db.write_lock_for(conn))
        ingester = Ingester(IngestBus(client, consumer), writer, settings)
        return ingester.run(burst=True)
    finally:
        conn.close()
        client.close()


def bp_query(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``bp-query ARGS`` as a real subprocess of this interpreter, with this test's settings."""
    from tests.conftest import PYTHON, python_env

    return subprocess.run(
        [PYTHON, "-m", "blueplane_query.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(env),
    )


def bp_query_json(*args: str, env: dict[str, str] | None = None) -> Any:
    """``bp-query ARGS --json``, which must succeed, parsed."""
    done = bp_query(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def redis_py(url: str, timeout: float = 5.0) -> Any:
    """redis-py's client on ``url`` (a cluster URL gives a RedisCluster): the tests' own tool
    for setting up and inspecting Redis, apart from the client the pipeline's processes use."""
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    from blueplane_core import resp

    address = resp.Address(url)
    if not address.cluster:
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        username=address.username or None,
        password=address.password or None,
        ssl=address.tls,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
