"""The conversation worker: rows of a mixed workload, identical however events arrive."""

from __future__ import annotations

import random

import orjson

from blueplane_core import metric_keys as mk
from blueplane_core import pricing, streams
from blueplane_core.emit import Emitter
from blueplane_workers import conversations
from blueplane_workers.conversations import rebuild_conversations
from blueplane_workers.loop import Settings
from blueplane_workers.metrics import build_worker as build_metrics
from tests.helpers import ingest_all
from tests.workloads import OPUS, as_hash, ev, generated, mixed

TABLES = {
    "conversations": "session_id",
    "conversation_turns": "session_id, turn_index",
    "code_changes": "session_id, change_key",
    "tool_calls": "session_id, call_key",
    "api_requests": "request_key",
    "api_errors": "error_key",
    "commits": "commit_hash",
}


def run_conversations(cfg, conn, client, consumer="c-test", **settings) -> dict:
    worker = conversations.build_worker(
        cfg, consumer, conn, client, settings=Settings(idle_block_ms=20, **settings)
    )
    return worker.run(burst=True).as_dict()


def dump(conn) -> dict[str, list[tuple]]:
    out = {}
    for table, order in TABLES.items():
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        for row in rows:
            row.pop("updated_at", None)
        out[table] = rows
    return out


def one(conn, sql, *args):
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else None


