"""capture-spool: pushes the events hooks spooled to disk while Redis was down or slow.

Delivery: a spooled file is deleted only after its XADD succeeded, so a crash between the two
pushes the file again on restart. That is harmless: the event id was fixed when the hook wrote
the file and ingest stores each event_id once, so every spooled event is stored exactly once.
A file that is not a valid, sanitized envelope is moved to ``spool/rejected/`` with a log line
naming it (nothing is deleted unread). A file that cannot be read right now (permissions, a
folder named like an event, an I/O error) stays where it is, is logged once, counted in the
heartbeat (``skipped=``) and retried every minute; the files after it are drained as usual.
A file pushed but not deletable is remembered, so it is not pushed again every second.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

from blueplane_capture.faults import FileFaults
from blueplane_capture.hooks import spool_file
from blueplane_core import config, events, lifecycle, paths, privacy, redis_conn
from blueplane_core.backoff import Backoff
from blueplane_core.emit import Emitter

log = logging.getLogger("blueplane.capture.spool")

PROCESS = "capture-spool"
#: temporary files a killed hook left behind are removed after this long.
STALE_TMP_S = 3600.0


class SpoolDrainer:
    """Moves spooled events to the events stream, oldest first, in pipelined batches."""

    def __init__(self, emitter: Emitter, folder: Path | None = None, batch: int = 200) -> None:
        self.emitter = emitter
        self.folder = folder or paths.spool_dir()
        self.batch = batch
        self.pushed = 0
        self.rejected = 0
        self.faults = FileFaults(log)
        self._pushed_undeletable: set[str] = set()

    def heartbeat_info(self) -> str:
        return (
            f"pushed={self.pushed} rejected={self.rejected} skipped={self.faults.count} "
            f"failing={self.faults.failing}"
        )

    def pending(self) -> list[Path]:
        """Spooled event files, oldest first (UUIDv7 names sort by time; mtime breaks ties)."""
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        except OSError as exc:  # the spool folder itself: retried on the next round
            self.faults.failed("<spool>", "the spool folder", exc, action="unreadable")
            return []
        self.faults.recovered("<spool>", "the spool folder")
        files: list[tuple[float, str, Path]] = []
        now = time.time()
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if entry.name.startswith("."):
                try:
                    if now - entry.stat().st_mtime > STALE_TMP_S:
                        os.unlink(entry.path)
                except OSError:
                    pass
                continue
            if entry.name.endswith(spool_file.SUFFIX):
                if entry.name in self._pushed_undeletable or not self.faults.due(entry.name):
                    continue
                try:
                    files.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
                except OSError:
                    continue
        files.sort()
        return [path for _, _, path in files]

    def _reject(self, path: Path, reason: str) -> None:
        target = self.folder / "rejected"
        paths.ensure_private_dir(target)
        try:
            path.rename(target / path.name)
        except OSError as exc:  # cannot move it: leave it, do not read it again for a while
            self.faults.failed(path.name, path.name, exc, action="not set aside")
        self.rejected += 1
        log.warning("rejected spooled file %s: %s", path.name, reason)

    def _load(self, path: Path) -> dict[str, Any] | None:
        try:
            event = orjson.loads(path.read_bytes())
            events.validate(event)
            privacy.check_sanitized(event["payload"], "payload")
            privacy.check_sanitized(event["metadata"], "metadata")
        except FileNotFoundError:
            return None  # another drainer took it
        except OSError as exc:  # unreadable now: stays spooled, retried later
            self.faults.failed(path.name, path.name, exc)
            return None
        except orjson.JSONDecodeError:
            self._reject(path, "not JSON")
            return None
        except (events.InvalidEvent, privacy.PrivacyViolation) as exc:
            self._reject(path, str(exc))
            return None
        self.faults.recovered(path.name, path.name)
        return event

    def _delete(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            # Pushed (stored once whatever happens), but it would be pushed again every round:
            # remember it until this process restarts.
            self._pushed_undeletable.add(path.name)
            self.faults.failed(path.name, path.name, exc, action="pushed but not deleted")

    def drain_once(self) -> int:
        """Push everything spooled now; returns how many events were pushed.

        Raises a Redis error (``redis_conn.errors()``) if Redis fails: the files of the failed
        batch stay spooled.
        """
        pushed = 0
        files = self.pending()
        for start in range(0, len(files), self.batch):
            chunk = files[start : start + self.batch]
            loaded = [(path, self._load(path)) for path in chunk]
            ready = [(path, event) for path, event in loaded if event is not None]
            if not ready:
                continue
            self.emitter.emit_many(event for _, event in ready)
            for path, _ in ready:  # only now: the XADDs succeeded
                self._delete(path)
            pushed += len(ready)
        self.pushed += pushed
        return pushed

    def run(
        self,
        shutdown: lifecycle.Shutdown,
        interval_s: float = 1.0,
        burst: bool = False,
        heartbeat: lifecycle.Heartbeat | None = None,
    ) -> int:
        """Drain until shutdown (or once, in burst mode); Redis errors back off and retry,
        with one log line a minute while Redis stays away (not one per attempt)."""
        waits = Backoff(
            log,
            shutdown,
            first_s=interval_s,
            max_s=30.0,
            on_wait=heartbeat.beat if heartbeat else None,
        )
        while not shutdown.requested:
            try:
                count = self.drain_once()
                if count:
                    log.info("pushed %d spooled event(s)", count)
                waits.succeeded()
                if heartbeat:
                    heartbeat.beat(self.heartbeat_info())
            except redis_conn.errors() as exc:
                if burst:
                    log.warning("Redis unavailable: %s", exc)
                    raise
                waits.wait(exc, "pushing spooled events")
                continue
            except OSError as exc:  # the disk itself (full, read-only): wait and try again
                self.faults.failed("<round>", "a drain round", exc, action="failed")
                shutdown.wait(5.0)
                continue
            if burst:
                break
            shutdown.wait(interval_s)
        return self.pushed


def main() -> None:
    """``python -m blueplane_capture.spool`` (supervisord program capture-spool)."""
    lifecycle.setup_logging(PROCESS)
    cfg = config.load_or_exit(PROCESS)
    shutdown = lifecycle.Shutdown().install()
    client = redis_conn.small_client(cfg)
    emitter = Emitter(client, cfg["privacy.disabled_categories"])
    drainer = SpoolDrainer(emitter)
    log.info("draining %s", paths.for_log(drainer.folder, [paths.home()]))
    drainer.run(shutdown, heartbeat=lifecycle.Heartbeat(client, PROCESS))
    log.info("stopped: %s", drainer.heartbeat_info())


if __name__ == "__main__":
    main()
