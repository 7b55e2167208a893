"""capture-claude backfill rate: MB/s and lines/s over a generated transcript history.

The history is made of the real fixture transcripts (live 2.1.197 and public 2.0.x lines),
copied into many session files with fresh message, request and tool ids so that every response
is a new fact. The monitor reads it once, as on first start, and XADDs to a private Redis.

    python bench/backfill.py            # ~20 MB, a few seconds
    python bench/backfill.py --mb 500   # the full figure
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import REPO, private_pipeline_home
from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import config, privacy, redis_conn
from blueplane_core.emit import Emitter

FIXTURES = REPO / "tests" / "fixtures" / "real"


class NullEmitter:
    """Counts instead of sending: the parse-only rate."""

    def __init__(self) -> None:
        self.emitted = 0

    def emit_many(self, batch) -> int:
        count = sum(1 for _ in batch)
        self.emitted += count
        return count


def sample_lines() -> list[dict]:
    files = sorted((FIXTURES / "claude_code_live" / "transcripts").rglob("*.jsonl"))
    files += sorted((FIXTURES / "claude_code_public").glob("*.jsonl"))
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines() if line]


def _rename(value: object, suffix: str) -> object:
    return f"{value}_{suffix}" if isinstance(value, str) and value else value


def generate(root: Path, megabytes: float) -> tuple[int, int]:
    """Write session files under ``root/projects`` until ``megabytes``; (bytes, lines)."""
    lines = sample_lines()
    target = int(megabytes * 1024 * 1024)
    written = count = copy = 0
    project = root / "projects" / "-bench-project"
    project.mkdir(parents=True)
    while written < target:
        copy += 1
        tag = f"c{copy}"
        out = []
        for line in lines:
            line = dict(line)
            line["sessionId"] = f"bench-session-{copy}"
            if isinstance(line.get("message"), dict):
                message = dict(line["message"])
                message["id"] = _rename(message.get("id"), tag)
                if isinstance(message.get("content"), list):
                    blocks = []
                    for block in message["content"]:
                        if isinstance(block, dict):
                            block = dict(block)
                            for key in ("id", "tool_use_id"):
                                if key in block:
                                    block[key] = _rename(block[key], tag)
                        blocks.append(block)
                    message["content"] = blocks
                line["message"] = message
            for key in ("requestId", "uuid", "promptId"):
                if key in line:
                    line[key] = _rename(line[key], tag)
            out.append(orjson.dumps(line) + b"\n")
        data = b"".join(out)
        (project / f"bench-session-{copy}.jsonl").write_bytes(data)
        written += len(data)
        count += len(out)
    return written, count


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
