"""``blueplane status``: is every process up, is anything piling up, what is stored."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import redis

from blueplane import supervisor
from blueplane_core import paths, streams


def redis_health(client: redis.Redis) -> dict[str, Any]:
    """Stream lengths, each group's pending and lag, DLQ size, live heartbeats."""
    out: dict[str, Any] = {"streams": {}, "heartbeats": {}}
    for stream, groups in streams.GROUPS_BY_STREAM.items():
        info: dict[str, Any] = {"length": int(client.xlen(stream)), "groups": {}}
        try:
            for group in client.xinfo_groups(stream):
                name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
                info["groups"][name] = {
                    "pending": int(group["pending"]),
                    "lag": None if group.get("lag") is None else int(group["lag"]),
                    "consumers": int(group["consumers"]),
                }
        except redis.ResponseError:
            pass
        info["expected_groups"] = list(groups)
        out["streams"][stream] = info
    out["dlq"] = int(client.xlen(streams.DLQ_STREAM))
    now = int(time.time())
    for key in client.scan_iter(match=streams.HEARTBEAT_PREFIX + "*", count=200):
        name = key.decode()[len(streams.HEARTBEAT_PREFIX) :]
        value = (client.get(key) or b"").decode()
        parts = value.split(" ", 2)
        seen = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else now
        out["heartbeats"][name] = {"age_s": now - seen, "info": parts[2] if len(parts) > 2 else ""}
    return out


def database_health() -> dict[str, Any]:
    """Rows stored and bytes on disk (database + WAL)."""
    path = paths.database()
    if not path.exists():
        return {"exists": False, "rows": 0, "bytes": 0}
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT count(*) FROM raw_traces").fetchone()[0]
        return {"exists": True, "rows": int(rows), "bytes": size}
    except sqlite3.OperationalError:
        return {"exists": True, "rows": 0, "bytes": size}
    finally:
        conn.close()


def collect(client: redis.Redis | None) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (``--json`` prints it as is)."""
    from blueplane_capture.cli import integration_status

    report: dict[str, Any] = {
        "supervisor": supervisor.running(),
        "processes": [
            {
                "name": f"{p['group']}:{p['name']}",
                "state": p["statename"],
                "pid": p["pid"],
                "description": p["description"],
            }
            for p in supervisor.processes()
        ],
        "database": database_health(),
        "integrations": dict(integration_status()),
        "home": str(paths.home()),
    }
    if client is not None:
        try:
            report["redis"] = redis_health(client)
        except redis.RedisError as exc:
            report["redis"] = {"error": str(exc)}
    return report
