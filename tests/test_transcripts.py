"""capture-claude: incremental, restartable tailing of real transcripts, exactly once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest

from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import db, events, lifecycle, paths, privacy, streams
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests.conftest import FIXTURES, python_env
from tests.helpers import ingest_all, wait_for
from tests.test_claude_hook import run_hook

LIVE = FIXTURES / "claude_code_live" / "transcripts"
PROJECT = LIVE / "projects" / "-tmp-ccdemo-demo-project"
B_TOOLS = PROJECT / "f43a179b-38ec-4b6d-9936-a897f46d022a.jsonl"
CRUD = FIXTURES / "claude_code_public" / "agentlogs_crud.jsonl"
PRIVATE = ("/tmp/ccdemo", "notes.txt", "SCENARIO", "line one", "git add", 'main"')


def make_monitor(root: Path, redis_client, state: Path, **kw) -> TranscriptMonitor:
    return TranscriptMonitor(
        [root], Emitter(redis_client), OffsetStore("t", state).load(), privacy.load_secret(), **kw
    )


def stored() -> list[dict]:
    conn = db.connect_writer(paths.database())
    try:
        return [e for _, e in RawEvents(conn).iterate()]
    finally:
        conn.close()


def usage_totals(evts: list[dict]) -> dict[str, tuple[int, int, int, int]]:
    return {
        e["payload"]["message_id"]: (
            e["payload"]["input_tokens"],
            e["payload"]["output_tokens"],
            e["payload"]["cache_creation_tokens"],
            e["payload"]["cache_read_tokens"],
        )
        for e in evts
        if e["event_type"] == "token_usage"
    }


def write_lines(path: Path, lines: list[bytes], mode: str = "ab") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode) as handle:
        handle.write(b"".join(lines))


def test_fixture_history_gives_sanitized_events_of_every_kind(redis_client, tmp_path: Path) -> None:
    monitor = make_monitor(LIVE, redis_client, tmp_path)
    monitor.backfill(show_progress=False, flush=True)
    ingest_all()
    evts = stored()
    kinds = Counter(e["event_type"] for e in evts)
    assert kinds["token_usage"] == 15  # ccusage: 15 unique API responses
    assert kinds["session_start"] == 7 and kinds["subagent_start"] == 1
    assert kinds["tool_use"] == kinds["tool_result"] == 8
    assert kinds["compaction"] == 1 and kinds["user_prompt"] == 8
    assert kinds["api_error"] == 1  # run E: the transcript's isApiErrorMessage line
    for e in evts:
        events.validate(e)
        privacy.check_sanitized(e["payload"])
        privacy.check_sanitized(e["metadata"])
        text = orjson.dumps(e).decode()
        assert not any(s in text for s in PRIVATE), text
    sub = [e for e in evts if e["event_type"] == "token_usage" and e["payload"]["is_sidechain"]]
    assert len(sub) == 1 and sub[0]["metadata"]["agent_type"] == "general-purpose"
    failed = [e for e in evts if e["event_type"] == "tool_result" and not e["payload"]["success"]]
    assert {(e["payload"]["tool_name"], e["payload"]["error_type"]) for e in failed} == {
        ("Bash", "exit_code"),
        ("Bash", "hook_blocked"),
        ("Bash", "denied"),
    }
    some = next(e for e in evts if e["event_type"] == "user_prompt")
    assert some["metadata"]["client_version"] == "2.1.197"
    assert len(some["metadata"]["git_branch_hash"]) == 24
    compaction = next(e for e in evts if e["event_type"] == "compaction")
    assert compaction["payload"] == {
        "phase": "boundary",
        "trigger": "manual",
        "pre_tokens": 13790,
        "post_tokens": 640,
        "duration_ms": 413,
    }


def test_restart_mid_file_resumes_exactly(redis_client, tmp_path: Path) -> None:
    lines = B_TOOLS.read_bytes().splitlines(keepends=True)
    target = tmp_path / "claude" / "projects" / "p" / B_TOOLS.name
    write_lines(target, lines[:12])
    first = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state")
    first.poll()
    sent_before = first.emitted
    write_lines(target, lines[12:])
    second = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state")  # a restart
    second.poll(flush=True)
    # nothing of the first part was read twice: the restart started at the saved offset
    assert second.lines == len(lines) - 12
    ingest_all()
    assert redis_client.xlen(streams.EVENTS_STREAM) == sent_before + second.emitted
    evts = stored()
    assert len(usage_totals(evts)) == 6
    # an uninterrupted read of the whole file gives exactly the same facts: nothing new stored
    make_monitor(tmp_path / "claude", redis_client, tmp_path / "fresh").poll(flush=True)
    ingest_all()
    assert len(stored()) == len(evts)


def test_partial_last_line_waits_for_its_newline(redis_client, tmp_path: Path) -> None:
    lines = B_TOOLS.read_bytes().splitlines(keepends=True)
    target = tmp_path / "claude" / "projects" / "p" / B_TOOLS.name
    write_lines(target, [*lines[:5], lines[5][:40]])  # half of the first assistant line
    monitor = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state")
    monitor.poll(flush=True)
    assert monitor.store.get(monitor.state_key(target)).offset == sum(len(x) for x in lines[:5])
    assert usage_totals([e for e in _stream(redis_client)]) == {}
    write_lines(target, [lines[5][40:]])
    monitor.poll(flush=True)
    assert "msg_88a4ee7542614282a6e7b696" in usage_totals(_stream(redis_client))


def _stream(redis_client) -> list[dict]:
    return [
        orjson.loads(f[streams.EVENT_FIELD.encode()])
        for _, f in redis_client.xrange(streams.EVENTS_STREAM)
    ]


def test_truncated_or_replaced_file_is_reread_without_duplicates(
    redis_client, tmp_path: Path
) -> None:
    lines = B_TOOLS.read_bytes().splitlines(keepends=True)
    target = tmp_path / "claude" / "projects" / "p" / B_TOOLS.name
    write_lines(target, lines)
    monitor = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state")
    monitor.poll(flush=True)
    write_lines(target, lines[:8], mode="wb")  # truncated in place
    monitor.poll(flush=True)
    assert monitor.store.get(monitor.state_key(target)).offset == sum(len(x) for x in lines[:8])
    replacement = target.with_suffix(".new")
    write_lines(replacement, lines)  # replaced by a new file (new inode)
    os.replace(replacement, target)
    monitor.poll(flush=True)
    ingest_all()
    evts = stored()
    assert len(usage_totals(evts)) == 6
    assert sum(1 for e in evts if e["event_type"] == "token_usage") == 6
    assert sum(1 for e in evts if e["event_type"] == "tool_use") == 5


def test_malformed_lines_are_counted_logged_and_skipped(
    redis_client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = B_TOOLS.read_bytes().splitlines(keepends=True)
    target = tmp_path / "claude" / "projects" / "p" / B_TOOLS.name
    write_lines(target, [*lines[:3], b"{broken json\n", b"[1,2]\n", b"\n", *lines[3:]])
    monitor = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state")
    with caplog.at_level(logging.WARNING, logger="blueplane.capture.claude"):
        monitor.poll(flush=True)
    assert monitor.malformed == 2
    assert f"{monitor.shown(target)}:4: malformed line" in caplog.text
    assert f"{monitor.shown(target)}:5: malformed line" in caplog.text
    assert "/p/" not in caplog.text  # the project folder is never logged
    assert monitor.store.get(monitor.state_key(target)).offset == target.stat().st_size
    ingest_all()
    assert len(usage_totals(stored())) == 6


def test_streamed_partial_usage_keeps_the_largest_totals(redis_client, tmp_path: Path) -> None:
    """2.0.x wrote output_tokens 6, then 276, for one response; ccusage keeps the largest."""
    lines = CRUD.read_bytes().splitlines(keepends=True)
    target = tmp_path / "claude" / "projects" / "p" / CRUD.name
    write_lines(target, lines[:3])  # only the partial line (output 6) so far
    monitor = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state", settle_s=3600)
    monitor.poll()
    assert usage_totals(_stream(redis_client)) == {}  # held: it may still grow
    write_lines(target, lines[3:6])  # the 276 line, a tool result, the next response
    make_monitor(tmp_path / "claude", redis_client, tmp_path / "state", settle_s=3600).poll()
    ingest_all()
    assert usage_totals(stored())["msg_017DQYxTBUopfF6hAzwhgCfu"] == (4, 276, 8976, 5302)


def test_hook_and_transcript_store_a_shared_fact_once(
    redis_client, redis_url: str, tmp_path: Path
) -> None:
    hooks = FIXTURES / "claude_code_live" / "hooks" / "B_tools"
    for name in ("04_PreToolUse", "13_PostToolUse", "02_UserPromptSubmit", "01_SessionStart"):
        assert (
            run_hook(
                (hooks / f"{name}.json").read_bytes(), {"BLUEPLANE_REDIS_URL": redis_url}
            ).returncode
            == 0
        )
    target = tmp_path / "claude" / "projects" / "p" / B_TOOLS.name
    write_lines(target, B_TOOLS.read_bytes().splitlines(keepends=True))
    make_monitor(tmp_path / "claude", redis_client, tmp_path / "state").poll(flush=True)
    ingest_all()
    evts = stored()
    for kind, count in (
        ("tool_use", 5),
        ("tool_result", 5),
        ("user_prompt", 1),
        ("session_start", 1),
    ):
        assert sum(1 for e in evts if e["event_type"] == kind) == count, kind
    bash = next(
        e
        for e in evts
        if e["event_type"] == "tool_result"
        and e["payload"]["tool_use_id"] == "toolu_d8bb8bd6cc9a460ab7beb18c"
    )
    assert bash["source"] == "hook" and bash["payload"]["duration_ms"] == 49


def test_quiet_session_gets_an_end_once(redis_client, tmp_path: Path) -> None:
    target = tmp_path / "claude" / "projects" / "p" / B_TOOLS.name
    write_lines(target, B_TOOLS.read_bytes().splitlines(keepends=True))
    monitor = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state", idle_end_s=0)
    monitor.poll(flush=True)
    monitor.poll(flush=True)
    ingest_all()
    ends = [e for e in stored() if e["event_type"] == "session_end"]
    assert len(ends) == 1 and ends[0]["payload"] == {"reason": "transcript_idle"}


def test_live_mode_follows_new_lines(redis_client, tmp_path: Path) -> None:
    lines = B_TOOLS.read_bytes().splitlines(keepends=True)
    target = tmp_path / "claude" / "projects" / "p" / B_TOOLS.name
    write_lines(target, lines[:3])
    monitor = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state")
    shutdown = lifecycle.Shutdown()
    thread = threading.Thread(target=monitor.run, args=(shutdown,), kwargs={"tick_s": 0.2})
    thread.start()
    try:
        key = monitor.state_key(target)
        wait_for(lambda: monitor.store.get(key).offset > 0, 20, what="first read")
        write_lines(target, lines[3:8])
        wait_for(
            lambda: "msg_88a4ee7542614282a6e7b696" in usage_totals(_stream(redis_client)),
            20,
            what="live token usage",
        )
    finally:
        shutdown.request()
        thread.join(20)
    assert not thread.is_alive()


@pytest.mark.slow
def test_capture_claude_once_over_claude_config_dir(redis_client, redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "blueplane_capture.transcripts", "--once"],
        env=python_env({"BLUEPLANE_REDIS_URL": redis_url, "CLAUDE_CONFIG_DIR": str(LIVE)}),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert done.stdout == b""
    ingest_all()
    assert len(usage_totals(stored())) == 15


def test_held_response_is_emitted_once_its_file_is_quiet(redis_client, tmp_path: Path) -> None:
    """A response whose last line never completed (2.0.x) is still counted, after settle_s."""
    lines = CRUD.read_bytes().splitlines(keepends=True)
    target = tmp_path / "claude" / "projects" / "p" / CRUD.name
    write_lines(target, lines[:3])
    monitor = make_monitor(tmp_path / "claude", redis_client, tmp_path / "state", settle_s=60)
    monitor.poll()
    assert usage_totals(_stream(redis_client)) == {}
    old = target.stat().st_mtime - 120
    os.utime(target, (old, old))  # nothing written for two minutes
    monitor.poll()
    (event,) = [e for e in _stream(redis_client) if e["event_type"] == "token_usage"]
    assert event["payload"]["output_tokens"] == 6 and event["payload"]["usage_final"] is False


def test_claude_config_dir_may_list_several_folders(tmp_path: Path) -> None:
    from blueplane_capture.transcripts import default_roots

    env = {"CLAUDE_CONFIG_DIR": f"{tmp_path}/a, {tmp_path}/b ,"}
    assert default_roots(env) == [tmp_path / "a", tmp_path / "b"]
    assert default_roots({})[0].name == ".claude"
