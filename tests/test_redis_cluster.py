"""Blueplane on a real Redis Cluster (issue 16): three masters with a replica each, the whole
pipeline pointed at a node that does NOT serve ``{bp}``'s slot, events pushed by the real hooks
and by a workload through the small client, the owning master failed over (CLUSTER FAILOVER on
its replica) and later killed, and exact counts in SQLite and in the metrics afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from blueplane_core import config, metric_keys, redis_conn, resp, streams, synthetic
from blueplane_core.emit import Emitter
from tests.conftest import FIXTURES, PYTHON, python_env
from tests.helpers import wait_for
from tests.redis_cluster import Cluster, cluster_support, running_cluster

pytestmark = pytest.mark.skipif(bool(cluster_support()), reason=cluster_support() or "ok")

BP_SLOT = 5087  # CLUSTER KEYSLOT {bp}, as Redis computes it (asserted below)
HOOK = Path(__file__).resolve().parent.parent / "blueplane_capture/hooks/claude_code.py"
HOOK_FILES = sorted((FIXTURES / "claude_code_live/hooks/B_tools").glob("*.json"))


@pytest.fixture(scope="module")
def cluster() -> Any:
    with running_cluster(replicas=1) as started:
        yield started


def _other_master(cluster: Cluster, slot: int) -> int:
    owner, _ = cluster.slot_owner(slot)
    return next(p for p in cluster.masters() if p != owner)


def test_small_client_follows_moved_and_ask(cluster: Cluster) -> None:
    owner, _ = cluster.slot_owner(BP_SLOT)
    entry = _other_master(cluster, BP_SLOT)
    node = cluster.client(entry)
    for key in ("{bp}", streams.EVENTS_STREAM, "plain", "a{b}c", "{}x", "x{}{y}", "é{ü}"):
        assert resp.key_slot(key) == node.execute_command("CLUSTER KEYSLOT", key), key
    assert node.execute_command("CLUSTER KEYSLOT", "{bp}") == BP_SLOT

    client = resp.Client(f"redis+cluster://127.0.0.1:{entry}", timeout_s=5)
    client.execute("SET", "{bp}:test:moved", "1")  # sent to ``entry`` first: MOVED to the owner
    assert cluster.client(owner).get("{bp}:test:moved") == b"1"
    pipe = client.pipeline()
    pipe.hset("{bp}:test:hash", mapping={"a": 1, "b": 2})
    pipe.sadd("{bp}:test:set", "x")
    assert pipe.execute() == [2, 1]
    assert client.hgetall("{bp}:test:hash") == {b"a": b"1", b"b": b"2"}

    # ASK: a slot half-way through a migration from its owner to another master. A key the
    # owner no longer has is answered ASK; the client must send ASKING + the command there.
    key = "ask-probe"
    slot = resp.key_slot(key)
    source, _ = cluster.slot_owner(slot)
    target = next(p for p in cluster.masters() if p != source)
    source_id = cluster.client(source).execute_command("CLUSTER MYID").decode()
    target_id = cluster.client(target).execute_command("CLUSTER MYID").decode()
    cluster.client(target).execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
    cluster.client(source).execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
    try:
        client.execute("SET", key, "moved-by-ask")
        asking = cluster.client(target).pipeline(transaction=False)
        asking.execute_command("ASKING")
        asking.get(key)
        asking.execute_command("ASKING")
        asking.delete(key)
        assert asking.execute()[1] == b"moved-by-ask"  # it landed on the importing node
        assert cluster.client(source).cluster("COUNTKEYSINSLOT", slot) == 0
    finally:
        for port in (source, target):
            cluster.client(port).execute_command("CLUSTER SETSLOT", slot, "STABLE")
    client.execute("DEL", "{bp}:test:moved", "{bp}:test:hash", "{bp}:test:set")
    client.close()


def _blueplane(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("blueplane", path=str(Path(sys.executable).parent))
    assert exe
    return subprocess.run(
        [exe, *args], env=python_env(), capture_output=True, text=True, timeout=timeout
    )


def _status() -> dict[str, Any]:
    """``blueplane status --json`` as a user runs it ({} if it gave no JSON within a minute)."""
    try:
        done = _blueplane("status", "--json", timeout=60)
        return dict(orjson.loads(done.stdout))
    except (subprocess.TimeoutExpired, ValueError):
        return {}


def _fire_hooks(files: list[Path]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for path in files:
        done = subprocess.run(
            [PYTHON, "-I", "-S", str(HOOK)], input=path.read_bytes(), capture_output=True, env=env
        )
        assert done.returncode == 0 and done.stdout == b""


def _push(emitter: Emitter, events: list[dict[str, Any]], during: Any = None) -> None:
    """Emit in chunks, as a capture process does: a chunk that fails is sent again (its event
    ids are fixed, so ingest keeps each once). ``during(i)`` runs before chunk ``i``."""
    for i, start in enumerate(range(0, len(events), 50)):
        if during is not None:
            during(i)
        chunk = events[start : start + 50]
        deadline = time.monotonic() + 60
        while True:
            try:
                emitter.emit_many(chunk)
                break
            except resp.RedisError:
                assert time.monotonic() < deadline, "the cluster never took the chunk"


def _stored(db: Path) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT source, count(*), count(DISTINCT event_id) FROM raw_traces GROUP BY source"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    assert all(total == distinct for _, total, distinct in rows)  # nothing doubled
    return {source: total for source, total, _ in rows}


def _owner_is(cluster: Cluster, port: int) -> bool:
    """Whether the live nodes agree that ``port`` serves {bp}'s slot (False while they cannot
    say: a node slow to answer on a loaded machine is not a failure)."""
    try:
        return cluster.slot_owner(BP_SLOT)[0] == port
    except (AssertionError, redis.RedisError):
        return False


def _metric_events(client: resp.Client) -> int:
    return int(client.hget(metric_keys.counters_key("all", "total"), "events") or 0)


def _settled(client: resp.Client, db: Path, expected: dict[str, int]) -> bool:
    """Every expected event stored once, counted once by the metrics worker, nothing pending."""
    try:
        if _stored(db) != expected or _metric_events(client) != sum(expected.values()):
            return False
        status = _status()
    except (resp.RedisError, ValueError):
        return False
    if not status:
        return False
    groups = [g for s in status["streams"] for g in s["groups"]]
    drained = all(g["exists"] and g["pending"] == 0 and g["lag"] == 0 for g in groups)
    return drained and status["database"]["events_stored"] == sum(expected.values())


@pytest.mark.slow
def test_pipeline_on_a_cluster_loses_and_doubles_nothing_through_failovers(
    cluster: Cluster, blueplane_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for port in cluster.masters():
        cluster.client(port).flushall()
    first_owner, (first_replica, *_) = cluster.slot_owner(BP_SLOT)
    entry = _other_master(cluster, BP_SLOT)
    monkeypatch.setenv("BLUEPLANE_REDIS_URL", f"redis+cluster://127.0.0.1:{entry}")
    monkeypatch.setenv("BLUEPLANE_INGEST_PROCESSES", "2")
    for name in ("CLAUDE", "CURSOR"):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(f"BLUEPLANE_CAPTURE_{name}_DIRS", str(tmp_path / name))
    for variable in ("BLUEPLANE_CAPTURE_OTLP_PORT", "BLUEPLANE_QUERY_PORT"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            monkeypatch.setenv(variable, str(s.getsockname()[1]))
    db = blueplane_home / "telemetry.db"
    workload = synthetic.take(900, seed=1616)
    expected: dict[str, int] = {}
    client = redis_conn.small_client(config.load(), timeout_s=10)
    emitter = Emitter(client)
    up = _blueplane("up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr

        # 1. Everything up on the cluster: every process beats, status says so.
        def all_alive() -> bool:
            names = {p["name"] for p in _status().get("processes", []) if p["alive"]}
            return {"maintenance", "capture-spool", "capture-claude"} <= names and (
                sum(n.startswith("ingest-") for n in names) == 2
            )

        wait_for(all_alive, 90, interval=0.5, what="every process's heartbeat on the cluster")
        _fire_hooks(HOOK_FILES[:4])
        _push(emitter, workload[:300])
        expected = {"hook": 4, "synthetic": 300}
        wait_for(lambda: _settled(client, db, expected), 300, 0.5, "phase 1 stored and counted")

        # 2. A graceful failover of {bp}'s master while events flow.
        def fail_over(chunk: int) -> None:
            if chunk == 2:
                cluster.client(first_replica).execute_command("CLUSTER FAILOVER")

        _push(emitter, workload[300:600], during=fail_over)
        wait_for(lambda: _owner_is(cluster, first_replica), 60, 0.1, "replica promoted")
        _fire_hooks(HOOK_FILES[4:8])
        expected = {"hook": 8, "synthetic": 600}
        wait_for(lambda: _settled(client, db, expected), 300, 0.5, "phase 2 stored and counted")
        report = _status()
        assert report["redis"]["reachable"] and report["dlq"]["length"] == 0

        # 3. The new master killed outright (once its replica has everything: a kill before
        # replication would lose acknowledged writes, which no client can prevent).
        wait_for(lambda: cluster.replicated(first_replica), 60, 0.05, "replica caught up")
        cluster.kill(first_replica)
        during_outage = _status()  # must answer, and not claim a healthy bus it cannot reach
        if not during_outage["redis"]["reachable"]:
            assert not during_outage["healthy"] and during_outage["redis"]["error"]
        wait_for(lambda: _owner_is(cluster, first_owner), 90, 0.1, "old master promoted")
        _push(emitter, workload[600:])
        _fire_hooks(HOOK_FILES[8:])
        expected = {"hook": len(HOOK_FILES), "synthetic": len(workload)}
        wait_for(lambda: _settled(client, db, expected), 300, 0.5, "phase 3 stored and counted")
        wait_for(all_alive, 60, interval=0.5, what="every process beating after the kill")
        final = _status()
        assert final["redis"]["reachable"] and final["dlq"]["length"] == 0, final["problems"]

        # Every key the whole pipeline wrote carries {bp}: all of them on {bp}'s master.
        owner = cluster.slot_owner(BP_SLOT)[0]
        keys = list(cluster.client(owner).scan_iter(count=1000))
        assert keys and all(k.startswith(b"{bp}:") for k in keys), [
            k for k in keys if not k.startswith(b"{bp}:")
        ][:5]
        others = [p for p in cluster.masters() if p != owner]
        assert all(cluster.client(p).dbsize() == 0 for p in others)
    finally:
        client.close()
        down = _blueplane("down")
        assert down.returncode == 0, down.stderr
