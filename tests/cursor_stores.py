"""Cursor data of our own making, in every shape formats.md 4-5 describes (no real Cursor here).

``build(user_dir, base_ms)`` writes a Cursor ``User`` folder: workspace databases with
``workspace.json`` (a local folder and a ``vscode-remote://`` one), and one global
``state.vscdb`` holding

* ``SESSION``: the reference session, composer ``_v 10`` with bubbles ``_v 3`` — 2 prompts,
  a thinking bubble (``capabilityType`` 30), a shell and an edit tool bubble (15), replies whose
  last bubble of each turn carries the turn's ``tokenCount``; ``codeBlockData`` in the dict form
  with one accepted block; +7/-2 lines; ``timingInfo.clientStartTime`` on a performance clock;
  values stored as TEXT (as in a public real extract);
* ``LEGACY``: composer ``_v 3``, bubbles ``_v 2`` without ``createdAt`` (time only in
  ``timingInfo``), ``tokenCount`` once a bare integer, ``codeBlockData`` as a list per file,
  ``usageData{model: {costInCents, amount}}``, values as BLOB;
* ``INLINE``: a legacy composer with its messages inline in ``conversation[]`` (no ``_v``);
* ``MAPPED``: bubbles inside the composer's ``conversationMap`` (ordered by its headers);
* ``HEADERS_ONLY``: a composer listed only in the global ``composer.composerHeaders`` with its
  ``workspaceIdentifier``;
* an empty draft (``status "none"``, no bubbles) and a ``composerData`` row whose value is NULL.

``hook_events(...)`` gives the hook payloads Cursor would send for ``SESSION``, and
``EVERY_HOOK`` one payload per documented hook event; ``with_newer_fields`` adds the fields of
newer clients (``session_id``, ``model_id``, ``is_background_agent``, ``composer_mode``, null
``user_email``/``transcript_path``).

The numbers of ``SESSION``, by hand (the test's expectations come from here, not from code):
prompts 2; requests 2; input 52,130 + 23,148 = 75,278; output 6,021 + 1,867 = 7,888; lines
+7/-2 (the edit replaces 2 old lines with 7 new ones); 1 accepted edit; tool calls: 1 shell
(``npm test``) + 1 edit = 2; models: turn 1 ``claude-4.5-sonnet`` (Anthropic's
claude-sonnet-4-5, $3/$15 per Mtok: 52,130 x 3 + 6,021 x 15 = 246,705 micro-USD), turn 2
``composer-1`` (Cursor's own model, no public price: unpriced).

Run as a script to write the stores somewhere: ``python -m tests.cursor_stores DIR``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

SESSION = "5c0f9d3e-7a41-4f7e-9a55-2d8f0c1b6e01"
LEGACY = "0a1b2c3d-0000-4000-8000-00000000c0de"
INLINE = "11111111-2222-4333-8444-555555555555"
HEADERS_ONLY = "99999999-8888-4777-8666-555555555555"
MAPPED = "12121212-3434-4565-8787-909090909090"
DRAFT = "d0d0d0d0-0000-4000-8000-000000000000"
NULL_ROW = "ffffffff-0000-4000-8000-000000000000"

ROOT = "/home/dev/secret-blue-app"
REMOTE_ROOT = "/srv/secret-remote"
FILE = f"{ROOT}/src/app.ts"
WORKSPACE_ID = "3f1e9c0d2a4b5c6d7e8f901234567890"
REMOTE_WORKSPACE_ID = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a"

G1, G2 = "8d5a1c1e-1111-4a4a-9b9b-000000000001", "8d5a1c1e-1111-4a4a-9b9b-000000000002"
PROMPT_1 = "Fix the secret failing test in src/app.ts"
PROMPT_2 = "Thanks, explain the secret change"
COMMAND = "npm test -- --secret-flag"
OLD = "const a = 1\nconst b = 2\n"  # 2 lines removed
NEW = "".join(f"const secret{i} = {i}\n" for i in range(7))  # 7 lines added
TOKENS = {G1: (52_130, 6_021), G2: (23_148, 1_867)}
MODELS = {G1: "claude-4.5-sonnet", G2: "composer-1"}
THINK_MS = 2_100
SHELL_MS = 3_400


def create(path: Path, wal: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    for table in ("ItemTable", "cursorDiskKV"):
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)"
        )
    conn.commit()
    conn.close()


def put(path: Path, table: str, key: str, value: Any, as_text: bool = False) -> None:
    """One row; the value as a BLOB (documented) or TEXT (seen in a real extract); None = NULL."""
    encoded: Any = None
    if value is not None:
        encoded = json.dumps(value) if as_text else json.dumps(value).encode()
    conn = sqlite3.connect(path, timeout=5)
    conn.execute(f"INSERT INTO {table} (key, value) VALUES (?, ?)", (key, encoded))
    conn.commit()
    conn.close()


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


# ------------------------------------------------------------------------- the reference session


def session_bubbles(base: int) -> list[tuple[str, dict[str, Any]]]:
    """(bubble id, bubble) of ``SESSION`` in conversation order; ``base`` is its epoch ms."""

    def bubble(bid: str, kind: int, at: int, **fields: Any) -> tuple[str, dict[str, Any]]:
        empty = {"inputTokens": 0, "outputTokens": 0}
        return bid, {
            "_v": 3,
            "bubbleId": bid,
            "type": kind,
            "text": "",
            "createdAt": iso(at),
            "tokenCount": empty,
            "modelInfo": None,
            **fields,
        }

    def timing(start: int, end: int) -> dict[str, Any]:
        # clientStartTime on a performance clock (ms since Cursor started), the rest epoch
        return {
            "clientStartTime": 43_416_880.6,
            "clientRpcSendTime": start,
            "clientSettleTime": end,
            "clientEndTime": end,
        }

    edit_args = json.dumps(
        {"target_file": "src/app.ts", "instructions": "secret", "code_edit": NEW}
    )
    return [
        bubble("u-1", 1, base, text=PROMPT_1, requestId=G1, richText='{"root":"secret"}'),
        bubble(
            "t-1",
            2,
            base + 1_000,
            requestId=G1,
            capabilityType=30,
            thinking={"text": "secret reasoning", "signature": "sig"},
            thinkingDurationMs=THINK_MS,
        ),
        bubble(
            "s-1",
            2,
            base + 4_000,
            requestId=G1,
            capabilityType=15,
            toolFormerData={
                "tool": 15,
                "toolIndex": 0,
                "modelCallId": "mc-1",
                "toolCallId": "toolu_01SHELL",
                "status": "completed",
                "name": "run_terminal_cmd",
                "rawArgs": json.dumps({"command": COMMAND, "is_background": False}),
                "result": json.dumps({"output": "secret output"}),
                "additionalData": {},
            },
        ),
        bubble(
            "e-1",
            2,
            base + 9_000,
            requestId=G1,
            capabilityType=15,
            toolFormerData={
                "tool": 7,
                "toolIndex": 1,
                "modelCallId": "mc-2",
                "toolCallId": "toolu_01EDIT",
                "status": "completed",
                "name": "edit_file",
                "rawArgs": edit_args,
                "result": json.dumps({"diff": "secret diff"}),
                "userDecision": "accepted",
            },
        ),
        bubble(
            "a-1",
            2,
            base + 12_000,
            text="Fixed: secret explanation",
            requestId=G1,
            timingInfo=timing(base + 1_000, base + 12_500),
            tokenCount={"inputTokens": TOKENS[G1][0], "outputTokens": TOKENS[G1][1]},
            modelInfo={"modelName": MODELS[G1]},
            usageUuid="usage-1",
        ),
        bubble("u-2", 1, base + 60_000, text=PROMPT_2, requestId=G2),
        bubble(
            "a-2",
            2,
            base + 61_000,
            text="The secret change was ...",
            requestId=G2,
            timingInfo=timing(base + 60_100, base + 64_000),
            tokenCount={"inputTokens": TOKENS[G2][0], "outputTokens": TOKENS[G2][1]},
            modelInfo={"modelName": MODELS[G2]},
        ),
    ]


def session_composer(base: int, status: str = "completed") -> dict[str, Any]:
    bubbles = session_bubbles(base)
    return {
        "_v": 10,
        "composerId": SESSION,
        "name": "secret composer title",
        "createdAt": base - 5_000,
        "lastUpdatedAt": base + 65_000,
        "status": status,
        "isAgentic": True,
        "unifiedMode": "agent",
        "forceMode": "edit",
        "modelConfig": {"modelName": "default", "maxMode": False},
        "fullConversationHeadersOnly": [
            {
                "bubbleId": bid,
                "type": b["type"],
                **({"serverBubbleId": "srv"} if b["type"] == 2 else {}),
            }
            for bid, b in bubbles
        ],
        "conversationMap": {},
        "codeBlockData": {
            f"file://{FILE}": {
                "cb-7f": {
                    "bubbleId": "e-1",
                    "codeBlockIdx": 0,
                    "status": "accepted",
                    "languageId": "typescript",
                    "diffId": "d-1",
                    "uri": {"fsPath": FILE},
                }
            }
        },
        "usageData": {},
        "totalLinesAdded": 7,
        "totalLinesRemoved": 2,
        "latestChatGenerationUUID": G2,
        "context": {"fileSelections": [{"uri": {"fsPath": FILE}}]},
        "subComposerIds": [],
    }


def write_session(global_db: Path, base: int) -> None:
    put(global_db, "cursorDiskKV", f"composerData:{SESSION}", session_composer(base), True)
    for bid, bubble in session_bubbles(base):
        put(global_db, "cursorDiskKV", f"bubbleId:{SESSION}:{bid}", bubble, True)


# ------------------------------------------------------------------------------- other shapes


def legacy_composer(base: int) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """``_v 3`` composer, ``_v 2`` bubbles without ``createdAt`` (times in ``timingInfo``).

    By hand: 1 prompt; 1 request of gpt-4o, 1,000 in / 200 out; Cursor's own cost 7 cents;
    lines +3/-1; 1 rejected edit (list-form ``codeBlockData``). The second assistant bubble's
    ``tokenCount`` is a bare integer (older stores): it cannot be split and is not a request.
    The user bubble has no ``requestId``: its turn is the next bubble's (``lg-1``).
    """
    bubbles = [
        ("lu-1", {"_v": 2, "bubbleId": "lu-1", "type": 1, "text": "secret old question"}),
        ("la-1", {"_v": 2, "bubbleId": "la-1", "type": 2, "text": "secret old answer",
                  "requestId": "lg-1",
                  "timingInfo": {"clientStartTime": base + 100, "clientRpcSendTime": base + 150,
                                 "clientEndTime": base + 2_150},
                  "tokenCount": {"inputTokens": 1_000, "outputTokens": 200}}),
        ("la-2", {"_v": 2, "bubbleId": "la-2", "type": 2, "text": "secret more",
                  "requestId": "lg-1", "tokenCount": 321,
                  "timingInfo": {"clientEndTime": base + 3_000}}),
    ]  # fmt: skip
    composer = {
        "_v": 3,
        "composerId": LEGACY,
        "createdAt": base,
        "lastUpdatedAt": base + 3_000,
        "status": "completed",
        "isAgentic": False,
        "unifiedMode": "chat",
        "modelConfig": {"modelName": "gpt-4o"},
        "fullConversationHeadersOnly": [{"bubbleId": b, "type": v["type"]} for b, v in bubbles],
        "codeBlockData": {
            f"file://{ROOT}/old.py": [
                {"bubbleId": "la-1", "codeBlockIdx": 0, "status": "rejected", "diffId": "d-9"}
            ]
        },
        "usageData": {"gpt-4o": {"costInCents": 7, "amount": 1}},
        "totalLinesAdded": 3,
        "totalLinesRemoved": 1,
        "latestConversationSummary": {"summary": {"summary": "secret summary"}},
    }
    return composer, bubbles


def inline_composer(base: int) -> dict[str, Any]:
    """Messages inline in ``conversation[]``: by hand 2 prompts, 1 reply with 500/50 tokens."""
    return {
        "composerId": INLINE,
        "createdAt": base,
        "lastUpdatedAt": base + 9_000,
        "unifiedMode": "chat",
        "status": "completed",
        "conversation": [
            {"bubbleId": "iu-1", "type": 1, "text": "secret inline one", "requestId": "ig-1"},
            {"bubbleId": "ia-1", "type": 2, "text": "secret inline answer", "requestId": "ig-1",
             "timingInfo": {"clientRpcSendTime": base + 1_000, "clientEndTime": base + 2_000},
             "tokenCount": {"inputTokens": 500, "outputTokens": 50}},
            {"bubbleId": "iu-2", "type": 1, "text": "secret inline two"},  # no id at all
        ],
    }  # fmt: skip


def mapped_composer(base: int) -> dict[str, Any]:
    """Bubbles in ``conversationMap{bubbleId: bubble}`` (headers give the order): by hand
    1 prompt, 1 reply with 40/4 tokens of claude-4-sonnet."""
    return {
        "_v": 5,
        "composerId": MAPPED,
        "createdAt": base,
        "status": "completed",
        "modelConfig": {"modelName": "claude-4-sonnet"},
        "fullConversationHeadersOnly": [
            {"bubbleId": "mu-1", "type": 1}, {"bubbleId": "ma-1", "type": 2}
        ],
        "conversationMap": {
            "ma-1": {"type": 2, "text": "secret mapped answer", "requestId": "mg-1",
                     "createdAt": iso(base + 2_000),
                     "tokenCount": {"inputTokens": 40, "outputTokens": 4}},
            "mu-1": {"type": 1, "text": "secret mapped question", "requestId": "mg-1",
                     "createdAt": iso(base + 1_000)},
        },
    }  # fmt: skip


def headers_only_composer(base: int) -> dict[str, Any]:
    return {
        "_v": 10,
        "composerId": HEADERS_ONLY,
        "createdAt": base,
        "status": "completed",
        "fullConversationHeadersOnly": [{"bubbleId": "hu-1", "type": 1}],
    }


def build(user_dir: Path, base_ms: int | None = None, session: bool = True) -> dict[str, Path]:
    """Write every shape under ``user_dir`` (a Cursor ``User`` folder); returns the files."""
    base = base_ms if base_ms is not None else int(time.time() * 1000) - 3_600_000
    workspace = user_dir / "workspaceStorage" / WORKSPACE_ID
    remote = user_dir / "workspaceStorage" / REMOTE_WORKSPACE_ID
    global_db = user_dir / "globalStorage" / "state.vscdb"
    for db in (workspace / "state.vscdb", remote / "state.vscdb", global_db):
        create(db)
    (workspace / "workspace.json").write_text(json.dumps({"folder": f"file://{ROOT}"}))
    (remote / "workspace.json").write_text(
        json.dumps({"folder": f"vscode-remote://ssh-remote%2Bbuildhost{REMOTE_ROOT}"})
    )
    ws = workspace / "state.vscdb"
    put(ws, "ItemTable", "aiService.prompts", [
        {"text": PROMPT_1, "commandType": 4},
        {"text": PROMPT_2, "commandType": 4},
        {"text": "secret old question", "commandType": 4},
    ])  # fmt: skip
    put(ws, "ItemTable", "aiService.generations", [
        {"unixMs": base + 10, "generationUUID": G1, "type": "composer",
         "textDescription": PROMPT_1},
        {"unixMs": base + 60_010, "generationUUID": G2, "type": "composer",
         "textDescription": PROMPT_2},
        {"unixMs": base - 50_000, "generationUUID": "cmdk-1", "type": "cmdk"},
    ])  # fmt: skip
    put(ws, "ItemTable", "composer.composerData", {
        "allComposers": [
            {"type": "head", "composerId": c, "createdAt": base, "unifiedMode": "agent",
             "totalLinesAdded": 7, "totalLinesRemoved": 2}
            for c in (SESSION, LEGACY, INLINE, DRAFT)
        ],
        "selectedComposerIds": [SESSION],
    })  # fmt: skip
    put(
        global_db,
        "ItemTable",
        "composer.composerHeaders",
        {
            "allComposers": [
                {"composerId": HEADERS_ONLY, "workspaceIdentifier": {"id": REMOTE_WORKSPACE_ID}}
            ]
        },
    )
    if session:
        write_session(global_db, base)
    old, old_bubbles = legacy_composer(base - 86_400_000)
    put(global_db, "cursorDiskKV", f"composerData:{LEGACY}", old)
    for bid, bubble in old_bubbles:
        put(global_db, "cursorDiskKV", f"bubbleId:{LEGACY}:{bid}", bubble)
    put(global_db, "cursorDiskKV", f"composerData:{INLINE}", inline_composer(base - 7_200_000))
    put(global_db, "cursorDiskKV", f"composerData:{HEADERS_ONLY}", headers_only_composer(base))
    put(global_db, "cursorDiskKV", f"composerData:{MAPPED}", mapped_composer(base - 60_000))
    put(
        global_db,
        "cursorDiskKV",
        f"bubbleId:{HEADERS_ONLY}:hu-1",
        {"_v": 3, "bubbleId": "hu-1", "type": 1, "text": "secret remote", "createdAt": iso(base)},
    )
    put(global_db, "cursorDiskKV", f"composerData:{DRAFT}", {
        "_v": 10, "composerId": DRAFT, "createdAt": base, "status": "none", "text": "",
        "fullConversationHeadersOnly": [], "conversationMap": {},
    })  # fmt: skip
    put(global_db, "cursorDiskKV", f"composerData:{NULL_ROW}", None)
    put(global_db, "cursorDiskKV", f"checkpointId:{SESSION}:x", {"secret": "ignored"})
    return {"global": global_db, "workspace": ws, "remote": remote / "state.vscdb"}


# ------------------------------------------------------------------------------ hook payloads

COMMON = {
    "conversation_id": SESSION,
    "workspace_roots": [ROOT],
    "cursor_version": "1.7.52",
    "user_email": "dev@secret.example.com",
    "transcript_path": "/home/dev/.cursor/projects/secret/agent-transcripts/x.jsonl",
}
NEWER = {
    "session_id": SESSION,
    "is_background_agent": False,
    "composer_mode": "agent",
    "cursor_version": "3.10.17",
    "user_email": None,
    "transcript_path": None,
}


def with_newer_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The same payload as a Cursor 3.x client sends it (formats.md 4, public captures)."""
    out = {**payload, **NEWER}
    if "model" in out:
        out["model_id"] = out["model"]
    return out


