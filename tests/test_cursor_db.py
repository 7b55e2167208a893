"""capture-cursor on state.vscdb stores of every shape formats.md 5 describes, built by
``tests/cursor_stores.py``: what each record becomes, robustness (locked, truncated, foreign,
not-JSON values), incremental reading, restarts; end to end to raw_traces."""

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
from blueplane_core import db, lifecycle, paths, privacy, streams
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests import cursor_stores as cs
from tests.conftest import PYTHON, python_env
from tests.helpers import ingest_all, wait_for

BASE = 1795300000000  # unix ms (2026-11-21)
DAY = 86_400_000


@pytest.fixture
def cursor_home(tmp_path: Path) -> Path:
    user = tmp_path / "Cursor" / "User"
    cs.build(user, BASE)
    return user


def monitor(client: redis.Redis, user: Path) -> cursor_db.Monitor:
    return cursor_db.Monitor(Emitter(client), [user])


def stored() -> list[dict[str, Any]]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


def of(events: list[dict[str, Any]], session: str, kind: str) -> list[dict[str, Any]]:
    """Events of one session and type (requests: those that know their tokens)."""
    return [
        e
        for e in events
        if e["session_id"] == session
        and e["event_type"] == kind
        and not e["payload"].get("tokens_unknown")
    ]


def turns(events: list[dict[str, Any]], session: str) -> list[str]:
    """The generations of a session's turn requests (one per prompt, tokens unknown)."""
    return sorted(
        e["payload"]["request_id"]
        for e in events
        if e["session_id"] == session and e["payload"].get("tokens_unknown")
    )


def ms(event: dict[str, Any]) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(event["timestamp"]).timestamp() * 1000)


def test_every_store_shape_becomes_what_it_is(cursor_home: Path, redis_client: redis.Redis) -> None:
    assert monitor(redis_client, cursor_home).scan_once() > 0
    ingest_all()
    assert redis_client.xlen(streams.DLQ_STREAM) == 0
    events = stored()
    s = cs.SESSION
    # composer _v 10, bubbles _v 3 (values stored as TEXT)
    prompts = of(events, s, "user_prompt")
    assert sorted(p["payload"]["prompt_id"] for p in prompts) == sorted([cs.G1, cs.G2])
    assert sorted(p["payload"]["prompt_length"] for p in prompts) == sorted(
        [len(cs.PROMPT_1), len(cs.PROMPT_2)]
    )
    (thought,) = of(events, s, "agent_thought")  # capabilityType 30: thinking time, no reply
    assert thought["payload"]["duration_ms"] == cs.THINK_MS
    calls = {e["payload"]["tool_name"]: e["payload"] for e in of(events, s, "tool_result")}
    assert sorted(calls) == ["Edit", "Shell"]  # capabilityType 15: tool calls, no reply
    assert calls["Shell"]["program"] == "npm" and calls["Shell"]["success"] is True
    assert calls["Edit"]["file_extension"] == ".ts" and calls["Edit"]["user_decision"] == "accepted"
    replies = of(events, s, "assistant_response")
    assert len(replies) == 2  # 2 text replies; 7 bubbles are not 7 responses
    # a-1: rpc sent at base+1,000, ended at base+12,500 (clientStartTime is a performance-clock
    # value and is not used): 11,500 ms
    assert sorted(r["payload"]["duration_ms"] for r in replies) == [3_900, 11_500]
    usage = {e["payload"]["model"]: e["payload"] for e in of(events, s, "token_usage")}
    assert (
        usage["claude-4.5-sonnet"]["input_tokens"],
        usage["claude-4.5-sonnet"]["output_tokens"],
    ) == (52_130, 6_021)
    assert (usage["composer-1"]["input_tokens"], usage["composer-1"]["output_tokens"]) == (
        23_148,
        1_867,
    )
    assert usage["composer-1"]["request_id"] == cs.G2
    assert turns(events, s) == sorted([cs.G1, cs.G2])  # each prompt's turn is one request
    (decision,) = of(events, s, "edit_decision")  # the dict form of codeBlockData
    assert decision["payload"]["decision"] == "accept"
    assert decision["payload"]["tool_use_id"] == calls["Edit"]["tool_use_id"]
    (lines,) = of(events, s, "file_edit")
    assert (lines["payload"]["session_lines_added"], lines["payload"]["session_lines_removed"]) == (
        7,
        2,
    )
    session_times = [ms(e) for e in events if e["session_id"] == s]
    assert min(session_times) == BASE - 5_000 and max(session_times) <= BASE + 65_000
    workspace = privacy.keyed_hash(privacy.load_secret(), cs.ROOT, "workspace")
    assert {e["metadata"].get("workspace_hash") for e in events if e["session_id"] == s} == {
        workspace
    }

    # composer _v 3, bubbles _v 2 without createdAt, codeBlockData as a list, bare tokenCount
    old = cs.LEGACY
    legacy_base = BASE - DAY
    (question,) = of(events, old, "user_prompt")
    assert ms(question) == legacy_base  # no time of its own: the composer's, not capture time
    assert question["payload"]["prompt_id"] == "lg-1"  # no requestId: the next bubble's
    answers = sorted(of(events, old, "assistant_response"), key=ms)
    # la-1: the earliest epoch value of its timingInfo (clientStartTime is epoch in old stores)
    assert [ms(a) for a in answers] == [legacy_base + 100, legacy_base + 3_000]
    (request,) = of(events, old, "token_usage")  # the bare integer count is not a request
    assert (request["payload"]["input_tokens"], request["payload"]["output_tokens"]) == (1_000, 200)
    assert request["payload"]["model"] == "gpt-4o"  # from the composer's modelConfig
    # usageData {gpt-4o: 7 cents, 1 request} and one gpt-4o request: Cursor's own cost of it
    assert request["payload"]["cost_usd"] == 0.07
    assert "cost_usd" not in usage["composer-1"]  # usageData {} : the price table decides
    assert [d["payload"]["decision"] for d in of(events, old, "edit_decision")] == ["reject"]

    # legacy inline conversation[]
    inline_prompts = of(events, cs.INLINE, "user_prompt")
    assert sorted(p["payload"]["prompt_id"][:5] for p in inline_prompts) == ["ig-1", "text:"]
    assert len(of(events, cs.INLINE, "assistant_response")) == 1
    (inline,) = of(events, cs.INLINE, "token_usage")
    assert (inline["payload"]["input_tokens"], inline["payload"]["output_tokens"]) == (500, 50)

    # bubbles in conversationMap, in header order
    (mapped_prompt,) = of(events, cs.MAPPED, "user_prompt")
    assert mapped_prompt["payload"]["bubble_id"] == "mu-1"
    (mapped,) = of(events, cs.MAPPED, "token_usage")
    assert (mapped["payload"]["input_tokens"], mapped["payload"]["model"]) == (
        40,
        "claude-4-sonnet",
    )

    # a composer listed only in composer.composerHeaders, in a remote workspace
    remote = privacy.keyed_hash(privacy.load_secret(), cs.REMOTE_ROOT, "workspace")
    (start,) = of(events, cs.HEADERS_ONLY, "session_start")
    assert start["metadata"]["workspace_hash"] == remote

    # empty drafts and NULL rows are no sessions; aiService rows make no session of their own
    sessions = {e["session_id"] for e in events}
    assert sessions == {cs.SESSION, cs.LEGACY, cs.INLINE, cs.MAPPED, cs.HEADERS_ONLY}
    assert not [e for e in events if str(e["hook_type"]).startswith("aiService")]
    blob = orjson.dumps(events)
    for private in (b"secret", b"/home/dev", b"/srv/", b"npm test", b"buildhost"):
        assert private not in blob, private


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
    state = (paths.state_dir() / "cursor_db.json").read_bytes()
    for private in (b"secret", b"/home/dev", b"/srv/", str(cursor_home).encode()):
        assert private not in state  # the state file keeps ids and keyed hashes, never paths


