"""capture-claude: tails Claude Code transcripts (``<data dir>/projects/**/*.jsonl``) into events.

Each file is read from its persisted byte offset (``offsets``): a restart resumes exactly, a
partial last line waits for its newline, a truncated or replaced file is read again from the
start (deterministic event ids make that add nothing), a malformed line is counted, logged with
its file's name and line number and skipped. A file that cannot be read (permissions, a symlink
loop, a folder or FIFO named ``*.jsonl``, a file that vanished) is counted, logged once and
retried every minute while every other file goes on (``faults``). Subagent transcripts
(``<session>/subagents/agent-*.jsonl``) are read like any other file. On first start the whole
history is backfilled (with a progress bar), then watchfiles reports changes; a slow periodic
rescan catches anything a watcher missed.

Delivery: events are XADDed before the offsets that cover them are saved; a crash in between
re-reads some lines and their ids are the same, so ingest stores every fact once. A poll gathers
the events of many files and sends them in pipelines of ``SEND_EVERY`` (``_Outbox``): a history
of thousands of small files costs a few hundred round trips, not one per file.

Lines that cannot hold a fact (``transcript_parser.may_hold_fact``) are skipped before parsing;
the last one with a timestamp in each chunk is still parsed, for the session's last timestamp.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat as stat_kind
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from blueplane_capture import file_watch
from blueplane_capture.faults import FileFaults, describe, is_regular_file
from blueplane_capture.offsets import FilePosition, OffsetStore
from blueplane_capture.transcript_parser import (
    FileCursor,
    FileInfo,
    TranscriptParser,
    may_hold_fact,
)
from blueplane_core import backfill_progress, config, events, lifecycle, paths, privacy, redis_conn
from blueplane_core.backoff import Backoff
from blueplane_core.emit import Emitter

log = logging.getLogger("blueplane.capture.claude")

PROCESS = "capture-claude"
STATE_NAME = "claude_transcripts"
#: bytes read from one file per step (bounds memory on a huge history file).
CHUNK_BYTES = 8 * 1024 * 1024
#: bytes of a file's head remembered to notice a file rewritten in place.
HEAD_BYTES = 256
#: a long poll (backfill) saves its positions this often, so a kill loses little work.
SAVE_EVERY_S = 5.0
#: events gathered (over one or many files) before they are sent in one pipeline.
SEND_EVERY = 2000


class _Outbox:
    """Events waiting to be sent and the read positions that cover them: a position reaches the
    store only once every event before it was sent (``TranscriptMonitor._send``)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.positions: dict[str, FilePosition] = {}

    def add(self, batch: list[dict[str, Any]], key: str, pos: FilePosition) -> None:
        self.events.extend(batch)
        self.positions[key] = pos.copy()


def default_roots(env: dict[str, str] | None = None) -> list[Path]:
    """Claude Code data folders: ``CLAUDE_CONFIG_DIR`` (a comma list), else ``~/.claude`` and
    ``~/.config/claude`` (where ccusage also looks)."""
    environ = os.environ if env is None else env
    configured = environ.get("CLAUDE_CONFIG_DIR", "")
    if configured.strip():
        return [Path(p.strip()).expanduser() for p in configured.split(",") if p.strip()]
    return [Path.home() / ".claude", Path.home() / ".config" / "claude"]


def transcript_dir(root: Path) -> Path:
    """The folder holding transcripts under a data folder (``<root>/projects``, or the root
    itself when it is already a projects folder)."""
    projects = root / "projects"
    return projects if projects.is_dir() else root