def hook_events(newer: bool = True) -> list[dict[str, Any]]:
    """The hooks Cursor fires for ``SESSION``, in order (``blueplane install cursor``'s set)."""

    def hook(name: str, generation: str | None, **fields: Any) -> dict[str, Any]:
        payload = {**COMMON, "hook_event_name": name, **fields}
        if generation:
            payload["generation_id"] = generation
            payload["model"] = MODELS[generation]
        return with_newer_fields(payload) if newer else payload

    def stop(generation: str) -> dict[str, Any]:
        tokens = {}
        if newer:  # only newer clients report a turn's tokens in the stop hook
            tokens = {
                "input_tokens": TOKENS[generation][0],
                "output_tokens": TOKENS[generation][1],
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
            }
        return hook("stop", generation, status="completed", loop_count=0, **tokens)

    return [
        hook("sessionStart", None, composer_mode="agent"),
        hook("beforeSubmitPrompt", G1, prompt=PROMPT_1, attachments=[]),
        hook("afterAgentThought", G1, text="secret reasoning", duration_ms=THINK_MS),
        hook("beforeShellExecution", G1, command=COMMAND, cwd=ROOT),
        hook("afterShellExecution", G1, command=COMMAND, output="secret", duration=SHELL_MS),
        hook("afterFileEdit", G1, file_path=FILE, edits=[{"old_string": OLD, "new_string": NEW}]),
        hook("afterAgentResponse", G1, text="Fixed: secret explanation"),
        stop(G1),
        hook("beforeSubmitPrompt", G2, prompt=PROMPT_2, attachments=[]),
        hook("afterAgentResponse", G2, text="The secret change was ..."),
        stop(G2),
        hook("sessionEnd", None, reason="completed", duration_ms=70_000, final_status="completed"),
    ]


