"""Numbered schema migrations, each applied in one transaction together with its record.

Only processes that own writes (ingesters, workers, maintenance) run them, never a read command.
Several processes may start at once: ``BEGIN IMMEDIATE`` serialises them and each re-checks what
is applied inside its transaction. To change the schema, add a module ``mNNNN_<what>.py`` with an
``apply(conn)`` function and append it to ``MIGRATIONS``; never edit an applied migration.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

from blueplane_core.migrations import (
    m0001_spine,
    m0002_workers,
    m0003_archive,
    m0004_ledger,
    m0005_project_labels,
    m0006_real_mix_dictionary,
    m0007_query_indexes,
    m0008_lean_event_indexes,
    m0009_ledger_quarters,
    m0010_tool_calls_cover,
    m0011_untyped_raw_traces,
    m0012_ledger_time_cover,
)

Migration = tuple[int, str, Callable[[sqlite3.Connection], None]]

MIGRATIONS: tuple[Migration, ...] = (
    (1, "spine", m0001_spine.apply),
    (2, "workers", m0002_workers.apply),
    (3, "archive", m0003_archive.apply),
    (4, "ledger", m0004_ledger.apply),
    (5, "project_labels", m0005_project_labels.apply),
    (6, "real_mix_dictionary", m0006_real_mix_dictionary.apply),
    (7, "query_indexes", m0007_query_indexes.apply),
    (8, "lean_event_indexes", m0008_lean_event_indexes.apply),
    (9, "ledger_quarters", m0009_ledger_quarters.apply),
    (10, "tool_calls_cover", m0010_tool_calls_cover.apply),
    (11, "untyped_raw_traces", m0011_untyped_raw_traces.apply),
    (12, "ledger_time_cover", m0012_ledger_time_cover.apply),
)


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return set()
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply every migration not yet applied, in order; returns the versions applied now.

    ``conn`` must be in autocommit mode (``isolation_level=None``), as writer connections are.
    """
    done: list[int] = []
    for version, name, apply in sorted(migrations, key=lambda m: m[0]):
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            if version in applied_versions(conn):
                conn.execute("COMMIT")
                continue
            apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, int(time.time())),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(version)
    if done:
        release_freed_memory()
    return done


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system after a one-off burst (tables and
    indexes built; training a dictionary took ~25 MB when migration 1 still did): glibc keeps
    freed memory mapped otherwise, and the process that ran the migrations would hold it for as
    long as it runs. No-op elsewhere."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc (macOS, musl): nothing to call


def head() -> int:
    """The newest schema version this code knows."""
    return max(m[0] for m in MIGRATIONS)
