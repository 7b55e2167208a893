"""Migration 4: the request ledger, API errors as facts, Copilot daily reports, turn models.

Written by ``blueplane_workers.conversations`` with the rest of a session's rows (recomputed
together from the session's stored events); read-only for the query side. Every cost and token
figure of the reports is a sum over ``api_requests`` (docs/metrics.md, "The request ledger").

  * ``api_requests``: one row per API-request fact, whichever sources saw it (transcript,
    OpenTelemetry, Cursor's database). Each field comes from the best source that has it (see
    ``blueplane_workers.facts.request_row``); ``sources`` lists them all. ``cost_nusd`` is
    computed from the merged tokens (NULL: the model has no price), ``official_cost_nusd`` is
    the client's own ``cost_usd`` when it reported one. ``agent`` is ``main`` or ``subagent``;
    ``turn_index`` is the turn that launched the work (a subagent's requests count on the prompt
    turn that started the subagent). ``at_ms`` is the request's own time (UTC epoch ms).
  * ``api_errors``: one row per failed API request, however many sources reported it (OTel
    ``api_error``, the hook's ``StopFailure``, a transcript's API error line).
  * ``copilot_usage``: one row per GitHub Copilot daily report (organisation or user, day); these
    are vendor totals, not sessions.
  * ``conversation_turns.model`` (the model of most of the turn's requests) and
    ``parent_turn_index`` (for a subagent turn: the turn that launched it).
"""

from __future__ import annotations

import sqlite3

STATEMENTS = (
    """
    CREATE TABLE api_requests (
        request_key             TEXT    PRIMARY KEY,  -- api:<request_id> | api:msg:<id> | seq:<n>
        session_id              TEXT    NOT NULL,
        platform                TEXT    NOT NULL,
        turn_index              INTEGER,
        agent                   TEXT    NOT NULL,     -- main | subagent
        agent_id                TEXT,
        prompt_id               TEXT,
        query_source            TEXT,                 -- OTel query_source (compact, title, ...)
        model                   TEXT,                 -- the model of THIS request
        at_ms                   INTEGER NOT NULL,     -- the request's time, UTC epoch ms
        timestamp               TEXT    NOT NULL,     -- the same time, UTC ISO-8601
        input_tokens            INTEGER NOT NULL DEFAULT 0,
        output_tokens           INTEGER NOT NULL DEFAULT 0,
        cache_write_5m_tokens   INTEGER NOT NULL DEFAULT 0,
        cache_write_1h_tokens   INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens       INTEGER NOT NULL DEFAULT 0,
        fast                    INTEGER NOT NULL DEFAULT 0,
        cost_nusd               INTEGER,              -- computed; NULL = unpriced (unknown)
        official_cost_nusd      INTEGER,              -- the client's own cost_usd, when reported
        sources                 TEXT    NOT NULL,     -- e.g. 'otlp,transcript'
        workspace_hash          TEXT,
        project_hash            TEXT,
        sequence                INTEGER NOT NULL      -- raw_traces.sequence of the winning event
    )
    """,
    "CREATE INDEX idx_api_requests_time ON api_requests (at_ms)",
    "CREATE INDEX idx_api_requests_timestamp ON api_requests (timestamp)",
    "CREATE INDEX idx_api_requests_session ON api_requests (session_id, at_ms)",
    "CREATE INDEX idx_api_requests_project ON api_requests (project_hash, at_ms)",
    """
    CREATE TABLE api_errors (
        error_key               TEXT    PRIMARY KEY,  -- apierr:<request_id> | apierr:<s>:<p>:.. |
        session_id              TEXT    NOT NULL,
        platform                TEXT    NOT NULL,
        turn_index              INTEGER,
        prompt_id               TEXT,
        request_id              TEXT,
        at_ms                   INTEGER NOT NULL,
        timestamp               TEXT    NOT NULL,
        status_code             INTEGER,
        error_type              TEXT,
        sources                 TEXT    NOT NULL,
        project_hash            TEXT,
        sequence                INTEGER NOT NULL
    )
    """,
    "CREATE INDEX idx_api_errors_time ON api_errors (timestamp)",
    "CREATE INDEX idx_api_errors_session ON api_errors (session_id)",
    """
    CREATE TABLE copilot_usage (
        report_kind             TEXT    NOT NULL,     -- legacy_usage | metrics | usage_metrics
        org_hash                TEXT    NOT NULL,     -- '' when the report names none
        user_hash               TEXT    NOT NULL,     -- '' for organisation-level reports
        day                     TEXT    NOT NULL,     -- YYYY-MM-DD (UTC) the numbers cover
        suggestions             INTEGER NOT NULL DEFAULT 0,
        acceptances             INTEGER NOT NULL DEFAULT 0,
        lines_suggested         INTEGER NOT NULL DEFAULT 0,
        lines_accepted          INTEGER NOT NULL DEFAULT 0,
        active_users            INTEGER NOT NULL DEFAULT 0,
        chat_turns              INTEGER NOT NULL DEFAULT 0,
        sequence                INTEGER NOT NULL,     -- the newest stored report of the day
        PRIMARY KEY (report_kind, org_hash, user_hash, day)
    ) WITHOUT ROWID
    """,
    "ALTER TABLE conversation_turns ADD COLUMN model TEXT",
    "ALTER TABLE conversation_turns ADD COLUMN parent_turn_index INTEGER",
    "ALTER TABLE conversations ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE conversations ADD COLUMN official_cost_nusd INTEGER",
)


def apply(conn: sqlite3.Connection) -> None:
    for statement in STATEMENTS:
        conn.execute(statement)
