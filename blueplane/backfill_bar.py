"""The first-start bar: what ``blueplane up`` shows while capture reads the existing history.

A new user's first ``up`` starts a backfill of their whole Claude Code history; until it is done
the numbers grow. The capture process publishes its progress (``blueplane_core.backfill_progress``,
numbers only); this follows it with a rich bar (MB done of the total, MB/s, time left) until it
is done, and gives the one-line summary ``blueplane status`` prints.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from blueplane_core import backfill_progress, redis_conn
from blueplane_core.backfill_progress import BackfillProgress

PROCESS = "capture-claude"
#: a record that has not moved for this long belongs to a process that stopped mid-backfill.
STALLED_S = 60.0


def describe(progress: BackfillProgress) -> str:
    """One line for ``status``: how far the backfill is, or how long it took."""
    mb, total = progress.bytes_done / 1e6, progress.bytes_total / 1e6
    rate = f"{progress.mb_per_s():.1f} MB/s"
    if progress.done:
        return (
            f"backfill done: {mb:,.1f} MB, {progress.files_done:,} files in "
            f"{progress.elapsed_s():.1f} s ({rate})"
        )
    share = 100 * progress.bytes_done / progress.bytes_total if progress.bytes_total else 100.0
    return (
        f"backfill {share:.0f}%: {mb:,.1f} of {total:,.1f} MB, {progress.files_done:,} of "
        f"{progress.files_total:,} files, {rate}"
    )


def _read(client: Any, process: str) -> BackfillProgress | None:
    try:
        return backfill_progress.read_all(client).get(process)
    except redis_conn.errors():
        return None


def follow(
    client: Any,
    console: Console,
    *,
    appear_within_s: float = 30.0,
    poll_s: float = 0.25,
    process: str = PROCESS,
) -> BackfillProgress | None:
    """Show the bar until ``process``'s backfill is done; returns its last progress (None when
    no backfill showed up within ``appear_within_s``, or it stalled)."""
    deadline = time.monotonic() + appear_within_s
    progress = _read(client, process)
    while progress is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(poll_s)  # the capture process is starting
        progress = _read(client, process)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rate]:.1f} MB/s"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("backfill", total=max(progress.bytes_total, 1), rate=0.0)
        while True:
            bar.update(
                task,
                completed=progress.bytes_done,
                description=f"backfill {progress.files_done:,}/{progress.files_total:,} files",
                rate=progress.mb_per_s(),
            )
            if progress.done:
                return progress
            if time.time() - progress.updated_unix > STALLED_S:
                return None
            time.sleep(poll_s)  # redraw rate of the bar
            progress = _read(client, process) or progress
