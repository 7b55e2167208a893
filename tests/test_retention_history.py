"""A history older than the retention, lived through as a user would: archiving never changes a
number, and late events of archived sessions change only what they add.

The real public transcripts (recorded in October 2025, older than the 90-day retention) are laid
out under a temporary ``~/.claude/projects/`` as Claude Code writes them, with the files' times
of October 2025. Expected tokens per day come from ccusage's stored output
(``ccusage_output/public_daily.json``: 2025-10-10 60,182; 2025-10-12 163,084). Every report
(the bp-query functions the CLI, MCP server and HTTP API share) is compared before and after
each step: first start, restart (maintenance archives everything), rebuild, a resumed session,
a late event of every kind, archival of those, and a rebuild again.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from rich.console import Console

from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor, default_roots
from blueplane_core import config, db, events, paths, privacy
from blueplane_core.emit import Emitter
from blueplane_core.stored_events import StoredEvents
from blueplane_ingest.maintenance import Maintenance
from blueplane_query.health import pipeline_health, render
from tests.conftest import FIXTURES, PYTHON, python_env
from tests.helpers import ingest_all
from tests.query_data import run_workers

PUBLIC = FIXTURES / "claude_code_public"
CCUSAGE = FIXTURES / "ccusage_output" / "public_daily.json"
RESUMED = "8122657c-fe54-4dc9-89a3-20049e8a84f7"  # agentlogs_crud: 2025-10-12
SUBAGENT = "609efeca-2f51-4118-b077-e91c9fe63f73"  # agentlogs_subagent: 2025-10-10
#: the resumed exchange's usage: 5 + 120 + 200 + 17,000 = 17,325 tokens
NEW_USAGE = {
    "input_tokens": 5,
    "output_tokens": 120,
    "cache_creation_input_tokens": 200,
    "cache_read_input_tokens": 17_000,
}
NEW_TOKENS = 17_325
REPORTS = (
    ("costs", "--by", "day"),
    ("costs", "--by", "model"),
    ("costs", "--by", "project"),
    ("sessions", "--limit", "100"),
    ("tools",),
    ("commits",),
    ("metrics",),
    ("insights",),
)


def report(*argv: str) -> dict[str, Any]:
    """One report as ``bp-query … --json`` computes it, without the fields that name 'now'."""
    from blueplane_query.cli import COMMANDS, build_parser

    args = build_parser().parse_args([*argv, "--json", "--since", "2025-01-01"])
    out = COMMANDS[args.command](args)
    out.pop("period", None)
    out.pop("previous_period", None)
    live = out.get("live")
    if isinstance(live, dict):
        live.pop("at", None)  # when the live Redis snapshot was taken
        if isinstance(live.get("block"), dict):
            live["block"].pop("remaining_minutes", None)  # of the current 5-hour block, from now
    for item in out.get("insights", []) if isinstance(out.get("insights"), list) else []:
        item.pop("updated_at", None)  # when the insight was last recomputed
    return out


def reports() -> dict[str, dict[str, Any]]:
    return {" ".join(argv): report(*argv) for argv in REPORTS}


def day_tokens(rows: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {r["period"]: r["total_tokens"] for r in rows["costs --by day"]["rows"]}


def session(rows: dict[str, dict[str, Any]], sid: str) -> dict[str, Any]:
    (found,) = [s for s in rows["sessions --limit 100"]["sessions"] if s["session_id"] == sid]
    return found


def without_sessions(rows: dict[str, dict[str, Any]], *sids: str) -> dict[str, Any]:
    """The reports with the named sessions' rows left out (to compare everything else)."""
    out = copy.deepcopy(rows)
    listing = out["sessions --limit 100"]
    listing["sessions"] = [s for s in listing["sessions"] if s["session_id"] not in sids]
    return out


