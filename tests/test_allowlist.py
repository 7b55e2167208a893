"""The privacy allow-list: capture builds events through it, ingest refuses what breaks it."""

from __future__ import annotations

import copy
import pickle
import subprocess

import orjson
import pytest
import redis

from blueplane_capture.hooks import primitives
from blueplane_core import allowlist, events, privacy, streams
from tests.conftest import PYTHON, REPO, python_env
from tests.helpers import ingest_all


def _event(payload: dict, metadata: dict | None = None, **envelope: str) -> dict:
    """A valid envelope built by hand (bypassing capture), as a buggy or hostile sender might."""
    event = events.make_event(
        event_type="tool_result", platform="claude_code", source="hook", session_id="s-1"
    )
    event["payload"] = payload
    event["metadata"] = metadata or {}
    event.update(envelope)
    return event


def test_every_event_type_has_an_allow_list() -> None:
    assert set(allowlist.PAYLOAD) == set(events.EVENT_TYPES)


def test_error_types_admit_exactly_the_http_error_statuses() -> None:
    """``http_400`` ... ``http_599`` are admitted by a rule (not 200 listed strings)."""
    for code in range(1000):
        name = f"http_{code}"
        assert allowlist.ERROR_TYPE.check(name) == (400 <= code < 600), name
    for text in ("http_4٠4", "http_40", "http_4000", "http_+40", "HTTP_404", "http_ 40"):
        assert allowlist.ERROR_TYPE.coerce(text) == "other", text


def test_capture_cannot_build_an_event_with_a_key_off_the_list() -> None:
    with pytest.raises(allowlist.NotAllowed, match="'detail'"):
        events.make_event(
            event_type="tool_result",
            platform="claude_code",
            source="hook",
            session_id="s",
            payload={"tool_name": "Bash", "detail": "boom"},
        )


def test_capture_coerces_values_that_are_not_of_their_kind() -> None:
    event = events.make_event(
        event_type="tool_result",
        platform="claude_code",
        source="hook",
        session_id="s",
        payload={"program": "deploy-prod-7731.sh", "error_type": "EACCES: /home/x", "success": 1},
        metadata={"model": "acme-secret-finetune", "client_version": "2.1 (internal build)"},
    )
    assert event["payload"] == {"program": "other", "error_type": "other"}
    assert event["metadata"] == {"model": "other"}
    assert allowlist.violation(event) is None


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_event({"tool_name": "Bash", "detail": "canary-1 text"}), "payload key 'detail'"),
        (_event({"tool_name": "Bash", "error_type": "canary-2 text"}), "payload.error_type"),
        (_event({}, {"model": "canary-3 text"}), "metadata.model"),
        (_event({}, {"cwd": "canary-4 text"}), "metadata key 'cwd'"),
        (_event({"file_hash": "canary-5 text"}), "payload.file_hash"),
        (_event({"attributes": {"k": "canary-6 text"}}), "payload key 'attributes'"),
        (_event({}, session_id="canary-7 text"), "session_id"),
        (_event({}, hook_type="canary-8 text"), "hook_type"),
    ],
)
def test_ingest_dead_letters_events_off_the_list_naming_the_key_not_the_value(
    redis_client: redis.Redis, event: dict, reason: str
) -> None:
    redis_client.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: orjson.dumps(event)})
    counters = ingest_all()
    assert counters["stored"] == 0 and counters["dead"] == 1
    ((_, letter),) = redis_client.xrange(streams.DLQ_STREAM)
    assert reason in letter[streams.DLQ_REASON.encode()].decode()
    everything = b"".join(letter.values())
    assert b"canary-" not in everything  # neither in the reason nor in the kept shape
    kept = orjson.loads(letter[streams.DLQ_ORIGINAL.encode()])
    assert kept["event_id"] == event["event_id"]  # the owner can still tell which event it was


def test_events_on_the_list_are_stored(redis_client: redis.Redis) -> None:
    good = _event({"tool_name": "Bash", "program": "git", "duration_ms": 12, "success": True})
    redis_client.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: orjson.dumps(good)})
    assert ingest_all()["stored"] == 1


def test_a_string_that_passed_under_one_key_is_checked_again_under_another() -> None:
    """Ingest remembers the strings that passed, with their kind or attribute name: passing
    once as a tool name admits nothing as a keyed hash or a token, and an attribute value
    allowed under one name is refused under a name that does not allow it."""
    assert allowlist.violation(_event({"tool_name": "Deploy-Plan"})) is None
    assert allowlist.violation(_event({"tool_name": "Deploy-Plan"})) is None  # remembered
    assert "file_hash is not a keyed hash" in str(
        allowlist.violation(_event({"file_hash": "Deploy-Plan"}))
    )
    assert "tool_status is not a token" in str(
        allowlist.violation(_event({"tool_status": "Deploy-Plan"}))
    )
    generic = events.make_event(
        event_type="generic", platform="claude_code", source="otlp", session_id="s-1"
    )
    generic["payload"] = {"attributes": {"hook_event": "acme-secret-build"}}
    assert allowlist.violation(generic) is None
    for name in ("terminal.type", "model"):
        generic["payload"] = {"attributes": {name: "acme-secret-build"}}
        assert "payload.attributes is not a" in str(allowlist.violation(generic))


