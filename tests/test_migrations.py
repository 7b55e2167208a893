"""Numbered migrations: a fresh database reaches the head, an old one upgrades through."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from blueplane_core import codec, db, events, migrations, paths
from blueplane_core.raw_traces import RawEvents, stored_body


def test_fresh_database_reaches_head_with_records() -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    assert migrations.applied_versions(conn) == {m[0] for m in migrations.MIGRATIONS}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert migrations.migrate(conn) == []  # idempotent


def _dictionaries(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    return list(conn.execute("SELECT id, trained_on FROM codec_dictionaries ORDER BY id"))


def test_fresh_database_gets_the_shipped_dictionary_without_training(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Training a throwaway dictionary left ~3 MB in the process that ran the migrations."""

    def no_training(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("a migration trained a dictionary")

    monkeypatch.setattr(codec, "train", no_training)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    assert _dictionaries(conn) == [(0, "none"), (1, "real_mix")]
    stored = conn.execute("SELECT dictionary FROM codec_dictionaries WHERE id = 1").fetchone()[0]
    assert bytes(stored) == codec.starting_dictionary()


@pytest.mark.parametrize(
    ("first_trained_on", "expected"),
    [
        # migration 1 of earlier versions trained dictionary 1 on synthetic events: replaced
        ("synthetic", [(0, "none"), (1, "synthetic"), (2, "real_mix")]),
        # one trained on the user's own events is never replaced
        ("raw_traces", [(0, "none"), (1, "raw_traces")]),
    ],
)
def test_an_older_database_keeps_its_dictionaries_and_gets_the_shipped_one_only_over_synthetic(
    first_trained_on: str, expected: list[tuple[int, str]]
) -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn, migrations.MIGRATIONS[:5])
    codec.store_dictionary(conn, b"an older dictionary", first_trained_on, 4000)
    migrations.migrate(conn)
    assert _dictionaries(conn) == expected


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


def test_events_stored_with_the_typed_columns_read_back_the_same_after_migration_11() -> None:
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn, [m for m in migrations.MIGRATIONS if m[0] < 11])
    event = events.make_event(
        event_type="tool_result",
        platform="claude_code",
        source="hook",
        session_id="s-1",
        payload={"tool_name": "Bash", "duration_ms": 12, "success": True},
        metadata={"model": "claude-opus-4-8", "workspace_hash": "ab" * 12},
    )
    encoder = codec.Encoder(codec.latest_dictionary(conn))
    conn.execute(
        "INSERT INTO raw_traces (ingested_at, event_id, timestamp, platform, source, session_id,"
        " event_type, hook_type, workspace_hash, model, tool_name, duration_ms, success,"
        " event_codec, event_data) VALUES (1, ?, ?, 'claude_code', 'hook', 's-1', 'tool_result',"
        " NULL, ?, 'claude-opus-4-8', 'Bash', 12, 1, ?, ?)",
        (
            uuid.UUID(event["event_id"]).bytes,
            event["timestamp"],
            "ab" * 12,
            encoder.dictionary_id,
            encoder.encode(stored_body(event)),
        ),
    )
    assert 11 in migrations.migrate(conn)
    assert RawEvents(conn).by_sequence([1]) == {1: event}
    columns = {row[1] for row in conn.execute("PRAGMA table_xinfo(raw_traces)")}
    assert not columns & {"model", "tool_name", "duration_ms", "success", "event_date"}
