"""The real Claude Code runs of ``tests/fixtures/real/claude_code_live`` through the pipeline.

Every source the client wrote is replayed as capture would send it: each hook's stdin through the
hook mapping (with the hook's firing order as its time), the transcript tree through the
transcript monitor, and every OTLP logs/metrics body through the OTLP mapping. Then a real
ingester stores them and the conversation worker folds them, so tests read the same rows a user
would. Helpers only: no assertions here.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from blueplane_capture import claude_code_mapping, otlp_mapping
from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import privacy
from blueplane_core.emit import Emitter
from tests.conftest import FIXTURES
from tests.helpers import ingest_all

LIVE = FIXTURES / "claude_code_live"
RUNS = sorted(p.name for p in (LIVE / "hooks").iterdir() if p.is_dir())


def _unix(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _transcript_times(session_id: str) -> list[float]:
    times: list[float] = []
    for file in (LIVE / "transcripts").rglob("*.jsonl"):
        for line in file.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("sessionId") == session_id and isinstance(record.get("timestamp"), str):
                times.append(_unix(record["timestamp"]))
    return sorted(times)


def hook_events(run: str) -> list[dict[str, Any]]:
    """The hook fires of one run, timed inside the run's transcript time span (in order)."""
    files = sorted((LIVE / "hooks" / run).glob("*.json"))
    payloads = [json.loads(f.read_text()) for f in files]
    times = _transcript_times(payloads[0]["session_id"])
    start, end = (times[0], times[-1]) if times else (1_700_000_000.0, 1_700_000_010.0)
    step = (end - start) / max(1, len(payloads) - 1)
    secret = privacy.load_secret()
    return [
        claude_code_mapping.map_hook(p, secret, now=start + i * step)
        for i, p in enumerate(payloads)
    ]


def otlp_events(runs: list[str] | None = None) -> list[dict[str, Any]]:
    """Events of every OTLP logs/metrics body of the runs (all runs when None)."""
    out: list[dict[str, Any]] = []
    state = otlp_mapping.CumulativeState(None)
    for run in runs or RUNS:
        for body in sorted((LIVE / "otlp_http_json" / run).glob("*.json")):
            signal = body.name.split("_v1_")[1].removesuffix(".json")
            if signal == "traces":
                continue
            request = otlp_mapping.decode(signal, body.read_bytes(), "application/json")
            if signal == "logs":
                out += otlp_mapping.log_events(request).events
            else:
                out += otlp_mapping.metric_events(request, state).events
    return out


def transcripts(client: redis.Redis, state_dir: Path, roots: list[Path] | None = None) -> None:
    monitor = TranscriptMonitor(
        roots or [LIVE / "transcripts"],
        Emitter(client),
        OffsetStore("real-runs", state_dir),
        privacy.load_secret(),
    )
    monitor.backfill(show_progress=False, flush=True)


def replay(
    client: redis.Redis,
    state_dir: Path,
    *,
    hooks: bool = True,
    transcript: bool = True,
    otel: bool = True,
) -> None:
    """Put the chosen sources of every run through capture and ingest."""
    # The transcript first: a fact seen by several sources is stored once, from whichever came
    # first, and only the transcript and OTel carry the client's own times (hook times here
    # are spread over the run; a real hook records the moment it fired).
    emitter = Emitter(client)
    if transcript:
        transcripts(client, state_dir)
    if otel:
        emitter.emit_many(otlp_events())
    if hooks:
        for run in RUNS:
            emitter.emit_many(hook_events(run))
    ingest_all()
