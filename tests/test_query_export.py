"""Exports (json/csv/parquet/markdown), anonymization, team aggregation, MCP registration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from blueplane_query import errors
from blueplane_query.export import anonymize_tables
from blueplane_query.install import install_mcp, is_ours, uninstall_mcp
from blueplane_query.team import aggregate
from tests.conftest import PYTHON, python_env
from tests.query_data import SESSIONS, fill, worker_module

needs_conversations = pytest.mark.skipif(
    worker_module("conversations") is None,
    reason="blueplane_workers.conversations is not in this tree yet",
)


def bp_query(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "blueplane_query.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )


@needs_conversations
def test_anonymized_export_keeps_no_identifier(redis_client: redis.Redis, tmp_path: Path) -> None:
    fill(redis_client)
    plain, anon = tmp_path / "plain.json", tmp_path / "anon.json"
    assert bp_query("export", "-f", "json", "-o", str(plain)).returncode == 0
    done = bp_query("export", "-f", "json", "-o", str(anon), "--anonymize", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"]["sessions"] == len(SESSIONS)
    text = anon.read_text()
    for sid, _platform, project, _ago, _prompts in SESSIONS:
        assert sid in plain.read_text()
        assert sid not in text and project not in text and sid[:8] not in text
    doc = json.loads(text)
    assert doc["meta"]["anonymized"] is True
    sessions = {s["session_id"] for s in doc["sessions"]}
    assert len(sessions) == len(SESSIONS)
    assert {t["session_id"] for t in doc["turns"]} <= sessions  # still joinable inside the file
    # the request ledger is exported too, its ids re-keyed like the rest
    plain_requests = json.loads(plain.read_text())["requests"]
    assert len(doc["requests"]) == len(plain_requests) > 0
    assert {r["session_id"] for r in doc["requests"]} <= sessions
    for row in plain_requests:
        assert row["request_key"] not in text
    for fmt in ("csv", "parquet", "markdown"):
        out = tmp_path / f"anon.{fmt}"
        done = bp_query("export", "-f", fmt, "-o", str(out), "--anonymize")
        assert done.returncode == 0, done.stderr
        assert out.exists() and out.stat().st_size > 0
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "anon.parquet").num_rows == len(SESSIONS)


def test_export_of_nothing_is_one_line_error(writer_conn: Any, tmp_path: Path) -> None:
    done = bp_query("export", "-f", "json", "-o", str(tmp_path / "x.json"))
    assert done.returncode == errors.EXIT_NOT_FOUND
    assert done.stderr.count("\n") == 1 and "nothing to export" in done.stderr
    done = bp_query("export", "-f", "xml", "-o", str(tmp_path / "x.xml"))
    assert done.returncode == errors.EXIT_USAGE


def _export_doc(member: str, sessions: list[dict[str, Any]], anonymized: bool = True) -> dict:
    return {
        "meta": {
            "format": "blueplane-export",
            "version": 1,
            "anonymized": anonymized,
            "member": member,
        },
        "sessions": sessions,
        "turns": [{"session_id": s["session_id"], "tools": '{"Edit": 2}'} for s in sessions],
        "code_changes": [],
        "commits": [{"commit_hash": "c1"}],
        "insights": [],
    }


def test_anonymize_rekeys_ids_consistently_and_drops_free_text() -> None:
    tables = {
        "sessions": [
            {
                "session_id": "s-1",
                "project_hash": "p",
                "client_version": "2.1",
                "end_reason": "clear",
                "prompts": 3,
            }
        ],
        "turns": [{"session_id": "s-1", "prompt_id": "pr", "turn_index": 0}],
        "commits": [{"commit_hash": "abc", "linked_session_id": "s-1"}],
        "insights": [
            {
                "kind": "k",
                "subject": "s-1",
                "title": "t",
                "suggestion": "x",
                "evidence": '{"calls": 9, "file_hash": "f-secret"}',
            }
        ],
    }
    out = anonymize_tables(tables)
    new_sid = out["sessions"][0]["session_id"]
    assert new_sid != "s-1" and out["turns"][0]["session_id"] == new_sid
    assert out["commits"][0]["linked_session_id"] == new_sid
    assert "client_version" not in out["sessions"][0] and "end_reason" not in out["sessions"][0]
    assert set(out["insights"][0]) == {"kind", "evidence"}
    evidence = json.loads(out["insights"][0]["evidence"])
    assert evidence["calls"] == 9 and evidence["file_hash"] not in ("f-secret", None)
    assert out["sessions"][0]["prompts"] == 3
    assert anonymize_tables(tables)["sessions"][0]["session_id"] != new_sid  # fresh key per export


def test_team_aggregate_merges_anonymized_exports_only(tmp_path: Path) -> None:
    a, b, raw = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "raw.json"
    row = {
        "platform": "claude_code",
        "model": "m1",
        "started_at": "2026-11-20T10:00:00.000Z",
        "prompts": 2,
        "tool_calls": 5,
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_write_tokens": 0,
        "cache_read_tokens": 0,
        "cost_nusd": 1_000_000_000,
        "edits_accepted": 3,
        "edits_rejected": 1,
    }
    a.write_text(json.dumps(_export_doc("aaaa", [{**row, "session_id": "x1"}])))
    b.write_text(
        json.dumps(
            _export_doc(
                "bbbb",
                [{**row, "session_id": "y1"}, {**row, "session_id": "y2", "cost_nusd": None}],
            )
        )
    )
    raw.write_text(json.dumps(_export_doc("cccc", [], anonymized=False)))
    report = aggregate([a, b])
    assert report["members"] == 2
    assert report["totals"]["sessions"] == 3 and report["totals"]["cost_usd"] == 2.0
    assert report["totals"]["unpriced_sessions"] == 1
    assert report["totals"]["acceptance_rate"] == 0.75
    assert report["by_tool"] == [{"tool": "Edit", "calls": 6}]
    done = bp_query("team", "aggregate", str(a), str(raw))
    assert done.returncode == errors.EXIT_DATA_ERROR and "not anonymized" in done.stderr
    done = bp_query("team", "aggregate", str(a), str(b), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["totals"]["sessions"] == 3


def test_install_mcp_merges_is_idempotent_and_reversible(tmp_path: Path) -> None:
    claude = tmp_path / ".claude.json"
    claude.write_text(json.dumps({"theme": "dark", "mcpServers": {"other": {"command": "x"}}}))
    claude.chmod(0o600)
    first = install_mcp(home=tmp_path)
    assert [r["action"] for r in first] == ["installed", "installed"]
    data = json.loads(claude.read_text())
    assert data["theme"] == "dark" and data["mcpServers"]["other"] == {"command": "x"}
    ours = data["mcpServers"]["blueplane"]
    assert ours["type"] == "stdio" and is_ours(ours) and Path(ours["command"]).exists()
    cursor = json.loads((tmp_path / ".cursor" / "mcp.json").read_text())
    assert (
        is_ours(cursor["mcpServers"]["blueplane"])
        and "type" not in cursor["mcpServers"]["blueplane"]
    )
    assert [r["action"] for r in install_mcp(home=tmp_path)] == ["unchanged", "unchanged"]
    assert claude.stat().st_mode & 0o777 == 0o600
    assert [r["action"] for r in uninstall_mcp(home=tmp_path)] == ["removed", "removed"]
    assert json.loads(claude.read_text()) == {
        "theme": "dark",
        "mcpServers": {"other": {"command": "x"}},
    }
    assert not (tmp_path / ".cursor" / "mcp.json").exists()
    assert [r["action"] for r in uninstall_mcp(home=tmp_path)] == ["not installed"] * 2


def test_install_mcp_refuses_a_foreign_entry_and_bad_json(tmp_path: Path) -> None:
    from blueplane_query.errors import BadInput, QueryError

    claude = tmp_path / ".claude.json"
    claude.write_text(json.dumps({"mcpServers": {"blueplane": {"command": "someone-else"}}}))
    with pytest.raises(QueryError, match="not Blueplane's"):
        install_mcp(("claude_code",), home=tmp_path)
    claude.write_text("{not json")
    with pytest.raises(BadInput, match="not valid JSON"):
        install_mcp(("claude_code",), home=tmp_path)
    assert claude.read_text() == "{not json"