def add_turn(user: Path, status: str = "completed", finished: bool = True) -> None:
    """A third turn on SESSION: prompt u-3 and reply a-3 (900 in / 90 out), lines now 9/2."""
    global_db = user / "globalStorage" / "state.vscdb"
    composer = cs.session_composer(BASE, status)
    composer["fullConversationHeadersOnly"] += [
        {"bubbleId": "u-3", "type": 1},
        {"bubbleId": "a-3", "type": 2},
    ]
    composer["totalLinesAdded"] = 9
    cs.put(global_db, "cursorDiskKV", f"composerData:{cs.SESSION}", composer)
    cs.put(global_db, "cursorDiskKV", f"bubbleId:{cs.SESSION}:u-3", {
        "_v": 3, "type": 1, "bubbleId": "u-3", "text": "secret third", "requestId": "g-3",
        "createdAt": cs.iso(BASE + 70_000),
    })  # fmt: skip
    timing = {"clientRpcSendTime": BASE + 70_100} | (
        {"clientEndTime": BASE + 71_000} if finished else {}
    )
    cs.put(global_db, "cursorDiskKV", f"bubbleId:{cs.SESSION}:a-3", {
        "_v": 3, "type": 2, "bubbleId": "a-3", "text": "secret partial" if not finished
        else "secret final longer answer", "requestId": "g-3", "createdAt": cs.iso(BASE + 70_050),
        "timingInfo": timing,
        "tokenCount": {"inputTokens": 900 * finished, "outputTokens": 90 * finished},
    })  # fmt: skip


