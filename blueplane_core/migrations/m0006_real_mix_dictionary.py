"""Migration 6: the starting compression dictionary trained on the real fixtures' event mix.

Migration 1 used to train the first dictionary on synthetic events, which compress real events
only about 1/3.6 (below the 1/4 target); the shipped one (``codec.starting_dictionary``, built by
``bench/dictionary.py``) reaches about 1/7.6 on the realistic mix. Added only while the newest
dictionary is the synthetic one (an older database) or none at all (a fresh one: migration 1
no longer trains): one trained on the user's own events is never replaced. Rows already stored
keep the id they were compressed with.
"""

from __future__ import annotations

import sqlite3

from blueplane_core import codec


def apply(conn: sqlite3.Connection) -> None:
    row = conn.execute(
        "SELECT trained_on FROM codec_dictionaries ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None or row[0] in ("none", "synthetic"):  # 'none': only the plain-JSON row
        codec.store_dictionary(
            conn, codec.starting_dictionary(), codec.STARTING_TRAINED_ON, codec.STARTING_SAMPLES
        )
