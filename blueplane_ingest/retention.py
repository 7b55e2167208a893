"""Raw traces older than the retention are archived to Parquet, then deleted.

The archive file of a run is named by the sequence range it holds, so a crash between writing
the file and deleting the rows only means the same file is written again next time: nothing is
lost and nothing is archived twice under two names.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from blueplane_core import paths
from blueplane_core.raw_traces import RawEvents

CHUNK = 50_000


def cutoff(retention_days: int, now: float | None = None) -> str:
    """The timestamp before which events are archived (same format as the envelope's)."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC)
    return (moment - timedelta(days=retention_days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def archive_old(conn: sqlite3.Connection, retention_days: int, now: float | None = None) -> int:
    """Archive and delete one chunk of expired rows; returns how many rows it removed."""
    limit = cutoff(retention_days, now)
    rows = conn.execute(
        "SELECT sequence FROM raw_traces WHERE timestamp < ? ORDER BY sequence LIMIT ?",
        (limit, CHUNK),
    ).fetchall()
    if not rows:
        return 0
    # Imported only when there is something to archive: pyarrow alone is ~50 MB of resident
    # memory the maintenance process should not carry while idle.
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    sequences = [int(r[0]) for r in rows]
    decoded = RawEvents(conn).by_sequence(sequences)
    table = pa.table(
        {
            "sequence": sequences,
            "event_id": [decoded[s]["event_id"] for s in sequences],
            "timestamp": [decoded[s]["timestamp"] for s in sequences],
            "platform": [decoded[s]["platform"] for s in sequences],
            "event_type": [decoded[s]["event_type"] for s in sequences],
            "session_id": [decoded[s]["session_id"] for s in sequences],
            "event_json": [orjson.dumps(decoded[s]).decode() for s in sequences],
        }
    )
    folder = paths.ensure_private_dir(paths.archive_dir())
    target = folder / f"raw_traces_{sequences[0]:012d}_{sequences[-1]:012d}.parquet"
    tmp = Path(f"{target}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("DELETE FROM raw_traces WHERE sequence = ?", [(s,) for s in sequences])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(sequences)
