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
from blueplane_workers.facts import (
    Fact,
    best,
    dims_of,
    facts_of,
    is_agent_activity,
    is_session_activity,
    sources,
)

#: a contribution's dimensions as (name, value) pairs (the order they come in: it only has to be
#: hashable, the scopes derived from it do not depend on it)
Dims = tuple[tuple[str, str], ...]


@dataclass
class Effects:
    """Everything one batch changes; ``payload()`` is what the Lua script receives."""

    seqs: list[int] = field(default_factory=list)
    facts: list[tuple[str, str, str]] = field(default_factory=list)  # key, expected, new
    #: counters key -> field -> increment (zero sums are left out of the payload)
    incr: dict[str, dict[str, int]] = field(default_factory=dict)
    expire: dict[str, int] = field(default_factory=dict)
    #: session -> its distinct-session sets -> the counters key whose ``sessions`` counts it
    sadd: dict[str, dict[str, str]] = field(default_factory=dict)
    #: (dimension, value) -> the latest second it was seen in this batch
    zmax: dict[tuple[str, str], int] = field(default_factory=dict)
    #: session -> (the seconds it had events in this batch, counter prefixes)
    active: dict[str, tuple[set[int], list[list[Any]]]] = field(default_factory=dict)
    #: workspace -> the seconds it had agent activity in this batch
    wsact: dict[str, set[int]] = field(default_factory=dict)
    commits: dict[str, list[Any]] = field(default_factory=dict)
    dead: list[list[Any]] = field(default_factory=list)
    #: (hour, session, platform, model, workspace) whose distinct-session sets are in ``sadd``
    distinct_seen: set[tuple[str | None, ...]] = field(default_factory=set)

    def payload(self) -> bytes:
        """The JSON the Lua script decodes: increments grouped per key (field, value, ...), the
        values as decimal strings (the script passes them to HINCRBY as they are)."""
        incr = []
        for key, fields in self.incr.items():
            pairs: list[str] = []
            for name, value in fields.items():
                if value:
                    pairs += (name, str(value))
            if pairs:
                incr.append([key, pairs])
        return orjson.dumps(
            {
                "seqs": self.seqs,
                "facts": [list(f) for f in self.facts],
                "incr": incr,
                "expire": [[k, at] for k, at in self.expire.items()],
                "sadd": [
                    [session, [x for pair in sets.items() for x in pair]]
                    for session, sets in self.sadd.items()
                ],
                "zmax": [[_INDEX_KEYS[d], v, s] for (d, v), s in self.zmax.items()],
                "active": [
                    [mk.active_key(session), sorted(ts), pre]
                    for session, (ts, pre) in self.active.items()
                ],
                "wsact": [
                    [mk.workspace_activity_key(w), mk.workspace_commits_key(w), sorted(ts)]
                    for w, ts in sorted(self.wsact.items())
                ],
                "commits": list(self.commits.values()),
                "dead": [[_text(v) for v in letter] for letter in self.dead],
            }
        )


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def scopes_of(dims: dict[str, str]) -> list[str]:
    return ["all"] + [mk.scope(d, dims[d]) for d in mk.DIMENSIONS if d in dims]


def periods_for(scope: str, timestamp: str) -> tuple[str, ...]:
    total, day, hour = mk.periods_of(timestamp)
    return (total, day) if scope.startswith("session=") else (total, day, hour)


_MINUTE_COUNTERS = frozenset(mk.MINUTE_COUNTERS)


