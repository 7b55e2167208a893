"""Applying a batch's metric effects and acknowledging its entries in ONE atomic Redis step.

Why this is exactly once under at-least-once delivery:

* Every raw_traces sequence has a bit in ``{bp}:metrics:applied:<group>``. The script refuses a
  batch if any of its sequences' bits is already set, and sets them together with the
  increments, so a sequence's effects land once however often its CDC entry is delivered (a
  crash before the script: nothing applied, the entry is redelivered; after it: the entry is
  acknowledged in the same step, and a duplicate CDC entry for the sequence finds its bit set).
* A keyed fact's change (undo the old best source, add the new one) is computed from the fact
  state read before the batch; the script refuses the batch if any such state changed since
  (another consumer got there first). The worker then re-reads and recomputes: optimistic
  concurrency, so consumers of one group never double-apply a fact.
* Increments, set additions, activity marks, dead letters and the XACK all run inside the one
  script: Redis runs a script atomically, and with AOF a script is persisted as a whole.

A refused batch changes nothing; the caller recomputes with fresh state and calls again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blueplane_core import metric_keys as mk
from blueplane_core import streams
from blueplane_core.resp import ReplyError
from blueplane_core.resp_consumer import ConsumerClient
from blueplane_workers.metric_effects import Effects

# KEYS: 1 CDC stream, 2 applied bitmap, 3 fact states, 4 DLQ, 5 assisted set, 6 commit targets
# ARGV: 1 group, 2 JSON effects, 3 consumer, 4.. entry ids to acknowledge
_APPLY_LUA = """
local p = cjson.decode(ARGV[2])
local IDLE = %(idle)d
local CHUNK = 1000  -- arguments per variadic call (Lua's unpack has a stack limit)
local refused = {}
for first = 1, #p.seqs, CHUNK do
  local args, seqs = {}, {}
  for i = first, math.min(first + CHUNK - 1, #p.seqs) do
    local s = p.seqs[i]
    seqs[#seqs + 1] = s
    args[#args + 1] = 'GET'; args[#args + 1] = 'u1'; args[#args + 1] = s
  end
  local bits = redis.call('BITFIELD_RO', KEYS[2], unpack(args))
  for i, bit in ipairs(bits) do
    if bit == 1 then refused[#refused + 1] = 'seq:' .. seqs[i] end
  end
end
for first = 1, #p.facts, CHUNK do
  local names = {}
  for i = first, math.min(first + CHUNK - 1, #p.facts) do names[#names + 1] = p.facts[i][1] end
  local current = redis.call('HMGET', KEYS[3], unpack(names))
  for i, name in ipairs(names) do
    local cur = current[i]
    if not cur then cur = '' end
    if cur ~= p.facts[first + i - 1][2] then refused[#refused + 1] = 'fact:' .. name end
  end
end
if #refused > 0 then return refused end

-- Every counter increment of the batch is summed here first, then written once per field.
local acc = {}
local function bump(key, field, n)
  local fields = acc[key]
  if not fields then fields = {}; acc[key] = fields end
  fields[field] = (fields[field] or 0) + n
end

local civil_cache = {}
local function civil(t)
  local hour_start = t - t %% 3600
  local hit = civil_cache[hour_start]
  if hit then return hit[1], hit[2] end
  local days = math.floor(t / 86400)
  local hour = math.floor((t - days * 86400) / 3600)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                         - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  local day, hh = string.format('%%04d-%%02d-%%02d', y, m, d), string.format('%%02d', hour)
  civil_cache[hour_start] = {day, hh}
  return day, hh
end

local function gap(g)
  if g <= IDLE then return g end
  return 0
end

-- Active time of a chain of seconds, summed per UTC hour into ``hours`` (hour start -> ms):
-- each gap of at most IDLE belongs to its later second.
local function chain_active(hours, chain, sign)
  for i = 2, #chain do
    local g = gap(chain[i] - chain[i - 1])
    if g > 0 then
      local h = chain[i] - chain[i] %% 3600
      hours[h] = (hours[h] or 0) + sign * g * 1000
    end
  end
end

-- A session's active time per hour into its counters (built once per hour, not once per gap).
local function add_active(prefixes, hours)
  for h, ms in pairs(hours) do
    if ms ~= 0 then
      local day, hour = civil(h)
      for _, pr in ipairs(prefixes) do
        bump(pr[1] .. 'total', 'active_ms', ms)
        bump(pr[1] .. 'd' .. day, 'active_ms', ms)
        if pr[2] == 1 then bump(pr[1] .. 'h' .. day .. 'T' .. hour, 'active_ms', ms) end
      end
    end
  end
end

local function mark_assisted(c)
  if redis.call('SADD', KEYS[5], c) == 1 then
    local targets = cjson.decode(redis.call('HGET', KEYS[6], c))
    for _, k in ipairs(targets) do redis.call('HINCRBY', k[1], k[2], 1) end
  end
end

for first = 1, #p.seqs, CHUNK do
  local args = {}
  for i = first, math.min(first + CHUNK - 1, #p.seqs) do
    args[#args + 1] = 'SET'; args[#args + 1] = 'u1'; args[#args + 1] = p.seqs[i]
    args[#args + 1] = 1
  end
  redis.call('BITFIELD', KEYS[2], unpack(args))
end
for first = 1, #p.facts, CHUNK do
  local args = {}
  for i = first, math.min(first + CHUNK - 1, #p.facts) do
    args[#args + 1] = p.facts[i][1]; args[#args + 1] = p.facts[i][3]
  end
  redis.call('HSET', KEYS[3], unpack(args))
end
-- A session's distinct-session sets: [session, [set, counters key, set, counters key, ...]].
for _, a in ipairs(p.sadd) do
  local session, pairs_ = a[1], a[2]
  for i = 1, #pairs_, 2 do
    if redis.call('SADD', pairs_[i], session) == 1 then bump(pairs_[i + 1], 'sessions', 1) end
  end
end
for _, z in ipairs(p.zmax) do redis.call('ZADD', z[1], 'GT', z[3], z[2]) end
-- A session's new seconds merge into its stored ones: only the stored seconds between the
-- first and last new one, and one neighbour on each side, can change (3 reads per session).
for _, a in ipairs(p.active) do
  local key, times, prefixes = a[1], a[2], a[3]
  local lo, hi = times[1], times[#times]
  local before = redis.call('ZREVRANGEBYSCORE', key, '(' .. lo, '-inf', 'LIMIT', 0, 1)
  local after = redis.call('ZRANGEBYSCORE', key, '(' .. hi, '+inf', 'LIMIT', 0, 1)
  local inside = redis.call('ZRANGEBYSCORE', key, lo, hi)
  local old, stored = {}, {}
  if before[1] then old[#old + 1] = tonumber(before[1]) end
  for _, v in ipairs(inside) do
    local t = tonumber(v)
    old[#old + 1] = t
    stored[t] = true
  end
  if after[1] then old[#old + 1] = tonumber(after[1]) end
  local fresh, args = {}, {}
  for _, t in ipairs(times) do
    if not stored[t] then
      fresh[#fresh + 1] = t
      local text = string.format('%%d', t)
      args[#args + 1] = text; args[#args + 1] = text
    end
  end
  if #fresh > 0 then
    local new, i, j = {}, 1, 1
    while i <= #old or j <= #fresh do
      if j > #fresh or (i <= #old and old[i] < fresh[j]) then
        new[#new + 1] = old[i]; i = i + 1
      else
        new[#new + 1] = fresh[j]; j = j + 1
      end
    end
    local hours = {}
    chain_active(hours, old, -1)
    chain_active(hours, new, 1)
    add_active(prefixes, hours)
    for first = 1, #args, 2 * CHUNK do
      redis.call('ZADD', key, unpack(args, first, math.min(first + 2 * CHUNK - 1, #args)))
    end
  end
end
-- A workspace's new seconds of agent activity: a commit within IDLE after one is assisted.
for _, w in ipairs(p.wsact) do
  local act, commits, times = w[1], w[2], w[3]
  for first = 1, #times, CHUNK do
    local part, text = {unpack(times, first, math.min(first + CHUNK - 1, #times))}, {}
    for i, t in ipairs(part) do text[i] = string.format('%%d', t) end  -- once, not per use
    local seen = redis.call('ZMSCORE', act, unpack(text))
    local fresh, args = {}, {}
    for i, t in ipairs(part) do
      if not seen[i] then
        fresh[#fresh + 1] = t
        args[#args + 1] = text[i]; args[#args + 1] = text[i]
      end
    end
    if #fresh > 0 then
      redis.call('ZADD', act, unpack(args))
      local found = redis.call('ZRANGEBYSCORE', commits, fresh[1], fresh[#fresh] + IDLE,
                               'WITHSCORES')
      local k = 1
      for i = 1, #found, 2 do
        local tc = tonumber(found[i + 1])
        while k <= #fresh and fresh[k] < tc - IDLE do k = k + 1 end
        if k <= #fresh and fresh[k] <= tc then mark_assisted(found[i]) end
      end
    end
  end
end
for _, c in ipairs(p.commits) do
  local act, commits, id, t, targets = c[1], c[2], c[3], c[4], c[5]
  if redis.call('HSETNX', KEYS[6], id, cjson.encode(targets)) == 1 then
    redis.call('ZADD', commits, t, id)
  end
  if redis.call('ZCOUNT', act, t - IDLE, t) > 0 then mark_assisted(id) end
end
-- The batch's increments, summed per key and field by the worker (values as decimal strings:
-- no number formatting here), then the ones summed above.
for _, c in ipairs(p.incr) do
  local key, fv = c[1], c[2]
  for i = 1, #fv, 2 do redis.call('HINCRBY', key, fv[i], fv[i + 1]) end
end
for key, fields in pairs(acc) do
  for field, n in pairs(fields) do
    if n ~= 0 then redis.call('HINCRBY', key, field, string.format('%%d', n)) end
  end
end
-- after the increments, which create the keys that expire
for _, e in ipairs(p.expire) do redis.call('EXPIREAT', e[1], e[2]) end
for _, d in ipairs(p.dead) do
  redis.call('XADD', KEYS[4], '*', '%(reason)s', d[1], '%(original)s', d[2], '%(id)s', d[3],
             '%(consumer)s', ARGV[3], '%(deliveries)s', d[4], '%(stream)s', KEYS[1])
end
if #ARGV >= 4 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 4, #ARGV))
end
return {}
""" % {
    "idle": mk.IDLE_GAP_S,
    "reason": streams.DLQ_REASON,
    "original": streams.DLQ_ORIGINAL,
    "id": streams.DLQ_SOURCE_ID,
    "consumer": streams.DLQ_CONSUMER,
    "deliveries": streams.DLQ_DELIVERIES,
    "stream": streams.DLQ_SOURCE_STREAM,
}


@dataclass
class Ahead:
    """A command to run just before the script, and the work to do with its reply while the
    script runs (that work must not talk to Redis: the script's reply is still due)."""

    command: tuple[Any, ...]
    #: does that work; returns the sequences and fact keys to read right behind the script
    meanwhile: Callable[[Any], tuple[list[int], list[str]]]
    #: takes what was read behind the script (None when it may be stale: the script refused)
    behind: Callable[[Preread | None], None]


@dataclass
class Preread:
    """Applied bits and fact states read right after a script, in the same round trip as its
    reply: what the next batch would have asked for next (Redis ran them after the script)."""

    sequences: set[int]
    applied: set[int]
    states: dict[str, bytes | None]


@dataclass
class Refused:
    """Why the script refused a batch: sequences already applied, fact states that changed."""

    sequences: set[int]
    facts: set[str]


class MetricsStore:
    """The metrics side of Redis for one consumer group."""

    def __init__(self, client: ConsumerClient, group: str, consumer: str) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self._apply = client.register_script(_APPLY_LUA)
        self.applied_key = mk.applied_key(group)

    def applied(self, sequences: list[int]) -> set[int]:
        """Which of ``sequences`` already had their effects applied."""
        if not sequences:
            return set()
        bits = self.client.execute_command(*self._applied_command(sequences))
        return {seq for seq, bit in zip(sequences, bits, strict=True) if bit}

    def _applied_command(self, sequences: list[int]) -> tuple[Any, ...]:
        args: list[str | int] = []
        for seq in sequences:
            args += ["GET", "u1", seq]
        return ("BITFIELD_RO", self.applied_key, *args)

    def _apply_behind(self, ahead: Ahead, keys: list[str], args: list[Any]) -> Any:
        script = self._apply
        # Its own round trip: Redis writes the replies of commands that arrive together only
        # after running all of them, so a read sent along with the script would wait for it.
        first = self.client.execute_many([ahead.command])[0]
        sent = self.client.send_ahead([("EVALSHA", script.sha, len(keys), *keys, *args)])
        try:
            sequences, fact_keys = ahead.meanwhile(first)
            reads: list[tuple[Any, ...]] = []
            if sequences:
                reads.append(self._applied_command(sequences))
            if fact_keys:
                reads.append(("HMGET", mk.FACTS_KEY, *fact_keys))
            # on the same connection: Redis runs them after the script, and their replies
            # come with its reply (no round trip of their own)
            behind = self.client.send_ahead(reads) if reads else None
            reply = sent.next()
            replies = [behind.next() for _ in reads] if behind is not None else []
        except BaseException:
            sent.abandon()
            raise
        preread = None
        if isinstance(reply, ReplyError):
            if not str(reply).startswith("NOSCRIPT"):
                raise reply
            reply = script(keys=keys, args=args)  # Redis lost its script cache: EVAL it whole
        elif not reply and not any(isinstance(r, ReplyError) for r in replies):
            bits = replies[0] if sequences else []
            states = replies[-1] if fact_keys else []
            preread = Preread(
                set(sequences),
                {seq for seq, bit in zip(sequences, bits, strict=True) if bit},
                dict(zip(fact_keys, states, strict=True)),
            )
        ahead.behind(preread)
        return reply

    def fact_states(self, keys: list[str]) -> dict[str, bytes | None]:
        if not keys:
            return {}
        return dict(zip(keys, self.client.hmget(mk.FACTS_KEY, keys), strict=True))

    def apply(
        self,
        effects: Effects,
        ack: list[bytes],
        stream: str = streams.CDC_STREAM,
        ahead: Ahead | None = None,
    ) -> Refused | None:
        """Apply ``effects`` and XACK ``ack`` atomically; a Refused (nothing done) on conflict.

        ``ahead``: a command run just before the script, and what to do with its reply while
        the script runs (the worker reads and prepares its next batch meanwhile). The script's
        reply is read before this returns, so whatever the worker asks next sees its effects.
        """
        keys = [
            stream,
            self.applied_key,
            mk.FACTS_KEY,
            streams.DLQ_STREAM,
            mk.ASSISTED_KEY,
            mk.COMMIT_TARGETS_KEY,
        ]
        args = [self.group, effects.payload(), self.consumer, *ack]
        if ahead is None or not hasattr(self.client, "send_ahead"):
            reply = self._apply(keys=keys, args=args)
        else:
            reply = self._apply_behind(ahead, keys, args)
        if not reply:
            return None
        refused = Refused(set(), set())
        for item in reply:
            text = item.decode() if isinstance(item, bytes) else str(item)
            kind, _, value = text.partition(":")
            if kind == "seq":
                refused.sequences.add(int(value))
            else:
                refused.facts.add(value)
        return refused
