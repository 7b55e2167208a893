"""bp-hook end to end: real hook processes -> Redis (or the spool) -> ingest -> raw_traces."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest

from blueplane_capture import claude_code_mapping as mapping
from blueplane_capture.hooks import primitives
from blueplane_core import db, events, fast_start, paths, privacy, streams
from blueplane_core.raw_traces import RawEvents
from tests.conftest import FIXTURES, PYTHON, REPO
from tests.helpers import ingest_all

HOOK = REPO / "blueplane_capture" / "hooks" / "launch_claude_code.py"
HOOK_FIXTURES = FIXTURES / "claude_code_live" / "hooks"
RUNS = sorted(p.name for p in HOOK_FIXTURES.iterdir() if p.is_dir())

#: the event type each Claude Code hook event becomes.
EXPECTED_TYPE = {
    "SessionStart": "session_start",
    "SessionEnd": "session_end",
    "UserPromptSubmit": "user_prompt",
    "PreToolUse": "tool_use",
    "PostToolUse": "tool_result",
    "PostToolUseFailure": "tool_result",
    "PostToolBatch": "tool_batch",
    "PermissionRequest": "permission_request",
    "Notification": "notification",
    "MessageDisplay": "assistant_response",
    "Stop": "assistant_response",
    "StopFailure": "api_error",
    "SubagentStart": "subagent_start",
    "SubagentStop": "subagent_stop",
    "PreCompact": "compaction",
    "PostCompact": "compaction",
}
#: strings of the fixtures' private content (paths, prompts, file contents, commands).
PRIVATE = (
    "/tmp/ccdemo",
    "notes.txt",
    "SCENARIO",
    "line one",
    "git add",
    "nonexistent_dir",
    "keep only file names",
    "Hello from the subagent",
    "All steps done",
    "denied.txt",
)


def run_hook(stdin: bytes, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The hook exactly as the installer registers it: ``python -I -S <file>``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_extra or {})
    return subprocess.run(
        [PYTHON, "-I", "-S", str(HOOK)], input=stdin, capture_output=True, env=env, timeout=30
    )


def stored_events() -> list[dict]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


# ------------------------------------------------------------------- the lean helpers


def test_lean_helpers_equal_the_core_definitions() -> None:
    secret = os.urandom(32)
    for value, kind in (("/a/b.py", "file"), ("main", "branch"), ("é ✓", ""), ("x" * 200, "w")):
        assert primitives.keyed_hash(secret, value, kind) == privacy.keyed_hash(secret, value, kind)
    long_key = os.urandom(100)
    assert primitives.keyed_hash(long_key, "v") == privacy.keyed_hash(long_key, "v")
    for ms in (None, 0, 1_763_000_000_123):
        assert primitives.derived_event_id("ns", "k", ms) == events.derived_event_id("ns", "k", ms)
    for when in (0.0, 1.0005, 1_763_000_000.4567):
        assert primitives.format_timestamp(when) == events.format_timestamp(when)
    event = events.make_event(
        event_type="generic",
        platform="x",
        source="hook",
        session_id="s",
        event_id=primitives.new_event_id(),
    )
    events.validate(event)
    commands = [
        "git status",
        "FOO=1 sudo git push",
        "'/usr/bin/my tool' x",
        'ls "a b"',
        'echo "\\$HOME" | x',
        "-x foo",
        "env A=1 python3 -m x",
        "a 'open",
        "x\\",
        '"" git',
        "./run.sh --x",
        "cd /tmp && ls",
        "/bin/ünï",
        "time nice make",
        "",
        "   ",
        "a=b",
        "1A=2 foo",
        "bash -c 'x y'",
        "\\ls",
        "echo 'it''s'",
    ]
    for command in commands:
        assert primitives.program_name(command) == privacy.program_name(command), command
    names = [
        "a.py",
        "/x/y.TAR.GZ",
        ".bashrc",
        "a.",
        "x/.y.z",
        "C:\\a\\b.Txt",
        "noext",
        "a.verylongextension1",
        "a.c++",
        "dir.d/file",
        "a b.p y",
        "a.é",
        "x/",
        "a.py/",
        "",
    ]
    for name in names:
        assert primitives.file_extension(name) == privacy.file_extension(name), name
    doc = {"a": [1, 2.5, None, True, "é\n\u2028"], "b": {}, "c": -3}
    assert json.loads(fast_start.dumps(doc)) == doc
    assert fast_start.loads(json.dumps(doc)) == doc
    with pytest.raises(ValueError):
        fast_start.loads('{"a": 1} x')


def test_path_and_environment_helpers_equal_os(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hooks never import ``os``; their few stand-ins answer as ``os`` does."""
    monkeypatch.setenv("BP_TEST_VALUE", "é x")
    monkeypatch.delenv("BP_TEST_ABSENT", raising=False)
    assert fast_start.getenv("BP_TEST_VALUE") == os.environ["BP_TEST_VALUE"]
    assert fast_start.getenv("BP_TEST_ABSENT") is None
    for home in ("/home/u", "/home/u/", "/"):
        monkeypatch.setenv("HOME", home)
        for path in ("~", "~/", "~/.blueplane", "~/a/b", "/abs/~x", "rel/x", "~root/x"):
            assert fast_start.expand_user(path) == os.path.expanduser(path), (home, path)
    for base, names in (("/a", ("b", "c.d")), ("/a/", ("b",)), ("/", ("x",))):
        assert fast_start.join(base, *names) == os.path.join(base, *names)
    deep = tmp_path / "x" / "y" / "z"
    assert fast_start.ensure_private_dir(str(deep)) == str(deep)
    assert deep.is_dir() and (deep.stat().st_mode & 0o777) == 0o700
    fast_start.ensure_private_dir(str(deep))  # exists already: fine
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileExistsError):
        fast_start.ensure_private_dir(str(tmp_path / "file"))


