"""Numbered migrations: a fresh database reaches the head, an old one upgrades through."""

from __future__ import annotations

import sqlite3

from blueplane_core import db, migrations, paths


def test_fresh_database_reaches_head_with_records() -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    assert migrations.applied_versions(conn) == {m[0] for m in migrations.MIGRATIONS}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert migrations.migrate(conn) == []  # idempotent


def test_old_database_upgrades_through_later_migrations() -> None:
    conn = db.connect_writer(paths.database())
    first = migrations.MIGRATIONS[:1]
    migrations.migrate(conn, first)
    conn.execute("INSERT INTO session_mappings VALUES ('x', 's', '', 'u', 'a', 'b', 1)")

    def add_column(c: sqlite3.Connection) -> None:
        c.execute("ALTER TABLE session_mappings ADD COLUMN note TEXT DEFAULT 'upgraded'")

    later = (*migrations.MIGRATIONS, (999, "test column", add_column))
    assert 999 in migrations.migrate(conn, later)
    assert conn.execute("SELECT note FROM session_mappings").fetchone()[0] == "upgraded"


def test_failed_migration_rolls_back_with_its_record() -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    try:
        migrations.migrate(conn, (*migrations.MIGRATIONS, (998, "broken", broken)))
    except RuntimeError:
        pass
    assert 998 not in migrations.applied_versions(conn)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables


def test_readonly_connection_cannot_read_raw_traces_or_write() -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    conn.close()
    ro = db.connect_readonly(paths.database())
    try:
        ro.execute("SELECT count(*) FROM raw_traces")
        raise AssertionError("raw_traces was readable")
    except sqlite3.DatabaseError as exc:
        assert "not authorized" in str(exc) or "prohibited" in str(exc)
    try:
        ro.execute("DELETE FROM session_mappings")
        raise AssertionError("the read-only connection wrote")
    except sqlite3.DatabaseError:
        pass
    assert ro.execute("SELECT count(*) FROM session_mappings").fetchone()[0] == 0
