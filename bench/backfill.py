"""capture-claude backfill rate: MB/s and lines/s over a generated transcript history.

The history is made of the real fixture transcripts (live 2.1.197 and public 2.0.x lines) in the
real layout (``tests/history.py``: sessions with their subagent files, spread over days), with
fresh message, request and tool ids so that every response is a new fact. The monitor reads it
once, as on first start, and XADDs to a private Redis.

    python bench/backfill.py            # ~20 MB, a few seconds
    python bench/backfill.py --mb 500   # the full figure
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import REPO, private_pipeline_home
from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import config, privacy, redis_conn
from blueplane_core.emit import Emitter
from tests import history

FIXTURES = REPO / "tests" / "fixtures" / "real"


class NullEmitter:
    """Counts instead of sending: the parse-only rate."""

    def __init__(self) -> None:
        self.emitted = 0

    def emit_many(self, batch) -> int:
        count = sum(1 for _ in batch)
        self.emitted += count
        return count


def generate(root: Path, megabytes: float) -> tuple[int, int]:
    """A history in the real layout (``tests/history.py``) under ``root``; (bytes, lines)."""
    counts = history.generate(root, megabytes)
    lines = sum(f.read_bytes().count(b"\n") for f in root.rglob("*.jsonl"))
    return counts["bytes"], lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="history size (default 20 MB)")
    parser.add_argument("--parse-only", action="store_true", help="do not send to Redis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bp-backfill-") as scratch:
        root = Path(scratch) / "claude"
        size, lines = generate(root, args.mb)
        print(
            f"history: {size / 1e6:.1f} MB, {lines} lines, {len(list(root.rglob('*.jsonl')))} files"
        )
        with private_pipeline_home() as (home, _url):
            emitter: Any  # the monitor only calls emit_many
            if args.parse_only:
                emitter = NullEmitter()
            else:
                emitter = Emitter(redis_conn.connect(config.load()))
            monitor = TranscriptMonitor(
                [root], emitter, OffsetStore("bench", home), privacy.load_secret()
            )
            started = time.perf_counter()
            sent = monitor.backfill(show_progress=False, flush=True)
            elapsed = time.perf_counter() - started
    mode = "parse only" if args.parse_only else "to Redis"
    print(
        f"backfill ({mode}): {elapsed:.2f} s, {size / 1e6 / elapsed:.1f} MB/s, "
        f"{lines / elapsed:,.0f} lines/s, {sent} events ({sent / elapsed:,.0f} events/s), "
        f"malformed {monitor.malformed}"
    )


if __name__ == "__main__":
    main()
