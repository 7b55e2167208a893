"""Every Redis key, stream, group and CDC field name Blueplane uses: the one place they are spelled.

All keys share the hash tag ``{bp}`` so that one Lua script or MULTI may touch several of them,
even on a Redis Cluster. Standard library only: the hook imports this module.
"""

HASH_TAG = "{bp}"

#: capture -> ingest. One field, ``EVENT_FIELD``, holding the envelope as compact JSON bytes.
EVENTS_STREAM = f"{HASH_TAG}:telemetry:events"
#: ingest -> workers. One consumer group per worker kind.
CDC_STREAM = f"{HASH_TAG}:cdc:events"
#: entries that could not be parsed, failed validation or failed too many deliveries.
DLQ_STREAM = f"{HASH_TAG}:telemetry:dlq"

#: the field of an events-stream entry that holds the envelope bytes.
EVENT_FIELD = "e"

#: the ingesters' group on ``EVENTS_STREAM``.
INGEST_GROUP = "processors"

#: worker kinds, each its own consumer group on ``CDC_STREAM`` so every kind sees every change.
METRICS_GROUP = "metrics"
CONVERSATIONS_GROUP = "conversations"
INSIGHTS_GROUP = "insights"
CDC_GROUPS: tuple[str, ...] = (METRICS_GROUP, CONVERSATIONS_GROUP, INSIGHTS_GROUP)

#: which groups read which stream; trimming keeps everything any of them has not acknowledged.
GROUPS_BY_STREAM: dict[str, tuple[str, ...]] = {
    EVENTS_STREAM: (INGEST_GROUP,),
    CDC_STREAM: CDC_GROUPS,
}

# Fields of a CDC entry (short names: there is one entry per stored event).
CDC_SEQUENCE = "seq"  # raw_traces.sequence
CDC_EVENT_TYPE = "type"
CDC_SESSION_ID = "sid"
CDC_PRIORITY = "pri"  # 1 (most urgent) .. 5
# The event's sanitized summary, for live views (the query service's /ws/events) that may not
# read raw_traces: platform, tool name ("" if none) and tokens (0 if none). Never payload text.
CDC_PLATFORM = "plat"
CDC_TOOL = "tool"
CDC_TOKENS = "tok"

# Fields of a DLQ entry.
DLQ_REASON = "reason"
DLQ_ORIGINAL = "original"  # the original entry's bytes, untouched
DLQ_SOURCE_STREAM = "stream"
DLQ_SOURCE_ID = "id"
DLQ_CONSUMER = "consumer"
DLQ_DELIVERIES = "deliveries"

#: per-process liveness, read by ``status``: one hash, field = process name, value =
#: "<pid> <unix time> <info>". One hash rather than a key per process, so that status never has
#: to SCAN a keyspace holding hundreds of thousands of metric keys.
HEARTBEATS_KEY = f"{HASH_TAG}:heartbeats"
#: a process whose last beat is older than this is reported as not alive.
HEARTBEAT_TTL_S = 15

#: a capture process's first-start backfill: bytes and files done of the total, numbers only
#: (``blueplane_core.backfill_progress``), read by ``blueplane up`` and ``status``.
BACKFILL_KEY = f"{HASH_TAG}:backfill"

#: metric keys written by the metrics worker start with this prefix.
METRICS_PREFIX = f"{HASH_TAG}:metrics:"


#: per-consumer counters (processed, dead-lettered, batch latency percentiles), read by status.
STATS_PREFIX = f"{HASH_TAG}:stats:"
#: the set of consumers that publish counters (so status reads them without a SCAN).
STATS_INDEX_KEY = f"{HASH_TAG}:stats-index"


def stats_key(consumer: str) -> str:
    """The hash where a consumer publishes its counters."""
    return STATS_PREFIX + consumer
