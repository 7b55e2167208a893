"""What a batch of events does to the Redis metrics, before it is applied (pure computation).

:func:`build` turns events (and the stored state of the keyed facts they touch) into
:class:`Effects`: counter increments aggregated per (key, field), set additions for distinct
counts, activity marks and the fact-state changes to check and store. The Lua script in
``metrics_store`` applies them atomically together with the XACK. Nothing here talks to Redis, so
the live worker and ``rebuild metrics`` compute exactly the same effects.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from blueplane_core import metric_keys as mk
from blueplane_core.pricing import PriceTable
from blueplane_workers.facts import Fact, best, dims_of, facts_of, is_agent_activity, sources

_SERIES_SCOPES = ("platform", "model")


@dataclass
class Effects:
    """Everything one batch changes; ``payload()`` is what the Lua script receives."""

    seqs: list[int] = field(default_factory=list)
    facts: list[tuple[str, str, str]] = field(default_factory=list)  # key, expected, new
    incr: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    expire: dict[str, int] = field(default_factory=dict)
    sadd: set[tuple[str, str, str, str]] = field(default_factory=set)
    zmax: dict[tuple[str, str], int] = field(default_factory=dict)
    active: dict[tuple[str, int], list[list[Any]]] = field(default_factory=dict)
    wsact: set[tuple[str, str, int]] = field(default_factory=set)
    commits: dict[str, list[Any]] = field(default_factory=dict)
    dead: list[list[Any]] = field(default_factory=list)
    #: RedisTimeSeries backend: (key, bucket ms, retention ms) -> delta, instead of chunk hashes.
    rts: bool = False
    tsadd: dict[tuple[str, int, int], int] = field(default_factory=lambda: defaultdict(int))

    def payload(self) -> bytes:
        return orjson.dumps(
            {
                "seqs": self.seqs,
                "facts": [list(f) for f in self.facts],
                "incr": [[k, f, str(v)] for (k, f), v in self.incr.items() if v],
                "expire": [[k, at] for k, at in self.expire.items()],
                "sadd": [list(a) for a in sorted(self.sadd)],
                "zmax": [[k, m, s] for (k, m), s in self.zmax.items()],
                "active": [[z, t, prefixes] for (z, t), prefixes in self.active.items()],
                "wsact": [list(w) for w in sorted(self.wsact)],
                "commits": list(self.commits.values()),
                "dead": [[_text(v) for v in letter] for letter in self.dead],
                "tsadd": [[k, t, r, str(v)] for (k, t, r), v in self.tsadd.items() if v],
            }
        )


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def scopes_of(dims: dict[str, str]) -> list[str]:
    return ["all"] + [mk.scope(d, dims[d]) for d in mk.DIMENSIONS if d in dims]


def periods_for(scope: str, timestamp: str) -> tuple[str, ...]:
    total, day, hour = mk.periods_of(timestamp)
    return (total, day) if scope.startswith("session=") else (total, day, hour)


class _Totals:
    """A batch's contributions summed by (dimensions, hour) before they become Redis keys: the
    events of one session and hour share one set of keys, so each key is touched once."""

    def __init__(self) -> None:
        self.values: dict[tuple[tuple[tuple[str, str], ...], str], dict[str, int]] = {}
        self.samples: dict[tuple[tuple[tuple[str, str], ...], str, str, int], int] = {}
        self.series: dict[tuple[tuple[tuple[str, str], ...], int], dict[str, int]] = {}

    def add(self, fact: Fact, sign: int) -> None:
        dims = tuple(sorted(fact.dims.items()))
        slot = (dims, fact.timestamp[:13])
        values = self.values.setdefault(slot, defaultdict(int))
        series = None
        for name, value in fact.values.items():
            if not value:
                continue
            values[name] += sign * value
            if name in _SERIES_NAMES:
                if series is None:
                    series_dims = tuple((d, v) for d, v in dims if d in _SERIES_SCOPES)
                    series_slot = (series_dims, mk.unix_seconds(fact.timestamp))
                    series = self.series.setdefault(series_slot, defaultdict(int))
                series[name] += sign * value
        for name, ms in fact.samples.items():
            key = (dims, fact.timestamp[:13], name, mk.hist_bucket(ms))
            self.samples[key] = self.samples.get(key, 0) + sign

    def expand(self, effects: Effects, now: int) -> None:
        incr = effects.incr
        for (dims, hour), values in self.values.items():
            for scope, period in _targets(dims, hour):
                key = mk.counters_key(scope, period)
                for name, value in values.items():
                    if value:
                        incr[(key, name)] += value
        for (dims, hour, name, bucket), count in self.samples.items():
            if count:
                field_name = str(bucket)
                for scope, period in _targets(dims, hour):
                    incr[(mk.histogram_key(scope, period, name), field_name)] += count
        for (dims, unix), values in self.series.items():
            scopes = ["all"] + [mk.scope(d, v) for d, v in dims]
            for res, retention, chunk in mk.RETENTION_LADDER:
                chunk_start = unix - unix % chunk
                expires = chunk_start + chunk + retention
                if expires <= now:
                    continue  # older than this resolution keeps: nothing to add (or to undo)
                bucket = unix - unix % res
                for scope in scopes:
                    for name, value in values.items():
                        if not value:
                            continue
                        series = mk.series_name(scope, name)
                        if effects.rts:
                            slot = (mk.rts_key(series, res), bucket * 1000, retention * 1000)
                            effects.tsadd[slot] += value
                            continue
                        key = mk.series_chunk_key(series, res, chunk_start)
                        incr[(key, str(bucket))] += value
                        effects.expire[key] = expires


_SERIES_NAMES = frozenset(mk.SERIES_COUNTERS)


@lru_cache(maxsize=4096)
def _targets(dims: tuple[tuple[str, str], ...], hour: str) -> tuple[tuple[str, str], ...]:
    """(scope, period) pairs a contribution with these dimensions in this hour goes to."""
    timestamp = hour + ":00:00.000Z"
    return tuple(
        (scope, period)
        for scope in scopes_of(dict(dims))
        for period in periods_for(scope, timestamp)
    )


def add_fact(effects: Effects, fact: Fact, sign: int, now: int) -> None:
    """Add (sign 1) or undo (sign -1) one fact's contribution (a one-fact batch)."""
    totals = _Totals()
    totals.add(fact, sign)
    totals.expand(effects, now)


