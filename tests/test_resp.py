"""The small RESP client (``blueplane_core.resp``) against a real redis-server: addresses,
pipelines, error replies, reconnects, deadlines, and what importing it costs. Its cluster side
(MOVED, ASK, failover) is tested on a real cluster in ``test_redis_cluster.py``.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest
import redis

from blueplane_core import resp, streams
from tests.conftest import PYTHON, REPO, python_env


@pytest.mark.parametrize(
    ("url", "nodes", "db", "user", "password", "cluster", "tls"),
    [
        ("unix:///tmp/r.sock?db=2&password=p%40ss", [("/tmp/r.sock", 0)], 2, "", "p@ss", 0, 0),
        ("redis://h:7000/3", [("h", 7000)], 3, "", "", 0, 0),
        ("redis://:pw@h", [("h", 6379)], 0, "", "pw", 0, 0),
        ("rediss://bob:s%3Acret@[::1]:7001/0", [("::1", 7001)], 0, "bob", "s:cret", 0, 1),
        ("redis+cluster://a:1,b:2,[::1]:3", [("a", 1), ("b", 2), ("::1", 3)], 0, "", "", 1, 0),
        ("rediss+cluster://u:p@a:1", [("a", 1)], 0, "u", "p", 1, 1),
    ],
)
def test_urls_are_read_like_redis_py_reads_them(
    url: str,
    nodes: list[tuple[str, int]],
    db: int,
    user: str,
    password: str,
    cluster: int,
    tls: int,
) -> None:
    address = resp.Address(url)
    assert (address.nodes, address.db, address.username, address.password) == (
        nodes,
        db,
        user,
        password,
    )
    assert (address.cluster, address.tls) == (bool(cluster), bool(tls))


@pytest.mark.parametrize(
    "url", ["http://h:1", "redis://a:1,b:2", "redis+cluster://a:1/2", "no-scheme", "redis://h:x"]
)
def test_unusable_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ValueError):
        resp.Address(url)
    with pytest.raises(resp.Unavailable, match="cannot use Redis URL"):
        resp.Client(url, 0.5).ping()


def test_messages_never_show_the_password() -> None:
    assert resp.safe_url("redis://bob:hunter2@h:1/0") == "redis://bob:***@h:1/0"
    assert "hunter2" not in resp.safe_url("unix:///r.sock?password=hunter2")


def test_commands_pipelines_and_error_replies(redis_client: redis.Redis, redis_url: str) -> None:
    client = resp.Client(redis_url.rsplit("/", 1)[0] + "/5", timeout_s=5)  # SELECT 5
    assert client.ping() is True
    pipe = client.pipeline()
    pipe.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: b"\x00\xff raw bytes"})
    pipe.hset("{bp}:t:h", "a", 1)
    pipe.hset("{bp}:t:h", mapping={"b": 2.5, "c": "x"})
    pipe.expire("{bp}:t:h", 100)
    pipe.sadd("{bp}:t:s", "m1", "m2")
    entry_id, *rest = pipe.execute()
    assert rest == [1, 2, True, 2] and b"-" in entry_id
    other_db = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/5")
    assert other_db.xrange(streams.EVENTS_STREAM)[0][1] == {b"e": b"\x00\xff raw bytes"}
    assert redis_client.exists("{bp}:t:h") == 0  # db 0 untouched: SELECT was sent
    assert client.hgetall("{bp}:t:h") == {b"a": b"1", b"b": b"2.5", b"c": b"x"}
    assert 0 < client.ttl("{bp}:t:h") <= 100
    # An error reply is returned in its place; the commands around it still ran.
    replies = client.execute_many(
        [("SET", "{bp}:t:k", "v"), ("HGET", "{bp}:t:k", "f"), ("GET", "{bp}:t:k")]
    )
    assert replies[0] == b"OK" and replies[2] == b"v"
    assert isinstance(replies[1], resp.ReplyError) and "WRONGTYPE" in str(replies[1])
    with pytest.raises(resp.ReplyError, match="WRONGTYPE"):
        client.execute("HGET", "{bp}:t:k", "f")
    big = b"x" * 3_000_000  # a reply larger than any one recv
    client.execute("SET", "{bp}:t:big", big)
    assert client.get("{bp}:t:big") == big
    assert sorted(client.scan_iter("{bp}:t:*")) == [
        b"{bp}:t:big",
        b"{bp}:t:h",
        b"{bp}:t:k",
        b"{bp}:t:s",
    ]
    other_db.flushdb()
    client.close()


class _Trickle:
    """A socket that hands out a fixed reply ``size`` bytes per recv."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    def settimeout(self, _: float) -> None:
        pass

    def recv(self, _: int) -> bytes:
        chunk, self.data = self.data[: self.size], self.data[self.size :]
        return chunk


