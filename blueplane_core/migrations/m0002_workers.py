"""Migration 2: the tables the slow-path workers fill and the query side reads.

Written by ``blueplane_workers.conversations`` (conversations, conversation_turns, code_changes,
commits) and ``blueplane_workers.insights`` (insights); read-only for the query side. A session's
rows are always recomputed together from its raw events in sequence order, so they are identical
however often (or in whatever order) its events were processed.

Units: times are envelope timestamps (UTC ISO-8601 text); durations in ms; money in nano-USD
(``cost_nusd``, 1 USD = 1e9; NULL when some request of the row had no price = unknown cost).
Hashes (``workspace_hash``, ``file_hash``, ``commit_hash``) are keyed hashes from capture.

Query-side notes:
  * ``conversations`` has one row per platform session (``session_id`` is the platform's id).
  * ``conversation_turns.kind``: ``prompt`` (a user prompt and everything until the next one),
    ``subagent`` (a sidechain/subagent's activity, ``agent_id`` set), ``compaction`` (a
    compaction boundary), ``preamble`` (activity before the first prompt).
  * ``code_changes.decision``: ``accepted``, ``rejected`` or NULL (unknown); ``operation``
    ``read`` rows are file reads (kept for the read-before-edit ratio).
  * ``tool_calls``: one row per tool call (one per tool_use_id whichever sources saw it).
  * ``insights``: one row per (kind, subject); ``evidence`` is JSON of the numbers behind it;
    ``heuristic`` = 1 for pattern-based rules.
"""

from __future__ import annotations

import sqlite3

