"""The consumers' client (``blueplane_core.resp_consumer``) against a real redis-server:
consumer groups, scripts after the server lost them, MULTI/EXEC and both reply parsers. Its
cluster side runs in ``test_redis_cluster.py`` (the whole pipeline on a cluster), its crash
safety in ``test_chaos.py`` and ``test_workers_chaos.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from blueplane_core import backoff, consumer, resp, resp_consumer


class PurePythonClient(resp_consumer.ConsumerClient):
    """The same client with the pure-Python parser and encoder (hiredis missing)."""

    _connection_type = resp._Connection
    _encode = staticmethod(resp.encode)


@pytest.fixture(params=["hiredis", "python"])
def client(request: pytest.FixtureRequest, redis_client: redis.Redis, redis_url: str) -> Iterator:
    kind = resp_consumer.ConsumerClient if request.param == "hiredis" else PurePythonClient
    made = kind(redis_url, timeout_s=5)
    yield made
    made.close()


def test_hiredis_parses_when_installed(redis_url: str) -> None:
    client = resp_consumer.ConsumerClient(redis_url)
    client.ping()
    (connection,) = client._connections.values()
    assert isinstance(connection, resp.HiredisConnection)
    client.close()


def test_a_consumer_group_round(client: resp_consumer.ConsumerClient, redis_client) -> None:
    ids = [redis_client.xadd("s{bp}", {b"n": str(i).encode(), b"e": b""}) for i in range(5)]
    reader = consumer.GroupReader(client, "s{bp}", "g", "c1")
    reader.setup()
    reader.setup()  # BUSYGROUP is an answer, not an error
    first = reader.read_new(3, 10)
    assert [d.id for d in first] == ids[:3]
    assert first[1].fields == {b"n": b"1", b"e": b""}
    # never acknowledged: after a restart the consumer re-reads them, delivered twice now
    again = reader.read_own_pending(10)
    assert [(d.id, d.deliveries) for d in again] == [(i, 2) for i in ids[:3]]
    # another consumer takes over what c1 left idle (0 ms here), with delivery counts
    other = consumer.GroupReader(client, "s{bp}", "g", "c2")
    taken = other.reclaim(0, 10)
    assert [(d.id, d.deliveries) for d in taken] == [(i, 3) for i in ids[:3]]
    assert client.xpending("s{bp}", "g")["pending"] == 3
    assert other.ack(ids[:3]) == 3
    assert [d.id for d in reader.read_new(10, 10)] == ids[3:]
    assert reader.read_new(10, 1) == []  # nothing new: the blocking read times out empty
    assert reader.ack(ids[3:]) == 2
    summary = client.xpending("s{bp}", "g")
    assert (summary["pending"], summary["min"], summary["consumers"]) == (0, None, [])
    entries = client.xrange("s{bp}", min=ids[1], count=2)
    assert entries == [(ids[1], {b"n": b"1", b"e": b""}), (ids[2], {b"n": b"2", b"e": b""})]
    assert client.xtrim("s{bp}", minid=ids[2], approximate=False) == 2
    assert client.xdel("s{bp}", ids[4]) == 1
    assert redis_client.xlen("s{bp}") == 2


def test_an_entry_deleted_while_pending_is_reclaimed_as_deleted(
    client: resp_consumer.ConsumerClient, redis_client
) -> None:
    entry = redis_client.xadd("s{bp}", {b"n": b"1"})
    reader = consumer.GroupReader(client, "s{bp}", "g", "c1")
    reader.setup()
    assert len(reader.read_new(10, 10)) == 1
    redis_client.xdel("s{bp}", entry)
    (gone,) = consumer.GroupReader(client, "s{bp}", "g", "c2").reclaim(0, 10)
    assert (gone.id, gone.fields) == (entry, None)


def test_a_script_survives_the_server_forgetting_it(
    client: resp_consumer.ConsumerClient, redis_client
) -> None:
    script = client.register_script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")
    assert script(keys=["k{bp}"], args=["a"]) == [b"k{bp}", b"a", 1]
    redis_client.script_flush()  # a restart, a failover: EVALSHA answers NOSCRIPT
    assert script(keys=["k{bp}"], args=["b"]) == [b"k{bp}", b"b", 2]
    assert redis_client.script_exists(script.sha) == [True]  # EVAL loaded it again
    with pytest.raises(resp.ReplyError, match="WRONGTYPE"):
        client.register_script("return redis.call('LPUSH', KEYS[1], 1)")(keys=["k{bp}"])


def test_a_transaction_is_all_or_nothing(
    client: resp_consumer.ConsumerClient, redis_client
) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.xadd("d{bp}", {"reason": "r"})
    pipe.hset("h{bp}", mapping={"a": 1})
    pipe.expire("h{bp}", 60)
    replies = pipe.execute()
    assert replies[1:] == [1, True] and redis_client.xlen("d{bp}") == 1
    bad = client.pipeline(transaction=True)
    bad.xadd("d{bp}", {"reason": "r"})
    bad.execute_command("NOSUCHCOMMAND")  # refused while queueing: EXEC runs nothing
    with pytest.raises(resp.ReplyError):
        bad.execute()
    assert redis_client.xlen("d{bp}") == 1
    assert client.pipeline(transaction=True).execute() == []


def test_a_transaction_on_a_lost_connection_is_transient(redis_url: str, redis_client) -> None:
    client = resp_consumer.ConsumerClient(redis_url, timeout_s=5)
    client.execute("CLIENT", "SETNAME", "bp-tx-test")
    redis_client.client_kill_filter(_type="normal", skipme=True)
    pipe = client.pipeline(transaction=True)
    pipe.xadd("d{bp}", {"reason": "r"})
    with pytest.raises(resp.Unavailable) as raised:
        pipe.execute()  # whether EXEC ran is unknown: not repeated here, the caller decides
    assert backoff.is_transient(raised.value)
    pipe.xadd("d{bp}", {"reason": "r"})
    pipe.execute()  # the next call connects again
    assert redis_client.xlen("d{bp}") in (1, 2)
    client.close()


def test_both_parsers_read_every_reply_kind_alike(redis_url: str, redis_client) -> None:
    redis_client.rpush("l{bp}", b"", b"\r\n\x00binary", "é".encode())
    commands = [
        ("LRANGE", "l{bp}", 0, -1),
        ("GET", "missing{bp}"),
        ("PING",),
        ("ECHO", 2.5),
        ("ECHO", -7),
        ("XREADGROUP", "GROUP", "nogroup", "c", "STREAMS", "l{bp}", ">"),
        ("EVAL", "return {1, {2, false}, 'x'}", 0),
    ]
    replies = []
    for kind in (resp_consumer.ConsumerClient, PurePythonClient):
        with kind(redis_url) as client:
            replies.append([repr(r) for r in client.execute_many(commands)])
    assert replies[0] == replies[1]
    assert replies[0][:5] == [
        repr([b"", b"\r\n\x00binary", "é".encode()]),
        "None",
        "b'PONG'",
        "b'2.5'",
        "b'-7'",
    ]


def test_the_query_reader_parses_in_c(cfg, redis_client) -> None:
    """The query side's reader (a status line, ``watch``, the dashboard) reads a day of
    per-minute counters through hiredis, with the replies the pure-Python reader gives."""
    from blueplane_query.redis_reader import RedisReader

    fields = {f"{60 * i}|requests".encode(): str(i).encode() for i in range(3000)}
    redis_client.hset("bp-test-minutes", mapping=fields)
    reader = RedisReader.from_config(cfg)
    try:
        (flat,) = reader.execute_many([("HGETALL", "bp-test-minutes")])
        (connection,) = reader._connections.values()
        assert isinstance(connection, resp.HiredisConnection)
    finally:
        reader.close()
    assert dict(zip(flat[::2], flat[1::2], strict=True)) == fields
