"""A full disk and a Redis that refuses writes (issue 12): consumers wait (one log line a
minute, not one per attempt), acknowledge nothing they did not store, and resume by themselves;
a hook that can write neither to Redis nor to the spool counts the loss where status shows it.

The full disk is real: a small tmpfs mounted for the test (as root; skipped elsewhere), filled
to the last byte. Redis refuses writes the way a full disk makes it: a background save that
fails (into that tmpfs) with ``stop-writes-on-bgsave-error`` answers MISCONF to every write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from blueplane_core import config, db, losses, migrations, paths, privacy, streams, synthetic
from blueplane_core.emit import Emitter
from blueplane_core.lifecycle import Shutdown
from blueplane_ingest.bus import IngestBus
from blueplane_ingest.ingester import Ingester, Settings
from blueplane_ingest.writer import BatchWriter
from tests.helpers import wait_for


@contextlib.contextmanager
def full_tmpfs(where: Path, size: str = "256k") -> Iterator[Path]:
    """``where`` as a tmpfs of ``size``, filled up by ``<where>/filler`` (delete it to free
    space); unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def health_of(redis_url: str) -> dict:
    """``pipeline_health`` as ``bp-query status`` computes it, without supervisord."""
    from blueplane_query.health import pipeline_health
    from blueplane_query.redis_reader import RedisReader

    with RedisReader(redis_url) as reader:
        return pipeline_health(config.load(), reader=reader, programs=None)


def fill(folder: Path) -> Path:
    """Write ``folder/filler`` until the file system is full; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        (folder / "probe").write_bytes(b"x" * 4096)
    (folder / "probe").unlink(missing_ok=True)
    return filler


def _ingester_thread(shutdown: Shutdown) -> tuple[Ingester, threading.Thread]:
    cfg = config.load()
    client = redis_conn_for(cfg)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    ingester = Ingester(
        IngestBus(client, "ingest-disk"),
        BatchWriter(conn, db.write_lock_for(conn)),
        Settings(idle_block_ms=20, claim_idle_ms=600_000),
        shutdown,
    )
    thread = threading.Thread(target=ingester.run, daemon=True)
    return ingester, thread


def redis_conn_for(cfg: config.Config) -> redis.Redis:
    from blueplane_core import redis_conn

    return redis_conn.connect(cfg)


def _rows() -> int:
    conn = db.connect_writer(paths.database())
    try:
        return int(conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0])
    finally:
        conn.close()


def _group(client: redis.Redis) -> dict:
    """The ingest group's XINFO (pending and lag unknown until the group exists)."""
    groups = {g["name"]: g for g in client.xinfo_groups(streams.EVENTS_STREAM)}
    return groups.get(streams.INGEST_GROUP.encode(), {"pending": -1, "lag": -1})


def test_ingest_waits_out_a_full_disk_and_resumes(
    redis_client: redis.Redis, tmp_path: Path, monkeypatch, caplog
) -> None:
    with full_tmpfs(tmp_path / "disk", size="1m") as disk:
        monkeypatch.setenv("BLUEPLANE_HOME", str(disk / "home"))
        paths.ensure_private_dir(paths.home())
        conn = db.connect_writer(paths.database())
        migrations.migrate(conn)
        conn.close()
        sample = synthetic.take(300, seed=11)
        Emitter(redis_client).emit_many(sample)
        shutdown = Shutdown()
        ingester, thread = _ingester_thread(shutdown)  # running when the disk fills up
        filler = fill(disk)
        with caplog.at_level(logging.INFO, logger="blueplane.ingest"):
            thread.start()
            try:
                wait_for(lambda: ingester.backoff.total >= 5, 60, what="five failed attempts")
                assert thread.is_alive()
                assert _rows() == 0
                group = _group(redis_client)
                assert group["pending"] > 0  # read, kept, not acknowledged
                assert redis_client.xlen(streams.DLQ_STREAM) == 0
                waits = [r for r in caplog.records if "waits:" in r.getMessage()]
                assert len(waits) == 1, [r.getMessage() for r in waits]  # not one per attempt
                assert "disk is full" in waits[0].getMessage()

                filler.unlink()  # space comes back: nobody restarts anything
                wait_for(
                    lambda: (
                        _group(redis_client)["pending"] == 0 and _group(redis_client)["lag"] == 0
                    ),
                    60,
                    what="the backlog stored and acknowledged",
                )
            finally:
                shutdown.request()
                thread.join(30)
                ingester.bus.client.close()
                ingester.writer.conn.close()
        assert _rows() == 300
        assert redis_client.xlen(streams.DLQ_STREAM) == 0
        assert any("resumed after" in r.getMessage() for r in caplog.records)


