"""Pipeline health, read without touching anything: ``bp-query status`` and ``blueplane status``.

Reads supervisord's program states (``blueplane_core.supervision``), Redis (heartbeats,
per-consumer stats, consumer groups of every stream, the DLQ length) and the database file
(size, schema version, row counts of processed tables). Returns a plain dict so that the admin
CLI, the MCP server and the HTTP API can all show the same facts; :func:`render` turns it into
rich tables.

Healthy means: every program supervisord runs is RUNNING and beating (a heartbeat from its pid
younger than ``STALE_AFTER_S``), Redis answers, every consumer group exists and is less than
``LAG_WARNING`` entries behind, the dead-letter queue is empty. Each failed check is one line
in ``problems`` naming the process and why. "Behind" is what is really left to do: the group's
pending entries plus the entries after its last delivered id (counted from the stream itself
when Redis's own ``lag`` cannot be trusted, e.g. right after Redis replayed its append-only
file and reports entries-read from before the restart).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from blueplane_core import config as bp_config
from blueplane_core import losses, paths, streams, supervision
from blueplane_query.errors import EXIT_UNHEALTHY, NoDatabase, QueryError, RedisUnavailable
from blueplane_query.redis_reader import RedisReader, ReplyError

#: processed tables whose row counts status shows (whichever exist in this schema): the ones
#: with a row per session or fewer. Counting turns, edits and tool calls meant scanning most of
#: the file, over a second at 1M events, for a number nobody acts on.
PROCESSED_TABLES = ("conversations", "commits", "insights")

#: a group this far behind its stream (entries) is reported as a problem.
LAG_WARNING = 10_000
#: a running process whose heartbeat is older than this is stuck or crash-looping (every
#: process beats at least every few seconds while it works or waits).
STALE_AFTER_S = 60.0
#: hook losses (events neither XADDed nor spooled) are a problem for a day after the last one.
LOSS_PROBLEM_S = 24 * 3600.0
#: entries after a group's last delivered id are counted up to this many (Redis's own ``lag``
#: can be wrong after a restart); past it, Redis's figure bounded by the stream's length is shown.
COUNT_CAP = 200

_UNSET: Any = object()
__all__ = ["EXIT_UNHEALTHY", "pipeline_health", "render"]


def pipeline_health(
    cfg: bp_config.Config | None = None,
    *,
    reader: RedisReader | None = None,
    db_path: Path | None = None,
    now: float | None = None,
    programs: list[dict[str, Any]] | None = _UNSET,
) -> dict[str, Any]:
    """Everything status shows, as a JSON-ready dict (keys documented in docs/query.md).

    ``programs`` is supervisord's process list (default: asked over its socket; None when no
    supervisord runs, as with an external deployment: then heartbeats alone are judged).
    """
    cfg = cfg or bp_config.load()
    own = reader is None
    reader = reader or RedisReader.from_config(cfg)
    now = time.time() if now is None else now
    if programs is _UNSET:
        programs = supervision.programs()
    problems: list[str] = []
    try:
        redis_part = _redis_health(reader, now, problems)
    finally:
        if own:
            reader.close()
    program_rows = _program_health(programs, redis_part["processes"], cfg, problems)
    if programs is None:
        for beat in redis_part["processes"]:
            if not beat["alive"]:
                problems.append(
                    f"{beat['name']}: last heartbeat {beat['age_s']:.0f}s ago (stopped or stuck)"
                )
    lost, last_loss = losses.read(str(paths.home()))
    if lost and now - last_loss < LOSS_PROBLEM_S:
        problems.append(
            f"hooks lost {lost} event(s), the last {(now - last_loss) / 60:.0f} min ago: Redis "
            "refused them and the spool could not be written (disk full?); see logs/hooks.log"
        )
    database = _database_health(db_path or paths.database(), problems)
    return {
        "hook_losses": {"events": lost, "last_unix": last_loss or None},
        "healthy": not problems,
        "problems": problems,
        "checked_at": round(now, 3),
        "supervisor": programs is not None,
        "programs": program_rows,
        **redis_part,
        "database": database,
    }


def _program_health(
    programs: list[dict[str, Any]] | None,
    beats: list[dict[str, Any]],
    cfg: bp_config.Config,
    problems: list[str],
) -> list[dict[str, Any]]:
    """One row per supervised program: its state, heartbeat age, and what is wrong with it."""
    if programs is None:
        return []
    by_pid = {beat["pid"]: beat for beat in beats if beat["pid"]}
    rows = []
    for info in programs:
        name = str(info.get("name", "?"))
        state = str(info.get("statename", "UNKNOWN"))
        if name == "redis" and not cfg.embedded_redis:
            continue  # an external Redis: the embedded one is deliberately not started
        if state == "STOPPED" and info.get("description") == "Not started":
            continue  # not autostarted here (the demo's pipeline runs no capture)
        pid = int(info.get("pid") or 0) or None
        uptime = float(info.get("now", 0)) - float(info.get("start", 0)) if pid else None
        beat = by_pid.get(pid) if pid else None
        row: dict[str, Any] = {
            "name": name,
            "state": state,
            "pid": pid,
            "uptime_s": round(uptime, 1) if uptime is not None else None,
            "heartbeat_age_s": beat["age_s"] if beat else None,
            "healthy": True,
            "reason": "",
        }
        reason = ""
        if state in supervision.BAD_STATES:
            said = str(info.get("spawnerr") or info.get("description") or "").strip()
            last = supervision.last_problem_line(info.get("stdout_logfile") or "")
            reason = state + (f" ({said})" if said else "") + (f": {last}" if last else "")
        elif state == "RUNNING" and name in supervision.LISTENERS:
            host_key, port_key = supervision.LISTENERS[name]
            host, port = str(cfg[host_key]), int(cfg[port_key])
            if (
                uptime is not None
                and uptime > STALE_AFTER_S
                and not supervision.listening(host, port)
            ):
                reason = f"running {uptime:.0f}s but not listening on {host}:{port}"
        elif state == "RUNNING" and name != "redis" and uptime is not None:
            age = beat["age_s"] if beat else None
            if age is None and uptime > STALE_AFTER_S:
                reason = f"running {uptime:.0f}s without a heartbeat (stuck, or restarting)"
            elif age is not None and age > STALE_AFTER_S:
                reason = f"last heartbeat {age:.0f}s ago (stuck)"
        if reason:
            row.update(healthy=False, reason=reason)
            problems.append(f"{name}: {reason}")
        rows.append(row)
    return rows


def _redis_health(reader: RedisReader, now: float, problems: list[str]) -> dict[str, Any]:
    from blueplane_query.redis_reader import _safe

    redis_info: dict[str, Any] = {"url": _safe(reader.url), "reachable": False, "error": None}
    empty: dict[str, Any] = {"processes": [], "consumers": [], "streams": [], "dlq": None}
    try:
        reader.ping()
    except RedisUnavailable as exc:
        redis_info["error"] = str(exc)
        problems.append(str(exc))
        return {"redis": redis_info, **empty}
    redis_info["reachable"] = True

    processes = []
    for raw_name, raw_value in sorted(reader.hgetall(streams.HEARTBEATS_KEY).items()):
        name = raw_name.decode("utf-8", "replace")
        parts = raw_value.decode("utf-8", "replace").split(" ", 2)
        pid = int(parts[0]) if parts and parts[0].isdigit() else None
        beat = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        age = round(now - beat, 1) if beat else None
        alive = age is not None and age <= streams.HEARTBEAT_TTL_S
        processes.append(
            {
                "name": name,
                "alive": alive,  # a killed process's last beat stays, ageing
                "pid": pid,
                "last_beat_unix": beat,
                "age_s": age,
                "info": parts[2] if len(parts) > 2 else "",
            }
        )

    consumers = []
    names = sorted(reader.execute("SMEMBERS", streams.STATS_INDEX_KEY) or [])
    for raw_name in names:
        consumer = raw_name.decode("utf-8", "replace")
        stats = reader.hgetall(streams.stats_key(consumer))
        if not stats:
            continue  # expired
        entry: dict[str, Any] = {"consumer": consumer}
        for field, raw in sorted(stats.items()):
            entry[field.decode()] = _number(raw)
        consumers.append(entry)

    stream_rows = []
    for stream, expected in streams.GROUPS_BY_STREAM.items():
        length = reader.xlen(stream)
        try:
            groups = reader.xinfo_groups(stream)
        except ReplyError:
            groups = []
        by_name = {_text(g.get("name")): g for g in groups}
        group_rows = []
        for group in expected:
            info = by_name.get(group)
            if info is None:
                group_rows.append({"name": group, "exists": False})
                problems.append(f"no consumer group {group} on {stream}: its process never started")
                continue
            pending = int(info.get("pending") or 0)
            delivered = _text(info.get("last-delivered-id")) or "0-0"
            undelivered, exact = _undelivered(reader, stream, length, delivered, info.get("lag"))
            row: dict[str, Any] = {
                "name": group,
                "exists": True,
                "consumers": int(info.get("consumers") or 0),
                "pending": pending,
                "lag": undelivered,  # entries never delivered to the group
                "lag_exact": exact,
                "behind": pending + undelivered,
                "last_delivered_id": delivered,
            }
            if pending + undelivered > LAG_WARNING:
                problems.append(
                    f"group {group} on {stream} is {pending + undelivered} entries behind "
                    f"({pending} pending, {undelivered} not yet delivered)"
                )
            group_rows.append(row)
        stream_rows.append({"stream": stream, "length": length, "groups": group_rows})

    dlq_length = reader.xlen(streams.DLQ_STREAM)
    if dlq_length:
        problems.append(f"{dlq_length} entries in the dead-letter queue (`blueplane dlq`)")
    return {
        "redis": redis_info,
        "processes": processes,
        "consumers": consumers,
        "streams": stream_rows,
        "dlq": {"stream": streams.DLQ_STREAM, "length": dlq_length},
    }


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


def _undelivered(
    reader: RedisReader, stream: str, length: int, delivered: str, reported: Any
) -> tuple[int, bool]:
    """(entries after ``delivered``, exact?): counted from the stream up to COUNT_CAP, Redis's
    ``lag`` only as an estimate beyond; a group whose last delivered id is the stream's last
    entry is never behind."""
    if length == 0:
        return 0, True
    last = reader.execute("XREVRANGE", stream, "+", "-", "COUNT", 1) or []
    if not last or _id(_text(last[0][0]) or "0-0") <= _id(delivered):
        return 0, True
    after = reader.execute("XRANGE", stream, f"({delivered}", "+", "COUNT", COUNT_CAP) or []
    if len(after) < COUNT_CAP:
        return len(after), True
    # far behind: Redis's figure (bounded by the stream) is the best estimate past the cap
    estimate = min(reported, length) if isinstance(reported, int) else length
    return max(COUNT_CAP, estimate), False


def _database_health(path: Path, problems: list[str]) -> dict[str, Any]:
    from blueplane_query.store import Store

    info: dict[str, Any] = {"path": str(path), "exists": path.exists()}
    if not path.exists():
        info.update(size_bytes=0, wal_bytes=0, schema_version=0, tables={}, events_stored=None)
        return info
    wal = path.with_name(path.name + "-wal")
    info["size_bytes"] = path.stat().st_size
    info["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
    try:
        with Store(path) as store:
            info["schema_version"] = store.schema_version()
            info["tables"] = {
                t: int(store.scalar(f"SELECT COUNT(*) FROM {t}"))
                for t in PROCESSED_TABLES
                if store.has(t)
            }
            info["events_stored"] = (
                int(store.scalar("SELECT COALESCE(SUM(event_count), 0) FROM session_mappings"))
                if store.has("session_mappings", "event_count")
                else None
            )
            info["archive"] = _archive_summary(store)
    except (NoDatabase, QueryError) as exc:
        problems.append(str(exc))
        info.setdefault("schema_version", None)
        info.setdefault("tables", {})
        info.setdefault("events_stored", None)
    return info


def _archive_summary(store: Any) -> dict[str, Any] | None:
    """What the Parquet archive of raw events holds (docs/archive.md): files, events, bytes and
    the time range of its events; None before the archive's schema exists."""
    if not store.has("archive_files"):
        return None
    row = store.one(
        "SELECT COUNT(*) AS files, COALESCE(SUM(events), 0) AS events,"
        " COALESCE(SUM(bytes), 0) AS bytes, MIN(first_timestamp) AS first_event,"
        " MAX(last_timestamp) AS last_event FROM archive_files"
    )
    return {**row, "folder": str(paths.archive_dir())} if row else None


