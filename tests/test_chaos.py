"""Crash safety under the real supervisord: ingesters kill -9'ed at random lose and duplicate
nothing."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from blueplane import supervisor
from blueplane_core import config, paths, redis_conn, streams, synthetic
from blueplane_core.emit import Emitter
from tests.helpers import redis_py, wait_for

pytestmark = pytest.mark.slow


def reduced_conf(tmp_path: Path, programs: tuple[str, ...]) -> Path:
    """supervisord.conf with only ``programs`` in the group (same program definitions)."""
    text = supervisor.CONF.read_text()
    sections = re.split(r"(?m)^(?=\[)", text)
    kept = []
    for section in sections:
        header = section.split("]", 1)[0].lstrip("[")
        if header.startswith("program:") and header.split(":", 1)[1] not in programs:
            continue
        if header == "group:bus" and "redis" not in programs:
            continue
        if header == "group:blueplane":
            group = ",".join(p for p in programs if p != "redis")
            section = re.sub(r"(?m)^programs=.*$", "programs=" + group, section)
        kept.append(section)
    conf = tmp_path / "supervisord.conf"
    conf.write_text("".join(kept))
    return conf


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The real group (embedded redis + 2 ingesters) under supervisord in a temp home."""
    monkeypatch.setenv("BLUEPLANE_INGEST_PROCESSES", "2")
    cfg = config.load()
    conf = reduced_conf(tmp_path, ("redis", "ingest"))
    supervisor.start(cfg, conf=conf)
    try:
        client = redis_py(redis_conn.redis_url(cfg))
        wait_for(lambda: _ping(client), 30, what="embedded redis")
        yield conf
    finally:
        supervisor.stop()


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def ingester_pids() -> list[int]:
    return [p["pid"] for p in supervisor.processes() if p["name"].startswith("ingest") and p["pid"]]


def test_killed_ingesters_lose_and_duplicate_nothing(pipeline: Path, chaos_seed: int) -> None:
    total = 50_000
    client = redis_py(redis_conn.redis_url(config.load()))
    rng = random.Random(chaos_seed)
    sample = synthetic.take(total, seed=99)

    def produce() -> None:  # ~10k events/s, so the kills land while events flow
        emitter = Emitter(redis_conn.connect(config.load()))
        for start in range(0, total, 500):
            emitter.emit_many(sample[start : start + 500])
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    producer.start()
    kills = 0
    while producer.is_alive() or kills < 6:
        time.sleep(rng.uniform(0.2, 0.6))  # random moments: mid-read, mid-commit, mid-ACK
        pids = ingester_pids()
        if pids:
            os.kill(rng.choice(pids), signal.SIGKILL)
            kills += 1
    producer.join()

    def drained() -> bool:
        try:
            group = {g["name"]: g for g in client.xinfo_groups(streams.EVENTS_STREAM)}[
                streams.INGEST_GROUP.encode()
            ]
        except redis.RedisError:
            return False
        return group["lag"] == 0 and group["pending"] == 0

    wait_for(drained, 180, interval=0.2, what="every event ingested and acknowledged")
    conn = sqlite3.connect(paths.database())
    assert conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0] == total
    stored_ids = {bytes(r[0]).hex() for r in conn.execute("SELECT event_id FROM raw_traces")}
    assert stored_ids == {e["event_id"].replace("-", "") for e in sample}
    sequences = {
        int(fields[streams.CDC_SEQUENCE.encode()])
        for _, fields in client.xrange(streams.CDC_STREAM)
    }
    assert len(sequences) == total
    assert client.xlen(streams.DLQ_STREAM) == 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