def test_generic_otel_attributes_keep_numbers_and_allow_listed_names_only() -> None:
    kept = allowlist.ATTRIBUTES.coerce(
        {
            "count": 3,
            "ratio": 0.5,
            "model": "claude-opus-4-8",
            "type": "cacheRead",
            "terminal.type": "xterm",
            "repo": "acme/secret-project",
            "api_key": "sk-123",
            "git.branch": "feature/layoffs",
            "args": "--password=hunter2",
            "cwd_dir": "/home/dev/x",
            "decision": "accept",
            "language": "Plain text",
        }
    )
    assert kept == {
        "count": 3,
        "ratio": 0.5,
        "model": "claude-opus-4-8",
        "type": "cacheRead",
        "terminal.type": "xterm",
        "decision": "accept",
        "language": "Plain text",
    }


@pytest.mark.parametrize(
    ("command", "program", "hashed"),
    [
        ("git commit -m 'secret plans'", "git", False),
        ("./scripts/deploy-prod-7731.sh --token=abc", "other", True),
        ("FOO=1 sudo /opt/acme/bin/acme-migrate --all", "other", True),
        ("pytest -x tests/test_secret.py", "pytest", False),
        ("", None, False),
    ],
)
def test_programs_are_kept_by_name_only_when_well_known(
    command: str, program: str | None, hashed: bool
) -> None:
    secret = privacy.load_secret()
    facts = privacy.program_facts(command, secret)
    assert facts.get("program") == program
    assert ("program_hash" in facts) == hashed
    if hashed:
        name = privacy.program_name(command)
        assert facts["program_hash"] == privacy.keyed_hash(secret, name, "program")
        assert name not in orjson.dumps(facts).decode()
    assert primitives.program_facts(command, secret) == facts  # the hook's copy agrees


def test_the_hook_process_uses_the_core_allow_list_without_heavy_imports() -> None:
    """There is no second copy to keep equal: the hook imports ``blueplane_core.allowlist_core``,
    whose ``clean`` the full allow-list re-exports, and which uses builtins only, so the hook's
    start-up stays free of ``re``/``json``."""
    code = (
        "import sys\n"
        "from blueplane_capture import claude_code_mapping, cursor_mapping\n"
        "from blueplane_capture.hooks import runtime\n"
        "import blueplane_core.allowlist_core as core\n"
        "assert claude_code_mapping.allowlist is core and cursor_mapping.allowlist is core\n"
        "import blueplane_core.allowlist as a\n"
        "assert a.clean is core.clean and a.KEYS is core.KEYS\n"
        "print(' '.join(sorted(m for m in ('re', 'json', 'enum', 'shlex', 'pathlib', 'uuid')"
        " if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [PYTHON, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + code],
        capture_output=True,
        text=True,
        env=python_env(),
        check=True,
    )
    assert done.stdout.strip() == ""


def blueplane(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", "from blueplane.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )


def test_blueplane_privacy_shows_the_keys_and_kinds_stored_and_dumps_every_event(
    redis_client: redis.Redis, tmp_path
) -> None:
    from blueplane_core.emit import Emitter

    made = [
        events.make_event(
            event_type="tool_result",
            platform="claude_code",
            source="hook",
            session_id="s-1",
            payload={"tool_name": "Bash", "program": "git", "duration_ms": 12, "success": True},
            metadata={"model": "claude-opus-4-8"},
        ),
        events.make_event(
            event_type="user_prompt",
            platform="claude_code",
            source="hook",
            session_id="s-1",
            payload={"prompt_length": 40},
        ),
    ]
    Emitter(redis_client).emit_many(made)
    ingest_all()
    done = blueplane("privacy", "--json")
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["tool_result"] == {
        "events": 1,
        "keys": {
            "metadata.model": {"events": 1, "kinds": ["model name"]},
            "payload.duration_ms": {"events": 1, "kinds": ["duration"]},
            "payload.program": {"events": 1, "kinds": ["well-known program"]},
            "payload.success": {"events": 1, "kinds": ["flag"]},
            "payload.tool_name": {"events": 1, "kinds": ["name"]},
        },
    }
    assert report["user_prompt"]["keys"] == {
        "payload.prompt_length": {"events": 1, "kinds": ["length"]}
    }
    table = blueplane("privacy")
    assert table.returncode == 0 and "payload.program" in table.stdout
    out = tmp_path / "all.jsonl"
    dumped = blueplane("privacy", "dump", "-o", str(out))
    assert dumped.returncode == 0, dumped.stderr
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(e["event_id"] for e in lines) == sorted(e["event_id"] for e in made)
    assert {e["event_id"]: e["payload"] for e in lines} == {
        e["event_id"]: e["payload"] for e in made
    }
    assert out.stat().st_mode & 0o077 == 0  # the dump is the owner's alone