class TranscriptMonitor:
    """Reads transcript files incrementally and emits their events. Drive it with ``poll``
    (tests, backfill) or ``run`` (live)."""

    def __init__(
        self,
        roots: Iterable[Path],
        emitter: Emitter,
        store: OffsetStore,
        secret: bytes,
        settle_s: float = 30.0,
        idle_end_s: float = 1800.0,
        rescan_s: float = 60.0,
        shutdown: lifecycle.Shutdown | None = None,
        board: backfill_progress.Publisher | None = None,
    ) -> None:
        """``board``: where a backfill publishes its progress (``blueplane up`` shows it)."""
        self.roots = [Path(r) for r in roots]
        self.emitter = emitter
        self.store = store
        self.secret = secret
        self.parser = TranscriptParser(secret)
        self.settle_s = settle_s
        self.idle_end_s = idle_end_s
        self.rescan_s = rescan_s
        self.shutdown = shutdown
        self.board = board
        self.emitted = 0
        self.malformed = 0
        self.refused = 0
        self.lines = 0
        self.bytes_read = 0
        self.faults = FileFaults(log)
        self.heartbeat: lifecycle.Heartbeat | None = None
        #: state key -> file, for files seen by this process (the state holds no paths)
        self.known: dict[str, Path] = {}
        self._rekey_old_state()

    def shown(self, path: Path | str) -> str:
        """How a log line names a transcript (no home path, no project folder)."""
        return paths.for_log(path, [transcript_dir(r) for r in self.roots])

    def heartbeat_info(self) -> str:
        return (
            f"events={self.emitted} malformed={self.malformed} refused={self.refused} "
            f"unreadable={self.faults.count} failing={self.faults.failing}"
        )

    # ------------------------------------------------------------------------ state

    def state_key(self, path: Path) -> str:
        """The state file's name for ``path``: a keyed hash, never the path (which holds the
        home folder and the project's name)."""
        key = privacy.keyed_hash(self.secret, str(path), "state")
        self.known[key] = path
        return key

    def _rekey_old_state(self) -> None:
        """Positions saved by older versions were keyed by path and remembered the head's
        bytes: rename them to keyed hashes, hash the heads, so no path or text stays behind."""
        for key in [k for k in self.store.positions if "/" in k or "\\" in k]:
            pos = self.store.positions.pop(key)
            if pos.head and ":" not in pos.head:
                head = bytes.fromhex(pos.head)
                pos.head = self._head_digest(head)
            self.store.put(self.state_key(Path(key)), pos)

    def _path_of(self, key: str) -> Path | None:
        if key not in self.known:
            for path in self.transcript_files():
                self.state_key(path)
        return self.known.get(key)

    # ------------------------------------------------------------------------ files

    def transcript_files(self) -> list[Path]:
        found: list[Path] = []
        for root in self.roots:
            base = transcript_dir(root)
            try:
                if base.is_dir():
                    found.extend(p for p in base.rglob("*.jsonl") if is_regular_file(p))
            except OSError as exc:  # the folder itself became unreadable: other roots go on
                self.faults.failed(str(base), self.shown(base), exc)
        return sorted(found)

    def _info(self, path: Path) -> FileInfo:
        is_subagent = path.parent.name == "subagents"
        agent_type = ""
        if is_subagent:
            meta = path.with_name(path.stem + ".meta.json")
            try:
                data = orjson.loads(meta.read_bytes())
                value = data.get("agentType") if isinstance(data, dict) else None
                agent_type = value if isinstance(value, str) else ""
            except (OSError, orjson.JSONDecodeError):
                pass
        session = path.parent.parent.name if is_subagent else path.stem
        return FileInfo(
            path_key=privacy.keyed_hash(self.secret, str(path), "file"),
            fallback_session=session or "unknown",
            is_subagent=is_subagent,
            agent_type=agent_type,
        )

    # ----------------------------------------------------------------------- reading

    def read_file(
        self,
        path: Path,
        flush: bool = False,
        now: float | None = None,
        progress: Any = None,
        outbox: _Outbox | None = None,
    ) -> int:
        """Read what is new in one file and emit its events; returns how many were sent.

        ``flush`` emits held responses at the end (backfill, shutdown); otherwise they are
        emitted once the file has been quiet for ``settle_s``. Raises a Redis error
        (``redis_conn.errors()``) with the file's saved position unchanged. With ``outbox`` the
        events and positions wait there (the caller sends them) and 0 is returned.
        """
        if outbox is None:
            outbox = _Outbox()
            self._read_into(path, flush, now, progress, outbox)
            return self._send(outbox)
        self._read_into(path, flush, now, progress, outbox)
        return 0

    def _read_into(
        self, path: Path, flush: bool, now: float | None, progress: Any, outbox: _Outbox
    ) -> None:
        key = self.state_key(path)
        now = time.time() if now is None else now
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        if not stat_kind.S_ISREG(stat.st_mode):
            return  # a folder or FIFO named *.jsonl (opening a FIFO would block for ever)
        old = self.store.get(key)
        pos = FilePosition.from_json(old.to_json())
        replaced = pos.inode and pos.inode != stat.st_ino
        truncated = stat.st_size < pos.offset
        rewritten = bool(pos.head) and pos.offset and self._head_changed(path, pos)
        if replaced or truncated or rewritten:
            why = "replaced" if replaced else "truncated" if truncated else "rewritten"
            log.info("%s was %s: reading it again from the start", self.shown(path), why)
            pos = FilePosition()
        pos.inode = stat.st_ino
        info = self._info(path)
        cursor = FileCursor.from_json(pos.cursor)
        while pos.offset < stat.st_size:
            with path.open("rb") as handle:
                handle.seek(pos.offset)
                data = handle.read(CHUNK_BYTES)
            if not data:
                break
            batch, consumed = self._parse_chunk(path, data, pos, cursor, info)
            if consumed == 0:
                if len(data) < CHUNK_BYTES:
                    break  # a partial last line: wait for its newline
                consumed = self._skip_huge_line(path, pos)  # a line longer than a chunk
            if pos.offset == 0 and not pos.head:
                pos.head = self._head_of(path)
            pos.offset += consumed
            pos.cursor = cursor.to_json()
            outbox.add(batch, key, pos)  # stored only once its events are sent
            self.bytes_read += consumed
            if progress is not None:
                progress(consumed)
            if consumed < len(data):
                break
        quiet_for = now - stat.st_mtime  # the client appends: mtime is its last write
        quiet = quiet_for >= self.settle_s
        tail: list[dict[str, Any]] = []
        if cursor.pending and (flush or quiet):
            tail.extend(self.parser.flush(cursor))
        idle = quiet_for >= self.idle_end_s
        if idle and pos.ended_at != pos.offset:
            end = self.parser.session_end(cursor, info, pos.offset)
            if end is not None:
                tail.append(end)
            pos.ended_at = pos.offset
            cursor.forget_details()  # keeps the saved state small for a long history
        new = key not in self.store.positions and key not in outbox.positions
        if tail or pos.ended_at != old.ended_at or new:
            pos.cursor = cursor.to_json()
            outbox.add(tail, key, pos)

    def _send(self, outbox: _Outbox) -> int:
        """Send what ``outbox`` holds, then store the positions it covers; returns events sent.
        A Redis error leaves every position of the outbox unsaved (those lines are read again)."""
        sent = self._emit(outbox.events)
        for key, pos in outbox.positions.items():
            self.store.put(key, pos)
        outbox.events.clear()
        outbox.positions.clear()
        return sent

    def _head_digest(self, head: bytes) -> str:
        """``<length>:<keyed hash>`` of a file's first bytes (which may hold a prompt)."""
        return f"{len(head)}:" + privacy.keyed_hash(self.secret, head.hex(), "head")

    def _head_of(self, path: Path) -> str:
        with path.open("rb") as handle:
            return self._head_digest(handle.read(HEAD_BYTES))

    def _head_changed(self, path: Path, pos: FilePosition) -> bool:
        size, _, _digest = pos.head.partition(":")
        if not size.isdigit():
            return False
        with path.open("rb") as handle:
            return self._head_digest(handle.read(int(size))) != pos.head

    def _skip_huge_line(self, path: Path, pos: FilePosition) -> int:
        """Skip one line longer than CHUNK_BYTES (counted malformed); returns bytes skipped."""
        skipped = 0
        with path.open("rb") as handle:
            handle.seek(pos.offset)
            while True:
                block = handle.read(CHUNK_BYTES)
                if not block:
                    return 0  # no newline yet: wait
                cut = block.find(b"\n")
                if cut >= 0:
                    skipped += cut + 1
                    break
                skipped += len(block)
        pos.lines += 1
        self.malformed += 1
        log.warning(
            "%s:%d: line of %d bytes skipped (too long)", self.shown(path), pos.lines, skipped
        )
        return skipped

    def _parse_chunk(
        self, path: Path, data: bytes, pos: FilePosition, cursor: FileCursor, info: FileInfo
    ) -> tuple[list[dict[str, Any]], int]:
        """Events of the complete lines in ``data``; returns them and the bytes consumed.

        Every line is decoded (a malformed one is counted and logged), but one that cannot hold
        a fact (``may_hold_fact``) is not parsed, except the last such line with a timestamp
        after the last parsed one: parsing it only sets the cursor's last timestamp and session
        (which a session's end carries), so the cursor ends as if every line had been parsed."""
        out: list[dict[str, Any]] = []
        consumed = 0
        end = data.rfind(b"\n")
        if end < 0:
            return out, 0
        skipped: tuple[dict[str, Any], int, int] | None = None
        for raw in data[: end + 1].split(b"\n")[:-1]:
            position = pos.offset + consumed
            consumed += len(raw) + 1
            pos.lines += 1
            self.lines += 1
            if not raw.strip():
                continue
            try:
                line = orjson.loads(raw)
                if not isinstance(line, dict):
                    raise ValueError(f"a JSON {type(line).__name__}, not an object")
                if may_hold_fact(raw):
                    skipped = None
                    out.extend(self.parser.parse(line, cursor, info, position))
                elif self.parser.moves_cursor(line):
                    skipped = (line, position, pos.lines)
            except Exception as exc:  # one bad record never stops its file
                self._malformed(path, pos.lines, exc)
        if skipped is not None:
            try:
                out.extend(self.parser.parse(skipped[0], cursor, info, skipped[1]))
            except Exception as exc:
                self._malformed(path, skipped[2], exc)
        return out, consumed

    def _malformed(self, path: Path, number: int, exc: Exception) -> None:
        self.malformed += 1
        # the kind only: a decoder's or parser's message may quote the line's values
        why = str(exc)[:60] if isinstance(exc, orjson.JSONDecodeError) else describe(exc)
        log.warning("%s:%d: malformed line skipped (%s)", self.shown(path), number, why)

    def _emit(self, batch: list[dict[str, Any]]) -> int:
        """XADD a batch; an event the Emitter refuses is logged and skipped, never retried
        forever (it would block its file)."""
        if not batch:
            return 0
        sent = 0
        for start in range(0, len(batch), 1000):
            part = batch[start : start + 1000]
            try:
                sent += self.emitter.emit_many(part)
            except (events.InvalidEvent, privacy.PrivacyViolation):
                for event in part:  # nothing of the part was sent: find the bad one(s)
                    try:
                        sent += self.emitter.emit_many([event])
                    except (events.InvalidEvent, privacy.PrivacyViolation) as exc:
                        self.refused += 1
                        # a privacy refusal names keys only; other messages may quote values
                        why = str(exc) if isinstance(exc, privacy.PrivacyViolation) else None
                        log.error(
                            "refused %s event: %s", event.get("event_type"), why or describe(exc)
                        )
        self.emitted += sent
        return sent

    # ------------------------------------------------------------------------- loops

    def poll(
        self,
        files: Iterable[Path] | None = None,
        flush: bool = False,
        now: float | None = None,
        progress: Any = None,
        file_done: Callable[[], None] | None = None,
    ) -> int:
        """Read the given files (default: all transcripts) plus every file with held
        responses or an unreported end, then save the positions. Returns events sent.

        ``progress(nbytes)`` is told of every chunk read, ``file_done()`` of every file."""
        listed = self.transcript_files() if files is None else files
        targets = {self.state_key(Path(p)): Path(p) for p in listed}
        for key, pos in list(self.store.positions.items()):
            if key not in targets and (pos.cursor.get("pending") or pos.ended_at != pos.offset):
                path = self._path_of(key)
                if path is not None:
                    targets[key] = path
        sent = 0
        saved = time.monotonic()
        outbox = _Outbox()
        try:
            for key in sorted(targets, key=lambda k: str(targets[k])):
                if self.shutdown is not None and self.shutdown.requested:
                    break  # SIGTERM during a long backfill: save what is done, stop
                self._read_guarded(key, targets[key], flush, now, progress, outbox)
                if file_done is not None:
                    file_done()
                if len(outbox.events) >= SEND_EVERY:
                    sent += self._send(outbox)
                if self.heartbeat is not None:  # a long backfill is alive, not stuck
                    self.heartbeat.beat(self.heartbeat_info())
                if time.monotonic() - saved > SAVE_EVERY_S:
                    self._save()
                    saved = time.monotonic()
            sent += self._send(outbox)
        finally:
            if files is None:
                existing = {self.state_key(p) for p in self.transcript_files()}
                self.store.forget_missing(existing)
                self.faults.forget(existing)
            self._save()
        return sent

    def _read_guarded(
        self, key: str, path: Path, flush: bool, now: float | None, progress: Any, outbox: _Outbox
    ) -> None:
        """``read_file`` into ``outbox``, except that a file that cannot be read is skipped and
        retried later (what it queued before the error stays valid)."""
        if not self.faults.due(key):
            return
        try:
            self.read_file(path, flush=flush, now=now, progress=progress, outbox=outbox)
        except OSError as exc:  # permissions, a symlink loop, I/O errors: this file only
            self.faults.failed(key, self.shown(path), exc)
            return
        self.faults.recovered(key, self.shown(path))

    def _save(self) -> None:
        """Save positions; a full disk is logged and retried on the next save (events already
        sent are re-read after a restart, and their fixed ids make that add nothing)."""
        try:
            self.store.save()
        except OSError as exc:
            self.faults.failed("<offsets>", "read positions", exc, action="not saved")
        else:
            self.faults.recovered("<offsets>", "read positions")

    def backfill(self, show_progress: bool = True, flush: bool = False) -> int:
        """Read the whole existing history once, with a progress bar, and publish its progress
        on ``board``. Held responses of files quiet for ``settle_s`` are emitted; ``flush``
        emits every held response (``--once``)."""
        files = self.transcript_files()
        total = sum(max(_size(p) - self.store.get(self.state_key(p)).offset, 0) for p in files)
        board = self.board
        if board is not None:
            board.start(total, len(files))
        if show_progress:
            sent = self._poll_with_bar(files, total, flush)
        else:
            sent = self.poll(
                files,
                flush=flush,
                progress=board.advance if board else None,
                file_done=board.file_done if board else None,
            )
        if board is not None:
            board.finish()  # also after a SIGTERM: the bar stops at what was read
        return sent

    def _poll_with_bar(self, files: list[Path], total: int, flush: bool) -> int:
        """``poll`` with a rich bar on stderr (when stderr is a terminal)."""
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        board = self.board
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        ) as bar:
            task = bar.add_task(f"backfill {len(files)} transcripts", total=total or 1)

            def advance(nbytes: int) -> None:
                bar.advance(task, nbytes)
                if board is not None:
                    board.advance(nbytes)

            return self.poll(
                files, flush=flush, progress=advance, file_done=board.file_done if board else None
            )

    def run(
        self,
        shutdown: lifecycle.Shutdown,
        heartbeat: lifecycle.Heartbeat | None = None,
        tick_s: float = 1.0,
    ) -> None:
        """Follow the transcripts live until shutdown; Redis errors back off and retry."""
        last_scan = 0.0
        waits = Backoff(
            log, shutdown, first_s=tick_s, max_s=30.0, on_wait=heartbeat.beat if heartbeat else None
        )
        while not shutdown.requested:
            roots = [str(transcript_dir(r)) for r in self.roots if transcript_dir(r).is_dir()]
            if not roots:
                shutdown.wait(max(self.rescan_s / 4, tick_s))
                continue
            try:
                for changes in file_watch.changed_paths(
                    roots,
                    shutdown,
                    keep=lambda path: path.endswith(".jsonl"),
                    timeout_ms=int(tick_s * 1000),
                    debounce_ms=200,
                    yield_on_timeout=True,
                ):
                    now = time.time()
                    if now - last_scan >= self.rescan_s:
                        self.poll(now=now)
                        last_scan = now
                    else:
                        self.poll({Path(p) for p in changes}, now=now)
                    waits.succeeded()
                    if heartbeat:
                        heartbeat.beat(self.heartbeat_info())
                    if shutdown.requested:
                        break
            except redis_conn.errors() as exc:
                waits.wait(exc, "sending transcript events")  # one log line a minute
            except (OSError, RuntimeError) as exc:
                # a watched folder vanished or became unreadable: poll by rescans until it is back
                self.faults.failed("<watch>", "file watching", exc, action="paused")
                if heartbeat:
                    heartbeat.beat(self.heartbeat_info())
                shutdown.wait(max(tick_s, min(self.rescan_s, 5.0)))
                try:
                    self.poll()
                except redis_conn.errors():
                    pass
        try:
            self.poll(flush=False)
        except redis_conn.errors():
            pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def roots_from_config(cfg: config.Config) -> list[Path]:
    configured = cfg["capture.claude_dirs"]
    return [Path(p).expanduser() for p in configured] if configured else default_roots()


