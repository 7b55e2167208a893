"""bp-cursor-hook and ``blueplane install cursor``, with payloads built from Cursor's documented
fields (formats.md 4; no real Cursor payload exists to replay), run as real processes."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from blueplane_capture import cursor_mapping
from blueplane_capture.hooks import cursor as cursor_hook
from blueplane_capture.installers import cursor as cursor_installer
from blueplane_core import db, events, paths, streams
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests import cursor_stores as cs
from tests.conftest import PYTHON, python_env
from tests.helpers import ingest_all

SCRIPT = Path(cursor_hook.__file__).resolve()
COMMON = {
    "conversation_id": "conv-7f3a",
    "generation_id": "gen-91b2",
    "workspace_roots": ["/home/dev/secret-project"],
    "model": "claude-4.5-sonnet",
    "cursor_version": "2.0.77",
    "user_email": "dev@example.com",
    "transcript_path": "/home/dev/.cursor/projects/x/agent-transcripts/a.jsonl",
}
#: one payload per documented event, with the private fields filled in so leaks would show
PAYLOADS: dict[str, dict[str, Any]] = {
    "beforeSubmitPrompt": {
        "prompt": "refactor the secret billing code",
        "attachments": [
            {"type": "file", "file_path": "/home/dev/secret-project/a.ts"},
            {"type": "rule", "file_path": "/home/dev/secret-project/.cursor/rules/x.mdc"},
        ],
    },
    "afterAgentResponse": {"text": "Here is the secret plan"},
    "afterAgentThought": {"text": "secret reasoning", "duration_ms": 1234},
    "beforeShellExecution": {"command": "npm install secret-pkg --token=abc", "cwd": "/home/dev"},
    "afterShellExecution": {"command": "npm test", "output": "secret output", "duration": 150},
    "beforeMCPExecution": {
        "tool_name": "database_query",
        "tool_input": '{"query": "SELECT secret"}',
        "url": "http://localhost:3000/?key=secret",
    },
    "afterMCPExecution": {
        "tool_name": "database_query",
        "tool_input": "{}",
        "result_json": '{"rows": ["secret"]}',
        "duration": 250,
    },
    "beforeReadFile": {"file_path": "/home/dev/secret-project/.env", "content": "API_KEY=secret"},
    "afterFileEdit": {
        "file_path": "/home/dev/secret-project/src/main.ts",
        "edits": [
            {"old_string": "const secret = 1", "new_string": "const secret = 2\nconst more = 3\n"}
        ],
    },
    "stop": {"status": "completed", "loop_count": 0},
    "sessionStart": {},
    "sessionEnd": {"reason": "window_close", "error_message": "secret failure"},
    "postToolUseFailure": {
        "tool_name": "Shell",
        "tool_use_id": "tu-1",
        "tool_input": {"command": "rm -rf secret"},
        "failure_type": "timeout",
    },
    "subagentStart": {
        "subagent_id": "sa-1",
        "subagent_type": "explore",
        "subagent_model": "gpt-5",
        "task": "secret task",
    },
    "preCompact": {"trigger": "auto"},
    "someFutureEvent": {"novel_field": "secret novel text", "count": 3, "status": "ok"},
}
EXPECTED_TYPES = {
    "beforeSubmitPrompt": "user_prompt",
    "afterAgentResponse": "assistant_response",
    "afterAgentThought": "agent_thought",
    "beforeShellExecution": "tool_use",
    "afterShellExecution": "tool_result",
    "beforeMCPExecution": "tool_use",
    "afterMCPExecution": "tool_result",
    "beforeReadFile": "tool_result",
    "afterFileEdit": "tool_result",
    "stop": "token_usage",
    "sessionStart": "session_start",
    "sessionEnd": "session_end",
    "postToolUseFailure": "tool_result",
    "subagentStart": "subagent_start",
    "preCompact": "compaction",
    "someFutureEvent": "generic",
}


def payload(event: str) -> dict[str, Any]:
    return {**COMMON, "hook_event_name": event, **PAYLOADS[event]}


def fire(
    event: str, stdin: bytes, env: dict[str, str] | None = None, with_name: bool = True
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """Run the hook exactly as hooks.json runs it."""
    argv = [PYTHON, "-I", "-S", str(SCRIPT)] + ([event] if with_name else [])
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=30, env=python_env(env))
    return done, time.perf_counter() - start


def stored() -> list[dict[str, Any]]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


def test_every_documented_event_maps_to_a_clean_envelope() -> None:
    checker = Emitter(redis.Redis())  # check() only: validation + privacy, no I/O
    for name in PAYLOADS:
        event = cursor_mapping.map_hook(payload(name), b"k" * 32)
        checker.check(event)
        assert event["event_type"] == EXPECTED_TYPES[name], name
        assert event["session_id"] == "conv-7f3a" and event["platform"] == "cursor"
        assert event["metadata"]["model"] == "claude-4.5-sonnet"
        blob = orjson.dumps(event)
        for private in (b"secret", b"example.com", b"/home/dev", b"API_KEY"):
            assert private not in blob, (name, private)
    edit = cursor_mapping.map_hook(payload("afterFileEdit"), b"k" * 32)["payload"]
    assert (edit["lines_added"], edit["lines_removed"], edit["file_extension"]) == (2, 1, ".ts")
    shell = cursor_mapping.map_hook(payload("afterShellExecution"), b"k" * 32)["payload"]
    assert (shell["program"], shell["duration_ms"]) == ("npm", 150)
    future = cursor_mapping.map_hook(payload("someFutureEvent"), b"k" * 32)["payload"]
    assert future["original_type"] == "someFutureEvent" and future["status"] == "ok"
    assert "novel_field" in future["fields"]


def test_category_table_matches_the_core() -> None:
    for kind, category in cursor_mapping.CATEGORY.items():
        assert events.CATEGORY[kind] == category
    emitted = {
        cursor_mapping.map_hook(cs.every_hook(name, newer), b"k" * 32)["event_type"]
        for name in cs.EVERY_HOOK
        for newer in (False, True)
    }
    assert emitted <= set(cursor_mapping.CATEGORY)  # every type the hook emits has its category


def test_prompt_hook_answers_continue_and_the_event_reaches_raw_traces(
    redis_client: redis.Redis,
) -> None:
    stdin = b"\xef\xbb\xbf" + json.dumps(payload("beforeSubmitPrompt")).encode()  # BOM
    done, _ = fire("beforeSubmitPrompt", stdin)
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"continue": True}
    ingest_all()
    (event,) = stored()
    assert event["event_type"] == "user_prompt"
    assert event["payload"]["prompt_length"] == len(PAYLOADS["beforeSubmitPrompt"]["prompt"])
    assert event["payload"]["attachment_count"] == 2 and event["payload"]["rule_count"] == 1


def test_permission_hooks_answer_without_an_opinion(redis_client: redis.Redis) -> None:
    for name in ("beforeShellExecution", "beforeMCPExecution", "beforeReadFile"):
        done, _ = fire(name, json.dumps(payload(name)).encode())
        assert (done.returncode, json.loads(done.stdout)) == (0, {}), name
    assert redis_client.xlen(streams.EVENTS_STREAM) == 3


def test_hook_installed_without_the_event_name_still_answers_continue(
    redis_client: redis.Redis,
) -> None:
    done, _ = fire("", json.dumps(payload("beforeSubmitPrompt")).encode(), with_name=False)
    assert json.loads(done.stdout) == {"continue": True}
    assert redis_client.xlen(streams.EVENTS_STREAM) == 1


def test_redis_down_still_answers_at_once_and_spools(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    done, seconds = fire(
        "beforeShellExecution",
        json.dumps(payload("beforeShellExecution")).encode(),
        env={"BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{dead}/0"},
    )
    assert (done.returncode, json.loads(done.stdout)) == (0, {})
    (spooled,) = paths.spool_dir().glob("*.json")
    event = events.validate(orjson.loads(spooled.read_bytes()))
    assert event["payload"]["program"] == "npm"
    assert seconds < 10  # bounded (the real figures are in bench, not here)


def test_garbage_input_is_recorded_as_a_fact_and_never_fails(redis_client: redis.Redis) -> None:
    done, _ = fire("stop", b"\x00not json{{{")
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, b"{}", b"")
    ingest_all()
    (event,) = stored()
    assert event["payload"]["original_type"] == "unparsed"


def test_install_keeps_the_users_hooks_and_uninstall_removes_only_ours(tmp_path: Path) -> None:
    target = cursor_installer.hooks_file(tmp_path)
    target.parent.mkdir()
    original = {
        "version": 1,
        "hooks": {
            "afterFileEdit": [{"command": "./hooks/format.sh"}],
            "beforeShellExecution": [{"command": "./hooks/guard.sh", "timeout": 5}],
        },
    }
    target.write_text(json.dumps(original))
    change = cursor_installer.install(tmp_path, python=PYTHON)
    assert set(change.added) == set(cursor_installer.EVENTS)
    config = json.loads(target.read_text())
    assert config["hooks"]["afterFileEdit"][0] == {"command": "./hooks/format.sh"}
    assert len(config["hooks"]["afterFileEdit"]) == 2
    assert cursor_installer.install(tmp_path, python=PYTHON).added == []  # idempotent
    assert cursor_installer.status(tmp_path) == "installed"
    cursor_installer.uninstall(tmp_path)
    assert json.loads(target.read_text()) == original


def test_install_replaces_entries_that_ran_the_hook_script_directly(tmp_path: Path) -> None:
    """Before the launcher, commands ran ``hooks/cursor.py``: still ours, replaced in place."""
    target = cursor_installer.hooks_file(tmp_path)
    target.parent.mkdir()
    direct = f"{PYTHON} -I -S {SCRIPT} stop"
    target.write_text(json.dumps({"version": 1, "hooks": {"stop": [{"command": direct}]}}))
    assert cursor_installer.status(tmp_path) != "not installed"
    cursor_installer.install(tmp_path, python=PYTHON)
    (entry,) = json.loads(target.read_text())["hooks"]["stop"]
    assert "launch_cursor.py" in entry["command"] and str(SCRIPT) not in entry["command"]


def test_installed_command_runs_through_a_shell(tmp_path: Path, redis_client: redis.Redis) -> None:
    cursor_installer.install(tmp_path)  # the resolved interpreter, as users get it
    config = json.loads(cursor_installer.hooks_file(tmp_path).read_text())
    (entry,) = config["hooks"]["afterFileEdit"]
    done = subprocess.run(
        entry["command"],
        shell=True,
        input=json.dumps(payload("afterFileEdit")).encode(),
        capture_output=True,
        timeout=30,
        env=python_env(),
    )
    assert (done.returncode, done.stdout.strip()) == (0, b"{}")
    ingest_all()
    (event,) = stored()
    assert event["event_type"] == "tool_result" and event["hook_type"] == "afterFileEdit"


@pytest.mark.parametrize("name", ["beforeSubmitPrompt", "stop", "afterFileEdit"])
def test_answer_is_valid_json_for_every_event(name: str) -> None:
    assert isinstance(json.loads(cursor_mapping.answer(name)), dict)


# ------------------------------------------------------- every event, older and newer clients

#: what each documented hook becomes (tests/cursor_stores.EVERY_HOOK)
EVERY_TYPE = {
    "sessionStart": "session_start",
    "sessionEnd": "session_end",
    "beforeSubmitPrompt": "user_prompt",
    "preToolUse": "tool_use",
    "postToolUse": "tool_result",
    "postToolUseFailure": "tool_result",
    "subagentStart": "subagent_start",
    "subagentStop": "subagent_stop",
    "beforeShellExecution": "tool_use",
    "afterShellExecution": "tool_result",
    "beforeMCPExecution": "tool_use",
    "afterMCPExecution": "tool_result",
    "beforeReadFile": "tool_result",
    "afterFileEdit": "tool_result",
    "afterAgentResponse": "assistant_response",
    "afterAgentThought": "agent_thought",
    "preCompact": "compaction",
    "stop": "token_usage",
    "beforeTabFileRead": "file_read",
    "afterTabFileEdit": "file_edit",
}


@pytest.mark.parametrize("newer", [False, True], ids=["cursor-1.7", "cursor-3.x"])
def test_every_hook_event_with_and_without_the_newer_fields(newer: bool, tmp_path: Path) -> None:
    checker = Emitter(redis.Redis())  # check() only: validation + privacy, no I/O
    assert set(EVERY_TYPE) == set(cs.EVERY_HOOK)
    for name in cs.EVERY_HOOK:
        event = cursor_mapping.map_hook(cs.every_hook(name, newer), b"k" * 32, home=str(tmp_path))
        checker.check(event)
        assert event["event_type"] == EVERY_TYPE[name], name
        assert event["session_id"] == cs.SESSION and event["hook_type"] == name
        assert event["metadata"]["model"] == "claude-4.5-sonnet"
        assert event["metadata"]["client_version"] == ("3.10.17" if newer else "1.7.52")
        blob = orjson.dumps(event)
        for private in (b"secret", b"example.com", b"/home/dev", b"API_KEY", b"git push"):
            assert private not in blob, (name, private)
    state = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*.json"))
    assert state and b"secret" not in state and b"/home" not in state  # keyed hashes only


def test_shell_hooks_pair_into_one_call_per_run(tmp_path: Path) -> None:
    """before/afterShellExecution of one run share a key; running the same command again in
    the conversation is a second call (the hooks count occurrences per conversation)."""
    home = str(tmp_path)

    def key(name: str) -> str:
        event = cursor_mapping.map_hook(cs.every_hook(name, True) | {"command": "make"}, b"k" * 32,
                                        home=home)  # fmt: skip
        return event["payload"]["tool_use_id"]

    first = (key("beforeShellExecution"), key("afterShellExecution"))
    second = (key("beforeShellExecution"), key("afterShellExecution"))
    assert first[0] == first[1] and second[0] == second[1] and first[0] != second[0]
    assert first[0].endswith(":1") and second[0].endswith(":2")


def test_stop_carries_the_turns_tokens_when_the_client_reports_them() -> None:
    newer = cursor_mapping.map_hook(
        cs.every_hook("stop", True)
        | {"input_tokens": 100, "output_tokens": 20, "cache_read_tokens": 5000,
           "cache_write_tokens": 300},
        b"k" * 32,
    )  # fmt: skip
    assert newer["event_type"] == "token_usage"
    body = newer["payload"]
    assert (body["request_id"], body["prompt_id"]) == ("gen-every", "gen-every")
    assert (body["input_tokens"], body["output_tokens"]) == (100, 20)
    assert (body["cache_read_tokens"], body["cache_creation_tokens"]) == (5000, 300)
    older = cursor_mapping.map_hook(cs.every_hook("stop", False), b"k" * 32)
    # no tokens: the turn's request with its tokens unknown, never a request of 0 tokens
    assert older["event_type"] == "token_usage"
    assert older["payload"]["tokens_unknown"] is True and "input_tokens" not in older["payload"]
    bare = cs.every_hook("stop", False)
    del bare["generation_id"]
    assert cursor_mapping.map_hook(bare, b"k" * 32)["event_type"] == "assistant_response"


def test_a_denied_write_is_an_error_of_that_call_not_a_rejected_edit(
    redis_client: redis.Redis,
) -> None:
    from tests.query_data import run_workers

    for name in ("postToolUseFailure",):
        done, _ = fire(name, json.dumps(cs.every_hook(name, True)).encode())
        assert done.returncode == 0
    ingest_all()
    (event,) = stored()
    assert event["payload"]["error_type"] == "permission_denied"
    assert event["payload"]["success"] is False
    run_workers()
    conn = db.connect_writer(paths.database())
    try:
        row = conn.execute(
            "SELECT tool_calls, tool_errors, edits_accepted, edits_rejected FROM conversations"
        ).fetchone()
    finally:
        conn.close()
    assert tuple(row) == (1, 1, 0, 0)


def test_counters_of_old_conversations_are_pruned_at_a_start(tmp_path: Path) -> None:
    import os

    from blueplane_capture.hooks import cursor_state

    home = str(tmp_path)
    cursor_mapping.map_hook(cs.every_hook("afterShellExecution", True), b"k" * 32, home=home)
    (old,) = (tmp_path / "state" / "cursor-hooks").glob("*.json")
    cursor_mapping.map_hook(
        cs.every_hook("afterShellExecution", True) | {"conversation_id": "other"}, b"k" * 32,
        home=home,
    )  # fmt: skip
    stale = time.time() - cursor_state.MAX_AGE_S - 60
    os.utime(old, (stale, stale))
    cursor_mapping.map_hook(cs.every_hook("sessionStart", True), b"k" * 32, home=home)
    assert not old.exists() and len(list(old.parent.glob("*.json"))) == 1


def test_hooks_fired_in_parallel_count_every_call_once(tmp_path: Path) -> None:
    """Cursor may fire hooks in parallel: each bump of a conversation's counter is one locked
    read-modify-write, so 4 processes x 200 bumps released together end at 800 and hand out
    800 distinct occurrence numbers (without the lock, updates are lost and numbers repeat)."""
    from tests.conftest import REPO

    processes, bumps = 4, 200
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from blueplane_capture.hooks import cursor_state\n"
        "sys.stdin.read()  # released together: every process is started and waiting\n"
        f"for _ in range({bumps}):\n"
        f"    print(cursor_state.bump({str(tmp_path)!r}, b'k' * 32, 'conv', {{'c': 1}})['c'])\n"
    )
    running = [
        subprocess.Popen(
            [PYTHON, "-I", "-S", "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for process in running:
        process.stdin.close()  # type: ignore[union-attr]
    seen = []
    for process in running:
        with process.stdout:  # type: ignore[union-attr]
            seen += [int(line) for line in process.stdout.read().split()]  # type: ignore[union-attr]
        assert process.wait(timeout=60) == 0
    assert sorted(seen) == list(range(1, processes * bumps + 1))


def test_a_counter_file_rewritten_shorter_holds_only_the_new_counters(tmp_path: Path) -> None:
    """The state file is overwritten in place (no truncation to zero: a block freed and
    reallocated per fire) and cut to the new length when the new counters are shorter."""
    from blueplane_capture.hooks import cursor_state

    home, secret = str(tmp_path), b"k" * 32
    assert cursor_state.bump(home, secret, "conv", {"a": 1}) == {"a": 1}
    (path,) = (tmp_path / "state" / "cursor-hooks").glob("*.json")
    path.write_text('{"a": 1,' + " " * 200 + '"b": 7}')  # longer than what bump writes
    assert cursor_state.bump(home, secret, "conv", {"a": 1}) == {"a": 2}
    assert json.loads(path.read_text()) == {"b": 7, "a": 2}  # a valid file, nothing after it
    assert cursor_state.bump(home, secret, "conv", {"b": 1, "a": 1}) == {"b": 8, "a": 3}


def test_a_script_run_by_the_agent_is_the_same_fact_for_hooks_and_database(tmp_path: Path) -> None:
    """A program that is not a well-known tool leaves only ``other`` and a keyed hash, from
    the hook and from the database's tool bubble alike."""
    from blueplane_capture import cursor_records

    command = "./secret-deploy.sh --prod"
    hook = cursor_mapping.map_hook(
        cs.every_hook("afterShellExecution", True) | {"command": command}, b"k" * 32
    )["payload"]
    view = cursor_records.Composer(cs.SESSION, root=cs.ROOT)
    params = json.dumps({"command": command})
    bubble = {"type": 2, "capabilityType": 15, "toolFormerData": {
        "name": "run_terminal_cmd", "status": "completed", "params": params
    }}  # fmt: skip
    (db_event,) = cursor_records.bubble_events(view, "s-9", bubble, b"k" * 32)
    assert hook["program"] == db_event["payload"]["program"] == "other"
    assert hook["program_hash"] == db_event["payload"]["program_hash"]
    assert hook["tool_use_id"] == db_event["payload"]["tool_use_id"]  # one call, two views
    assert b"secret" not in orjson.dumps([hook, db_event])
