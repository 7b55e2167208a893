"""Fixtures: a private redis-server for the test session, a fresh BLUEPLANE_HOME per test.

Tests never touch the machine's own Redis or the user's ~/.blueplane. Where no ``redis-server``
binary exists but Docker does, testcontainers provides Redis instead; with neither, the tests that
need Redis are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from blueplane_core import config, db, migrations, paths
from tests.helpers import redis_py, wait_for

REPO = Path(__file__).resolve().parent.parent
#: Real data from the real tools, copied from the project's shared folder (see its PROVENANCE.md)
#: so that a clone of the repository tests on its own.
FIXTURES = REPO / "tests" / "fixtures" / "real"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis_server(
    binary: str, folder: Path, *options: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free loopback port keeping its files in ``folder``, once it answers:
    (process, URL). ``options`` are extra arguments (persistence)."""
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder),
         *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait_for(up, 10, what="private redis-server")
    client.close()
    return proc, url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a Redis private to this test session."""
    binary = shutil.which("redis-server")
    if binary:
        folder = Path(tempfile.mkdtemp(prefix="bp-redis-"))
        proc, url = start_redis_server(binary, folder, "--appendonly", "no")
        yield url
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
        return
    try:
        from testcontainers.redis import RedisContainer

        container = RedisContainer("redis:7")
        container.start()
    except Exception as exc:  # no binary and no Docker: nothing to test against
        pytest.skip(f"no redis-server on PATH and no Docker for testcontainers ({exc})")
    try:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
    finally:
        container.stop()


@pytest.fixture(autouse=True)
def blueplane_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty data folder; no BLUEPLANE_* setting leaks in."""
    for name in list(os.environ):
        if name.startswith("BLUEPLANE_"):
            monkeypatch.delenv(name)
    home = tmp_path / "bp-home"
    home.mkdir()
    monkeypatch.setenv("BLUEPLANE_HOME", str(home))
    # reports group days in the user's zone; tests expect UTC days unless they pick a zone
    monkeypatch.setenv("BLUEPLANE_DISPLAY_TIMEZONE", "UTC")
    return home


@pytest.fixture
def redis_client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """A client of the private Redis, emptied before the test; BLUEPLANE_REDIS_URL points at it."""
    monkeypatch.setenv("BLUEPLANE_REDIS_URL", redis_url)
    client = redis_py(redis_url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def cfg(redis_client: redis.Redis) -> config.Config:
    return config.load()


@pytest.fixture
def writer_conn(blueplane_home: Path) -> Iterator:
    """A migrated writer connection on the test's telemetry.db."""
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    yield conn
    conn.close()


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a real subprocess of ours: this interpreter, this test's settings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


PYTHON = sys.executable

#: read at import: the per-test fixture below removes every BLUEPLANE_* variable.
_CHAOS_SEED = os.environ.get("BLUEPLANE_CHAOS_SEED", "")


@pytest.fixture
def chaos_seed() -> int:
    """The seed of a chaos test's randomness: ``BLUEPLANE_CHAOS_SEED`` replays a failed run,
    else a fresh one. Printed, so a failure's captured output says how to replay it."""
    import random

    seed = int(_CHAOS_SEED) if _CHAOS_SEED.strip() else random.SystemRandom().randrange(2**32)
    print(f"chaos seed {seed} (replay: BLUEPLANE_CHAOS_SEED={seed})")
    return seed