def prepare(events: dict[int, dict[str, Any]], prices: PriceTable) -> dict[int, list[Fact]]:
    """The facts of every event (computed once per batch)."""
    return {seq: facts_of(event, prices, seq) for seq, event in events.items()}


def build(
    events: dict[int, dict[str, Any]],
    fact_states: dict[str, bytes | None],
    prices: PriceTable,
    now: int | None = None,
    rts: bool = False,
    facts: dict[int, list[Fact]] | None = None,
    load: Callable[[set[int]], dict[int, dict[str, Any]]] | None = None,
) -> Effects:
    """Effects of ``events`` (sequence -> envelope) given the stored states of their keyed facts.

    ``fact_states`` must hold every key returned by :func:`keyed_facts` (None when absent);
    ``facts`` is :func:`prepare`'s result when the caller already has it; ``load`` reads stored
    events by sequence (to recompute the facts whose state is stored, so they can be undone).
    """
    now = int(time.time()) if now is None else now
    facts = facts if facts is not None else prepare(events, prices)
    effects = Effects(seqs=sorted(events), rts=rts)
    totals = _Totals()
    by_key: dict[str, list[Fact]] = defaultdict(list)
    for seq in sorted(events):
        for fact in facts[seq]:
            if fact.key is None:
                totals.add(fact, 1)
            else:
                by_key[fact.key].append(fact)
        _event_marks(effects, events[seq])
    current_of = _restore(fact_states, events, facts, prices, load)
    for key, candidates in by_key.items():
        stored = fact_states.get(key)
        current = current_of.get(key)
        if stored is not None and current is None:
            # Its source events are gone (archived past retention): keep what was counted.
            continue
        winner = best(candidates + ([current] if current else []))
        if current is not None:
            if current.state() == winner.state():
                continue
            totals.add(current, -1)
        totals.add(winner, 1)
        expected = stored.decode() if stored is not None else ""
        effects.facts.append((key, expected, orjson.dumps(winner.state()).decode()))
    totals.expand(effects, now)
    return effects


