"""capture-cursor: watches Cursor's ``state.vscdb`` databases and turns new records into events.

Files (formats.md 5): ``<Cursor user dir>/globalStorage/state.vscdb`` and
``<Cursor user dir>/workspaceStorage/<id>/state.vscdb``; user dirs per OS, or the config key
``capture.cursor_dirs``. Cursor keeps these files open and writes them all the time, so:

* each file is opened read-only (``mode=ro``) with a 100 ms busy timeout, read in short batches
  (one statement = one brief read transaction) and closed at once: we never hold a lock Cursor
  waits for, and when Cursor holds one we give up this round and retry on the next change;
* a file that is half-written, truncated or not a database is counted, logged and retried
  later; the other files go on;
* ``cursorDiskKV`` rows are replaced whole (UNIQUE ON CONFLICT REPLACE gives a replaced row a
  new rowid), so "rowid above the last one read" finds new and changed rows without reading
  everything; a smaller max rowid or another inode means VACUUM or a new file: read it all again;
* what was read is kept under ``paths.state_dir()`` (rowid high-water marks, item hashes, seen
  ids), and every event id is derived from the record, so a re-scan or a restart adds nothing.

Changes are noticed with watchfiles' notifier (``file_watch``; plus a slow periodic rescan,
because a WAL write may only touch ``state.vscdb-wal``). The loop is ``Monitor.scan_once``;
``main`` adds the watcher.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from blueplane_capture import cursor_records as records
from blueplane_capture import file_watch
from blueplane_capture.faults import describe
from blueplane_core import config, lifecycle, paths, privacy, redis_conn
from blueplane_core.emit import Emitter

log = logging.getLogger("blueplane.capture.cursor")

PROCESS = "capture-cursor"
BUSY_TIMEOUT_S = 0.1
BATCH_ROWS = 500
#: also rescan this often without a file event (WAL writes may not touch the main file)
RESCAN_EVERY_S = 30.0
#: an assistant reply still being generated is held back this long at most
PENDING_MAX_MS = 10 * 60 * 1000
_SEEN_CAP = 5000
#: ItemTable keys read: workspace ``aiService.generations`` (times) and
#: ``composer.composerData`` (which composers a workspace has), global
#: ``composer.composerHeaders`` (composers listed only there, with their workspace).
#: ``aiService.prompts`` is not read: no id, no time, no composer, nothing a bubble lacks.
_ITEM_KEYS = ("aiService.generations", "composer.composerData", "composer.composerHeaders")
_GENERATIONS_CAP = 5000
#: how many following bubbles are looked at for a user bubble's missing requestId
_LOOKAHEAD = 3


def default_user_dirs() -> list[Path]:
    """Cursor's ``User`` folder on this OS."""
    home = Path.home()
    if sys.platform == "darwin":
        return [home / "Library" / "Application Support" / "Cursor" / "User"]
    if sys.platform.startswith("win"):
        appdata = os.environ.get("APPDATA")
        return [Path(appdata) / "Cursor" / "User"] if appdata else []
    return [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "Cursor" / "User"]


def find_databases(user_dirs: list[Path]) -> list[tuple[Path, str]]:
    """(state.vscdb, workspace folder or "") for every workspace database, then the global one
    (workspaces first: they tell which workspace each global composer belongs to). A
    workspace database's folder name is the ``workspaceIdentifier.id`` of global headers."""
    found = []
    for user_dir in user_dirs:
        storage = user_dir / "workspaceStorage"
        for db_file in sorted(storage.glob("*/state.vscdb")) if storage.is_dir() else []:
            found.append((db_file, _workspace_folder(db_file.parent)))
        global_db = user_dir / "globalStorage" / "state.vscdb"
        if global_db.is_file():
            found.append((global_db, ""))
    return found


