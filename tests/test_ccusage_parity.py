"""Tokens per day and model, captured from real transcripts, equal what ccusage reports.

The transcripts go through the real pipeline (monitor -> Redis -> ingester -> raw_traces) and
are compared with ``ccusage daily --json`` (v20.0.24) outputs stored next to the fixtures, and,
when ``npx`` can fetch it, with a fresh run of the real ccusage over the same files.

Where each number comes from: every token count here is ``source = transcript`` (derived). Paid
requests that never reach a transcript (the /compact summary call, session-title calls) exist
only in OpenTelemetry ``api_request`` events (official) and are not part of this comparison,
just as ccusage does not see them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import db, paths, privacy
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests.conftest import FIXTURES
from tests.helpers import ingest_all

LIVE_ROOTS = [FIXTURES / "claude_code_live" / "transcripts"]
PUBLIC_ROOTS = [FIXTURES / "claude_code_public", FIXTURES / "ccusage_fixtures"]
CCUSAGE = FIXTURES / "ccusage_output"
FIELDS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")

Totals = dict[tuple[str, str], dict[str, int]]


def capture(roots: list[Path], redis_client, tmp_path: Path) -> Totals:
    """Run the monitor over ``roots`` and ingest; tokens per (UTC day, ccusage model name)."""
    monitor = TranscriptMonitor(
        roots, Emitter(redis_client), OffsetStore("parity", tmp_path), privacy.load_secret()
    )
    monitor.backfill(show_progress=False, flush=True)
    ingest_all()
    conn = db.connect_writer(paths.database())
    try:
        totals: Totals = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
        for _, event in RawEvents(conn).iterate():
            if event["event_type"] != "token_usage":
                continue
            assert event["source"] == "transcript"
            p = event["payload"]
            # ccusage names a fast-mode request "<model>-fast"
            model = p["model"] + ("-fast" if p.get("speed") == "fast" else "")
            row = totals[(event["timestamp"][:10], model)]
            row["inputTokens"] += p["input_tokens"]
            row["outputTokens"] += p["output_tokens"]
            row["cacheCreationTokens"] += p["cache_creation_tokens"]
            row["cacheReadTokens"] += p["cache_read_tokens"]
        return dict(totals)
    finally:
        conn.close()


def ccusage_totals(daily: dict) -> Totals:
    out: Totals = {}
    for day in daily["daily"]:
        for model in day["modelBreakdowns"]:
            out[(day["period"], model["modelName"])] = {f: model[f] for f in FIELDS}
    return out


def test_live_transcripts_match_ccusage_daily(redis_client, tmp_path: Path) -> None:
    expected = ccusage_totals(json.loads((CCUSAGE / "live_daily.json").read_text()))
    assert capture(LIVE_ROOTS, redis_client, tmp_path) == expected


def test_public_transcripts_match_ccusage_daily(redis_client, tmp_path: Path) -> None:
    expected = ccusage_totals(json.loads((CCUSAGE / "public_daily.json").read_text()))
    assert capture(PUBLIC_ROOTS, redis_client, tmp_path) == expected


def test_backfill_twice_adds_nothing(redis_client, tmp_path: Path) -> None:
    first = capture(LIVE_ROOTS, redis_client, tmp_path)
    # a fresh monitor with no saved offsets reads everything again
    again = capture(LIVE_ROOTS, redis_client, tmp_path / "fresh")
    assert again == first


def run_real_ccusage(
    command: list[str], config_dir: Path, tmp_path: Path, timeout: int = 180
) -> dict:
    """``npx ccusage@20.0.24 <command> --json --offline``; skips without npx or the registry."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed")
    env = dict(
        os.environ,
        CLAUDE_CONFIG_DIR=str(config_dir),
        TZ="UTC",
        npm_config_cache=str(tmp_path / "npm-cache"),
        npm_config_update_notifier="false",
    )
    try:
        done = subprocess.run(
            [npx, "--yes", "ccusage@20.0.24", *command, "--json", "--offline"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npx ccusage@20.0.24 did not finish in {timeout} s (registry unreachable?)")
    if done.returncode != 0:
        pytest.skip(f"npx ccusage@20.0.24 failed: {done.stderr.strip()[-300:]}")
    return dict(json.loads(done.stdout))


@pytest.mark.slow
def test_live_transcripts_match_real_ccusage(redis_client, tmp_path: Path) -> None:
    """Runs the real ``npx ccusage@20.0.24`` (skipped without npx or registry access)."""
    config_dir = tmp_path / "claude"
    shutil.copytree(LIVE_ROOTS[0], config_dir)
    expected = ccusage_totals(run_real_ccusage(["daily"], config_dir, tmp_path))
    assert capture([config_dir], redis_client, tmp_path / "state") == expected


# -- the request ledger against ccusage --mode calculate ----------------------------------------

LedgerTotals = dict[tuple[str, ...], dict[str, float]]
LEDGER_FIELDS = (*FIELDS, "cost")


def ledger(roots: list[Path], cfg, redis_client, writer_conn, tmp_path: Path) -> list[dict]:
    """Put ``roots`` through capture, ingest and the conversation worker; the ledger's rows."""
    from tests.test_conversations import run_conversations

    monitor = TranscriptMonitor(
        roots, Emitter(redis_client), OffsetStore("parity", tmp_path), privacy.load_secret()
    )
    monitor.backfill(show_progress=False, flush=True)
    ingest_all()
    run_conversations(cfg, writer_conn, redis_client)
    cursor = writer_conn.execute("SELECT * FROM api_requests")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor]


def ledger_totals(rows: list[dict], *, by_session: bool = False) -> LedgerTotals:
    """Ledger sums per (UTC day, ccusage model name[, session]), in ccusage's field names."""
    out: LedgerTotals = defaultdict(lambda: dict.fromkeys(LEDGER_FIELDS, 0))
    for r in rows:
        model = r["model"] + ("-fast" if r["fast"] else "")  # ccusage names fast mode so
        key = (r["session_id"], model) if by_session else (r["timestamp"][:10], model)
        row = out[key]
        row["inputTokens"] += r["input_tokens"]
        row["outputTokens"] += r["output_tokens"]
        row["cacheCreationTokens"] += r["cache_write_5m_tokens"] + r["cache_write_1h_tokens"]
        row["cacheReadTokens"] += r["cache_read_tokens"]
        row["cost"] += r["cost_nusd"] / 1e9
    return dict(out)


def ccusage_ledger(report: dict, key: str) -> LedgerTotals:
    out: LedgerTotals = {}
    for item in report[key]:
        for model in item["modelBreakdowns"]:
            out[(item["period"], model["modelName"])] = {f: model[f] for f in LEDGER_FIELDS}
    return out


def assert_same(found: LedgerTotals, expected: LedgerTotals) -> None:
    assert set(found) == set(expected)
    for key, want in expected.items():
        got = found[key]
        assert {f: got[f] for f in FIELDS} == {f: want[f] for f in FIELDS}, key
        assert got["cost"] == pytest.approx(want["cost"], rel=1e-9, abs=1e-12), key


def test_ledger_per_day_model_and_session_equals_ccusage_on_the_live_transcripts(
    cfg, redis_client, writer_conn, tmp_path: Path
) -> None:
    rows = ledger(LIVE_ROOTS, cfg, redis_client, writer_conn, tmp_path)
    # the live transcripts carry no costUSD: ccusage's default mode computed these costs
    daily = json.loads((CCUSAGE / "live_daily.json").read_text())
    assert_same(ledger_totals(rows), ccusage_ledger(daily, "daily"))
    sessions = json.loads((CCUSAGE / "live_session.json").read_text())
    assert_same(ledger_totals(rows, by_session=True), ccusage_ledger(sessions, "session"))
    assert {r["sources"] for r in rows} == {"transcript"}


def test_ledger_per_day_and_model_equals_ccusage_calculate_on_the_public_transcripts(
    cfg, redis_client, writer_conn, tmp_path: Path
) -> None:
    rows = ledger(PUBLIC_ROOTS, cfg, redis_client, writer_conn, tmp_path)
    calculated = json.loads((CCUSAGE / "public_daily_mode_calculate.json").read_text())
    assert_same(ledger_totals(rows), ccusage_ledger(calculated, "daily"))


@pytest.mark.slow
def test_ledger_equals_a_real_ccusage_calculate_run(
    cfg, redis_client, writer_conn, tmp_path: Path
) -> None:
    config_dir = tmp_path / "claude"
    shutil.copytree(LIVE_ROOTS[0], config_dir)
    daily = run_real_ccusage(["daily", "--mode", "calculate"], config_dir, tmp_path)
    sessions = run_real_ccusage(["session", "--mode", "calculate"], config_dir, tmp_path)
    rows = ledger([config_dir], cfg, redis_client, writer_conn, tmp_path / "state")
    assert_same(ledger_totals(rows), ccusage_ledger(daily, "daily"))
    assert_same(ledger_totals(rows, by_session=True), ccusage_ledger(sessions, "session"))


def test_generated_history_keeps_the_real_layout(tmp_path: Path) -> None:
    from tests import history

    counts = history.generate(tmp_path / "claude", 0.3)
    root = tmp_path / "claude" / "projects"
    mains = [p for p in root.glob("*/*.jsonl")]
    subagents = list(root.glob("*/*/subagents/agent-*.jsonl"))
    assert len(mains) == counts["sessions"] and len(subagents) == counts["subagent_files"] > 0
    assert all((p.parent.parent.with_suffix(".jsonl")).exists() for p in subagents)
    assert list(root.glob("*/*/subagents/*.meta.json"))
    days = set()
    for path in mains:
        ids = set()
        for raw in path.read_bytes().splitlines():
            line = json.loads(raw)
            if line.get("timestamp"):
                days.add(line["timestamp"][:10])
            if line.get("sessionId"):
                ids.add(line["sessionId"])
        assert ids == {path.stem}  # each copy is its own session, named like its file
    assert len(days) >= 3


@pytest.mark.slow
def test_ledger_equals_real_ccusage_on_a_generated_history(
    cfg, redis_client, writer_conn, tmp_path: Path
) -> None:
    """A history in the real layout (sessions, subagent files, days) vs ``npx ccusage``."""
    from tests import history

    config_dir = tmp_path / "claude"
    history.generate(config_dir, 1.0)
    daily = run_real_ccusage(["daily", "--mode", "calculate"], config_dir, tmp_path)
    sessions = run_real_ccusage(["session", "--mode", "calculate"], config_dir, tmp_path)
    rows = ledger([config_dir], cfg, redis_client, writer_conn, tmp_path / "state")
    assert len({r["timestamp"][:10] for r in rows}) >= 3
    assert_same(ledger_totals(rows), ccusage_ledger(daily, "daily"))
    assert_same(ledger_totals(rows, by_session=True), ccusage_ledger(sessions, "session"))