def _number(raw: bytes) -> Any:
    text = raw.decode("utf-8", "replace")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def render(health: dict[str, Any]) -> Any:
    """The health dict as rich renderables (a Group of tables) for an 80-column terminal."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    ok = health["healthy"]
    parts.append(
        Text(
            "pipeline healthy" if ok else "pipeline has problems",
            style="green" if ok else "red bold",
        )
    )
    for problem in health["problems"]:
        parts.append(Text(f"  • {problem}", style="yellow"))

    if health.get("programs"):
        table = Table(title="programs (supervisord)", title_justify="left")
        for col in ("program", "state", "pid", "heartbeat", "problem"):
            table.add_column(col)
        for p in health["programs"]:
            color = "green" if p["healthy"] and p["state"] == "RUNNING" else "red"
            beat = f"{p['heartbeat_age_s']:.0f}s ago" if p["heartbeat_age_s"] is not None else ""
            table.add_row(
                p["name"],
                f"[{color}]{p['state']}[/{color}]",
                str(p["pid"] or ""),
                beat,
                p["reason"][:60],
            )
        parts.append(table)
    lost = health.get("hook_losses") or {}
    if lost.get("events"):
        parts.append(Text(f"hooks lost {lost['events']} event(s) (disk full?)", style="red"))
    redis_info = health["redis"]
    parts.append(Text(f"Redis {redis_info['url']}: {'up' if redis_info['reachable'] else 'DOWN'}"))
    if health["processes"]:
        table = Table(title="processes (heartbeats)", title_justify="left")
        for col in ("name", "pid", "last beat", "info"):
            table.add_column(col)
        for p in health["processes"]:
            age = f"{p['age_s']:.0f}s ago" if p["age_s"] is not None else "?"
            table.add_row(p["name"], str(p["pid"] or ""), age, p["info"][:30])
        parts.append(table)
    if health["streams"]:
        table = Table(title="streams", title_justify="left")
        for col in ("stream / group", "length", "consumers", "pending", "lag"):
            table.add_column(col, justify="right" if col != "stream / group" else "left")
        for s in health["streams"]:
            table.add_row(s["stream"], str(s["length"]), "", "", "")
            for g in s["groups"]:
                if not g["exists"]:
                    table.add_row(f"  {g['name']}", "", "missing", "", "")
                    continue
                lag = "" if g["lag"] is None else str(g["lag"])
                table.add_row(f"  {g['name']}", "", str(g["consumers"]), str(g["pending"]), lag)
        if health["dlq"] is not None:
            table.add_row("dead-letter queue", str(health["dlq"]["length"]), "", "", "")
        parts.append(table)
    database = health["database"]
    if database["exists"]:
        size_mb = database["size_bytes"] / 1e6
        wal_mb = database["wal_bytes"] / 1e6
        line = (
            f"database {database['path']}: {size_mb:.1f} MB (+{wal_mb:.1f} MB WAL),"
            f" schema v{database['schema_version']}"
        )
        parts.append(Text(line))
        if database["tables"]:
            table = Table(title="processed tables", title_justify="left")
            table.add_column("table")
            table.add_column("rows", justify="right")
            for name, count in database["tables"].items():
                table.add_row(name, f"{count:,}")
            if database["events_stored"] is not None:
                table.add_row("(events stored)", f"{database['events_stored']:,}")
            parts.append(table)
        archive = database.get("archive")
        if archive and archive["files"]:
            parts.append(
                Text(
                    f"archive {archive['folder']}: {archive['events']:,} raw events in"
                    f" {archive['files']} Parquet files, {archive['bytes'] / 1e6:.1f} MB,"
                    f" from {archive['first_event'][:10]} to {archive['last_event'][:10]}"
                )
            )
        elif archive is not None:
            parts.append(Text("archive: empty (raw events are archived past the retention)"))
    else:
        parts.append(Text(f"database {database['path']}: not created yet"))
    return Group(*parts)
