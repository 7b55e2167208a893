"""Compression dictionaries are versioned: a new one never makes old rows unreadable."""

from __future__ import annotations

import redis

from blueplane_core import events, synthetic
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from blueplane_ingest import dictionary
from tests.helpers import ingest_all


def real_looking(count: int, seed: int) -> list[dict]:
    """Synthetic events relabelled as hook events, so they count as real for retraining."""
    return [e | {"source": "hook"} for e in synthetic.take(count, seed=seed)]


def test_retrained_dictionary_keeps_old_rows_readable(
    redis_client: redis.Redis, writer_conn, monkeypatch
) -> None:
    first = real_looking(300, seed=31)
    Emitter(redis_client).emit_many(first)
    ingest_all()
    monkeypatch.setattr(dictionary, "RETRAIN_AFTER", 200)
    assert dictionary.needs_retraining(writer_conn)
    new_id = dictionary.retrain(writer_conn, sample=300)
    assert not dictionary.needs_retraining(writer_conn)  # trained on real rows now

    later = real_looking(100, seed=32)
    Emitter(redis_client).emit_many(later)
    ingest_all("test-ingest-2")  # a fresh ingester picks the newest dictionary
    codecs = dict(
        writer_conn.execute("SELECT event_codec, count(*) FROM raw_traces GROUP BY event_codec")
    )
    assert codecs[new_id] == 100 and sum(codecs.values()) == 400
    decoded = [e for _, e in RawEvents(writer_conn).iterate()]
    assert decoded == first + later
    assert all(events.validate(e) for e in decoded)
