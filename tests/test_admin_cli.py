"""The blueplane admin command through its real entry point."""

from __future__ import annotations

import subprocess

import orjson
import redis

from blueplane_core import streams, synthetic
from blueplane_core.emit import Emitter
from tests.conftest import python_env
from tests.helpers import ingest_all

BLUEPLANE = ["blueplane"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    import shutil
    import sys
    from pathlib import Path

    exe = shutil.which("blueplane", path=str(Path(sys.executable).parent))
    assert exe, "the blueplane console script is not installed"
    return subprocess.run(
        [exe, *args], env=python_env(), capture_output=True, text=True, timeout=120
    )


def test_dlq_list_retry_and_drop(redis_client: redis.Redis) -> None:
    good = synthetic.take(1, seed=20)[0]
    redis_client.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: b"not json"})
    redis_client.xadd(
        streams.EVENTS_STREAM,
        {streams.EVENT_FIELD: orjson.dumps(good | {"schema": 2})},
    )
    ingest_all()
    listed = run("dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    letters = orjson.loads(listed.stdout)
    assert len(letters) == 2 and {x["reason"].split(":")[0] for x in letters} == {
        "unparseable JSON",
        "invalid envelope",
    }
    dropped = run("dlq", "drop", letters[0]["id"])
    assert dropped.returncode == 0 and "dropped 1" in dropped.stdout
    retried = run("dlq", "retry", "--all")
    assert retried.returncode == 0 and "retried 1" in retried.stdout
    assert redis_client.xlen(streams.DLQ_STREAM) == 0
    ingest_all()  # still invalid: back in the DLQ, with its reason, nothing lost
    assert redis_client.xlen(streams.DLQ_STREAM) == 1


def test_status_json_reports_streams_and_rows(redis_client: redis.Redis) -> None:
    Emitter(redis_client).emit_many(synthetic.take(30, seed=21))
    ingest_all()
    result = run("status", "--json")
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["database"]["events_stored"] == 30
    assert report["dlq"]["length"] == 0
    (events_stream,) = [s for s in report["streams"] if s["stream"] == streams.EVENTS_STREAM]
    (group,) = events_stream["groups"]
    assert group["name"] == streams.INGEST_GROUP and group["pending"] == 0 and group["lag"] == 0
    assert report["supervisor"] is False
    human = run("status")
    assert human.returncode == 0 and "Traceback" not in human.stderr


def test_bad_config_is_one_line_not_a_traceback(redis_client: redis.Redis) -> None:
    from blueplane_core import paths

    paths.config_file().write_text("[ingest]\nprocesses = 'two'\n")
    result = run("status")
    assert result.returncode == 78
    assert "ingest.processes" in result.stderr and "Traceback" not in result.stderr


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr and result.stdout == "", result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), result.stderr
    return " ".join(lines)  # rich wraps a long line at 80 columns


def test_admin_commands_with_redis_down_say_so_in_one_line(blueplane_home, monkeypatch) -> None:
    from tests.test_spool import _down_url

    monkeypatch.setenv("BLUEPLANE_REDIS_URL", _down_url())
    for command in (("dlq", "list"), ("dlq", "retry", "--all"), ("rebuild", "metrics")):
        result = run(*command)
        assert result.returncode == 69, (command, result.stderr)  # EX_UNAVAILABLE, README
        assert "is not reachable" in _one_line_error(result), command


def test_an_unusable_data_folder_is_one_line(tmp_path, monkeypatch) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("BLUEPLANE_HOME", str(not_a_folder))
    result = run("up")
    assert result.returncode == 73, result.stderr  # EX_CANTCREAT, README
    assert str(not_a_folder) in _one_line_error(result)


def test_usage_errors_keep_their_code() -> None:
    result = run("no-such-command")
    assert result.returncode == 2 and "Traceback" not in result.stderr