@contextlib.contextmanager
def redis_on(disk: Path) -> Iterator[redis.Redis]:
    """A redis-server of its own whose data folder is ``disk``, saving in the background as a
    real installation's would (``save 3600 1``, ``stop-writes-on-bgsave-error yes``)."""
    from tests.conftest import _free_port

    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(disk),
         "--save", "3600 1", "--stop-writes-on-bgsave-error", "yes", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    try:
        wait_for(lambda: _answers(client), 10, what="redis-server on the small disk")
        yield client
    finally:
        client.close()
        proc.kill()
        proc.wait(10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_ingest_waits_out_a_read_only_redis_and_resumes(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    with full_tmpfs(tmp_path / "redis-disk", size="256k") as disk, redis_on(disk) as client:
        monkeypatch.setenv(
            "BLUEPLANE_REDIS_URL",
            f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0",
        )
        Emitter(client).emit_many(synthetic.take(200, seed=12))
        filler = fill(disk)
        client.bgsave()  # fails: no room for the snapshot; Redis now refuses every write
        wait_for(
            lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err",
            30,
            what="the background save failing on the full disk",
        )
        with pytest.raises(redis.ResponseError, match="MISCONF"):
            client.xadd(streams.EVENTS_STREAM, {"x": 1})
        shutdown = Shutdown()
        ingester, thread = _ingester_thread(shutdown)
        with caplog.at_level(logging.INFO, logger="blueplane.ingest"):
            thread.start()
            try:
                wait_for(lambda: ingester.backoff.total >= 5, 60, what="five failed attempts")
                assert thread.is_alive()
                waits = [r for r in caplog.records if "waits:" in r.getMessage()]
                assert len(waits) == 1 and "MISCONF" in waits[0].getMessage()
                filler.unlink()
                client.bgsave()  # Redis retries a failed save by itself too; sooner here
                wait_for(
                    lambda: _group(client)["pending"] == 0 and _group(client)["lag"] == 0,
                    60,
                    what="the backlog stored and acknowledged",
                )
            finally:
                shutdown.request()
                thread.join(30)
                ingester.bus.client.close()
                ingester.writer.conn.close()
        assert client.xlen(streams.CDC_STREAM) == 200
        assert client.xlen(streams.DLQ_STREAM) == 0
    assert _rows() == 200


def test_a_hook_that_cannot_spool_counts_the_loss_for_status(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    from tests.conftest import FIXTURES
    from tests.test_claude_hook import run_hook
    from tests.test_spool import _down_url

    home = str(paths.home())
    paths.ensure_private_dir(paths.home())
    losses.prepare(home)  # what `blueplane up` does
    privacy.load_secret()
    hook_input = sorted((FIXTURES / "claude_code_live" / "hooks" / "B_tools").glob("*.json"))[0]
    with full_tmpfs(paths.spool_dir(), size="64k") as spool:
        fill(spool)
        done = run_hook(hook_input.read_bytes(), {"BLUEPLANE_REDIS_URL": _down_url()})
        assert done.returncode == 0 and done.stdout == b""  # the editor never notices
        assert sorted(p.name for p in spool.iterdir()) == ["filler"]  # no empty .tmp left
    count, last = losses.read(home)
    assert count == 1 and last > 0
    assert "LOST" in (paths.log_dir() / "hooks.log").read_text()
    report = health_of(redis_url)
    assert report["hook_losses"]["events"] == 1
    assert any(p.startswith("hooks lost 1 event(s)") for p in report["problems"])
    assert not report["healthy"]


def test_metrics_worker_waits_out_a_read_only_redis_and_resumes(
    tmp_path: Path, monkeypatch
) -> None:
    from blueplane_core import metric_keys as mk
    from blueplane_workers.loop import Settings as WorkerSettings
    from blueplane_workers.metrics import build_worker
    from tests.helpers import ingest_all

    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    with full_tmpfs(tmp_path / "redis-disk", size="256k") as disk, redis_on(disk) as client:
        port = client.connection_pool.connection_kwargs["port"]
        monkeypatch.setenv("BLUEPLANE_REDIS_URL", f"redis://127.0.0.1:{port}/0")
        Emitter(client).emit_many(synthetic.take(100, seed=13))
        ingest_all()
        shutdown = Shutdown()
        conn = db.connect_writer(paths.database())
        worker_client = redis_conn_for(config.load())
        worker = build_worker(
            config.load(),
            "metrics-disk",
            conn,
            worker_client,
            shutdown,
            settings=WorkerSettings(idle_block_ms=20, max_deliveries=3),
        )  # built while Redis still took writes, as a running worker was
        filler = fill(disk)
        client.bgsave()
        wait_for(
            lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err",
            30,
            what="the background save failing on the full disk",
        )
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: worker.backoff.total >= 5, 60, what="five failed attempts")
            assert thread.is_alive() and client.xlen(streams.DLQ_STREAM) == 0
            filler.unlink()
            client.bgsave()
            wait_for(
                lambda: (
                    mk.decode_counters(client.hgetall(mk.counters_key("all", "total"))).get(
                        "events"
                    )
                    == 100
                ),
                60,
                what="every event counted once",
            )
        finally:
            shutdown.request()
            thread.join(30)
            worker_client.close()
            conn.close()
        # more attempts than max_deliveries, yet nothing was dead-lettered: waiting is not failing
        assert worker.backoff.total > 3 and client.xlen(streams.DLQ_STREAM) == 0