def test_replies_split_anywhere_parse_the_same() -> None:
    """Arrays' bulk strings are cut out of the buffer inline when whole; items split across
    reads, nil, empty and CRLF-holding strings, integers and nested arrays still parse."""
    wire = (
        b"*7\r\n$3\r\nabc\r\n$-1\r\n:7\r\n*2\r\n$0\r\n\r\n$2\r\n\r\n\r\n+OK\r\n"
        b"$12\r\n1764000000|r\r\n*-1\r\n"
        b"$1\r\n9\r\n"
    )
    expected = [b"abc", None, 7, [b"", b"\r\n"], b"OK", b"1764000000|r", None]
    for size in (1, 2, 3, 5, 7, 11, len(wire)):
        connection = resp._Connection(_Trickle(wire, size))
        deadline = time.monotonic() + 5
        assert connection.read(deadline) == expected, size
        assert connection.read(deadline) == b"9", size


def test_a_connection_the_server_closed_is_replaced(
    redis_client: redis.Redis, redis_url: str
) -> None:
    client = resp.Client(redis_url, timeout_s=5)
    client.execute("CLIENT", "SETNAME", "bp-resp-test")
    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    assert client.ping() is True  # one retry on a fresh connection
    client.close()


def test_down_or_silent_redis_raises_unavailable_within_the_deadline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(resp.Unavailable, match="not reachable"):
        resp.Client(f"redis://127.0.0.1:{closed}", 1.0).ping()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True)
    thread.start()
    started = time.monotonic()
    with pytest.raises(resp.Unavailable, match="no answer in time"):
        resp.Client(f"redis://127.0.0.1:{silent.getsockname()[1]}", 0.3).ping()
    assert time.monotonic() - started < 2.0  # one deadline for the whole call
    thread.join(2)
    for sock in [*accepted, silent]:
        sock.close()


def test_importing_the_client_loads_only_c_modules() -> None:
    """The hooks' start-up budget: no typing, socket, re, collections, urllib, redis."""
    code = (
        "import sys; before = set(sys.modules)\n"
        "import blueplane_core.resp\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run(
        [PYTHON, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    loaded = set(eval(done.stdout))
    allowed = {"blueplane_core", "blueplane_core.resp", "blueplane_core.resp_wire", "_socket"}
    assert loaded <= allowed | {"__future__"}, loaded


@pytest.mark.parametrize(
    "module",
    [
        "blueplane_capture.spool",
        "blueplane_capture.transcripts",
        "blueplane_capture.cursor_db",
        "blueplane_capture.otlp",
        "blueplane_query.health",
    ],
)
def test_light_processes_do_not_import_redis_py(module: str) -> None:
    done = _python(f"import sys, {module}; print('redis' in sys.modules)")
    assert done.stdout.strip() == "False", done.stderr


def test_small_client_errors_are_classified_without_loading_redis_py() -> None:
    """A capture process waiting out Redis (blueplane_core.backoff) keeps redis-py unloaded."""
    done = _python(
        "import sys\n"
        "from blueplane_core import backoff, resp\n"
        "t = backoff.is_transient\n"
        "print(t(resp.Unavailable('down')), t(resp.ReplyError('READONLY replica')),"
        " t(resp.ReplyError('WRONGTYPE Operation')), 'redis' in sys.modules)\n"
    )
    assert done.stdout.split() == ["True", "True", "False", "False"], done.stderr


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by this interpreter in a fresh process, with the tests' environment."""
    return subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, timeout=60, env=python_env()
    )