#: one payload per documented hook event (formats.md 4), private fields filled in
EVERY_HOOK: dict[str, dict[str, Any]] = {
    "sessionStart": {},
    "sessionEnd": {"reason": "window_close", "error_message": "secret failure"},
    "beforeSubmitPrompt": {
        "prompt": "refactor the secret billing code",
        "attachments": [
            {"type": "file", "file_path": f"{ROOT}/a.ts"},
            {"type": "rule", "file_path": f"{ROOT}/.cursor/rules/x.mdc"},
        ],
    },
    "preToolUse": {
        "tool_name": "Shell",
        "tool_input": {"command": "git push --secret", "cwd": ROOT, "timeout": 30000},
        "tool_use_id": "toolu_pre",
    },
    "postToolUse": {
        "tool_name": "StrReplace",
        "tool_input": {"path": f"{ROOT}/a.ts", "old_string": "secret", "new_string": "x"},
        "tool_use_id": "toolu_post",
        "tool_output": "secret output",
    },
    "postToolUseFailure": {
        "tool_name": "Write",
        "tool_input": {"file_path": f"{ROOT}/secret.ts", "contents": "secret"},
        "tool_use_id": "toolu_fail",
        "failure_type": "permission_denied",
    },
    "subagentStart": {
        "subagent_id": "sa-1",
        "subagent_type": "explore",
        "subagent_model": "gpt-5",
        "task": "secret task",
    },
    "subagentStop": {"subagent_id": "sa-1", "subagent_type": "explore"},
    "beforeShellExecution": {"command": "npm install secret-pkg --token=abc", "cwd": ROOT},
    "afterShellExecution": {"command": "npm test", "output": "secret output", "duration": 150},
    "beforeMCPExecution": {
        "tool_name": "database_query",
        "tool_input": '{"query": "SELECT secret"}',
        "url": "http://localhost:3000/?key=secret",
    },
    "afterMCPExecution": {
        "tool_name": "database_query",
        "tool_input": "{}",
        "result_json": '{"rows": ["secret"]}',
        "duration": 250,
    },
    "beforeReadFile": {"file_path": f"{ROOT}/.env", "content": "API_KEY=secret"},
    "afterFileEdit": {
        "file_path": f"{ROOT}/src/main.ts",
        "edits": [{"old_string": "const secret = 1", "new_string": "const secret = 2\nmore\n"}],
    },
    "afterAgentResponse": {"text": "Here is the secret plan"},
    "afterAgentThought": {"text": "secret reasoning", "duration_ms": 1234},
    "preCompact": {"trigger": "auto", "context_usage_percent": 91},
    "stop": {"status": "completed", "loop_count": 0},
    "beforeTabFileRead": {"file_path": f"{ROOT}/b.ts", "content": "secret"},
    "afterTabFileEdit": {
        "file_path": f"{ROOT}/b.ts",
        "edits": [{"old_string": "", "new_string": "secret tab\n"}],
    },
}


def every_hook(name: str, newer: bool) -> dict[str, Any]:
    payload = {
        **COMMON,
        "hook_event_name": name,
        "generation_id": "gen-every",
        "model": "claude-4.5-sonnet",
        **EVERY_HOOK[name],
    }
    return with_newer_fields(payload) if newer else payload


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "cursor-user")
    print({k: str(v) for k, v in build(target).items()})