class _Totals:
    """A batch's contributions summed by (dimensions, hour) before they become Redis keys: the
    events of one session and hour share one set of keys, so each key is touched once. Plain
    dicts of ints throughout: this fold runs for every fact of every event."""

    def __init__(self) -> None:
        self.values: dict[tuple[Dims, str], dict[str, int]] = {}
        #: (dimensions, minute start) -> counter -> value, for the per-minute series
        self.minutes: dict[tuple[Dims, int], dict[str, int]] = {}

    def add(self, fact: Fact, sign: int, dims: Dims | None = None) -> None:
        """``dims``: ``fact.dims`` as pairs, when the caller has them (one event's facts share
        them)."""
        if dims is None:
            dims = tuple(fact.dims.items())
        hour = fact.timestamp[:13]
        slot = (dims, hour)
        values = self.values.get(slot)
        if values is None:
            values = self.values[slot] = {}
        counters = fact.values
        for name, value in counters.items():
            if value:
                values[name] = values.get(name, 0) + sign * value
        if not _MINUTE_COUNTERS.isdisjoint(counters):
            acc = None
            for name in mk.MINUTE_COUNTERS:
                amount = counters.get(name)
                if amount:
                    if acc is None:
                        unix = _unix(fact.timestamp)
                        acc = self.minutes.setdefault((dims, unix - unix % 60), {})
                    acc[name] = acc.get(name, 0) + sign * amount

    def expand(self, effects: Effects, now: int) -> None:
        """Sum the slots per (scope, hour) first, then fan each sum out to its period keys:
        many slots share a scope (``all``, a platform, a model), so most fan-out is done once."""
        by_scope: dict[tuple[str, str], dict[str, int]] = {}
        for (dims, hour), values in self.values.items():
            for scope in _scopes(dims):
                _merge(by_scope, (scope, hour), values)
        incr = effects.incr
        for (scope, hour), values in by_scope.items():
            for key in _counter_keys(scope, hour):
                _merge(incr, key, values)
        for (dims, minute), values in self.minutes.items():
            hour_start = minute - minute % mk.MINUTE_CHUNK_S
            expires = hour_start + mk.MINUTE_CHUNK_S + mk.MINUTE_RETENTION_S
            if expires <= now:
                continue  # older than the series keeps: nothing to add (or to undo)
            fields = {mk.minute_field(minute, name): value for name, value in values.items()}
            for scope in _minute_scopes(dims):
                key = mk.minute_chunk_key(scope, hour_start)
                _merge(incr, key, fields)
                effects.expire[key] = expires


def _merge(into: dict[Any, dict[str, int]], key: Any, values: dict[str, int]) -> None:
    """Add ``values`` to ``into[key]`` (a copy of them when the key is new)."""
    acc = into.get(key)
    if acc is None:
        into[key] = values.copy()
        return
    for name, value in values.items():
        acc[name] = acc.get(name, 0) + value