def test_no_forbidden_key_is_on_the_allow_list() -> None:
    """The Emitter skips the forbidden-key walk for a made (``Checked``) payload because its keys
    are on the allow-list; that holds only while the list names none of them."""
    listed = {key for table in allowlist.PAYLOAD.values() for key in table} | set(
        allowlist.METADATA
    )
    assert listed & privacy.FORBIDDEN_KEYS == set()
    assert "command" in privacy.FORBIDDEN_KEYS  # the check is not vacuous


def _made() -> dict:
    return events.make_event(
        event_type="tool_result",
        platform="claude_code",
        source="transcript",
        session_id="s-1",
        payload={"tool_name": "Bash", "program": "git", "success": True},
        metadata={"model": "claude-opus-4-8", "client_version": "2.1.197"},
    )


def test_a_made_payload_cannot_change_after_it_was_cleaned() -> None:
    event = _made()
    assert type(event["payload"]) is events.Checked
    for change in (
        lambda p: p.__setitem__("prompt", "hi"),
        lambda p: p.update(prompt="hi"),
        lambda p: p.setdefault("prompt", "hi"),
        lambda p: p.pop("program"),
        lambda p: p.__delitem__("program"),
        lambda p: p.clear(),
    ):
        with pytest.raises(TypeError):
            change(event["payload"])
        with pytest.raises(TypeError):
            change(event["metadata"])
    assert event["payload"] == {"tool_name": "Bash", "program": "git", "success": True}
    for copied in (copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
        assert copied == event and type(copied["payload"]) is events.Checked
        assert copied["payload"].event_type == "tool_result"


def test_the_emitter_still_refuses_what_a_broken_mapping_builds() -> None:
    """The gate: plain dicts (built by hand, or a made payload copied and changed) and a made
    payload moved into an event of another type are checked key by key."""
    from blueplane_core.emit import Emitter

    checker = Emitter(redis.Redis())  # check() only: no I/O
    checker.check(_made())  # a made event passes
    broken = _made()
    broken["payload"] = {**broken["payload"], "command": "rm -rf /home/dev"}
    with pytest.raises(privacy.PrivacyViolation, match="payload.command"):
        checker.check(broken)
    off_list = _made()
    off_list["payload"] = {**off_list["payload"], "detail": "x"}
    with pytest.raises(privacy.PrivacyViolation, match="'detail' is not on the allow-list"):
        checker.check(off_list)
    wrong_kind = _made()
    wrong_kind["metadata"] = {**wrong_kind["metadata"], "model": "acme secret finetune"}
    with pytest.raises(privacy.PrivacyViolation, match="metadata.model is not a model name"):
        checker.check(wrong_kind)
    moved = _made()
    moved["event_type"] = "user_prompt"  # tool_result's keys are not user_prompt's
    with pytest.raises(privacy.PrivacyViolation, match="user_prompt: payload key 'program'"):
        checker.check(moved)
    nested = events.make_event(
        event_type="tool_batch",
        platform="claude_code",
        source="hook",
        session_id="s-1",
        payload={"tool_count": 1, "tool_names": ["Bash"]},
    )
    assert type(nested["payload"]) is dict  # a list inside could still change: checked in full
    nested["payload"]["tool_names"].append("a prompt, with spaces")
    with pytest.raises(privacy.PrivacyViolation, match="tool_names"):
        checker.check(nested)


def test_the_emitter_drops_a_made_label_without_losing_the_check() -> None:
    from blueplane_core.emit import Emitter

    event = events.make_event(
        event_type="user_prompt",
        platform="claude_code",
        source="transcript",
        session_id="s-1",
        payload={"prompt_length": 3},
        metadata={"project_label": "acme-app", "model": "claude-opus-4-8"},
    )
    sent = orjson.loads(Emitter(redis.Redis()).check(event))
    assert sent["metadata"]["project_label"] == "acme-app"  # check() leaves labels alone
    without = event["metadata"].without("project_label")
    assert type(without) is events.Checked and without == {"model": "claude-opus-4-8"}


def test_the_hook_sized_allow_list_answers_as_the_full_one_whatever_is_imported_first() -> None:
    """A process that imports only ``allowlist_core`` (a hook) gets, for every event type, the
    table the full allow-list gives, and loads the full one only for types and keys it lacks."""
    script = (
        "import sys\n"
        "from blueplane_core import allowlist_core as core\n"
        "from blueplane_capture import claude_code_mapping, cursor_mapping\n"
        "hook_types = {*claude_code_mapping.CATEGORY, *cursor_mapping.CATEGORY, 'commit'}\n"
        "hook_types.discard('generic')\n"
        "names = lambda table: {k: v.name for k, v in table.items()}\n"
        "tables = {t: names(core.allowed(t)) for t in sorted(hook_types)}\n"
        "assert 'blueplane_core.allowlist' not in sys.modules, 'a hook type loaded the full list'\n"
        "from blueplane_core import allowlist\n"
        "for t, table in allowlist.PAYLOAD.items():\n"
        "    mine = core.allowed(t)\n"
        "    assert mine is table, t\n"
        "    assert tables.get(t, names(table)) == names(table), t\n"
        "print(len(allowlist.PAYLOAD))\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(allowlist.PAYLOAD)
