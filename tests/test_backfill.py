"""First-start backfill: lines skipped unparsed, events of many files sent together, and the
progress that ``blueplane up`` / ``status`` show.

The skip rule (``transcript_parser.may_hold_fact``) is proven on every real transcript line of
the fixtures: a line it skips never yields an event, in its file or alone, and a backfill with
the rule equals one without it, event for event and saved position for position.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from blueplane import backfill_bar
from blueplane_capture import transcripts
from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcript_parser import (
    FileCursor,
    FileInfo,
    TranscriptParser,
    may_hold_fact,
)
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import backfill_progress, streams
from blueplane_core.emit import Emitter
from tests import history
from tests.conftest import FIXTURES

LIVE = FIXTURES / "claude_code_live" / "transcripts" / "projects"
SECRET = b"k" * 32
OLD = 1_600_000_000  # an mtime far in the past: every file is quiet and its session ended


def real_transcripts() -> list[Path]:
    """Every real transcript file of the fixtures (live 2.1.x with subagents, public 2.0.x,
    ccusage's own)."""
    return sorted(
        [
            *LIVE.rglob("*.jsonl"),
            *(FIXTURES / "claude_code_public").glob("*.jsonl"),
            *(FIXTURES / "ccusage_fixtures").rglob("*.jsonl"),
        ]
    )


def test_a_line_the_rule_skips_never_yields_an_event() -> None:
    parser = TranscriptParser(SECRET)
    skipped = yielding = 0
    for path in real_transcripts():
        info = FileInfo("f", path.stem, is_subagent=path.parent.name == "subagents")
        cursor = FileCursor()
        for number, raw in enumerate(path.read_bytes().splitlines()):
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(line, dict):
                continue
            made = parser.parse(line, cursor, info, number)
            if made:
                yielding += 1
                assert may_hold_fact(raw), (
                    f"{path.name}:{number + 1} yields {made[0]['event_type']}"
                )
            if not may_hold_fact(raw):
                skipped += 1
                for subagent in (False, True):  # alone, first line of a main or subagent file
                    alone = FileInfo("f", "s", is_subagent=subagent)
                    assert parser.parse(line, FileCursor(), alone, number) == []
    assert yielding >= 60 and skipped >= 40  # the fixtures hold plenty of both


def _copy_fixtures(root: Path) -> Path:
    """The real transcripts under ``root/projects`` (old mtimes), one main file ending in lines
    the rule skips (an attachment, then a queue line): the session's end must still carry the
    last timestamp."""
    projects = root / "projects"
    for path in real_transcripts():
        if LIVE in path.parents:
            target = projects / path.relative_to(LIVE)
        else:
            target = projects / "-public" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    main = next(p for p in sorted(projects.glob("-tmp-*/*.jsonl")))
    tail = [
        raw
        for raw in main.read_bytes().splitlines()
        if not may_hold_fact(raw) and b'"timestamp"' in raw
    ]
    assert tail, "the fixture has timestamped lines the rule skips"
    late = orjson.loads(tail[0])
    late["timestamp"] = "2030-01-01T00:00:00.000Z"
    with main.open("ab") as handle:
        handle.write(orjson.dumps(late) + b"\n")
    for path in projects.rglob("*.jsonl"):
        os.utime(path, (OLD, OLD))
    return root


def _backfill(root: Path, redis_client, state: Path) -> tuple[list[dict], dict]:
    redis_client.delete(streams.EVENTS_STREAM)
    monitor = TranscriptMonitor([root], Emitter(redis_client), OffsetStore("t", state), SECRET)
    monitor.backfill(show_progress=False, flush=True)
    sent = [
        orjson.loads(f[streams.EVENT_FIELD.encode()])
        for _, f in redis_client.xrange(streams.EVENTS_STREAM)
    ]
    return sent, {k: p.to_json() for k, p in monitor.store.positions.items()}


def _comparable(event: dict) -> dict:
    return {k: v for k, v in event.items() if k not in ("ingested_at", "captured_at")}


def test_backfill_with_the_skip_equals_parsing_every_line(
    redis_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy_fixtures(tmp_path / "claude")
    skipping, positions = _backfill(root, redis_client, tmp_path / "a")
    monkeypatch.setattr(transcripts, "may_hold_fact", lambda raw: True)
    parsing, every_line = _backfill(root, redis_client, tmp_path / "b")
    assert [_comparable(e) for e in skipping] == [_comparable(e) for e in parsing]
    assert positions == every_line
    ends = [e for e in skipping if e["event_type"] == "session_end"]
    assert "2030-01-01T00:00:00.000Z" in {e["timestamp"] for e in ends}


class CountingClient:
    """The real client, counting the pipelines sent (round trips of XADDs)."""

    def __init__(self, client) -> None:
        self.client = client
        self.pipelines = 0

    def pipeline(self, transaction: bool = False):
        self.pipelines += 1
        return self.client.pipeline(transaction=transaction)


def test_events_of_many_files_go_out_in_few_pipelines(redis_client, tmp_path: Path) -> None:
    root = tmp_path / "claude"
    counts = history.generate(root, 0.5)
    spy = CountingClient(redis_client)
    monitor = TranscriptMonitor([root], Emitter(spy), OffsetStore("t", tmp_path), SECRET)
    sent = monitor.backfill(show_progress=False, flush=True)
    assert counts["files"] >= 30 and sent == redis_client.xlen(streams.EVENTS_STREAM)
    assert spy.pipelines <= sent // transcripts.SEND_EVERY + 1 < counts["files"]


class FailingClient(CountingClient):
    """Refuses the second pipeline it is asked to send (Redis went away mid-backfill)."""

    def pipeline(self, transaction: bool = False):
        pipe = super().pipeline(transaction)
        if self.pipelines == 2:
            from blueplane_core import resp

            def refuse() -> None:
                raise resp.Unavailable("Redis went away")

            pipe.execute = refuse
        return pipe


def _ids(redis_client) -> set[str]:
    return {
        orjson.loads(f[streams.EVENT_FIELD.encode()])["event_id"]
        for _, f in redis_client.xrange(streams.EVENTS_STREAM)
    }


def test_a_failed_send_saves_no_position_it_covers(
    redis_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis fails on the second pipeline: the restart reads again everything the first one
    did not send, so the two runs together send every event of a clean backfill."""
    from blueplane_core import redis_conn

    root = tmp_path / "claude"
    history.generate(root, 0.5)
    monkeypatch.setattr(transcripts, "SEND_EVERY", 200)
    state = tmp_path / "state"
    state.mkdir()
    failing = FailingClient(redis_client)
    monitor = TranscriptMonitor([root], Emitter(failing), OffsetStore("t", state), SECRET)
    with pytest.raises(redis_conn.errors()):
        monitor.backfill(show_progress=False, flush=True)
    assert failing.pipelines == 2 and redis_client.xlen(streams.EVENTS_STREAM) > 0
    restart = TranscriptMonitor(
        [root], Emitter(redis_client), OffsetStore("t", state).load(), SECRET
    )
    restart.backfill(show_progress=False, flush=True)
    both = _ids(redis_client)
    redis_client.delete(streams.EVENTS_STREAM)
    clean = tmp_path / "clean"
    clean.mkdir()
    TranscriptMonitor([root], Emitter(redis_client), OffsetStore("t", clean), SECRET).backfill(
        show_progress=False, flush=True
    )
    assert both == _ids(redis_client)


def test_backfill_publishes_its_progress_in_numbers_only(redis_client, tmp_path: Path) -> None:
    root = tmp_path / "claude"
    counts = history.generate(root, 0.5)
    board = backfill_progress.Publisher(redis_client, "capture-claude", every_s=0.0)
    monitor = TranscriptMonitor(
        [root], Emitter(redis_client), OffsetStore("t", tmp_path), SECRET, board=board
    )
    monitor.backfill(show_progress=False, flush=True)
    record = backfill_progress.read_all(redis_client)["capture-claude"]
    on_disk = sum(p.stat().st_size for p in root.rglob("*.jsonl"))
    assert record.done and record.bytes_done == record.bytes_total == on_disk
    assert record.files_done == record.files_total == counts["files"]
    raw = redis_client.hget(streams.BACKFILL_KEY, "capture-claude")
    assert set(raw.decode()) <= set("0123456789. ")  # no path, no name: numbers only
    assert redis_client.ttl(streams.BACKFILL_KEY) > 0


def test_the_bar_follows_a_running_backfill_to_its_end(redis_client, tmp_path: Path) -> None:
    """A real backfill in a thread (as capture-claude), the bar in the foreground (as ``up``)."""
    from blueplane_core import resp

    root = tmp_path / "claude"
    history.generate(root, 3)
    board = backfill_progress.Publisher(redis_client, "capture-claude", every_s=0.0)
    monitor = TranscriptMonitor(
        [root], Emitter(redis_client), OffsetStore("t", tmp_path), SECRET, board=board
    )
    reader = resp.Client(os.environ["BLUEPLANE_REDIS_URL"])
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    worker = threading.Thread(target=monitor.backfill, kwargs={"show_progress": False})
    worker.start()
    try:
        done = backfill_bar.follow(reader, console, appear_within_s=30, poll_s=0.02)
    finally:
        worker.join()
        reader.close()
    assert done is not None and done.done
    shown = screen.getvalue()
    total_mb = f"{done.bytes_total / 1e6:.1f}"
    assert "MB/s" in shown and f"{total_mb}/{total_mb} MB" in shown
    assert backfill_bar.describe(done).startswith(f"backfill done: {total_mb} MB")


def test_status_shows_the_backfill(redis_client, cfg, tmp_path: Path) -> None:
    from blueplane import status

    board = backfill_progress.Publisher(redis_client, "capture-claude", every_s=0.0)
    board.start(bytes_total=200_000_000, files_total=1325)
    board.advance(50_000_000)
    record = status.backfill(cfg)["capture-claude"]
    assert record["bytes_done"] == 50_000_000 and record["files_total"] == 1325
    line = backfill_bar.describe(backfill_progress.read_all(redis_client)["capture-claude"])
    assert line.startswith("backfill 25%: 50.0 of 200.0 MB, 0 of 1,325 files")
