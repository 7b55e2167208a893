"""Honest status (issue 12): health comes from every program's supervisor state and heartbeat,
names what is wrong, exits non-zero, and counts lag from what is really left to deliver."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import orjson
import pytest
import redis

from blueplane_core import config, streams
from blueplane_query.health import LAG_WARNING, pipeline_health
from blueplane_query.redis_reader import RedisReader
from tests.conftest import _free_port
from tests.test_up_and_demo import blueplane, bp_query


def health_of(redis_url: str) -> dict:
    """``pipeline_health`` as ``bp-query status`` computes it, without supervisord."""

    with RedisReader(redis_url) as reader:
        return pipeline_health(config.load(), reader=reader, programs=None)


def _group_row(report: dict, stream: str, group: str) -> dict:
    (row,) = [
        g
        for s in report["streams"]
        if s["stream"] == stream
        for g in s["groups"]
        if g["name"] == group
    ]
    return row


def test_a_caught_up_group_is_not_behind_whatever_redis_says(
    redis_client: redis.Redis, redis_url: str
) -> None:
    """After Redis replays its append-only file a group can carry an entries-read from before,
    and XINFO then reports a lag for ever although everything was delivered and acknowledged
    (the "16270 entries behind" bug). XGROUP SETID ... ENTRIESREAD makes that state on purpose."""
    stream = streams.EVENTS_STREAM
    total = LAG_WARNING + 500
    pipe = redis_client.pipeline(transaction=False)
    for i in range(total):
        pipe.xadd(stream, {"n": i})
    pipe.execute()
    redis_client.xgroup_create(stream, streams.INGEST_GROUP, id="$")
    redis_client.execute_command(
        "XGROUP", "SETID", stream, streams.INGEST_GROUP, "$", "ENTRIESREAD", 0
    )
    said = {g["name"].decode(): g for g in redis_client.xinfo_groups(stream)}
    assert said[streams.INGEST_GROUP]["lag"] == total  # Redis's own figure is wrong
    report = health_of(redis_url)
    row = _group_row(report, stream, streams.INGEST_GROUP)
    assert row["lag"] == 0 and row["pending"] == 0 and row["behind"] == 0
    assert not [p for p in report["problems"] if "behind" in p], report["problems"]

    # entries really undelivered are counted: 7 added after the last delivered one (by hand)
    for i in range(7):
        redis_client.xadd(stream, {"n": i})
    # Redis's lag is now wrong again (entries-read 0): the entries after the last delivered id
    # are what counts; and 3 read but not acknowledged are pending
    redis_client.xreadgroup(streams.INGEST_GROUP, "c", {stream: ">"}, count=3)
    report = health_of(redis_url)
    row = _group_row(report, stream, streams.INGEST_GROUP)
    assert (row["pending"], row["lag"], row["behind"]) == (3, 4, 7)


def test_a_stale_heartbeat_without_supervisord_is_a_problem(
    redis_client: redis.Redis, redis_url: str
) -> None:
    import time

    redis_client.hset(streams.HEARTBEATS_KEY, "capture-claude", f"4242 {int(time.time()) - 96} x")
    report = health_of(redis_url)
    assert not report["healthy"]
    (problem,) = [p for p in report["problems"] if p.startswith("capture-claude:")]
    assert re.fullmatch(r"capture-claude: last heartbeat 9[67]s ago \(stopped or stuck\)", problem)


def _taken_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


@pytest.mark.slow
def test_up_fails_naming_a_taken_port_and_status_says_which_process(
    blueplane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = _taken_port()
    port = holder.getsockname()[1]
    monkeypatch.setenv("BLUEPLANE_CAPTURE_OTLP_PORT", str(port))
    monkeypatch.setenv("BLUEPLANE_QUERY_PORT", str(_free_port()))  # not another test's
    try:
        up = blueplane("up", "--wait", "60")
        assert up.returncode != 0, up.stdout
        assert "capture-otlp" in up.stderr and str(port) in up.stderr, up.stderr
        assert "capture.otlp_port" in up.stderr and "Traceback" not in up.stderr

        status = blueplane("status", "--json")
        assert status.returncode == 3, status.stderr
        report = orjson.loads(status.stdout)
        assert not report["healthy"]
        (otlp,) = [p for p in report["programs"] if p["name"] == "capture-otlp"]
        assert not otlp["healthy"] and str(port) in otlp["reason"]
        others = [p for p in report["programs"] if p["name"] != "capture-otlp"]
        assert others and all(p["healthy"] for p in others), others
        human = blueplane("status")
        assert human.returncode == 3 and "capture-otlp" in human.stdout

        query = bp_query("status")
        assert query.returncode == 3, query.stderr
        assert "capture-otlp" in query.stderr
    finally:
        holder.close()
        down = blueplane("down")
    assert down.returncode == 0, down.stderr


@pytest.mark.slow
def test_down_stops_redis_last_whatever_the_config_holds(
    blueplane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUEPLANE_CAPTURE_OTLP_PORT", str(_free_port()))
    monkeypatch.setenv("BLUEPLANE_QUERY_PORT", str(_free_port()))
    up = blueplane("up", "--wait", "90")
    try:
        assert up.returncode == 0, up.stderr
    finally:
        (blueplane_home / "config.toml").write_text("[ingest\nprocesses = 'two'\n")  # broken
        down = blueplane("down")
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert not (blueplane_home / "run" / "supervisor.sock").exists()
    log = (blueplane_home / "logs" / "supervisord.log").read_text().splitlines()
    stopped = [
        line.split("stopped: ", 1)[1].split(" ", 1)[0] for line in log if "stopped: " in line
    ]
    assert stopped[-1] == "redis", stopped  # every consumer acknowledged before Redis went
    assert len(stopped) >= 8, stopped
    for name in blueplane_home.joinpath("logs").glob("*.log"):
        assert "Traceback" not in name.read_text(), name.name