def test_mixed_workload_conversation_rows(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(mixed())
    ingest_all()
    run_conversations(cfg, writer_conn, redis_client)
    a = one(writer_conn, "SELECT * FROM conversations WHERE session_id = 'sess-a'")
    assert (a["platform"], a["model"], a["prompts"], a["requests"]) == ("claude_code", OPUS, 2, 3)
    assert (a["tool_calls"], a["tool_errors"], a["compactions"]) == (3, 1, 1)
    assert (a["input_tokens"], a["output_tokens"], a["cost_nusd"]) == (1150, 360, 26_000_000)
    assert (a["edits_accepted"], a["edits_rejected"], a["lines_added"]) == (1, 1, 10)
    assert a["active_ms"] == 82_000 and a["event_count"] == 18
    turns = writer_conn.execute(
        "SELECT kind, prompt_id, requests, tool_calls FROM conversation_turns"
        " WHERE session_id = 'sess-a' ORDER BY turn_index"
    ).fetchall()
    assert turns == [
        ("preamble", None, 0, 0),
        ("prompt", "p1", 1, 3),
        ("prompt", "p2", 1, 0),
        ("compaction", None, 1, 0),
    ]
    compaction = one(writer_conn, "SELECT * FROM conversation_turns WHERE kind = 'compaction'")
    assert (compaction["pre_tokens"], compaction["post_tokens"]) == (9000, 1200)
    changes = writer_conn.execute(
        "SELECT change_key, operation, lines_added, lines_removed, decision, decision_ms"
        " FROM code_changes WHERE session_id = 'sess-a' ORDER BY change_key"
    ).fetchall()
    assert changes == [
        ("tu1", "edit", 10, 2, "accepted", 1000),
        ("tu2", "edit", 0, 0, "rejected", None),
    ]
    calls = writer_conn.execute(
        "SELECT call_key, tool_name, program, success, error_type, duration_ms FROM tool_calls"
        " WHERE session_id = 'sess-a' ORDER BY call_key"
    ).fetchall()
    assert calls == [
        ("tu1", "Edit", None, 1, None, 118),  # OTel's duration wins
        ("tu2", "Edit", None, None, None, None),  # never answered
        ("tu3", "Bash", "pytest", 0, "exit_code", 2000),
    ]
    b = one(writer_conn, "SELECT * FROM conversations WHERE session_id = 'sess-b'")
    assert b["cost_nusd"] is None and b["unpriced_requests"] == 1  # unknown, not 0
    decisions = writer_conn.execute(
        "SELECT decision FROM code_changes WHERE session_id = 'sess-b' ORDER BY change_key"
    ).fetchall()
    assert decisions == [(None,), ("accepted",), ("rejected",)]
    commits = writer_conn.execute(
        "SELECT commit_hash, agent_assisted, linked_session_id FROM commits ORDER BY commit_hash"
    ).fetchall()
    assert sorted(commits) == sorted([(as_hash("c1"), 1, "sess-a"), (as_hash("c2"), 0, None)])
    assert redis_client.xpending(streams.CDC_STREAM, streams.CONVERSATIONS_GROUP)["pending"] == 0


def test_subagent_turns_stay_visible_beside_the_main_thread(cfg, redis_client, writer_conn):
    s = "sess-agent"
    batch = [
        ev("user_prompt", 0, session=s, prompt_id="p1"),
        ev("subagent_start", 1, session=s, agent_id="ag1", agent_type="Explore"),
        ev(
            "tool_use",
            2,
            session=s,
            tool_name="Read",
            tool_use_id="t1",
            is_sidechain=True,
            agent_id="ag1",
        ),
        ev(
            "tool_result",
            3,
            session=s,
            tool_name="Read",
            tool_use_id="t1",
            success=True,
            duration_ms=4,
            is_sidechain=True,
            agent_id="ag1",
        ),
        ev("subagent_stop", 4, session=s, agent_id="ag1"),
        ev("tool_use", 5, session=s, tool_name="Bash", tool_use_id="t2"),
    ]
    Emitter(redis_client).emit_many(batch)
    ingest_all()
    run_conversations(cfg, writer_conn, redis_client)
    turns = writer_conn.execute(
        "SELECT kind, agent_id, is_sidechain, tool_calls, tools FROM conversation_turns"
        " ORDER BY turn_index"
    ).fetchall()
    assert turns == [
        ("prompt", None, 0, 1, '{"Bash":1}'),
        ("subagent", "ag1", 1, 1, '{"Read":1}'),
    ]
    conv = one(writer_conn, "SELECT subagents, tool_calls FROM conversations")
    assert conv == {"subagents": 1, "tool_calls": 2}


def test_session_totals_agree_with_the_metrics_worker(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(generated(1500, seed=11))
    ingest_all()
    run_conversations(cfg, writer_conn, redis_client)
    build_metrics(cfg, "m", writer_conn, redis_client, settings=Settings(idle_block_ms=20)).run(
        burst=True
    )
    rows = writer_conn.execute("SELECT * FROM conversations").fetchall()
    assert len(rows) > 10
    fields = (
        "prompts",
        "requests",
        "tool_calls",
        "tool_errors",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "lines_added",
        "edits_accepted",
        "edits_rejected",
        "compactions",
        "active_ms",
    )
    for (session_id,) in writer_conn.execute("SELECT session_id FROM conversations"):
        conv = one(writer_conn, "SELECT * FROM conversations WHERE session_id = ?", session_id)
        metrics = mk.decode_counters(
            redis_client.hgetall(mk.counters_key(mk.scope("session", session_id)))
        )
        assert {f: conv[f] for f in fields} == {f: metrics[f] for f in fields}, session_id
        if conv["cost_nusd"] is not None:
            assert conv["cost_nusd"] == metrics["cost_nusd"]


def test_out_of_order_consumers_and_rebuild_give_identical_rows(cfg, redis_client, writer_conn):
    Emitter(redis_client).emit_many(mixed() + generated(1200, seed=4))
    ingest_all()
    # Shuffle the CDC stream and let two consumers take turns on small batches.
    entries = redis_client.xrange(streams.CDC_STREAM)
    random.Random(9).shuffle(entries)
    redis_client.delete(streams.CDC_STREAM)
    for _id, fields in entries:
        redis_client.xadd(streams.CDC_STREAM, fields)
    redis_client.xgroup_create(streams.CDC_STREAM, streams.CONVERSATIONS_GROUP, id="0")
    w1 = conversations.build_worker(
        cfg, "c1", writer_conn, redis_client, settings=Settings(idle_block_ms=5, batch_size=29)
    )
    w2 = conversations.build_worker(
        cfg, "c2", writer_conn, redis_client, settings=Settings(idle_block_ms=5, batch_size=61)
    )
    while w1.step() + w2.step():
        pass
    live = dump(writer_conn)
    assert len(live["conversations"]) > 10
    rebuild_conversations(writer_conn, pricing.load())
    assert dump(writer_conn) == live
    rebuild_conversations(writer_conn, pricing.load())
    assert dump(writer_conn) == live
    tools = [
        orjson.loads(t)
        for (t,) in writer_conn.execute(
            "SELECT tools FROM conversation_turns WHERE tools IS NOT NULL"
        )
    ]
    assert tools