def main(argv: list[str] | None = None) -> None:
    """``python -m blueplane_capture.transcripts`` (supervisord program capture-claude)."""
    parser = argparse.ArgumentParser(prog=PROCESS, description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="read everything once and exit")
    parser.add_argument("--no-progress", action="store_true", help="no backfill progress bar")
    args = parser.parse_args(argv)
    lifecycle.setup_logging(PROCESS)
    cfg = config.load_or_exit(PROCESS)
    shutdown = lifecycle.Shutdown().install()
    client = redis_conn.small_client(cfg)
    emitter = Emitter(
        client,
        cfg["privacy.disabled_categories"],
        project_labels=cfg["privacy.project_labels"] == "basename",
    )
    store = OffsetStore(STATE_NAME).load()
    monitor = TranscriptMonitor(
        roots_from_config(cfg),
        emitter,
        store,
        privacy.load_secret(),
        shutdown=shutdown,
        board=backfill_progress.Publisher(client, PROCESS),
    )
    log.info("watching %s", ", ".join(paths.for_log(r, [r]) for r in monitor.roots))
    heartbeat = lifecycle.Heartbeat(client, PROCESS)
    monitor.heartbeat = heartbeat
    heartbeat.beat("starting")
    lifecycle.tune_gc()
    try:
        if args.once or not store.existed:
            # The rich bar only on a terminal: under supervisord stderr is a log file, the bar
            # would be noise there and rich costs ~4 MB of memory for the process's whole life;
            # `blueplane up` shows the published progress instead.
            sent = monitor.backfill(
                show_progress=not args.no_progress and sys.stderr.isatty(), flush=args.once
            )
            log.info(
                "backfill: %d events, %d lines, %d malformed",
                sent,
                monitor.lines,
                monitor.malformed,
            )
        if not args.once:
            monitor.run(shutdown, heartbeat)
    except redis_conn.errors() as exc:
        log.error("Redis unavailable: %s", exc)
        sys.exit(lifecycle.EXIT_REDIS_UNAVAILABLE)
    log.info("stopped: %s", monitor.heartbeat_info())


if __name__ == "__main__":
    main()