def test_new_and_replaced_rows_are_read_incrementally(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    before = redis_client.xlen(streams.EVENTS_STREAM)
    add_turn(cursor_home)
    watcher.scan_once()
    # exactly: the new prompt and its turn's request, the new reply and the tokens it holds,
    # the new line totals; nothing resent
    assert redis_client.xlen(streams.EVENTS_STREAM) - before == 5
    ingest_all()
    totals = of(stored(), cs.SESSION, "file_edit")
    assert sorted(e["payload"]["session_lines_added"] for e in totals) == [7, 9]


def test_reply_is_held_back_until_it_is_finished(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    add_turn(cursor_home, status="generating", finished=False)
    watcher.scan_once()
    ingest_all()
    assert not [e for e in stored() if e["payload"].get("bubble_id") == "a-3"]
    add_turn(cursor_home, status="completed", finished=True)
    watcher.scan_once()
    ingest_all()
    (reply,) = [
        e for e in stored() if e["payload"].get("bubble_id") == "a-3"
        and e["event_type"] == "assistant_response"
    ]  # fmt: skip
    assert reply["payload"]["response_length"] == len("secret final longer answer")
    (usage,) = [
        e for e in of(stored(), cs.SESSION, "token_usage") if e["payload"]["request_id"] == "g-3"
    ]
    assert usage["payload"]["input_tokens"] == 900


def test_database_under_an_exclusive_lock_is_retried_and_never_blocks_its_writer(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    locked_ws = cursor_home / "workspaceStorage" / "0locked"
    cs.create(locked_ws / "state.vscdb", wal=False)  # rollback journal: a lock blocks readers
    (locked_ws / "workspace.json").write_text(json.dumps({"folder": "file:///home/dev/locked"}))
    cs.put(locked_ws / "state.vscdb", "ItemTable", "composer.composerData", {
        "allComposers": [{"type": "head", "composerId": "c-locked"}]
    })  # fmt: skip
    holder = sqlite3.connect(locked_ws / "state.vscdb", timeout=0, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO ItemTable VALUES ('x', 'y')")
    watcher = monitor(redis_client, cursor_home)
    started = time.monotonic()
    watcher.scan_once()
    assert time.monotonic() - started < 5  # bounded: a busy file is skipped, not waited for
    assert watcher.counters.locked == 1
    holder.execute("COMMIT")
    holder.close()
    ingest_all()
    assert of(stored(), cs.SESSION, "user_prompt")  # the other files went on
    global_db = cursor_home / "globalStorage" / "state.vscdb"
    cs.put(global_db, "cursorDiskKV", "composerData:c-locked", cs.headers_only_composer(BASE) | {
        "composerId": "c-locked"
    })  # fmt: skip
    watcher.scan_once()  # the locked file is read now: its composer gets its workspace
    ingest_all()
    (start,) = of(stored(), "c-locked", "session_start")
    locked = privacy.keyed_hash(privacy.load_secret(), "/home/dev/locked", "workspace")
    assert start["metadata"]["workspace_hash"] == locked
    writer = sqlite3.connect(locked_ws / "state.vscdb", timeout=0)  # no wait allowed
    writer.execute("INSERT INTO ItemTable VALUES ('after', 'scan')")
    writer.commit()  # we hold no lock once a scan returns
    writer.close()


def test_truncated_and_foreign_files_are_counted_and_the_rest_goes_on(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    broken = cursor_home / "workspaceStorage" / "1broken" / "state.vscdb"
    cs.create(broken, wal=False)
    cs.put(broken, "ItemTable", "aiService.generations", [
        {"unixMs": BASE, "generationUUID": f"gen-{i}-" + "x" * 200, "type": "cmdk"}
        for i in range(200)
    ])  # fmt: skip
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # half-written
    garbage = cursor_home / "workspaceStorage" / "2garbage" / "state.vscdb"
    garbage.parent.mkdir()
    garbage.write_bytes(b"this is not a database at all" * 100)
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    assert watcher.counters.corrupt == 2
    ingest_all()
    assert of(stored(), cs.SESSION, "user_prompt")


def test_value_that_is_not_json_is_skipped_alone(
    cursor_home: Path, redis_client: redis.Redis
) -> None:
    global_db = cursor_home / "globalStorage" / "state.vscdb"
    conn = sqlite3.connect(global_db)
    conn.execute(f"INSERT INTO cursorDiskKV VALUES ('bubbleId:{cs.SESSION}:bad', x'00ff7b7b')")
    conn.commit()
    conn.close()
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    assert watcher.counters.bad_values == 1
    ingest_all()
    assert len(of(stored(), cs.SESSION, "user_prompt")) == 2


def test_a_row_that_breaks_the_mapping_is_skipped_alone(
    cursor_home: Path, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blueplane_capture import cursor_records

    real = cursor_records.bubble_events

    def fragile(view: Any, bubble_id: str, *args: Any) -> list[dict[str, Any]]:
        if bubble_id == "t-1":  # a shape nobody foresaw: the mapping raises on this row
            raise KeyError("unforeseen")
        return real(view, bubble_id, *args)

    monkeypatch.setattr(cursor_records, "bubble_events", fragile)
    watcher = monitor(redis_client, cursor_home)
    watcher.scan_once()
    assert watcher.counters.bad_values == 1 and watcher.counters.corrupt == 0
    ingest_all()
    events = stored()
    assert not of(events, cs.SESSION, "agent_thought")
    assert len(of(events, cs.SESSION, "user_prompt")) == 2  # the other rows of the file went on


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
        add_turn(cursor_home)
        wait_for(
            lambda: redis_client.xlen(streams.EVENTS_STREAM) > before,
            15,
            what="the watcher to pick up the new bubbles",
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
