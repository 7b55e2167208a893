"""``blueplane privacy``: what this database actually keeps, key by key, and every event in full.

The allow-list (``blueplane_core.allowlist``) says what may be stored; this reads what IS stored
(``raw_traces`` and the archive, through ``StoredEvents``) so the owner can check the promise on
their own data: for every event type, each payload and metadata key present, the kind of value it
holds and in how many events. ``dump`` writes every stored event decoded, one JSON per line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from blueplane_core import allowlist, db, paths
from blueplane_core.stored_events import StoredEvents


@dataclass
class KeyUse:
    """One key of one event type as stored: the kinds its values have, in how many events."""

    events: int = 0
    kinds: set[str] = field(default_factory=set)


def _kind(event_type: str, section: str, key: str, value: Any) -> str:
    kinds = allowlist.METADATA if section == "metadata" else allowlist.PAYLOAD.get(event_type, {})
    kind = kinds.get(key)
    if kind is None:
        return f"NOT ON THE ALLOW-LIST ({type(value).__name__})"
    return kind.name if kind.check(value) else f"NOT A {kind.name.upper()} ({type(value).__name__})"


def stored_events(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Every stored event (raw_traces and archive), in sequence order."""
    for _sequence, event in StoredEvents(conn).iterate():
        yield event


def summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """``{event_type: {"events": n, "keys": {"payload.k" | "metadata.k": KeyUse}}}``."""
    report: dict[str, Any] = {}
    for event in stored_events(conn):
        entry = report.setdefault(event["event_type"], {"events": 0, "keys": {}})
        entry["events"] += 1
        for section in ("payload", "metadata"):
            for key, value in event[section].items():
                use = entry["keys"].setdefault(f"{section}.{key}", KeyUse())
                use.events += 1
                use.kinds.add(_kind(event["event_type"], section, key, value))
    return report


def as_json(report: dict[str, Any]) -> dict[str, Any]:
    """The summary with plain values (for ``--json``)."""
    return {
        event_type: {
            "events": entry["events"],
            "keys": {
                key: {"events": use.events, "kinds": sorted(use.kinds)}
                for key, use in sorted(entry["keys"].items())
            },
        }
        for event_type, entry in sorted(report.items())
    }


def dump(conn: sqlite3.Connection, out: IO[bytes]) -> int:
    """Write every stored event as one JSON line; returns how many."""
    count = 0
    for event in stored_events(conn):
        out.write(orjson.dumps(event) + b"\n")
        count += 1
    return count


def open_database() -> sqlite3.Connection:
    """The database, read-only (these commands never change anything), raw events included."""
    return db.connect_readonly(paths.database(), deny=(), time_limit_s=0)
