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
        # the denormalized columns agree with the payloads
        (cols,) = conn.execute(
            "SELECT SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens)"
            " FROM raw_traces WHERE event_type = 'token_usage'"
        ).fetchall()
        assert cols[0] == sum(sum(r.values()) for r in totals.values())
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


@pytest.mark.slow
def test_live_transcripts_match_real_ccusage(redis_client, tmp_path: Path) -> None:
    """Runs the real ``npx ccusage@20.0.24`` (skipped without npx or registry access)."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed")
    config_dir = tmp_path / "claude"
    shutil.copytree(LIVE_ROOTS[0], config_dir)
    env = dict(
        os.environ,
        CLAUDE_CONFIG_DIR=str(config_dir),
        TZ="UTC",
        npm_config_cache=str(tmp_path / "npm-cache"),
        npm_config_update_notifier="false",
    )
    try:
        done = subprocess.run(
            [npx, "--yes", "ccusage@20.0.24", "daily", "--json", "--offline"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npx ccusage@20.0.24 did not finish in 180 s (registry unreachable?)")
    if done.returncode != 0:
        pytest.skip(f"npx ccusage@20.0.24 failed: {done.stderr.strip()[-300:]}")
    expected = ccusage_totals(json.loads(done.stdout))
    assert capture([config_dir], redis_client, tmp_path / "state") == expected