class History:
    """The user's machine: a ~/.claude with the old transcripts, and the pipeline's stages."""

    def __init__(self, home: Path, client: redis.Redis) -> None:
        self.client = client
        self.projects = home / ".claude" / "projects"
        for source in sorted(PUBLIC.glob("*.jsonl")):
            lines = [json.loads(x) for x in source.read_text().splitlines() if x.strip()]
            first = next(x for x in lines if x.get("sessionId"))
            folder = self.projects / first["cwd"].replace("/", "-")
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{first['sessionId']}.jsonl"
            shutil.copyfile(source, target)
            last = max(x["timestamp"] for x in lines if x.get("timestamp"))
            moment = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
            os.utime(target, (moment, moment))  # written in October 2025, as the originals
        self.state = home / "capture-state"
        self.conn = db.connect_writer(paths.database())

    def monitor(self, fresh: bool = False) -> TranscriptMonitor:
        name = "claude-fresh" if fresh else "claude"
        return TranscriptMonitor(
            default_roots(),
            Emitter(self.client),
            OffsetStore(name, self.state),
            privacy.load_secret(),
        )

    def process(self) -> dict[str, float]:
        counters = ingest_all()
        run_workers()
        return counters

    def maintenance(self) -> int:
        """One maintenance round as at a restart (its first round runs the slow chores)."""
        done = Maintenance(self.client, self.conn, config.load()["storage.retention_days"]).round()
        return int(done.get("archived", 0))

    def raw_rows(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0])

    def rebuild(self) -> None:
        """``blueplane rebuild metrics|conversations|insights``, as a user runs them."""
        for what in ("metrics", "conversations", "insights"):
            done = subprocess.run(
                [PYTHON, "-m", "blueplane.cli", "rebuild", what],
                env=python_env(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith("rebuilt "), done.stdout
            assert not done.stdout.startswith("rebuilt 0 sessions"), done.stdout  # archived

    def resume(self) -> None:
        """``claude --resume`` of the October session: a new exchange appended to its file."""
        (path,) = self.projects.rglob(f"{RESUMED}.jsonl")
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        last_user = [x for x in lines if x.get("type") == "user" and x.get("cwd")][-1]
        last_reply = [x for x in lines if x.get("type") == "assistant"][-1]
        now = time.time() - 120
        prompt = dict(
            last_user,
            parentUuid=last_reply["uuid"],
            uuid="5e1f0c0e-0000-4000-8000-0000000000a1",
            timestamp=events.format_timestamp(now),
            message={"role": "user", "content": "one more joke"},
        )
        prompt.pop("toolUseResult", None)
        reply = copy.deepcopy(last_reply)
        reply.update(
            parentUuid=prompt["uuid"],
            uuid="5e1f0c0e-0000-4000-8000-0000000000a2",
            timestamp=events.format_timestamp(now + 3),
            requestId="req_resumed_0001",
        )
        reply["message"].update(
            id="msg_resumed_0001", content=[{"type": "text", "text": "Here is another."}]
        )
        reply["message"]["usage"] = dict(NEW_USAGE, service_tier="standard")
        with path.open("a") as handle:
            for line in (prompt, reply):
                handle.write(json.dumps(line) + "\n")

    def october_event(self, sid: str, event_type: str) -> dict[str, Any]:
        """The last stored event of a type from the session's October part (archived)."""
        found = [
            e
            for _s, e in StoredEvents(self.conn).iterate(session_id=sid)
            if e["event_type"] == event_type and e["timestamp"].startswith("2025-10")
        ]
        return found[-1]


@pytest.fixture
def history(tmp_path: Path, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("BLUEPLANE_DISPLAY_TIMEZONE", "UTC")
    made = History(home, redis_client)
    yield made
    made.conn.close()


def test_archiving_and_late_events_never_change_a_number(history: History) -> None:
    expected = {d["period"]: d["totalTokens"] for d in json.loads(CCUSAGE.read_text())["daily"]}

    # 1. first start: everything captured, tokens per day as ccusage counts them
    history.monitor().backfill(show_progress=False, flush=True)
    history.process()
    first = reports()
    assert day_tokens(first) == {d: expected[d] for d in ("2025-10-10", "2025-10-12")}
    stored = history.raw_rows()

    # 2. restart: maintenance archives every raw trace (all older than 90 days); no number moves
    assert history.maintenance() == stored
    assert history.raw_rows() == 0
    # `blueplane status` / `bp-query status` show the archive's size and date range
    health = pipeline_health(config.load(), programs=[])
    archive = health["database"]["archive"]
    assert archive["events"] == stored and archive["files"] == 1
    assert archive["bytes"] == sum(p.stat().st_size for p in paths.archive_dir().iterdir())
    assert (archive["first_event"][:10], archive["last_event"][:10]) == ("2025-10-10", "2025-10-12")
    shown = Console(width=200, record=True)
    shown.print(render(health))
    assert "from 2025-10-10 to 2025-10-12" in shown.export_text()
    history.process()
    assert reports() == first

    # 3. a rebuild reads the archive and gives exactly the live numbers
    history.rebuild()
    assert reports() == first

    # 4. the October session is resumed today: only the new exchange is added
    history.resume()
    history.monitor().poll(flush=True)
    history.process()
    resumed = reports()
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    # each request on its own day, as ccusage counts: October keeps every token it had
    assert day_tokens(resumed) == {**day_tokens(first), today: NEW_TOKENS}
    assert resumed["costs --by day"]["totals"]["total_tokens"] == (
        first["costs --by day"]["totals"]["total_tokens"] + NEW_TOKENS
    )
    before, after = session(first, RESUMED), session(resumed, RESUMED)
    assert after["prompts"] == before["prompts"] + 1
    assert after["input_tokens"] == before["input_tokens"] + 5
    assert after["output_tokens"] == before["output_tokens"] + 120
    assert after["cache_write_tokens"] == before["cache_write_tokens"] + 200
    assert after["cache_read_tokens"] == before["cache_read_tokens"] + 17_000
    assert after["tool_calls"] == before["tool_calls"]
    assert (
        without_sessions(resumed, RESUMED)["sessions --limit 100"]
        == without_sessions(first, RESUMED)["sessions --limit 100"]
    )

    # 5. late events of every kind for archived sessions
    # 5a. the monitor's state was reset: it reads every file again (all archived or stored)
    counters = history.monitor(fresh=True).backfill(show_progress=False, flush=True)
    assert counters > 0
    ingested = history.process()
    assert ingested["stored"] == 0 and ingested["duplicates"] == counters
    assert reports() == resumed

    # 5b. a retried OpenTelemetry export of an archived request: the same fact, the same tokens
    usage = history.october_event(RESUMED, "token_usage")
    p = usage["payload"]
    otel = events.make_event(
        event_type="api_request",
        platform="claude_code",
        source="otlp",
        session_id=RESUMED,
        timestamp=usage["timestamp"],
        metadata=dict(usage["metadata"]),
        payload={
            "request_id": p["request_id"],
            "model": p["model"],
            "input_tokens": p["input_tokens"],
            "output_tokens": p["output_tokens"],
            "cache_read_tokens": p["cache_read_tokens"],
            "cache_creation_tokens": p["cache_creation_tokens"],
        },
    )
    Emitter(history.client).emit(otel)
    history.process()
    retried = reports()
    assert day_tokens(retried) == day_tokens(resumed)
    assert session(retried, RESUMED)["requests"] == session(resumed, RESUMED)["requests"]

    # 5c. a hook spooled in October and drained now: one more tool call in an archived session
    prompt = history.october_event(SUBAGENT, "user_prompt")
    late_hook = [
        events.make_event(
            event_type=kind,
            platform="claude_code",
            source="hook",
            session_id=SUBAGENT,
            hook_type=hook,
            timestamp=prompt["timestamp"][:-4] + "900Z",
            metadata=dict(prompt["metadata"]),
            payload={"tool_name": "Grep", "tool_use_id": "toolu_late_spooled_01", **extra},
        )
        for kind, hook, extra in (
            ("tool_use", "PreToolUse", {}),
            ("tool_result", "PostToolUse", {"success": True, "duration_ms": 15}),
        )
    ]
    Emitter(history.client).emit_many(late_hook)
    history.process()
    hooked = reports()
    assert session(hooked, SUBAGENT)["tool_calls"] == session(retried, SUBAGENT)["tool_calls"] + 1
    assert day_tokens(hooked) == day_tokens(resumed)

    # 5d. the resumed file goes quiet: the monitor ends the session (a late session_end)
    history.monitor().poll(now=time.time() + 7200)
    history.process()
    ended = reports()
    assert session(ended, RESUMED)["end_reason"] == "transcript_idle"
    assert day_tokens(ended) == day_tokens(resumed)

    # 5e. a commit made in October right after the session's last activity, hooked in late
    last = history.october_event(RESUMED, "token_usage")
    commit_time = datetime.fromisoformat(last["timestamp"].replace("Z", "+00:00")).timestamp()
    workspace = last["metadata"]["workspace_hash"]
    commit = events.make_event(
        event_type="commit",
        platform="git",
        source="git_hook",
        session_id=workspace,
        hook_type="post-commit",
        timestamp=events.format_timestamp(commit_time + 60),
        metadata={"workspace_hash": workspace},
        payload={
            "commit_hash": "c0ffee" + "0" * 18,
            "lines_added": 7,
            "lines_removed": 1,
            "files_changed": 1,
        },
    )
    Emitter(history.client).emit(commit)
    history.process()
    committed = reports()
    assert committed["commits"]["commits"] == ended["commits"]["commits"] + 1
    assert committed["commits"]["agent_assisted"] == ended["commits"]["agent_assisted"] + 1
    assert day_tokens(committed) == day_tokens(resumed)

    # 6. the next restart archives the late October events; the rebuild agrees with live
    history.maintenance()
    history.process()
    assert reports() == committed
    history.rebuild()
    assert reports() == committed
