"""Readable projects, kept locally: folder names in reports, ``--project`` by name, path or hash,
nothing without ``privacy.project_labels = "basename"``, and never in an anonymized export.

The data is the real Claude Code fixture history (tests/fixtures/real/claude_code_live, every
session ran in ``/tmp/ccdemo/demo-project``) read by the real ``capture-claude --once``, stored
by a real ingester and folded by the real workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from blueplane_core import db, paths
from blueplane_core.raw_traces import RawEvents
from tests.conftest import FIXTURES, python_env
from tests.helpers import bp_query, bp_query_json, ingest_all
from tests.query_data import run_workers

LIVE = FIXTURES / "claude_code_live" / "transcripts"
FOLDER = "/tmp/ccdemo/demo-project"  # the cwd in every line of the fixture transcripts
LABEL = "demo-project"


def _capture(redis_url: str, labels: str | None = None) -> None:
    env = {"BLUEPLANE_REDIS_URL": redis_url, "CLAUDE_CONFIG_DIR": str(LIVE)}
    if labels:
        env["BLUEPLANE_PRIVACY_PROJECT_LABELS"] = labels
    done = subprocess.run(
        [sys.executable, "-m", "blueplane_capture.transcripts", "--once"],
        env=python_env(env),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-500:]
    ingest_all()
    run_workers()


@pytest.fixture
def captured(redis_client: redis.Redis, redis_url: str) -> None:
    _capture(redis_url)


def test_reports_show_the_folder_name_and_project_takes_name_path_or_hash(
    captured: None,
) -> None:
    everything = bp_query_json("sessions", "--since", "10y", "--limit", "200")
    assert everything["total"] > 0
    assert {s["project_label"] for s in everything["sessions"]} == {LABEL}
    project_hash = everything["sessions"][0]["project_hash"]
    human = bp_query("sessions", "--since", "10y")
    assert "project" in human.stdout and LABEL in human.stdout, human.stdout

    for given in (LABEL, LABEL.upper(), FOLDER, FOLDER + "/", project_hash, project_hash[:6]):
        found = bp_query_json("sessions", "--since", "10y", "--limit", "200", "--project", given)
        assert found["total"] == everything["total"], given
        assert found["filter"]["project_hashes"] == [project_hash]
    by_project = bp_query_json("costs", "--by", "project", "--since", "10y")
    assert [(r["period"], r["label"]) for r in by_project["rows"]] == [(project_hash, LABEL)]
    assert LABEL in bp_query("costs", "--by", "project", "--since", "10y").stdout
    detail = bp_query("session", everything["sessions"][0]["session_id"])
    assert LABEL in detail.stdout
    ledger = bp_query_json("requests", "--since", "10y", "--project", LABEL)
    assert ledger["total"] > 0 and {q["project_label"] for q in ledger["requests"]} == {LABEL}
    assert LABEL in bp_query("requests", "--since", "10y").stdout

    # a name or path that matches nothing says so and fails, instead of 0 rows and exit 0
    for wrong in ("no-such-project", "/tmp/ccdemo/other-project", "./nowhere"):
        done = bp_query("sessions", "--project", wrong)
        assert done.returncode == 1, (wrong, done.stdout, done.stderr)
        assert "no project" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert LABEL in bp_query("sessions", "--project", "nothing").stderr  # names the known ones


def test_an_anonymized_export_never_carries_the_label(captured: None, tmp_path: Path) -> None:
    plain, anonymized = tmp_path / "plain.json", tmp_path / "anon.json"
    for out, extra in ((plain, ()), (anonymized, ("--anonymize",))):
        done = bp_query("export", "-f", "json", "-o", str(out), "--since", "10y", *extra)
        assert done.returncode == 0, done.stderr
    assert LABEL in plain.read_text()  # the local export keeps it (so the check below can fail)
    assert LABEL not in anonymized.read_text()
    csv_out = tmp_path / "anon.csv"
    done = bp_query("export", "-f", "csv", "-o", str(csv_out), "--since", "10y", "--anonymize")
    assert done.returncode == 0, done.stderr
    for written in tmp_path.glob("anon*.csv"):
        assert LABEL not in written.read_text(), written


def test_hash_setting_stores_no_label_anywhere(
    redis_client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _capture(redis_url, labels="hash")
    conn = db.connect_writer(paths.database())
    try:
        stored = [e for _, e in RawEvents(conn).iterate()]
        labels = conn.execute(
            "SELECT COUNT(*) FROM conversations WHERE project_label IS NOT NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    assert stored and labels == 0
    assert not any("project_label" in e["metadata"] for e in stored)
    assert LABEL not in json.dumps(stored)
    env = {"BLUEPLANE_PRIVACY_PROJECT_LABELS": "hash"}
    sessions = bp_query_json("sessions", "--since", "10y", env=env)
    assert sessions["total"] > 0 and {s["project_label"] for s in sessions["sessions"]} == {None}
    # a path still works (it is hashed here, as capture did); a name has nothing to match
    by_path = bp_query_json("sessions", "--since", "10y", "--project", FOLDER, env=env)
    assert by_path["total"] == sessions["total"]
    assert bp_query("sessions", "--project", LABEL, env=env).returncode == 1


def test_mcp_tools_take_a_project_by_name(captured: None) -> None:
    from tests.test_mcp_server import body, session_calls

    _tools, results = session_calls(
        [
            ("get_session_metrics", {"since": "10y", "project": LABEL}),
            ("get_costs", {"since": "10y", "by": "project"}),
            ("get_session_metrics", {"project": "no-such-project"}),
        ]
    )
    named, by_project, unknown = results
    assert body(named)["total"] > 0
    assert {s["project_label"] for s in body(named)["sessions"]} == {LABEL}
    assert [r["label"] for r in body(by_project)["rows"]] == [LABEL]
    assert unknown.is_error and "no project matches" in unknown.content[0].text