STATEMENTS = (
    """
    CREATE TABLE conversations (
        session_id          TEXT    PRIMARY KEY,
        platform            TEXT    NOT NULL,
        workspace_hash      TEXT,
        project_hash        TEXT,
        git_branch_hash     TEXT,
        model               TEXT,              -- the model of most requests
        client_version      TEXT,
        started_at          TEXT    NOT NULL,
        ended_at            TEXT    NOT NULL,  -- last event time
        end_reason          TEXT,
        prompts             INTEGER NOT NULL DEFAULT 0,
        turns               INTEGER NOT NULL DEFAULT 0,
        requests            INTEGER NOT NULL DEFAULT 0,
        tool_calls          INTEGER NOT NULL DEFAULT 0,
        tool_errors         INTEGER NOT NULL DEFAULT 0,
        input_tokens        INTEGER NOT NULL DEFAULT 0,
        output_tokens       INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
        cost_nusd           INTEGER,           -- NULL: some request unpriced (unknown)
        unpriced_requests   INTEGER NOT NULL DEFAULT 0,
        lines_added         INTEGER NOT NULL DEFAULT 0,
        lines_removed       INTEGER NOT NULL DEFAULT 0,
        edits_accepted      INTEGER NOT NULL DEFAULT 0,
        edits_rejected      INTEGER NOT NULL DEFAULT 0,
        compactions         INTEGER NOT NULL DEFAULT 0,
        subagents           INTEGER NOT NULL DEFAULT 0,
        api_errors          INTEGER NOT NULL DEFAULT 0,
        active_ms           INTEGER NOT NULL DEFAULT 0,
        event_count         INTEGER NOT NULL DEFAULT 0,
        last_sequence       INTEGER NOT NULL,  -- newest raw_traces.sequence folded in
        updated_at          INTEGER NOT NULL   -- unix ms of the last rebuild of this row
    )
    """,
    "CREATE INDEX idx_conversations_started ON conversations (started_at)",
    "CREATE INDEX idx_conversations_workspace ON conversations (workspace_hash, started_at)",
    """
    CREATE TABLE conversation_turns (
        session_id          TEXT    NOT NULL REFERENCES conversations(session_id) ON DELETE CASCADE,
        turn_index          INTEGER NOT NULL,  -- 0-based, in sequence order
        kind                TEXT    NOT NULL,  -- prompt | subagent | compaction | preamble
        prompt_id           TEXT,
        agent_id            TEXT,              -- subagent turns
        agent_type          TEXT,
        is_sidechain        INTEGER NOT NULL DEFAULT 0,
        started_at          TEXT    NOT NULL,
        ended_at            TEXT    NOT NULL,
        prompt_length       INTEGER,
        response_length     INTEGER,
        requests            INTEGER NOT NULL DEFAULT 0,
        tool_calls          INTEGER NOT NULL DEFAULT 0,
        tool_errors         INTEGER NOT NULL DEFAULT 0,
        tools               TEXT,              -- JSON {tool name: calls}
        input_tokens        INTEGER NOT NULL DEFAULT 0,
        output_tokens       INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
        cost_nusd           INTEGER,
        lines_added         INTEGER NOT NULL DEFAULT 0,
        lines_removed       INTEGER NOT NULL DEFAULT 0,
        pre_tokens          INTEGER,           -- compaction turns
        post_tokens         INTEGER,
        trigger             TEXT,
        first_sequence      INTEGER NOT NULL,
        last_sequence       INTEGER NOT NULL,
        PRIMARY KEY (session_id, turn_index)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE code_changes (
        session_id          TEXT    NOT NULL REFERENCES conversations(session_id) ON DELETE CASCADE,
        change_key          TEXT    NOT NULL,  -- tool_use_id, or 'seq:<sequence>' without one
        turn_index          INTEGER,
        sequence            INTEGER NOT NULL,  -- raw_traces.sequence of the best source
        timestamp           TEXT    NOT NULL,
        tool_name           TEXT,
        file_hash           TEXT,
        file_extension      TEXT,
        lines_added         INTEGER NOT NULL DEFAULT 0,
        lines_removed       INTEGER NOT NULL DEFAULT 0,
        operation           TEXT,              -- edit | write | delete | read
        decision            TEXT,              -- accepted | rejected | NULL
        decision_ms         INTEGER,
        is_sidechain        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, change_key)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX idx_code_changes_file ON code_changes (file_hash)",
    """
    CREATE TABLE tool_calls (
        session_id          TEXT    NOT NULL REFERENCES conversations(session_id) ON DELETE CASCADE,
        call_key            TEXT    NOT NULL,  -- tool_use_id, or 'seq:<sequence>' without one
        turn_index          INTEGER,
        sequence            INTEGER NOT NULL,  -- raw_traces.sequence where it was first seen
        timestamp           TEXT    NOT NULL,
        tool_name           TEXT,
        program             TEXT,              -- shell tools: the program name only
        file_hash           TEXT,
        success             INTEGER,           -- NULL: no result seen (denied / interrupted)
        error_type          TEXT,
        duration_ms         INTEGER,
        is_sidechain        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, call_key)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE commits (
        commit_hash         TEXT    PRIMARY KEY,  -- keyed hash of the commit id
        workspace_hash      TEXT,
        timestamp           TEXT    NOT NULL,
        lines_added         INTEGER NOT NULL DEFAULT 0,
        lines_removed       INTEGER NOT NULL DEFAULT 0,
        files_changed       INTEGER,
        agent_assisted      INTEGER NOT NULL DEFAULT 0,  -- agent activity in the 5 min before
        linked_session_id   TEXT,                        -- the last session active before it
        sequence            INTEGER NOT NULL
    )
    """,
    "CREATE INDEX idx_commits_workspace ON commits (workspace_hash, timestamp)",
    """
    CREATE TABLE insights (
        id                  INTEGER PRIMARY KEY,
        kind                TEXT    NOT NULL,  -- e.g. error_prone_tool, low_cache_hit_ratio
        subject             TEXT    NOT NULL,  -- what it is about: a tool, a session, a model, ''
        severity            TEXT    NOT NULL,  -- info | warning | critical
        heuristic           INTEGER NOT NULL DEFAULT 1,
        title               TEXT    NOT NULL,
        evidence            TEXT    NOT NULL,  -- JSON of the numbers behind it
        suggestion          TEXT    NOT NULL,
        phrased             TEXT,              -- optional LLM phrasing (from metadata only)
        session_id          TEXT,
        window_start        TEXT,
        window_end          TEXT,
        created_at          INTEGER NOT NULL,  -- unix ms first seen
        updated_at          INTEGER NOT NULL,  -- unix ms last recomputed
        UNIQUE (kind, subject)
    )
    """,
    "CREATE INDEX idx_insights_kind ON insights (kind, severity)",
    """
    CREATE TABLE worker_progress (
        worker              TEXT    NOT NULL,  -- conversations | insights
        name                TEXT    NOT NULL,  -- what the value tracks
        value               INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        PRIMARY KEY (worker, name)
    ) WITHOUT ROWID
    """,
)


def apply(conn: sqlite3.Connection) -> None:
    for statement in STATEMENTS:
        conn.execute(statement)
