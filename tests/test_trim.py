"""Trimming removes only what every group acknowledged."""

from __future__ import annotations

import redis

from blueplane_core import streams
from blueplane_ingest import trim
from blueplane_ingest.maintenance import Maintenance


def fill(client: redis.Redis, stream: str, n: int) -> list[bytes]:
    return [client.xadd(stream, {"n": i}) for i in range(n)]


def test_trimming_never_removes_an_unacknowledged_entry(redis_client: redis.Redis) -> None:
    stream, groups = streams.CDC_STREAM, streams.CDC_GROUPS
    ids = fill(redis_client, stream, 30)
    for group in groups:
        redis_client.xgroup_create(stream, group, id="0")
    # metrics: read and acknowledged 20; conversations: read 15, acknowledged 10;
    # insights: read nothing yet.
    got = redis_client.xreadgroup("metrics", "m", {stream: ">"}, count=20)[0][1]
    redis_client.xack(stream, "metrics", *[i for i, _ in got])
    got = redis_client.xreadgroup("conversations", "c", {stream: ">"}, count=15)[0][1]
    redis_client.xack(stream, "conversations", *[i for i, _ in got[:10]])
    assert trim.trim_stream(redis_client, stream, groups) == 0  # insights has read nothing

    redis_client.xreadgroup("insights", "i", {stream: ">"}, count=30)
    redis_client.xack(stream, "insights", *ids)
    removed = trim.trim_stream(redis_client, stream, groups)
    assert removed == 10  # everything below conversations' oldest pending entry
    remaining = [i for i, _ in redis_client.xrange(stream)]
    assert remaining == ids[10:]
    # The pending entries are still there and can still be acknowledged.
    assert redis_client.xack(stream, "conversations", *ids[10:15]) == 5


def test_a_missing_group_blocks_trimming(redis_client: redis.Redis) -> None:
    stream = streams.CDC_STREAM
    fill(redis_client, stream, 5)
    redis_client.xgroup_create(stream, "metrics", id="$")
    assert trim.trim_stream(redis_client, stream, streams.CDC_GROUPS) == 0
    assert redis_client.xlen(stream) == 5


def test_fully_acknowledged_stream_is_emptied_by_maintenance(
    redis_client: redis.Redis, writer_conn
) -> None:
    ids = fill(redis_client, streams.EVENTS_STREAM, 8)
    redis_client.xgroup_create(streams.EVENTS_STREAM, streams.INGEST_GROUP, id="0")
    redis_client.xreadgroup(streams.INGEST_GROUP, "x", {streams.EVENTS_STREAM: ">"})
    redis_client.xack(streams.EVENTS_STREAM, streams.INGEST_GROUP, *ids[:5])
    done = Maintenance(redis_client, writer_conn, retention_days=90).round()
    assert done[f"trimmed {streams.EVENTS_STREAM}"] == 5
    assert redis_client.xlen(streams.EVENTS_STREAM) == 3
    assert redis_client.xlen(streams.DLQ_STREAM) == 0


def test_maintenance_truncates_the_wal_once_writing_pauses(
    redis_client: redis.Redis, writer_conn
) -> None:
    from blueplane_core import paths, synthetic
    from blueplane_core.emit import Emitter
    from tests.helpers import ingest_all

    Emitter(redis_client).emit_many(synthetic.take(500, seed=41))
    ingest_all()  # ingesters never checkpoint: the WAL holds every batch
    wal = paths.database().with_name("telemetry.db-wal")
    assert wal.stat().st_size > 0
    chores = Maintenance(redis_client, writer_conn, retention_days=90)
    chores.round()  # notes the WAL size; small and still "growing": no checkpoint yet
    assert wal.stat().st_size > 0
    chores.round()  # unchanged since the last round: writing paused, TRUNCATE
    assert wal.stat().st_size == 0


class AckBetweenReads(redis.Redis):
    """A client whose XINFO GROUPS is followed, before the caller's next command, by a consumer
    acknowledging everything: the race maintenance hit in production (deterministic here)."""

    def xinfo_groups(self, name):  # type: ignore[no-untyped-def, override]
        infos = super().xinfo_groups(name)
        for info in infos:
            pending = self.xpending_range(name, info["name"], "-", "+", 10_000)
            if pending:
                self.xack(name, info["name"], *[row["message_id"] for row in pending])
        return infos


def test_pending_list_emptied_between_reads_still_trims_safely(
    redis_client: redis.Redis, writer_conn
) -> None:
    stream = streams.EVENTS_STREAM
    ids = fill(redis_client, stream, 6)
    redis_client.xgroup_create(stream, streams.INGEST_GROUP, id="0")
    redis_client.xreadgroup(streams.INGEST_GROUP, "x", {stream: ">"}, count=4)
    racing = AckBetweenReads(connection_pool=redis_client.connection_pool)
    # XINFO said 4 pending; XPENDING then says none: trim up to what was delivered, no further
    assert trim.trim_stream(racing, stream, (streams.INGEST_GROUP,)) == 4
    assert [i for i, _ in redis_client.xrange(stream)] == ids[4:]


def test_a_failing_chore_never_stops_the_others(redis_client: redis.Redis, writer_conn) -> None:
    ids = fill(redis_client, streams.EVENTS_STREAM, 3)
    redis_client.xgroup_create(streams.EVENTS_STREAM, streams.INGEST_GROUP, id="0")
    redis_client.xreadgroup(streams.INGEST_GROUP, "x", {streams.EVENTS_STREAM: ">"})
    redis_client.xack(streams.EVENTS_STREAM, streams.INGEST_GROUP, *ids)
    chores = Maintenance(redis_client, writer_conn, retention_days=90)
    writer_conn.execute("DROP TABLE raw_traces")  # the slow chores now fail with sqlite errors
    done = chores.round()
    assert done[f"trimmed {streams.EVENTS_STREAM}"] == 3  # trimming went on
    assert chores.failures >= 1 and "failures=" in chores.heartbeat_info()
