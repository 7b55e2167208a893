"""Chaos: metrics and conversation workers kill -9'ed at random while 20,000 events flow.

The final numbers must equal an undisturbed computation (``rebuild``, which test_metrics and
test_conversations prove equal to undisturbed live processing).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

from blueplane_core import pricing, streams
from blueplane_core.emit import Emitter
from blueplane_workers.conversations import rebuild_conversations
from blueplane_workers.rebuild import rebuild_metrics
from tests.conftest import PYTHON, python_env
from tests.helpers import ingest_all, wait_for
from tests.test_conversations import dump
from tests.test_metrics import snapshot
from tests.workloads import generated

EVENTS = 20_000
#: the events arrive in this many waves, one per kill at first, so the kills land while events
#: flow however fast the workers drain them
WAVES = 6
GROUPS = {
    streams.METRICS_GROUP: "blueplane_workers.metrics",
    streams.CONVERSATIONS_GROUP: "blueplane_workers.conversations",
}


def drained(client) -> bool:
    info = {g["name"].decode(): g for g in client.xinfo_groups(streams.CDC_STREAM)}
    return all(info[g]["pending"] == 0 and info[g]["lag"] == 0 for g in GROUPS)


@pytest.mark.slow
def test_killed_workers_end_with_the_same_numbers(redis_client, writer_conn, chaos_seed):
    workload = generated(EVENTS, seed=21)
    size = -(-len(workload) // WAVES)
    waves = [workload[i : i + size] for i in range(0, len(workload), size)]
    Emitter(redis_client).emit_many(waves.pop(0))
    ingest_all()
    env = python_env(
        {
            "BLUEPLANE_WORKERS_CLAIM_IDLE_MS": "300",
            "BLUEPLANE_WORKERS_BATCH_SIZE": "500",
            "BLUEPLANE_WORKERS_MAX_DELIVERIES": "1000",  # kills must not dead-letter anything
            "BLUEPLANE_LOG_LEVEL": "WARNING",
        }
    )
    rng = random.Random(chaos_seed)
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, module: str) -> None:
        procs[name] = subprocess.Popen(
            [PYTHON, "-m", module, "--consumer", name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    for group, module in GROUPS.items():
        for i in range(2):
            start(f"{group}-{i}", module)
    kills = 0
    try:
        deadline = time.monotonic() + 120
        while (waves or not drained(redis_client)) and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.2, 0.8))  # chaos timing, not synchronisation
            if waves:
                Emitter(redis_client).emit_many(waves.pop(0))
                ingest_all()
            if kills >= 15:
                continue
            name = rng.choice(sorted(procs))
            proc = procs.pop(name)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
            module = GROUPS[name.rsplit("-", 1)[0].split("~")[0]]
            # half restart under the same name (own pending first), half under a new one
            # (the old name's pending entries must be reclaimed by the others)
            new = name if rng.random() < 0.5 else f"{name.split('~')[0]}~{kills}"
            start(new, module)
        wait_for(lambda: drained(redis_client), 60, what="both groups drained after the chaos")
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(15)
    assert kills >= 5
    assert not redis_client.xlen(streams.DLQ_STREAM)
    chaotic_metrics = snapshot(redis_client)
    chaotic_rows = dump(writer_conn)
    assert len(chaotic_rows["conversations"]) >= 30
    rebuild_metrics(writer_conn, redis_client, pricing.load())
    assert snapshot(redis_client) == chaotic_metrics
    rebuild_conversations(writer_conn, pricing.load())
    assert dump(writer_conn) == chaotic_rows
