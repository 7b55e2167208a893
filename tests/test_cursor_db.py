"""capture-cursor on realistic state.vscdb files built from the documented schema (formats.md 5):
healthy, locked by another connection, truncated; end to end to raw_traces."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from blueplane_capture import cursor_db
from blueplane_core import db, lifecycle, paths, streams
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests.conftest import PYTHON, python_env
from tests.helpers import ingest_all, wait_for

T0 = 1795300000000  # unix ms
FILE_URI = "file:///home/dev/secret-project/src/app.ts"


def create_db(path: Path, wal: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    for table in ("ItemTable", "cursorDiskKV"):
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)"
        )
    conn.commit()
    conn.close()


def put(path: Path, table: str, key: str, value: Any) -> None:
    conn = sqlite3.connect(path, timeout=5)
    conn.execute(
        f"INSERT INTO {table} (key, value) VALUES (?, ?)", (key, json.dumps(value).encode())
    )
    conn.commit()
    conn.close()


def composer(cid: str, status: str = "completed", added: int = 12, removed: int = 3) -> dict:
    return {
        "_v": 10,
        "composerId": cid,
        "name": "secret composer name",
        "createdAt": T0,
        "lastUpdatedAt": T0 + 60_000 + added,
        "status": status,
        "isAgentic": True,
        "unifiedMode": "agent",
        "forceMode": "edit",
        "modelConfig": {"modelName": "claude-4.5-sonnet", "maxMode": False},
        "fullConversationHeadersOnly": [
            {"bubbleId": "b-1", "type": 1},
            {"bubbleId": "b-2", "type": 2},
        ],
        "codeBlockData": {
            FILE_URI: [
                {
                    "bubbleId": "b-2",
                    "codeBlockIdx": 0,
                    "status": "accepted",
                    "diffId": "d-1",
                    "languageId": "typescript",
                },
                {
                    "bubbleId": "b-2",
                    "codeBlockIdx": 1,
                    "status": "rejected",
                    "diffId": "d-2",
                    "languageId": "typescript",
                },
                {"bubbleId": "b-2", "codeBlockIdx": 2, "status": "none"},
            ]
        },
        "usageData": {"claude-4.5-sonnet": {"costInCents": 4, "amount": 1}},
        "context": {"fileSelections": [{"uri": FILE_URI}]},
        "totalLinesAdded": added,
        "totalLinesRemoved": removed,
    }


def user_bubble(bid: str) -> dict:
    return {
        "_v": 3,
        "bubbleId": bid,
        "type": 1,
        "text": "secret question about billing",
        "richText": json.dumps({"root": {"children": [{"text": "secret"}]}}),
        "createdAt": "2026-11-20T10:00:00.000Z",
    }


def reply_bubble(bid: str, finished: bool = True) -> dict:
    timing = {"clientStartTime": T0 + 1000, "clientRpcSendTime": T0 + 1100}
    if finished:
        timing["clientEndTime"] = T0 + 4000
    return {
        "_v": 3,
        "bubbleId": bid,
        "type": 2,
        "text": "secret answer with code",
        "createdAt": "2026-11-20T10:00:02.000Z",
        "requestId": "req-cursor-1",
        "tokenCount": {"inputTokens": 1200, "outputTokens": 300},
        "modelInfo": {"modelName": "claude-4.5-sonnet"},
        "timingInfo": timing,
        "thinking": {"text": "secret thoughts", "signature": "sig"},
        "toolFormerData": {
            "name": "edit_file",
            "rawArgs": '{"secret": 1}',
            "result": "secret result",
            "status": "completed",
        },
    }


@pytest.fixture
def cursor_home(tmp_path: Path) -> Path:
    """A Cursor ``User`` folder: one global and one workspace database."""
    user = tmp_path / "Cursor" / "User"
    global_db = user / "globalStorage" / "state.vscdb"
    workspace = user / "workspaceStorage" / "6f1e9c0d2a"
    create_db(global_db)
    create_db(workspace / "state.vscdb")
    (workspace / "workspace.json").write_text(
        json.dumps({"folder": "file:///home/dev/secret-project"})
    )
    ws_db = workspace / "state.vscdb"
    put(
        ws_db,
        "ItemTable",
        "aiService.prompts",
        [
            {"text": "secret prompt one", "commandType": 4},
            {"text": "secret prompt two", "commandType": 4},
            {"text": "secret prompt one", "commandType": 4},  # the same text again: a new prompt
        ],
    )
    put(
        ws_db,
        "ItemTable",
        "aiService.generations",
        [
            {
                "unixMs": T0 + 500,
                "generationUUID": "gen-1",
                "type": "composer",
                "textDescription": "secret description",
            },
            {"unixMs": T0 + 900, "generationUUID": "gen-2", "type": "cmdk"},
        ],
    )
    put(
        ws_db,
        "ItemTable",
        "composer.composerData",
        {
            "allComposers": [
                {"type": "head", "composerId": "c-1", "createdAt": T0, "unifiedMode": "agent"}
            ],
            "selectedComposerIds": ["c-1"],
        },
    )
    put(ws_db, "ItemTable", "workbench.panel.unrelated", {"x": 1})
    put(global_db, "cursorDiskKV", "composerData:c-1", composer("c-1"))
    put(global_db, "cursorDiskKV", "bubbleId:c-1:b-1", user_bubble("b-1"))
    put(global_db, "cursorDiskKV", "bubbleId:c-1:b-2", reply_bubble("b-2"))
    put(global_db, "cursorDiskKV", "checkpointId:c-1:x", {"secret": "ignored"})
    return user


def monitor(client: redis.Redis, user: Path) -> cursor_db.Monitor:
    return cursor_db.Monitor(Emitter(client), [user])


def stored() -> list[dict[str, Any]]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        out.setdefault(event["event_type"], []).append(event)
    return out


def test_cursor_databases_become_sanitized_events(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    assert monitor(redis_client, cursor_home).scan_once() > 0
    ingest_all()
    events = stored()
    kinds = by_type(events)
    history = [e for e in kinds["user_prompt"] if e["hook_type"] == "aiService.prompts"]
    assert sorted(e["payload"]["prompt_length"] for e in history) == [17, 17, 17]
    generations = [e for e in kinds["assistant_response"] if e["payload"].get("generation_id")]
    assert {e["payload"]["generation_id"] for e in generations} == {"gen-1", "gen-2"}
    assert generations[0]["timestamp"].startswith("2026-11-21")  # the data's own time
    (start,) = kinds["session_start"]
    assert start["session_id"] == "c-1" and start["payload"]["mode"] == "agent"
    assert start["metadata"]["model"] == "claude-4.5-sonnet"
    decisions = sorted(e["payload"]["decision"] for e in kinds["edit_decision"])
    assert decisions == ["accept", "reject"]
    assert kinds["edit_decision"][0]["payload"]["file_extension"] == ".ts"
    (lines,) = kinds["file_edit"]
    assert (lines["payload"]["lines_added"], lines["payload"]["lines_removed"]) == (12, 3)
    (question,) = [e for e in kinds["user_prompt"] if e["hook_type"] == "bubble"]
    assert question["payload"]["prompt_length"] == len("secret question about billing")
    (reply,) = [e for e in kinds["assistant_response"] if e["hook_type"] == "bubble"]
    assert reply["payload"]["input_tokens"] == 1200 and reply["payload"]["duration_ms"] == 3000
    assert reply["payload"]["tool_name"] == "edit_file"
    # the workspace of a composer comes from workspace.json, hashed; it is the same hash
    assert reply["metadata"]["workspace_hash"] == history[0]["metadata"]["workspace_hash"]
    blob = orjson.dumps(events)
    for private in (b"secret", b"/home/dev", b"billing"):
        assert private not in blob


def test_rescans_and_restarts_add_nothing(cursor_home: Path, redis_client: redis.Redis) -> None:
    first = monitor(redis_client, cursor_home)
    first.scan_once()
    after_first = redis_client.xlen(streams.EVENTS_STREAM)
    assert first.scan_once() == 0
    assert monitor(redis_client, cursor_home).scan_once() == 0  # restart: state from disk
    assert redis_client.xlen(streams.EVENTS_STREAM) == after_first
    ingest_all()
    count = len(stored())
    (paths.state_dir() / "cursor_db.json").unlink()  # even with the state lost ...
    monitor(redis_client, cursor_home).scan_once()
    ingest_all()
    assert len(stored()) == count  # ... derived ids store nothing twice


def test_new_and_replaced_rows_are_read_incrementally(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    global_db = cursor_home / "globalStorage" / "state.vscdb"
    put(global_db, "cursorDiskKV", "composerData:c-1", composer("c-1", added=20, removed=5))
    put(global_db, "cursorDiskKV", "bubbleId:c-1:b-4", user_bubble("b-4"))
    before = redis_client.xlen(streams.EVENTS_STREAM)
    watcher.scan_once()
    ingest_all()
    edits = [e["payload"] for e in stored() if e["event_type"] == "file_edit"]
    assert sorted((p["lines_added"], p["lines_removed"]) for p in edits) == [(8, 2), (12, 3)]
    assert sum(p["lines_added"] for p in edits) == 20  # increments sum to Cursor's total
    assert redis_client.xlen(streams.EVENTS_STREAM) - before == 2  # lines + b-4, nothing resent


def test_reply_is_held_back_until_its_composer_stops_generating(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    global_db = cursor_home / "globalStorage" / "state.vscdb"
    put(global_db, "cursorDiskKV", "composerData:c-2", composer("c-2", status="generating"))
    put(global_db, "cursorDiskKV", "bubbleId:c-2:b-9", reply_bubble("b-9", finished=False))
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    ingest_all()
    assert not [e for e in stored() if e["payload"].get("bubble_id") == "b-9"]
    final = reply_bubble("b-9", finished=False) | {"text": "secret final longer answer text"}
    put(global_db, "cursorDiskKV", "composerData:c-2", composer("c-2", status="completed"))
    conn = sqlite3.connect(global_db)  # the reply row itself is not rewritten again
    conn.execute(
        "UPDATE cursorDiskKV SET value = ? WHERE key = 'bubbleId:c-2:b-9'",
        (json.dumps(final).encode(),),
    )
    conn.commit()
    conn.close()
    watcher.scan_once()
    ingest_all()
    (reply,) = [e for e in stored() if e["payload"].get("bubble_id") == "b-9"]
    assert reply["payload"]["response_length"] == len("secret final longer answer text")


def test_database_under_an_exclusive_lock_is_retried_and_never_blocks_its_writer(
    cursor_home: Path, redis_client: redis.Redis, tmp_path: Path
) -> None:
    locked_ws = cursor_home / "workspaceStorage" / "0locked"
    create_db(locked_ws / "state.vscdb", wal=False)  # rollback journal: a lock blocks readers
    put(
        locked_ws / "state.vscdb",
        "ItemTable",
        "aiService.generations",
        [{"unixMs": T0, "generationUUID": "gen-locked", "type": "composer"}],
    )
    holder = sqlite3.connect(locked_ws / "state.vscdb", timeout=0, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO ItemTable VALUES ('x', 'y')")
    watcher = monitor(redis_client, cursor_home)
    started = time.monotonic()
    watcher.scan_once()
    assert time.monotonic() - started < 5  # bounded: a busy file is skipped, not waited for
    assert watcher.counters.locked == 1
    holder.execute("COMMIT")  # "Cursor" could commit while we were scanning around it
    holder.close()
    ingest_all()
    assert not [e for e in stored() if e["payload"].get("generation_id") == "gen-locked"]
    assert [e for e in stored() if e["payload"].get("generation_id") == "gen-1"]  # others went on
    watcher.scan_once()
    ingest_all()
    assert [e for e in stored() if e["payload"].get("generation_id") == "gen-locked"]
    writer = sqlite3.connect(locked_ws / "state.vscdb", timeout=0)  # no wait allowed
    writer.execute("INSERT INTO ItemTable VALUES ('after', 'scan')")
    writer.commit()  # we hold no lock once a scan returns
    writer.close()


def test_truncated_and_foreign_files_are_counted_and_the_rest_goes_on(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    broken = cursor_home / "workspaceStorage" / "1broken" / "state.vscdb"
    create_db(broken, wal=False)
    put(
        broken,
        "ItemTable",
        "aiService.generations",
        [
            {"unixMs": T0, "generationUUID": f"gen-{i}-" + "x" * 200, "type": "cmdk"}
            for i in range(200)
        ],
    )
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # half-written
    garbage = cursor_home / "workspaceStorage" / "2garbage" / "state.vscdb"
    garbage.parent.mkdir()
    garbage.write_bytes(b"this is not a database at all" * 100)
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    assert watcher.counters.corrupt == 2
    ingest_all()
    assert [e for e in stored() if e["payload"].get("generation_id") == "gen-1"]


def test_value_that_is_not_json_is_skipped_alone(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    global_db = cursor_home / "globalStorage" / "state.vscdb"
    conn = sqlite3.connect(global_db)
    conn.execute("INSERT INTO cursorDiskKV VALUES ('bubbleId:c-1:bad', x'00ff7b7b')")
    conn.commit()
    conn.close()
    put(global_db, "cursorDiskKV", "bubbleId:c-1:b-5", user_bubble("b-5"))
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    assert watcher.counters.bad_values == 1
    ingest_all()
    assert [e for e in stored() if e["payload"].get("bubble_id") == "b-5"]


def test_watch_loop_notices_a_write(cursor_home: Path, redis_client: redis.Redis) -> None:
    watcher = monitor(redis_client, cursor_home)
    shutdown = lifecycle.Shutdown()
    loop = threading.Thread(
        target=watcher.run, args=(shutdown,), kwargs={"rescan_every_s": 120}, daemon=True
    )
    loop.start()
    try:
        wait_for(lambda: watcher.counters.scans >= 1, 10, what="first scan")
        before = redis_client.xlen(streams.EVENTS_STREAM)
        put(
            cursor_home / "globalStorage" / "state.vscdb",
            "cursorDiskKV",
            "bubbleId:c-1:b-7",
            user_bubble("b-7"),
        )
        wait_for(
            lambda: redis_client.xlen(streams.EVENTS_STREAM) > before,
            15,
            what="the watcher to pick up the new bubble",
        )
    finally:
        shutdown.request()
        loop.join(10)
    assert not loop.is_alive()


@pytest.mark.slow
def test_capture_cursor_process_runs_under_its_config_and_stops_on_sigterm(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    env = python_env({"BLUEPLANE_CAPTURE_CURSOR_DIRS": str(cursor_home)})
    proc = subprocess.Popen(
        [PYTHON, "-m", "blueplane_capture.cursor_db"], env=env, stderr=subprocess.PIPE
    )
    try:
        wait_for(
            lambda: redis_client.xlen(streams.EVENTS_STREAM) >= 10, 20, what="capture-cursor events"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stderr is not None
        proc.stderr.close()