@lru_cache(maxsize=4096)
def _scopes(dims: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The scopes a contribution with these dimensions counts in."""
    return tuple(scopes_of(dict(dims)))


@lru_cache(maxsize=1024)
def _minute_scopes(dims: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The scopes with a per-minute series that a contribution with these dimensions counts in."""
    return ("all", *(mk.scope(d, v) for d, v in dims if d in mk.MINUTE_DIMENSIONS))


@lru_cache(maxsize=4096)
def _periods(scope: str, hour: str) -> tuple[str, ...]:
    """The periods a contribution of this scope in this UTC hour (``YYYY-MM-DDTHH``) counts in."""
    return periods_for(scope, hour + ":00:00.000Z")


@lru_cache(maxsize=4096)
def _counter_keys(scope: str, hour: str) -> tuple[str, ...]:
    return tuple(mk.counters_key(scope, period) for period in _periods(scope, hour))


@lru_cache(maxsize=4096)
def _targets(dims: tuple[tuple[str, str], ...], hour: str) -> tuple[tuple[str, str], ...]:
    """(scope, period) pairs a contribution with these dimensions in this hour goes to."""
    return tuple((scope, period) for scope in _scopes(dims) for period in _periods(scope, hour))


def add_fact(effects: Effects, fact: Fact, sign: int, now: int | None = None) -> None:
    """Add (sign 1) or undo (sign -1) one fact's contribution (a one-fact batch)."""
    totals = _Totals()
    totals.add(fact, sign)
    totals.expand(effects, int(time.time()) if now is None else now)


def prepare(events: dict[int, dict[str, Any]], prices: PriceTable) -> dict[int, list[Fact]]:
    """The facts of every event (computed once per batch)."""
    return {seq: facts_of(event, prices, seq) for seq, event in events.items()}


def build(
    events: dict[int, dict[str, Any]],
    fact_states: dict[str, bytes | None],
    prices: PriceTable,
    now: int | None = None,
    facts: dict[int, list[Fact]] | None = None,
    load: Callable[[set[int]], dict[int, dict[str, Any]]] | None = None,
) -> Effects:
    """Effects of ``events`` (sequence -> envelope) given the stored states of their keyed facts.

    ``fact_states`` must hold every key returned by :func:`keyed_facts` (None when absent);
    ``facts`` is :func:`prepare`'s result when the caller already has it; ``load`` reads stored
    events by sequence (to recompute the facts whose state is stored, so they can be undone).
    """
    facts = facts if facts is not None else prepare(events, prices)
    effects = Effects(seqs=sorted(events))
    totals = _Totals()
    add = totals.add
    by_key: dict[str, list[Fact]] = defaultdict(list)
    latest: dict[Dims, int] = {}
    for seq in effects.seqs:
        group = facts[seq]
        event = events[seq]
        # facts_of puts the event's own count first; the event's facts share its dimensions
        dims = group[0].dims if group else dims_of(event)
        pairs = tuple(dims.items())
        for fact in group:
            if fact.key is None:
                add(fact, 1, pairs if fact.dims is dims else None)
            else:
                by_key[fact.key].append(fact)
        _event_marks(effects, event, dims, pairs, latest)
    zmax = effects.zmax
    for pairs, unix in latest.items():
        for pair in pairs:
            if zmax.get(pair, 0) < unix:
                zmax[pair] = unix
    current_of = _restore(fact_states, events, facts, prices, load)
    for key, candidates in by_key.items():
        stored = fact_states.get(key)
        current = current_of.get(key)
        if stored is not None and current is None:
            # Its source events are gone (archived past retention): keep what was counted.
            continue
        if current is None and len(candidates) == 1 and not candidates[0].dim_ranks:
            winner = candidates[0]  # what best() of one fresh fact returns (most facts)
        else:
            winner = best(candidates + ([current] if current else []))
        if current is not None:
            if current.state() == winner.state():
                continue
            totals.add(current, -1)
        totals.add(winner, 1)
        expected = stored.decode() if stored is not None else ""
        effects.facts.append((key, expected, orjson.dumps(winner.state()).decode()))
    totals.expand(effects, int(time.time()) if now is None else now)
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


_INDEX_KEYS = {dim: mk.index_key(dim) for dim in mk.DIMENSIONS}


@lru_cache(maxsize=1024)
def _minute_start(minute: str) -> int:
    """Unix seconds of a ``YYYY-MM-DDTHH:MM`` UTC minute (parsed once per minute, not per event)."""
    return mk.unix_seconds(minute + ":00.000Z")


def _unix(timestamp: str) -> int:
    """Unix seconds of an envelope timestamp (``2026-11-23T18:04:05.123Z``), truncated."""
    if len(timestamp) >= 19 and timestamp[16] == ":" and timestamp[-1] == "Z":
        return _minute_start(timestamp[:16]) + int(timestamp[17:19])
    return mk.unix_seconds(timestamp)


def _event_marks(
    effects: Effects,
    event: dict[str, Any],
    dims: dict[str, str],
    pairs: Dims,
    latest: dict[Dims, int],
) -> None:
    """Distinct sessions, activity, commits and compactions of one event (``dims``: its
    dimensions, as :func:`facts.dims_of` gave them to its facts; ``pairs``: the same as pairs).
    ``latest`` keeps the last second each set of dimensions was seen, for the indexes."""
    ts = event["timestamp"]
    unix = _unix(ts)
    session = event["session_id"]
    if latest.get(pairs, 0) < unix:
        latest[pairs] = unix
    if event["platform"] == "git":
        _commit_marks(effects, event, dims, unix)
        return
    if is_session_activity(event):  # start-up-only and tracking events make no session
        hour = ts[:13]
        # every dimension but the tool: most events repeat their session's marks
        seen = (hour, session, dims.get("platform"), dims.get("model"), dims.get("workspace"))
        if seen not in effects.distinct_seen:
            effects.distinct_seen.add(seen)
            distinct = tuple(sorted((d, v) for d, v in dims.items() if d != "tool"))
            sets = effects.sadd.get(session)
            if sets is None:
                sets = effects.sadd[session] = {}
            sets.update(_distinct_marks(distinct, hour))
    active = effects.active.get(session)
    if active is None:
        active = effects.active[session] = (set(), _active_prefixes(event["platform"], session))
    active[0].add(unix)
    workspace = dims.get("workspace")
    if workspace and is_agent_activity(event):
        agent = effects.wsact.get(workspace)
        if agent is None:
            agent = effects.wsact[workspace] = set()
        agent.add(unix)


@lru_cache(maxsize=4096)
def _distinct_marks(dims: Dims, hour: str) -> tuple[tuple[str, str], ...]:
    """(distinct-session set, its counters key) pairs that count a session once per scope."""
    return tuple(
        (mk.distinct_key(scope, period), mk.counters_key(scope, period))
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
