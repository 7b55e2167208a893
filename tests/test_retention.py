"""Raw traces past the retention are archived to Parquet before they are deleted."""

from __future__ import annotations

import pyarrow.parquet as pq
import redis

from blueplane_core import events, paths
from blueplane_core.emit import Emitter
from blueplane_ingest import retention
from tests.helpers import ingest_all


def test_old_raw_traces_are_archived_then_deleted(redis_client: redis.Redis, writer_conn) -> None:
    def prompt(ts: str) -> dict:
        return events.make_event(
            event_type="user_prompt",
            platform="claude_code",
            source="hook",
            session_id="s",
            timestamp=ts,
            payload={"prompt_length": 5},
        )

    old = [prompt("2025-01-01T00:00:00.000Z"), prompt("2025-01-02T00:00:00.000Z")]
    Emitter(redis_client).emit_many([*old, prompt(events.format_timestamp())])
    ingest_all()
    assert retention.archive_old(writer_conn, retention_days=90) == 2
    (archive,) = paths.archive_dir().glob("*.parquet")
    table = pq.read_table(archive).to_pylist()
    assert sorted(r["event_id"] for r in table) == sorted(e["event_id"] for e in old)
    assert writer_conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0] == 1
    assert retention.archive_old(writer_conn, retention_days=90) == 0
