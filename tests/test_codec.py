"""Compression dictionaries are versioned: a new one never makes old rows unreadable; the one
every database starts with stores real events in at most a quarter of their JSON."""

from __future__ import annotations

import uuid
from collections import defaultdict

import orjson
import redis

from blueplane_core import events, synthetic
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from blueplane_ingest import dictionary
from tests import real_mix
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


def test_the_starting_dictionary_stores_real_events_in_a_quarter_of_their_json(
    redis_client: redis.Redis, writer_conn
) -> None:
    """Every fixture (hooks, transcripts, OTLP, Cursor, Copilot) through its capture mapping and
    a real ingester: per source, the stored blobs are at most 1/4 of the envelopes' JSON."""
    found = real_mix.fixture_events()
    Emitter(redis_client).emit_many(found)
    ingest_all()
    # a fact several sources saw is stored once, from the first of them: count that one's JSON
    first: dict[bytes, dict] = {}
    for event in found:
        first.setdefault(uuid.UUID(event["event_id"]).bytes, event)
    json_bytes: dict[str, int] = defaultdict(int)
    stored_bytes: dict[str, int] = defaultdict(int)
    rows = writer_conn.execute(
        "SELECT r.event_id, length(r.event_data), d.trained_on FROM raw_traces r"
        " JOIN codec_dictionaries d ON d.id = r.event_codec"
    ).fetchall()
    assert len(rows) == len(first)
    for event_id, stored, trained_on in rows:
        assert trained_on == "real_mix"
        event = first[bytes(event_id)]
        for key in (real_mix.source_of(event), "all"):
            json_bytes[key] += len(orjson.dumps(event))
            stored_bytes[key] += stored
    assert set(json_bytes) == {
        "all", "claude_code/hook", "claude_code/transcript", "claude_code/otlp",
        "cursor/hook", "cursor/database", "copilot/import",
    }  # fmt: skip
    for source, total in json_bytes.items():
        assert stored_bytes[source] * 4 <= total, source