#: modules a hook fire must not load: ``os`` and ``math`` cost a quarter of the interpreter's
#: own start-up; the others pull in more (``tests/test_allowlist.py`` checks the allow-list);
#: ``__future__`` is loaded by ``from __future__ import annotations`` (see ``hooks/__init__``).
HEAVY = {"os", "math", "re", "json", "enum", "typing", "shlex", "pathlib", "uuid", "tomllib"}
HEAVY |= {"__future__"}


def imported_by(command: list[str], stdin: bytes, env_extra: dict[str, str]) -> set[str]:
    """The modules a real hook process imports (``-X importtime`` names each one)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_extra)
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert done.returncode == 0
    lines = done.stderr.decode().splitlines()
    names = {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time:")}
    assert "blueplane_core.allowlist_core" in names  # the parse worked
    # the hook-sized allow-list only: the full one (OTel, Copilot, ingest's check) stays unloaded
    assert "blueplane_core.allowlist" not in names
    return names


@pytest.mark.parametrize("redis_up", [True, False], ids=["redis-up", "spooling"])
def test_a_hook_fire_imports_nothing_heavy(
    redis_up: bool, request: pytest.FixtureRequest, blueplane_home: Path
) -> None:
    """What keeps a fire within 1.25x of the bare interpreter (bench/hook.py)."""
    url = request.getfixturevalue("redis_url") if redis_up else "unix:///nonexistent/r.sock"
    stdin = (HOOK_FIXTURES / "B_tools" / "09_PostToolUse.json").read_bytes()
    env = {"BLUEPLANE_REDIS_URL": url}
    names = imported_by([PYTHON, "-I", "-S", str(HOOK)], stdin, env)
    assert names & HEAVY == set()
    # one XADD needs the wire only: the full client (cluster routing, pipelines) stays unloaded
    assert "blueplane_core.resp_wire" in names and "blueplane_core.resp" not in names
    # Redis stopped (no socket file): spooled without loading the socket library
    assert ("_socket" in names) is redis_up
    assert ("blueplane_capture.hooks.spool_file" in names) is not redis_up
    cursor = [PYTHON, "-I", "-S", str(HOOK.parent / "launch_cursor.py"), "afterShellExecution"]
    shell = b'{"conversation_id": "c-1", "command": "npm test", "workspace_roots": ["/tmp/p"]}'
    assert imported_by(cursor, shell, env) & HEAVY == set()


def test_mapping_categories_equal_the_core_categories() -> None:
    for kind, category in mapping.CATEGORY.items():
        assert events.CATEGORY[kind] == category


def test_every_fixture_payload_maps_to_a_valid_sanitized_event() -> None:
    secret = os.urandom(32)
    for path in sorted(HOOK_FIXTURES.glob("*/*.json")):
        event = mapping.map_hook(json.loads(path.read_text()), secret)
        events.validate(event)
        privacy.check_sanitized(event["payload"])
        privacy.check_sanitized(event["metadata"])
        name = path.stem.split("_", 1)[1]
        assert event["event_type"] == EXPECTED_TYPE[name], path
        assert event["hook_type"] == name
        text = orjson.dumps(event).decode()
        for secret_text in PRIVATE:
            assert secret_text not in text, (path, secret_text)


# ----------------------------------------------------------------- end to end, per run


@pytest.mark.parametrize("run", RUNS)
def test_hook_events_reach_raw_traces(run: str, redis_client, redis_url: str) -> None:
    files = sorted((HOOK_FIXTURES / run).glob("*.json"))
    # the longest Redis bound a hook allows: a loaded test machine must not turn delivery into
    # spooling (the spool path has tests of its own)
    env = {"BLUEPLANE_REDIS_URL": redis_url, "BLUEPLANE_CAPTURE_HOOK_TIMEOUT_MS": "500"}
    for path in files:
        done = run_hook(path.read_bytes(), env)
        assert done.returncode == 0
        assert done.stdout == b""  # stdout would be fed to the model
    assert not (paths.spool_dir()).exists() or not list(paths.spool_dir().iterdir())
    ingest_all()
    stored = stored_events()
    by_hook: dict[str, list[dict]] = {}
    for event in stored:
        by_hook.setdefault(event["hook_type"], []).append(event)
        assert event["source"] == "hook" and event["platform"] == "claude_code"
        privacy.check_sanitized(event["payload"])
        raw = orjson.dumps(event).decode()
        assert not any(text in raw for text in PRIVATE), raw
    fired = [p.stem.split("_", 1)[1] for p in files]
    for name in set(fired):
        assert {e["event_type"] for e in by_hook[name]} == {EXPECTED_TYPE[name]}
        assert len(by_hook[name]) == fired.count(name)
    # join keys survive: the session id, and the prompt id on prompt-scoped events
    session = json.loads(files[0].read_text())["session_id"]
    assert {e["session_id"] for e in stored} == {session}


def test_tool_events_carry_join_keys_and_reduced_facts(redis_client, redis_url: str) -> None:
    run = HOOK_FIXTURES / "B_tools"
    for name in ("05_PostToolUse", "09_PostToolUse", "13_PostToolUse", "17_PostToolUseFailure"):
        assert (
            run_hook(
                (run / f"{name}.json").read_bytes(), {"BLUEPLANE_REDIS_URL": redis_url}
            ).returncode
            == 0
        )
    ingest_all()
    results = {e["payload"]["tool_use_id"]: e["payload"] for e in stored_events()}
    write, edit, bash, failed = (
        results[json.loads((run / f"{n}.json").read_text())["tool_use_id"]]
        for n in ("05_PostToolUse", "09_PostToolUse", "13_PostToolUse", "17_PostToolUseFailure")
    )
    assert write["lines_added"] == 3 and write["file_extension"] == ".txt"
    assert (edit["lines_added"], edit["lines_removed"]) == (2, 1)
    assert edit["file_hash"] == write["file_hash"]  # same file, same keyed hash
    assert bash["program"] == "git" and bash["duration_ms"] == 49 and bash["success"] is True
    assert failed["success"] is False and failed["error_type"] == "exit_code"
    assert failed["prompt_id"] == "d80b49bb-5f9a-4c19-96a3-472b6026dfa4"


def test_unknown_event_is_recorded_as_generic(redis_client, redis_url: str) -> None:
    payload = {
        "session_id": "s-1",
        "hook_event_name": "TeammateIdle",
        "cwd": "/home/x/secret",
        "teammate_message": "private words",
        "tool_name": "Bash",
        "tool_input": {"command": "rm -rf /home/x/secret"},
    }
    done = run_hook(json.dumps(payload).encode(), {"BLUEPLANE_REDIS_URL": redis_url})
    assert done.returncode == 0 and done.stdout == b""
    ingest_all()
    (event,) = stored_events()
    assert event["event_type"] == "generic"
    assert event["payload"]["original_type"] == "TeammateIdle"
    assert event["payload"]["program"] == "rm"
    assert "private words" not in orjson.dumps(event).decode()
    assert "/home/x" not in orjson.dumps(event).decode()


@pytest.mark.parametrize("stdin", [b"", b"not json", b"[1, 2]", b"\xff\xfe{"])
def test_bad_stdin_exits_zero_and_is_recorded(stdin: bytes, redis_client, redis_url: str) -> None:
    done = run_hook(stdin, {"BLUEPLANE_REDIS_URL": redis_url})
    assert done.returncode == 0 and done.stdout == b""
    ingest_all()
    (event,) = stored_events()
    assert event["payload"] == {
        "original_type": "unparsed",
        "parse_error": "invalid_json",
        "input_bytes": len(stdin),
    }


def test_disabled_category_is_not_sent(redis_client, redis_url: str) -> None:
    path = HOOK_FIXTURES / "A_hello" / "02_UserPromptSubmit.json"
    done = run_hook(
        path.read_bytes(),
        {"BLUEPLANE_REDIS_URL": redis_url, "BLUEPLANE_PRIVACY_DISABLED_CATEGORIES": "prompts"},
    )
    assert done.returncode == 0
    assert redis_client.xlen(streams.EVENTS_STREAM) == 0


# --------------------------------------------------------------- Redis down or hanging


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_down_spools_the_event(blueplane_home: Path) -> None:
    path = HOOK_FIXTURES / "B_tools" / "13_PostToolUse.json"
    done = run_hook(
        path.read_bytes(), {"BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    )
    assert done.returncode == 0 and done.stdout == b""
    (spooled,) = paths.spool_dir().glob("*.json")
    event = orjson.loads(spooled.read_bytes())
    assert spooled.name == event["event_id"] + ".json"
    events.validate(event)
    assert event["event_type"] == "tool_result"


def test_embedded_socket_missing_spools(blueplane_home: Path) -> None:
    """No BLUEPLANE_REDIS_URL: the embedded unix socket; not running -> spool."""
    path = HOOK_FIXTURES / "A_hello" / "01_SessionStart.json"
    assert run_hook(path.read_bytes()).returncode == 0
    assert len(list(paths.spool_dir().glob("*.json"))) == 1


def test_hanging_redis_is_bounded_and_spools(blueplane_home: Path) -> None:
    """A Redis that accepts but never answers costs at most the hook timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        path = HOOK_FIXTURES / "A_hello" / "05_SessionEnd.json"
        started = time.monotonic()
        done = run_hook(
            path.read_bytes(),
            {"BLUEPLANE_REDIS_URL": url, "BLUEPLANE_CAPTURE_HOOK_TIMEOUT_MS": "50"},
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()
    assert done.returncode == 0 and done.stdout == b""
    assert elapsed < 1.5  # SessionEnd hooks share a 1.5 s budget
    assert len(list(paths.spool_dir().glob("*.json"))) == 1


def test_stdin_that_never_closes_is_bounded(blueplane_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BLUEPLANE_REDIS_URL"] = f"redis://127.0.0.1:{_closed_port()}/0"
    proc = subprocess.Popen(
        [PYTHON, "-I", "-S", str(HOOK)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert proc.stdin is not None
    proc.stdin.write(b'{"session_id": "s", "hook_event_name": "Stop"')
    proc.stdin.flush()
    try:
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
    assert code == 0 and out == b""
    (spooled,) = paths.spool_dir().glob("*.json")
    assert orjson.loads(spooled.read_bytes())["payload"]["parse_error"] == "timeout"


CONFIGS = [
    '[redis]\nurl = "redis://h:1/0"  # c\n[capture]\nhook_timeout_ms = 20\n'
    "[privacy]\ndisabled_categories = [\"prompts\", 'shell',]\n",
    "[redis]\nsocket_timeout_s = 2.0\n[ingest]\nprocesses = 3\n",
    'redis.url = "x"\n',
    '[privacy]\ndisabled_categories = [\n "prompts",\n]\n',
    '[redis]\nurl = "a\\"b"\n',
    "[redis] # x\nurl='lit'\n",
    "[capture]\nhook_timeout_ms = 1_000\n",
]


@pytest.mark.parametrize("text", CONFIGS)
def test_hook_reads_its_config_keys_like_tomllib(text: str) -> None:
    import tomllib

    from blueplane_capture.hooks.runtime import HOOK_KEYS
    from blueplane_core.fast_start import _config_values

    table = tomllib.loads(text)
    expected = {
        f"{s}.{n}": table[s][n]
        for s, n in (
            ("redis", "url"),
            ("capture", "hook_timeout_ms"),
            ("privacy", "disabled_categories"),
        )
        if isinstance(table.get(s), dict) and n in table[s]
    }
    assert _config_values(text.encode(), HOOK_KEYS) == expected


def test_hook_honours_config_toml(
    blueplane_home: Path, redis_client, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLUEPLANE_REDIS_URL")  # the URL must come from config.toml
    (blueplane_home / "config.toml").write_text(
        f'[redis]\nurl = "{redis_url}"\n[privacy]\ndisabled_categories = ["prompts"]\n'
    )
    prompt = HOOK_FIXTURES / "A_hello" / "02_UserPromptSubmit.json"
    start = HOOK_FIXTURES / "A_hello" / "01_SessionStart.json"
    for path in (prompt, start):
        assert run_hook(path.read_bytes()).returncode == 0  # no BLUEPLANE_* in the env
    entries = redis_client.xrange(streams.EVENTS_STREAM)
    assert [orjson.loads(f[b"e"])["event_type"] for _, f in entries] == ["session_start"]


def test_hook_writes_to_the_database_the_url_names(redis_client, redis_url: str) -> None:
    import redis

    url = redis_url.rsplit("/", 1)[0] + "/3"
    path = HOOK_FIXTURES / "A_hello" / "04_Stop.json"
    assert run_hook(path.read_bytes(), {"BLUEPLANE_REDIS_URL": url}).returncode == 0
    other = redis.Redis.from_url(url)
    try:
        assert other.xlen(streams.EVENTS_STREAM) == 1
    finally:
        other.close()
    assert redis_client.xlen(streams.EVENTS_STREAM) == 0


def test_a_failing_spool_still_exits_zero_and_logs_no_content(blueplane_home: Path) -> None:
    (blueplane_home / "spool").write_text("not a folder")  # spooling must fail
    path = HOOK_FIXTURES / "B_tools" / "02_UserPromptSubmit.json"
    done = run_hook(
        path.read_bytes(), {"BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    )
    assert done.returncode == 0 and done.stdout == b""
    log = (blueplane_home / "logs" / "hooks.log").read_text()
    assert "LOST" in log and "spool could not be written (NotADirectoryError)" in log
    assert "SCENARIO" not in log and "/tmp/ccdemo" not in log