def _restore(
    fact_states: dict[str, bytes | None],
    events: dict[int, dict[str, Any]],
    facts: dict[int, list[Fact]],
    prices: PriceTable,
    load: Callable[[set[int]], dict[int, dict[str, Any]]] | None,
) -> dict[str, Fact]:
    """The stored best of each keyed fact, recomputed from the events it came from."""
    states = {k: orjson.loads(v) for k, v in fact_states.items() if v is not None}
    wanted = set().union(*(sources(state) for state in states.values())) if states else set()
    missing = {seq for seq in wanted if seq not in events}
    loaded = load(missing) if (missing and load) else {}
    restored: dict[str, Fact] = {}
    for key, state in states.items():
        parts: list[Fact] = []
        for seq in sources(state):
            if seq in facts:
                group = facts[seq]
            elif seq in loaded:
                group = facts_of(loaded[seq], prices, seq)
            else:
                parts = []
                break
            parts += [f for f in group if f.key == key]
        if parts:
            fact = best(parts)
            if fact.state() == state:
                restored[key] = fact
    return restored


def keyed_facts(facts: dict[int, list[Fact]]) -> set[str]:
    """The shared fact keys of prepared facts (their states must be read before :func:`build`)."""
    return {f.key for group in facts.values() for f in group if f.key is not None}


def _event_marks(effects: Effects, event: dict[str, Any]) -> None:
    """Distinct sessions, dimension indexes, activity, commits and compactions of one event."""
    dims = dims_of(event)
    ts = event["timestamp"]
    unix = mk.unix_seconds(ts)
    session = event["session_id"]
    for dim, value in dims.items():
        key = (mk.index_key(dim), value)
        effects.zmax[key] = max(effects.zmax.get(key, 0), unix)
    if event["platform"] == "git":
        _commit_marks(effects, event, dims, unix)
        return
    distinct = tuple(sorted((d, v) for d, v in dims.items() if d != "tool"))
    effects.sadd.update(_distinct_marks(distinct, session, ts[:13]))
    prefixes = _active_prefixes(event["platform"], session)
    effects.active[(mk.active_key(session), unix)] = prefixes
    workspace = dims.get("workspace")
    if workspace and is_agent_activity(event):
        effects.wsact.add(
            (mk.workspace_activity_key(workspace), mk.workspace_commits_key(workspace), unix)
        )


@lru_cache(maxsize=4096)
def _distinct_marks(
    dims: tuple[tuple[str, str], ...], session: str, hour: str
) -> tuple[tuple[str, str, str, str], ...]:
    """The (set, member, counters key, field) additions that count a session once per scope."""
    return tuple(
        (mk.distinct_key(scope, period), session, mk.counters_key(scope, period), "sessions")
        for scope, period in _targets(dims, hour)
    )


@lru_cache(maxsize=4096)
def _active_prefixes(platform: str, session: str) -> list[list[Any]]:
    """Counter-key prefixes (and whether hours are kept) that a session's active time goes to."""
    return [
        [mk.counters_key("all", ""), 1],
        [mk.counters_key(mk.scope("platform", platform), ""), 1],
        [mk.counters_key(mk.scope("session", session), ""), 0],
    ]


def _commit_marks(effects: Effects, event: dict[str, Any], dims: dict[str, str], unix: int) -> None:
    if event["event_type"] != "commit":
        return
    commit = event["payload"].get("commit_hash")
    workspace = dims.get("workspace")
    if not isinstance(commit, str) or not commit or not workspace:
        return
    targets = [
        [mk.counters_key(scope, period), "agent_assisted_commits"]
        for scope in scopes_of(dims)
        for period in periods_for(scope, event["timestamp"])
    ]
    effects.commits[commit] = [
        mk.workspace_activity_key(workspace),
        mk.workspace_commits_key(workspace),
        commit,
        unix,
        targets,
    ]
