"""Live numbers from the metrics worker's Redis keys (layout: ``blueplane_core.metric_keys``).

Redis holds counters per scope (all, one platform, one model, one tool, ...) and UTC day/hour,
updated within a second of capture; SQLite holds the rebuilt conversations. ``metrics`` shows
both, ``watch`` refreshes from here alone.

Imports stay light (no config, filters or SQLite): ``bp-query statusline`` reads through
:func:`day_view` in a process that must start and answer within 50 ms.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from blueplane_core import metric_keys

TYPE_CHECKING = False  # typing itself costs the status line ~3 ms to import
if TYPE_CHECKING:
    from typing import Any

    from blueplane_core import config as bp_config
    from blueplane_core.resp import Client as Reader  # RedisReader is one
    from blueplane_query.filters import Filter
    from blueplane_query.redis_reader import RedisReader


def connect(cfg: bp_config.Config | None = None) -> RedisReader:
    from blueplane_core import config as bp_config
    from blueplane_query.redis_reader import RedisReader

    return RedisReader.from_config(cfg or bp_config.load())


class Unfilterable(ValueError):
    """The filter combines dimensions that Redis does not keep together (one per scope)."""


def scopes_of(flt: Filter) -> list[str]:
    """The Redis scopes whose sum is the filter's live numbers: ``all``, one platform, or the
    workspaces of the folders ``--project`` matched (a project's counters are its workspaces').
    Redis keeps one dimension per scope, so a platform and a project together cannot be
    answered: :class:`Unfilterable`."""
    if flt.project:
        if flt.platform:
            raise Unfilterable(
                "live counters are kept per platform or per project, not both: "
                "the figures above are the filtered ones"
            )
        workspaces = flt.match.workspaces if flt.match is not None else ()
        return [metric_keys.scope("workspace", w) for w in workspaces]
    return [metric_keys.scope("platform", flt.platform) if flt.platform else "all"]


def counters(reader: Reader, scope: str, periods: list[str]) -> dict[str, int]:
    """Counters of one scope summed over periods (``total``, ``d<day>``, ``h<hour>``)."""
    replies = reader.execute_many(
        [("HGETALL", metric_keys.counters_key(scope, p)) for p in periods]
    )
    total = {name: 0 for name in metric_keys.COUNTERS}
    for flat in replies:
        if not isinstance(flat, list):
            continue
        for name, value in metric_keys.decode_counters(_pairs(flat)).items():
            total[name] = total.get(name, 0) + value
    return total


def indexed(reader: Reader, dimension: str) -> list[str]:
    """Values seen for a dimension (tools, models, platforms), most recently seen first."""
    raw = reader.execute("ZREVRANGE", metric_keys.index_key(dimension), 0, -1) or []
    return [v.decode() for v in raw]


#: how far back the live block looks for the requests that opened it (the minute series keep a
#: day). A chain of blocks longer than that (a day of requests without a five-hour pause) could
#: start the current block at another hour than ``bp-query costs --by block`` says.
BLOCK_LOOKBACK_S = metric_keys.MINUTE_RETENTION_S
#: the series the live block sums, per minute: requests first, then the tokens and the cost.
BLOCK_SERIES = metric_keys.MINUTE_COUNTERS
#: a series' position in a minute's sums (:func:`minute_entries`)
_BLOCK_SLOT = {name: i for i, name in enumerate(BLOCK_SERIES)}
_REQUESTS = _BLOCK_SLOT["requests"]


def snapshot(reader: Reader, flt: Filter, *, now: float | None = None) -> dict[str, Any]:
    """Today's (in the filter's time zone) and this hour's counters for the filter's scopes, the
    all-time totals and the current 5-hour block: the live view ``bp-query watch``,
    ``/ws/metrics`` and the status line share (:func:`day_view`)."""
    now = time.time() if now is None else now
    zone = flt.zone
    midnight = zone.midnight(zone.local(datetime.fromtimestamp(now, UTC)).date())
    return day_view(reader, scopes_of(flt), zone.name, midnight, now=now)


def day_view(
    reader: Reader, scopes: list[str], zone_name: str, midnight: datetime, *, now: float
) -> dict[str, Any]:
    """:func:`snapshot` of the given Redis scopes, today having begun at ``midnight`` (aware) in
    the zone: the status line remembers that instant for the day (``local_day``) instead of
    loading the zone. One pipelined round trip: the counters of every window and the day's
    per-minute series for the block."""
    stamp = datetime.fromtimestamp(now, UTC)
    windows = {
        "today": today_periods(midnight, stamp),
        "this_hour": [metric_keys.hour_period(stamp.strftime("%Y-%m-%dT%H"))],
        "total": ["total"],
    }
    batches = {name: window_commands(scopes, periods) for name, periods in windows.items()}
    minute_keys = [k for s in scopes for k in metric_keys.minute_chunk_keys(s, *_lookback(now))]
    replies = reader.execute_many(
        [c for batch in batches.values() for c in batch] + [("HGETALL", k) for k in minute_keys]
    )
    sums: dict[str, dict[str, int]] = {}
    for name, batch in batches.items():
        sums[name] = window_sum(replies[: len(batch)], len(scopes) * len(windows[name]))
        replies = replies[len(batch) :]
    return {
        "scope": scopes[0] if len(scopes) == 1 else f"project ({len(scopes)} workspaces)",
        "at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "zone": zone_name,
        **{name: summarize(c) for name, c in sums.items()},
        "block": current_block(minute_entries(replies, now), now),
    }


def today_periods(midnight: datetime, stamp: datetime) -> list[str]:
    """The Redis periods of the local day so far (it began at ``midnight``, aware): the UTC day
    itself when the zone's midnight is UTC midnight, else the UTC hours from the one holding
    local midnight (in a zone with a half-hour offset, that first hour counts whole)."""
    midnight = midnight.astimezone(UTC)
    if midnight.hour == 0 and midnight.minute == 0:
        return [metric_keys.day_period(midnight.strftime("%Y-%m-%d"))]
    hour = midnight.replace(minute=0, second=0, microsecond=0)
    periods = []
    while hour <= stamp:
        periods.append(metric_keys.hour_period(hour.strftime("%Y-%m-%dT%H")))
        hour += timedelta(hours=1)
    return periods


def window_commands(scopes: list[str], periods: list[str]) -> list[tuple[Any, ...]]:
    """The reads of :func:`window_sum`: each key's counters, and when more than one key is
    summed, the union of their session sets (``sessions`` is a distinct count)."""
    keys = [(s, p) for s in scopes for p in periods]
    commands: list[tuple[Any, ...]] = [("HGETALL", metric_keys.counters_key(s, p)) for s, p in keys]
    if len(keys) > 1:
        commands.append(("SUNION", *(metric_keys.distinct_key(s, p) for s, p in keys)))
    return commands


def window_sum(replies: list[Any], keys: int) -> dict[str, int]:
    """Counters summed over the ``keys`` scope-period keys (the replies to
    :func:`window_commands`); ``sessions`` the size of the union when more than one key."""
    total = {name: 0 for name in metric_keys.COUNTERS}
    for reply in replies[:keys]:
        decoded = metric_keys.decode_counters(_pairs(reply if isinstance(reply, list) else []))
        for name, value in decoded.items():
            total[name] = total.get(name, 0) + value
    if keys > 1:
        members = replies[-1]
        total["sessions"] = len(members) if isinstance(members, list) else 0
    return total


def _lookback(now: float) -> tuple[int, int]:
    end = int(now)
    return end - BLOCK_LOOKBACK_S, end


def minute_entries(replies: list[Any], now: float) -> list[dict[str, Any]]:
    """Requests of the last day per minute (``at_ms`` + the :data:`BLOCK_SERIES` sums over the
    scopes), oldest first, from the replies to HGETALL of the metrics worker's per-minute
    chunks (``metric_keys.minute_chunk_keys`` over :data:`BLOCK_LOOKBACK_S`).

    A day of busy minutes is thousands of fields, read on every status line: the fields are
    parsed in bulk, a minute's sums are a list indexed by series, and times stay integers
    (``periods.blocks`` takes ``at_ms``; no datetime per minute)."""
    start, end = _lookback(now)
    slot = _BLOCK_SLOT
    width = len(BLOCK_SERIES)
    minutes: dict[int, list[int]] = {}
    for reply in replies:
        flat = reply if isinstance(reply, list) else []
        ats, names = metric_keys.parse_minute_fields(flat[::2])
        for at, name, value in zip(ats, names, flat[1::2], strict=True):
            i = slot.get(name)
            if i is not None and start <= at <= end:
                minute = minutes.get(at)
                if minute is None:
                    minute = minutes[at] = [0] * width
                minute[i] += int(value)
    keys = ("at_ms", *BLOCK_SERIES)
    return [
        dict(zip(keys, (at * 1000, *v), strict=True))
        for at, v in sorted(minutes.items())
        if v[_REQUESTS]
    ]


def current_block(entries: list[dict[str, Any]], now: float) -> dict[str, Any] | None:
    """The active 5-hour block, by the rule and the arithmetic of ``costs --by block``
    (``periods.blocks`` and ``periods.block_row``: one implementation) applied to the requests
    per minute (:func:`minute_entries`); None when no block is active. Minute buckets put each
    request at the start of its minute, so burn rates can differ from the report's by that
    rounding."""
    from blueplane_query import periods
    from blueplane_query.periods import block_row

    found = periods.blocks(
        entries,
        sums=BLOCK_SERIES[1:],
        now=datetime.fromtimestamp(now, UTC),
    )
    active = [b for b in found if b["active"]]
    if not active:
        return None
    row = block_row(active[-1])
    row.pop("unpriced_requests")  # the minute series hold priced cost only; today says unpriced
    row["remaining_minutes"] = active[-1]["remaining_minutes"]
    return row


def summarize(c: dict[str, int]) -> dict[str, Any]:
    """Counters -> the headline numbers (rates computed, money in USD, unpriced kept visible)."""
    decided = c["edits_accepted"] + c["edits_rejected"]
    return {
        "sessions": c["sessions"],
        "prompts": c["prompts"],
        "requests": c["requests"],
        "tool_calls": c["tool_calls"],
        "tool_errors": c["tool_errors"],
        "tool_error_rate": c["tool_errors"] / c["tool_calls"] if c["tool_calls"] else None,
        "acceptance_rate": c["edits_accepted"] / decided if decided else None,
        "input_tokens": c["input_tokens"],
        "output_tokens": c["output_tokens"],
        "cache_write_tokens": c["cache_write_tokens"],
        "cache_read_tokens": c["cache_read_tokens"],
        "cost_usd": metric_keys.cost_usd(c),
        "reported_cost_usd": c["reported_cost_nusd"] / 1e9 if c["reported_cost_nusd"] else None,
        "unpriced_requests": c["unpriced_requests"],
        "lines_added": c["lines_added"],
        "lines_removed": c["lines_removed"],
        "events": c["events"],
    }


def watch(flt: Filter, *, interval: float = 1.0, count: int = 0, as_json: bool = False) -> None:
    """Refresh the live snapshot every ``interval`` seconds (``count`` times, 0 = until Ctrl-C)."""
    from blueplane_query.output import dumps

    with connect() as reader:
        first = snapshot(reader, flt)  # fails fast, with one line, when Redis is down
        if as_json:
            import sys

            done = 0
            current = first
            while True:
                sys.stdout.buffer.write(dumps(current, pretty=False) + b"\n")
                sys.stdout.flush()
                done += 1
                if count and done >= count:
                    return
                time.sleep(interval)
                current = snapshot(reader, flt)
        from rich.live import Live

        from blueplane_query import render
        from blueplane_query.output import console

        with Live(render.watch(first), console=console(), auto_refresh=False) as live:
            done = 1
            while not count or done < count:
                time.sleep(interval)
                live.update(render.watch(snapshot(reader, flt)), refresh=True)
                done += 1


def _pairs(flat: list[Any]) -> dict[bytes | str, bytes | str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
