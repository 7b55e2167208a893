"""Stream trimming that can never drop an entry some group still needs.

A stream is trimmed with ``XTRIM MINID`` to the oldest id any of its groups may still need: the
group's smallest pending id if it has pending entries, else the id just after its last delivered
entry (everything up to it is acknowledged). A group the contract names but that does not exist
yet stops trimming of that stream altogether: nobody has read those entries. Group state only
moves forward, so reading it and trimming in two steps is safe.
"""

from __future__ import annotations

import logging

from blueplane_core import redis_conn, streams
from blueplane_core.resp_consumer import ConsumerClient

log = logging.getLogger("blueplane.maintenance")


def _next_id(entry_id: bytes | str) -> str:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _as_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def safe_min_id(client: ConsumerClient, stream: str, groups: tuple[str, ...]) -> str | None:
    """The MINID below which every group has acknowledged everything, or None if unknown."""
    try:
        infos = redis_conn.groups_by_name(client, stream)
    except redis_conn.reply_errors():
        return None  # no such stream
    candidates: list[str] = []
    for group in groups:
        info = infos.get(group)
        if info is None:
            return None
        low = None
        if int(info["pending"]) > 0:
            # The pending list may empty between XINFO and XPENDING (a consumer acknowledged):
            # XPENDING then reports no smallest id, and the id after the last delivered one,
            # read before, is still a safe (lower or equal) bound.
            low = client.xpending(stream, group).get("min")
        if low:
            candidates.append(low.decode() if isinstance(low, bytes) else str(low))
        else:
            candidates.append(_next_id(info["last-delivered-id"]))
    return min(candidates, key=_as_tuple) if candidates else None


def trim_stream(client: ConsumerClient, stream: str, groups: tuple[str, ...]) -> int:
    """Trim ``stream`` below what all ``groups`` acknowledged; returns entries removed."""
    min_id = safe_min_id(client, stream, groups)
    if min_id is None or min_id == "0-1":
        return 0
    return int(client.xtrim(stream, minid=min_id, approximate=False))


def trim_all(client: ConsumerClient) -> dict[str, int]:
    """Trim every consumed stream (never the DLQ: dead letters wait for a person). A stream
    that cannot be trimmed now (a Redis reply error, a group deleted mid-way) is skipped with a
    log line; the others are still trimmed and the next round tries again. Connection errors
    are raised: nothing can be trimmed then."""
    done: dict[str, int] = {}
    skipped: tuple[type[Exception], ...] = redis_conn.reply_errors()
    skipped += (ValueError, KeyError, TypeError)  # a group or stream changed mid-way
    for stream, groups in streams.GROUPS_BY_STREAM.items():
        try:
            done[stream] = trim_stream(client, stream, groups)
        except skipped as exc:
            log.warning("trim of %s skipped this round: %s", stream, type(exc).__name__)
    return done
