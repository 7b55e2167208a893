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

from dataclasses import dataclass

import redis

from blueplane_core import metric_keys as mk
from blueplane_core import streams
from blueplane_workers.metric_effects import Effects

# KEYS: 1 CDC stream, 2 applied bitmap, 3 fact states, 4 DLQ, 5 assisted set, 6 commit targets
# ARGV: 1 group, 2 JSON effects, 3 consumer, 4.. entry ids to acknowledge
_APPLY_LUA = """
local p = cjson.decode(ARGV[2])
local IDLE = %(idle)d
local refused = {}
for _, s in ipairs(p.seqs) do
  if redis.call('GETBIT', KEYS[2], s) == 1 then refused[#refused + 1] = 'seq:' .. s end
end
for _, f in ipairs(p.facts) do
  local cur = redis.call('HGET', KEYS[3], f[1])
  if not cur then cur = '' end
  if cur ~= f[2] then refused[#refused + 1] = 'fact:' .. f[1] end
end
if #refused > 0 then return refused end

local function civil(t)
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
  return string.format('%%04d-%%02d-%%02d', y, m, d), string.format('%%02d', hour)
end

local function gap(g)
  if g <= IDLE then return g end
  return 0
end

local function add_active(prefixes, t, secs)
  if secs == 0 then return end
  local day, hour = civil(t)
  local ms = secs * 1000
  for _, pr in ipairs(prefixes) do
    redis.call('HINCRBY', pr[1] .. 'total', 'active_ms', ms)
    redis.call('HINCRBY', pr[1] .. 'd' .. day, 'active_ms', ms)
    if pr[2] == 1 then
      redis.call('HINCRBY', pr[1] .. 'h' .. day .. 'T' .. hour, 'active_ms', ms)
    end
  end
end

local function mark_assisted(c)
  if redis.call('SADD', KEYS[5], c) == 1 then
    local targets = cjson.decode(redis.call('HGET', KEYS[6], c))
    for _, k in ipairs(targets) do redis.call('HINCRBY', k[1], k[2], 1) end
  end
end

for _, s in ipairs(p.seqs) do redis.call('SETBIT', KEYS[2], s, 1) end
for _, f in ipairs(p.facts) do redis.call('HSET', KEYS[3], f[1], f[3]) end
for _, c in ipairs(p.incr) do redis.call('HINCRBY', c[1], c[2], c[3]) end
for _, e in ipairs(p.expire) do redis.call('EXPIREAT', e[1], e[2]) end
for _, a in ipairs(p.sadd) do
  if redis.call('SADD', a[1], a[2]) == 1 then redis.call('HINCRBY', a[3], a[4], 1) end
end
for _, z in ipairs(p.zmax) do redis.call('ZADD', z[1], 'GT', z[3], z[2]) end
for _, a in ipairs(p.active) do
  local key, t, prefixes = a[1], a[2], a[3]
  if not redis.call('ZSCORE', key, t) then
    local before = redis.call('ZREVRANGEBYSCORE', key, '(' .. t, '-inf', 'LIMIT', 0, 1)
    local after = redis.call('ZRANGEBYSCORE', key, '(' .. t, '+inf', 'LIMIT', 0, 1)
    local pv = before[1] and tonumber(before[1])
    local sv = after[1] and tonumber(after[1])
    if pv and sv then add_active(prefixes, sv, -gap(sv - pv)) end
    if pv then add_active(prefixes, t, gap(t - pv)) end
    if sv then add_active(prefixes, sv, gap(sv - t)) end
    redis.call('ZADD', key, t, t)
  end
end
for _, w in ipairs(p.wsact) do
  local act, commits, t = w[1], w[2], w[3]
  if not redis.call('ZSCORE', act, t) then
    redis.call('ZADD', act, t, t)
    for _, c in ipairs(redis.call('ZRANGEBYSCORE', commits, t, t + IDLE)) do mark_assisted(c) end
  end
end
for _, c in ipairs(p.commits) do
  local act, commits, id, t, targets = c[1], c[2], c[3], c[4], c[5]
  if redis.call('HSETNX', KEYS[6], id, cjson.encode(targets)) == 1 then
    redis.call('ZADD', commits, t, id)
  end
  if redis.call('ZCOUNT', act, t - IDLE, t) > 0 then mark_assisted(id) end
end
for _, t in ipairs(p.tsadd) do
  redis.call('TS.ADD', t[1], t[2], t[4], 'RETENTION', t[3], 'ON_DUPLICATE', 'SUM')
end
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
class Refused:
    """Why the script refused a batch: sequences already applied, fact states that changed."""

    sequences: set[int]
    facts: set[str]


class MetricsStore:
    """The metrics side of Redis for one consumer group."""

    def __init__(self, client: redis.Redis, group: str, consumer: str) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self._apply = client.register_script(_APPLY_LUA)
        self.applied_key = mk.applied_key(group)

    def applied(self, sequences: list[int]) -> set[int]:
        """Which of ``sequences`` already had their effects applied."""
        if not sequences:
            return set()
        args: list[str | int] = []
        for seq in sequences:
            args += ["GET", "u1", seq]
        bits = self.client.execute_command("BITFIELD_RO", self.applied_key, *args)
        return {seq for seq, bit in zip(sequences, bits, strict=True) if bit}

    def fact_states(self, keys: list[str]) -> dict[str, bytes | None]:
        if not keys:
            return {}
        return dict(zip(keys, self.client.hmget(mk.FACTS_KEY, keys), strict=True))

    def apply(
        self, effects: Effects, ack: list[bytes], stream: str = streams.CDC_STREAM
    ) -> Refused | None:
        """Apply ``effects`` and XACK ``ack`` atomically; a Refused (nothing done) on conflict."""
        keys = [
            stream,
            self.applied_key,
            mk.FACTS_KEY,
            streams.DLQ_STREAM,
            mk.ASSISTED_KEY,
            mk.COMMIT_TARGETS_KEY,
        ]
        reply = self._apply(keys=keys, args=[self.group, effects.payload(), self.consumer, *ack])
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
