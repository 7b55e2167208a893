"""Retraining the compression dictionary on real events.

Every database starts with a dictionary shipped with Blueplane (trained on the realistic mix of
the real fixtures; migration 6 stores it, also after the synthetic one that migration 1 trained
in older databases), so compression works from the first event. Once enough of the user's own events
are stored, maintenance trains one on them; ingesters switch to the new version within a minute.
Old rows keep the id of the dictionary they were compressed with.
"""

from __future__ import annotations

import sqlite3

from blueplane_core import codec
from blueplane_core.raw_traces import RawEvents, stored_body

#: real events needed before the shipped (or synthetic) starting dictionary is replaced.
RETRAIN_AFTER = 20_000
SAMPLE = 5_000


def needs_retraining(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT trained_on FROM codec_dictionaries ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None or row[0] == "raw_traces":  # trained on this user's events already
        return False
    real = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM raw_traces WHERE source != 'synthetic' LIMIT ?)",
        (RETRAIN_AFTER,),
    ).fetchone()[0]
    return int(real) >= RETRAIN_AFTER


def retrain(conn: sqlite3.Connection, sample: int = SAMPLE) -> int:
    """Train a dictionary on the newest real events and store it; returns its id."""
    sequences = [
        int(r[0])
        for r in conn.execute(
            "SELECT sequence FROM raw_traces WHERE source != 'synthetic'"
            " ORDER BY sequence DESC LIMIT ?",
            (sample,),
        )
    ]
    events = RawEvents(conn).by_sequence(sequences)
    samples = [stored_body(e) for e in events.values()]
    data = codec.train(samples)
    conn.execute("BEGIN IMMEDIATE")
    try:
        new_id = codec.store_dictionary(conn, data, "raw_traces", len(samples))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return new_id
