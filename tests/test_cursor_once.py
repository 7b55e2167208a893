"""One Cursor session counts once, equal to its hand-derived numbers, whether the hooks, the
database or both saw it: real hook processes, the real monitor on stores built by
``tests/cursor_stores.py``, a real ingester and workers, and ``bp-query`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from blueplane_capture import cursor_db
from blueplane_capture.hooks import cursor as cursor_hook
from blueplane_core import db, paths, streams
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests import cursor_stores as cs
from tests.conftest import PYTHON, python_env
from tests.helpers import bp_query_json, ingest_all
from tests.query_data import run_workers

SCRIPT = Path(cursor_hook.__file__).resolve()


def fire(payload: dict[str, Any]) -> None:
    """Run the hook exactly as hooks.json runs it (event name on the command line)."""
    name = payload["hook_event_name"]
    done = subprocess.run(
        [PYTHON, "-I", "-S", str(SCRIPT), name],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=30,
        env=python_env(),
    )
    assert done.returncode == 0 and done.stdout.strip() in (b"{}", b'{"continue":true}'), done


def stored() -> list[dict[str, Any]]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


def capture(seen_by: str, user: Path, client: redis.Redis, newer: bool = True) -> None:
    base = int(time.time() * 1000) - 3_600_000
    if seen_by in ("database", "both"):
        cs.build(user, base)
        cursor_db.Monitor(Emitter(client), [user]).scan_once()
    if seen_by in ("hooks", "both"):
        for payload in cs.hook_events(newer=newer):
            fire(payload)
    ingest_all()
    assert client.xlen(streams.DLQ_STREAM) == 0  # every event within the privacy allow-list
    run_workers()


@pytest.mark.parametrize(
    ("seen_by", "newer"),
    [("hooks", True), ("database", True), ("both", True), ("both", False)],
    ids=["hooks", "database", "both", "both-older-hooks"],
)
def test_one_cursor_session_counts_once_whoever_saw_it(
    seen_by: str, newer: bool, tmp_path: Path, redis_client: redis.Redis
) -> None:
    """``both-older-hooks``: Cursor 1.7 hooks (no session_id, no tokens in ``stop``) + database."""
    capture(seen_by, tmp_path / "Cursor" / "User", redis_client, newer)
    detail = bp_query_json("session", cs.SESSION)
    session = detail["session"]
    # By hand (tests/cursor_stores.py): 2 prompts, 2 requests (one per turn),
    # 52,130 + 23,148 = 75,278 input and 6,021 + 1,867 = 7,888 output tokens, +7/-2 lines,
    # 1 accepted edit, 2 tool calls (1 shell + 1 edit).
    assert session["prompts"] == 2
    assert session["requests"] == 2
    assert (session["input_tokens"], session["output_tokens"]) == (75_278, 7_888)
    assert (session["lines_added"], session["lines_removed"]) == (7, 2)
    assert (session["edits_accepted"], session["edits_rejected"]) == (1, 0)
    assert session["tool_calls"] == 2 and session["tool_errors"] == 0
    assert session["platform"] == "cursor"
    assert [t["kind"] for t in detail["timeline"] if t["kind"] != "preamble"] == ["prompt"] * 2
    # composer-1 has no public price: the session's cost is unknown, never $0
    assert session["cost_usd"] is None and session["unpriced_requests"] == 1
    tools = {t["tool"]: t for t in bp_query_json("tools", "--platform", "cursor")["tools"]}
    assert tools["Shell"]["calls"] == 1 and tools["Edit"]["calls"] == 1
    by_model = {r["period"]: r for r in bp_query_json("costs", "--by", "model")["rows"]}
    # claude-4.5-sonnet is Anthropic's claude-sonnet-4-5 ($3 / $15 per Mtok):
    # 52,130 x 3 + 6,021 x 15 = 246,705 micro-USD
    sonnet = by_model["claude-4.5-sonnet"]
    assert (sonnet["input_tokens"], sonnet["output_tokens"]) == (52_130, 6_021)
    assert sonnet["cost_usd"] == pytest.approx(0.246705)
    unpriced = by_model["composer-1"]  # listed with its tokens, its cost unknown (never $0)
    assert (unpriced["input_tokens"], unpriced["output_tokens"]) == (23_148, 1_867)
    assert (unpriced["requests"], unpriced["unpriced_requests"]) == (1, 1)
    if seen_by != "hooks":  # the legacy composer's usageData: 7 cents for its 1 gpt-4o request
        assert by_model["gpt-4o"]["official_cost_usd"] == pytest.approx(0.07)
    sessions = bp_query_json("sessions", "--platform", "cursor", "--limit", "100")["sessions"]
    assert not [s for s in sessions if s["session_id"].startswith("workspace:")]
    blob = orjson.dumps(stored())
    for private in (b"secret", b"/home/dev", b"example.com", b"npm test"):
        assert private not in blob, private


def test_older_hooks_alone_count_the_requests_and_say_the_cost_is_unknown(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """Cursor 1.7 hooks report no tokens: 2 turns are 2 requests of unknown tokens and cost
    (shown as unpriced, never $0); everything else is as with newer hooks."""
    capture("hooks", tmp_path / "Cursor" / "User", redis_client, newer=False)
    session = bp_query_json("session", cs.SESSION)["session"]
    assert (session["prompts"], session["requests"]) == (2, 2)
    assert (session["input_tokens"], session["output_tokens"]) == (0, 0)
    assert session["cost_usd"] is None and session["unpriced_requests"] == 2
    assert (session["lines_added"], session["lines_removed"]) == (7, 2)
    assert (session["edits_accepted"], session["tool_calls"]) == (1, 2)


def test_lines_follow_cursors_totals_after_a_rejection(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """The hooks saw +7/-2 applied; the user then undid part of it and Cursor's composer now
    says +3/-1. Lines count once, and Cursor's latest totals win over the hooks' sums (and over
    its own earlier, larger totals)."""
    user = tmp_path / "Cursor" / "User"
    capture("both", user, redis_client)
    composer = cs.session_composer(int(time.time() * 1000) - 3_600_000)
    composer.update(totalLinesAdded=3, totalLinesRemoved=1, lastUpdatedAt=int(time.time() * 1000))
    cs.put(user / "globalStorage" / "state.vscdb", "cursorDiskKV", f"composerData:{cs.SESSION}",
           composer)  # fmt: skip
    cursor_db.Monitor(Emitter(redis_client), [user]).scan_once()
    ingest_all()
    run_workers()
    session = bp_query_json("session", cs.SESSION)["session"]
    assert (session["lines_added"], session["lines_removed"]) == (3, 1)
