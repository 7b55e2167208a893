"""Every Redis key the pipeline writes carries the hash tag ``{bp}``, so that on a Redis Cluster
the whole bus sits in one slot and every Lua script and MULTI stays on one node (issue 16). The
workers really run (``--burst``) over a workload that touches every counter kind; the same check
runs on a real cluster after a failover in ``test_redis_cluster.py``.
"""

from __future__ import annotations

import subprocess

from blueplane_core import resp, streams
from blueplane_core.emit import Emitter
from tests.conftest import PYTHON, python_env
from tests.helpers import ingest_all
from tests.workloads import mixed


def test_every_key_the_pipeline_writes_is_in_the_bp_slot(redis_client, redis_url: str) -> None:
    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    for module in ("metrics", "conversations", "insights"):
        done = subprocess.run(
            [PYTHON, "-m", f"blueplane_workers.{module}", "--burst", "--consumer", f"{module}-k"],
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    keys = {k.decode() for k in redis_client.scan_iter(count=1000)}
    assert any(k.startswith(streams.METRICS_PREFIX) for k in keys)  # the workers wrote
    assert streams.CDC_STREAM in keys and streams.stats_key("metrics-k") in keys
    outside = sorted(k for k in keys if resp.key_slot(k) != resp.key_slot(streams.HASH_TAG))
    assert not outside, outside[:10]
    assert all(k.startswith(streams.HASH_TAG + ":") for k in keys)