def _workspace_folder(folder: Path) -> str:
    """The folder a workspace database belongs to, from its workspace.json (never the id)."""
    try:
        data = json.loads((folder / "workspace.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    uri = data.get("folder") or data.get("workspace") or ""
    return records.uri_path(uri) if isinstance(uri, str) else ""


class Unreadable(Exception):
    """The database is locked, half-written or not a database right now; retry later."""


@dataclass
class Counters:
    scans: int = 0
    events: int = 0
    locked: int = 0
    corrupt: int = 0
    bad_values: int = 0

    def summary(self) -> str:
        return (
            f"scans={self.scans} events={self.events} locked={self.locked} "
            f"corrupt={self.corrupt} bad_values={self.bad_values}"
        )


class Reader:
    """Read-only, short-lived access to one state.vscdb."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        uri = f"file:{self.path.as_posix()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        return conn

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise Unreadable(f"{type(exc).__name__}: {exc}") from None
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise Unreadable(f"{type(exc).__name__}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise Unreadable(f"{type(exc).__name__}: {exc}") from None
        finally:
            conn.close()

    def items(self, keys: tuple[str, ...]) -> dict[str, bytes]:
        marks = ",".join("?" * len(keys))
        rows = self._run(f"SELECT key, value FROM ItemTable WHERE key IN ({marks})", keys)
        return {str(k): _bytes(v) for k, v in rows}

    def max_rowid(self) -> int:
        rows = self._run("SELECT max(rowid) FROM cursorDiskKV")
        return int(rows[0][0] or 0) if rows else 0

    def kv_after(self, prefix: str, rowid: int) -> Iterator[tuple[int, str, bytes]]:
        """(rowid, key, value) of the ``prefix...`` rows above ``rowid``, in short batches."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # keys in [prefix, upper) start so
        while True:
            rows = self._run(
                "SELECT rowid, key, value FROM cursorDiskKV WHERE rowid > ? AND key >= ? "
                "AND key < ? ORDER BY rowid LIMIT ?",
                (rowid, prefix, upper, BATCH_ROWS),
            )
            for row_id, key, value in rows:
                yield int(row_id), str(key), _bytes(value)
            if len(rows) < BATCH_ROWS:
                return
            rowid = int(rows[-1][0])

    def kv_get(self, key: str) -> bytes | None:
        rows = self._run("SELECT value FROM cursorDiskKV WHERE key = ?", (key,))
        return _bytes(rows[0][0]) if rows else None


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value or "").encode("utf-8")


class State:
    """What was already read, per database file; saved atomically after each scan."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file or paths.state_dir() / "cursor_db.json"
        self.data: dict[str, Any] = {
            "files": {},
            "composers": {},
            "workspace_of": {},
            "generations": {},
        }
        try:
            loaded = orjson.loads(self.file.read_bytes())
            if isinstance(loaded, dict):
                self.data.update(loaded)
        except FileNotFoundError:
            pass
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning(
                "starting from empty state; %s unreadable: %s", self.file.name, describe(exc)
            )

    def for_file(self, path: Path, secret: bytes) -> dict[str, Any]:
        """What was read from ``path``, under a keyed hash of the path (the state names no
        folder); state saved by older versions under the path itself is moved over."""
        files = self.data["files"]
        key = privacy.keyed_hash(secret, str(path), "state")
        if str(path) in files:
            files[key] = files.pop(str(path))
        return files.setdefault(key, {})

    def save(self) -> None:
        paths.ensure_private_dir(self.file.parent)
        paths.write_private(self.file, orjson.dumps(self.data))


def _bounded(values: set[str]) -> list[str]:
    return sorted(values)[-_SEEN_CAP:] if len(values) > _SEEN_CAP else sorted(values)


class Monitor:
    """One pass over every database (``scan_once``); ``run`` repeats it on file changes."""

    def __init__(
        self,
        emitter: Emitter,
        user_dirs: list[Path],
        state: State | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.emitter = emitter
        self.user_dirs = user_dirs
        self.state = state or State()
        self.secret = secret or privacy.load_secret()
        self.counters = Counters()
        #: workspace hash -> folder, and workspaceStorage id -> hash: rebuilt every scan, in
        #: memory only (a folder is a path: it never goes into the state file)
        self.folders: dict[str, str] = {}
        self.storage: dict[str, str] = {}

    def scan_once(self) -> int:
        """Read what changed in every database and emit it; returns events handed to Redis."""
        self.counters.scans += 1
        sent = 0
        databases = find_databases(self.user_dirs)
        for path, folder in databases:
            if folder:
                workspace = privacy.keyed_hash(self.secret, folder, "workspace")
                self.folders[workspace] = folder
                self.storage[path.parent.name] = workspace
        for path, folder in databases:
            workspace = privacy.keyed_hash(self.secret, folder, "workspace") if folder else ""
            shown = paths.for_log(path, self.user_dirs)
            try:
                sent += self._scan_file(path, workspace)
            except Unreadable as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    self.counters.locked += 1
                    log.info("%s busy (Cursor is writing); retrying on the next change", shown)
                else:
                    self.counters.corrupt += 1
                    log.warning("%s unreadable for now; retrying later", shown)
            except redis_conn.errors():
                raise
            except Exception as exc:  # one bad file or record never stops the rest
                self.counters.corrupt += 1
                log.warning("%s skipped this scan: %s", shown, describe(exc))
        try:
            self.state.save()
        except OSError as exc:  # a full disk: positions are saved on a later scan
            log.warning("cursor read positions not saved: %s", describe(exc))
        self.counters.events += sent
        return sent

    def _emit(self, batch: list[dict[str, Any]]) -> int:
        return self.emitter.emit_many(batch) if batch else 0

    def _scan_file(self, path: Path, workspace: str) -> int:
        reader = Reader(path)
        memory = self.state.for_file(path, self.secret)
        try:
            inode = path.stat().st_ino
        except OSError as exc:
            raise Unreadable(str(exc)) from None
        if memory.get("inode") != inode:
            memory.clear()  # a new file: everything in it is unread
            memory["inode"] = inode
        sent = self._scan_items(reader, memory, workspace)
        sent += self._scan_kv(reader, memory, workspace)
        return sent

    def _json(self, raw: bytes, where: str) -> Any:
        if not raw:
            return None  # a NULL value (seen in real stores): nothing to read, nothing wrong
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.counters.bad_values += 1
            log.warning("skipped a value that is not JSON at %s", where)
            return None

    def _scan_items(self, reader: Reader, memory: dict[str, Any], workspace: str) -> int:
        items = reader.items(_ITEM_KEYS)
        hashes = memory.setdefault("item_hashes", {})
        for key, raw in items.items():
            digest = privacy.keyed_hash(self.secret, raw.hex(), "cursor_item")
            if hashes.get(key) == digest:
                continue
            hashes[key] = digest
            value = self._json(raw, f"ItemTable[{key}]")
            if value is None:
                continue
            if key == "aiService.generations":
                known = self.state.data["generations"]
                known.update(records.generation_times(value))
                while len(known) > _GENERATIONS_CAP:
                    del known[next(iter(known))]
            elif key == "composer.composerData" and workspace:
                for composer in records.workspace_composers(value):
                    self.state.data["workspace_of"][composer] = workspace
            elif key == "composer.composerHeaders":
                mapping = self.state.data["workspace_of"]
                for composer, storage_id in records.header_workspaces(value).items():
                    if not mapping.get(composer) and self.storage.get(storage_id):
                        mapping[composer] = self.storage[storage_id]
        return 0

    def _scan_kv(self, reader: Reader, memory: dict[str, Any], workspace: str) -> int:
        high = reader.max_rowid()
        marks = memory.setdefault("rowids", {})
        if any(high < mark for mark in marks.values()):
            marks.clear()  # VACUUM renumbered the rows: read them all again
        sent = 0
        batch: list[dict[str, Any]] = []
        pending: dict[str, int] = memory.setdefault("pending", {})
        # composers first, so a reply's composer status is known when the reply is read
        for prefix in ("composerData:", "bubbleId:"):
            for rowid, key, raw in reader.kv_after(prefix, marks.get(prefix, 0)):
                batch += self._row(reader, key, raw, pending)
                marks[prefix] = rowid
                if len(batch) >= BATCH_ROWS:
                    sent += self._emit(batch)
                    batch = []
        now = int(time.time() * 1000)
        for key, first_seen in list(pending.items()):  # replies held back while generating
            current = reader.kv_get(key)
            if current is None:
                del pending[key]
                continue
            late = now - first_seen > PENDING_MAX_MS
            batch += self._row(reader, key, current, pending, force=late)
        return sent + self._emit(batch)

    def _row(
        self, reader: Reader, key: str, raw: bytes, pending: dict[str, int], force: bool = False
    ) -> list[dict[str, Any]]:
        """One row's events; a row whose shape breaks the mapping is skipped alone (counted,
        logged by its key and the error's kind, never its value), the rest of the file goes on."""
        try:
            return self._kv_row(reader, key, raw, pending, f"cursorDiskKV[{key}]", force)
        except Unreadable:
            raise
        except redis_conn.errors():
            raise
        except Exception as exc:
            self.counters.bad_values += 1
            log.warning("skipped cursorDiskKV[%s]: %s", key[:120], describe(exc))
            return []

    def _view(self, composer: str) -> records.Composer:
        """The composer as far as the monitor knows it (its memory is updated in place)."""
        memory = self.state.data["composers"].setdefault(composer, {})
        workspace = self.state.data["workspace_of"].get(composer, "")
        return records.Composer(
            composer,
            workspace,
            self.folders.get(workspace, ""),
            memory.get("model", ""),
            memory.get("status", ""),
            memory.get("created"),
            memory.setdefault("order", []),
            memory.setdefault("tools", {}),
        )

    def _generation_ms(self, request: Any) -> int | None:
        return self.state.data["generations"].get(request) if isinstance(request, str) else None

    def _kv_row(
        self,
        reader: Reader,
        key: str,
        raw: bytes,
        pending: dict[str, int],
        where: str,
        force: bool = False,
    ) -> list[dict[str, Any]]:
        value = self._json(raw, where)
        if not isinstance(value, dict):
            return []
        if key.startswith("composerData:"):
            return self._composer_row(key.split(":", 1)[1], value)
        parts = key.split(":")
        if len(parts) != 3:
            return []
        _, composer, bubble_id = parts
        view = self._view(composer)
        request = ""
        if value.get("type") == 1 and not value.get("requestId"):
            request = self._next_request(reader, view, bubble_id)
        unresolved = value.get("type") == 1 and not value.get("requestId") and not request
        unfinished = value.get("type") == 2 and not records.bubble_finished(value, view.status)
        if not force and (unfinished or (unresolved and view.status == "generating")):
            pending.setdefault(key, int(time.time() * 1000))
            return []
        pending.pop(key, None)
        generation = self._generation_ms(value.get("requestId") or request)
        built = records.bubble_events(view, bubble_id, value, self.secret, generation, request)
        return [self._official_cost(composer, event) for event in built]

    def _official_cost(self, composer: str, event: dict[str, Any]) -> dict[str, Any]:
        """Put Cursor's own cost on a request when its ``usageData`` says it unambiguously.

        ``usageData`` counts a composer's requests and cents per model. When it counts exactly
        one request more than were already billed, the new request's cost is the difference
        (``cost_usd``, official); otherwise the request is left to the price table.
        """
        model = event["payload"].get("model")
        if (
            event["event_type"] != "token_usage"
            or not isinstance(model, str)
            or event["payload"].get("tokens_unknown")
        ):
            return event
        memory = self.state.data["composers"].setdefault(composer, {})
        usage = memory.get("usage", {}).get(model)
        billed = memory.setdefault("billed", {}).setdefault(model, [0, 0])
        if usage and usage[1] == billed[1] + 1 and usage[0] >= billed[0]:
            # a new plain dict (a made payload cannot change): the Emitter checks it in full
            event["payload"] = {**event["payload"], "cost_usd": (usage[0] - billed[0]) / 100}
            billed[0], billed[1] = usage[0], usage[1]
        return event

    def _composer_row(self, composer: str, value: dict[str, Any]) -> list[dict[str, Any]]:
        memory = self.state.data["composers"].setdefault(composer, {})
        memory["status"] = value.get("status") if isinstance(value.get("status"), str) else ""
        model = records._obj(value.get("modelConfig")).get("modelName")
        memory["model"] = model[:128] if isinstance(model, str) else ""
        memory["created"] = records.epoch_ms(value.get("createdAt"))
        memory["order"] = records.bubble_ids(value)
        memory["usage"] = records.composer_usage(value)
        view = self._view(composer)
        built = records.composer_events(value, view, self.secret)
        inline = records.inline_bubbles(value)
        for index, bubble in enumerate(inline):
            bubble_id = records._str(bubble.get("bubbleId"), 256) or f"inline-{index}"
            if bubble.get("type") == 2 and not records.bubble_finished(bubble, view.status):
                continue  # still being written: read again when the composer row changes
            request = ""
            if bubble.get("type") == 1 and not bubble.get("requestId"):
                following = (b.get("requestId") for b in inline[index + 1 :][:_LOOKAHEAD])
                request = next((r for r in following if isinstance(r, str) and r), "")
            generation = self._generation_ms(bubble.get("requestId") or request)
            built += records.bubble_events(
                view, bubble_id, bubble, self.secret, generation, request
            )
        # a composer row is rewritten on every update: send each derived fact once
        sent = set(memory.get("sent", []))
        fresh = [event for event in built if event["event_id"] not in sent]
        memory["sent"] = [*memory.get("sent", []), *(e["event_id"] for e in fresh)][-2000:]
        return fresh

    def _next_request(self, reader: Reader, view: records.Composer, bubble_id: str) -> str:
        """A user bubble's generation when it has no ``requestId``: the next bubbles' one."""
        if bubble_id not in view.order:
            return ""
        start = view.order.index(bubble_id) + 1
        for following in view.order[start : start + _LOOKAHEAD]:
            raw = reader.kv_get(f"bubbleId:{view.composer_id}:{following}")
            value = self._json(raw, "bubble") if raw else None
            request = value.get("requestId") if isinstance(value, dict) else None
            if isinstance(request, str) and request:
                return request[:128]
        return ""

    def run(
        self,
        shutdown: lifecycle.Shutdown,
        heartbeat: lifecycle.Heartbeat | None = None,
        rescan_every_s: float = RESCAN_EVERY_S,
    ) -> None:
        """Scan now, then on every change under the user dirs (and every ``rescan_every_s``)."""
        changed = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(changed, shutdown), daemon=True, name="cursor-watch"
        )
        watcher.start()
        while not shutdown.requested:
            try:
                self.scan_once()
            except redis_conn.errors() as exc:
                log.warning("Redis unavailable (%s); retrying", exc)
                shutdown.wait(1.0)
            if heartbeat:
                heartbeat.beat(self.counters.summary())
            deadline = time.monotonic() + rescan_every_s
            while not shutdown.requested and time.monotonic() < deadline:
                if heartbeat:  # waiting is alive too (status judges heartbeat age)
                    heartbeat.beat(self.counters.summary())
                if changed.wait(0.5):
                    shutdown.wait(0.2)  # let a burst of writes settle into one scan
                    break
            changed.clear()

    def _watch(self, changed: threading.Event, shutdown: lifecycle.Shutdown) -> None:
        roots = [str(d) for d in self.user_dirs if d.is_dir()]
        while roots and not shutdown.requested:
            try:
                for _paths in file_watch.changed_paths(
                    roots, shutdown, keep=lambda path: "state.vscdb" in path, timeout_ms=1000
                ):
                    changed.set()  # hand over to the scanning thread; no work here
            except (OSError, RuntimeError) as exc:
                log.warning("file watching stopped (%s); periodic rescans continue", exc)
                return


def main() -> int:
    cfg = config.load_or_exit(PROCESS)
    lifecycle.setup_logging(PROCESS)
    shutdown = lifecycle.Shutdown().install()
    dirs = [Path(d).expanduser() for d in cfg["capture.cursor_dirs"]] or default_user_dirs()
    client = redis_conn.small_client(cfg)
    monitor = Monitor(Emitter(client, cfg["privacy.disabled_categories"]), dirs)
    shown = ", ".join(paths.for_log(d, [d]) for d in dirs)
    log.info("watching %s", shown or "nothing (no Cursor folder)")
    heartbeat = lifecycle.Heartbeat(client, PROCESS)
    heartbeat.beat("starting")
    monitor.run(shutdown, heartbeat)
    log.info("stopping: %s", monitor.counters.summary())
    heartbeat.clear()
    return lifecycle.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
