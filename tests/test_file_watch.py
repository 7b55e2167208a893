"""The monitors' file watcher (watchfiles' Rust notifier without its anyio package): it reports
the changed paths it is told to keep, groups a burst, and ends when shutdown is requested."""

from __future__ import annotations

from pathlib import Path

from blueplane_capture import file_watch
from blueplane_core import lifecycle


def test_changed_paths_keeps_what_it_is_told_and_stops_on_shutdown(tmp_path: Path) -> None:
    shutdown = lifecycle.Shutdown()
    nested = tmp_path / "project"
    nested.mkdir()
    changes = file_watch.changed_paths(
        [str(tmp_path)],
        shutdown,
        keep=lambda path: path.endswith(".jsonl"),
        timeout_ms=100,
        debounce_ms=200,
        yield_on_timeout=True,
    )
    assert next(changes) == set()  # quiet: one empty set per timeout; the watch is running
    (nested / "a.jsonl").write_text("{}\n")
    (nested / "notes.txt").write_text("x")
    seen: set[str] = set()
    while not seen:  # each pass waits for the notifier (a timeout or a burst), never a sleep
        seen = next(changes)
    assert seen == {str(nested / "a.jsonl")}
    shutdown.request()
    assert list(changes) == []


def test_a_missing_folder_raises_what_the_monitors_catch(tmp_path: Path) -> None:
    changes = file_watch.changed_paths(
        [str(tmp_path / "gone")], lifecycle.Shutdown(), keep=bool, timeout_ms=50
    )
    try:
        next(changes)
    except (OSError, RuntimeError):
        return
    raise AssertionError("watching a missing folder did not fail")
