"""bp-query through its real entry point (a subprocess), on databases the real pipeline filled."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
import redis

from blueplane_core import db, migrations, paths
from blueplane_query import errors
from blueplane_query.errors import AccessDenied
from blueplane_query.store import Store
from tests.conftest import PYTHON, python_env
from tests.helpers import bp_query
from tests.helpers import bp_query_json as as_json
from tests.query_data import SESSIONS, fill, worker_module

needs_conversations = pytest.mark.skipif(
    worker_module("conversations") is None,
    reason="blueplane_workers.conversations is not in this tree yet",
)


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.fixture
def empty_db(writer_conn: sqlite3.Connection) -> Path:
    return paths.database()


@pytest.fixture
def filled(redis_client: redis.Redis) -> dict[str, bool]:
    return fill(redis_client)


# -- errors answer in one line, with named exit codes ------------------------------------------


def test_missing_database_is_one_line_and_exit_66() -> None:
    for command in (["metrics"], ["sessions", "--json"], ["session", "abcd"], ["costs"]):
        line = one_line_error(bp_query(*command), errors.EXIT_NO_DATABASE)
        assert "no Blueplane database" in line


def test_empty_database_answers_empty_not_an_error(empty_db: Path) -> None:
    listing = as_json("sessions")
    assert listing["total"] == 0 and listing["sessions"] == []
    human = bp_query("sessions")
    assert human.returncode == 0 and "no sessions captured" in human.stdout
    metrics = as_json("metrics")
    assert metrics["empty"] is True and metrics["figures"]["sessions"]["value"] == 0


def test_unknown_session_is_one_line_and_exit_1(empty_db: Path) -> None:
    line = one_line_error(bp_query("session", "nope-nope"), errors.EXIT_NOT_FOUND)
    assert "no session 'nope-nope'" in line


def test_bad_time_option_is_a_usage_error(empty_db: Path) -> None:
    line = one_line_error(bp_query("sessions", "--since", "last tuesday"), errors.EXIT_USAGE)
    assert "cannot read the time" in line


def test_redis_down_status_is_one_line_and_exit_69(empty_db: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    line = one_line_error(bp_query("status", env=env), errors.EXIT_REDIS_UNAVAILABLE)
    assert "Redis is not reachable" in line
    line = one_line_error(bp_query("watch", "--count", "1", env=env), errors.EXIT_REDIS_UNAVAILABLE)
    assert "Redis is not reachable" in line
    # metrics still answers from SQLite and says the live part is missing
    done = bp_query("metrics", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["live"]["available"] is False


# -- read-only by construction -----------------------------------------------------------------


def test_query_connection_refuses_raw_traces_and_writes(empty_db: Path) -> None:
    with Store(empty_db) as store:
        with pytest.raises(AccessDenied):
            store.rows("SELECT * FROM raw_traces")
        with pytest.raises(AccessDenied):
            store.rows("SELECT COUNT(*) FROM raw_traces")
        with pytest.raises(AccessDenied):  # hiding it in a subquery does not help
            store.rows(
                "SELECT * FROM conversations WHERE session_id IN"
                " (SELECT session_id FROM raw_traces)"
            )
        with pytest.raises(AccessDenied):
            store.rows("INSERT INTO conversations (session_id) VALUES ('x')")
        assert store.rows("SELECT COUNT(*) AS n FROM conversations") == [{"n": 0}]
    # the same refusal at the bare connection the store is built on
    conn = db.connect_readonly(empty_db)
    with pytest.raises(sqlite3.DatabaseError, match=r"raw_traces\.event_data is prohibited"):
        conn.execute("SELECT event_data FROM raw_traces").fetchall()
    conn.close()


def test_query_side_never_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = db.connect_writer(path)
    migrations.migrate(conn, migrations.MIGRATIONS[:1])  # an old schema: spine only
    conn.close()
    with Store(path) as store:
        assert store.schema_version() == 1
        assert not store.has("conversations")
    conn = sqlite3.connect(path)
    assert {r[0] for r in conn.execute("SELECT version FROM schema_migrations")} == {1}
    conn.close()


# -- answers on data the real pipeline processed -----------------------------------------------


def test_status_reports_streams_groups_and_tables(filled: dict[str, bool]) -> None:
    health = as_json("status")
    assert health["redis"]["reachable"] is True
    streams = {s["stream"]: s for s in health["streams"]}
    events = streams["{bp}:telemetry:events"]
    assert events["length"] > 0
    assert {g["name"]: g["exists"] for g in events["groups"]} == {"processors": True}
    assert health["database"]["exists"] and health["database"]["schema_version"] >= 2
    assert "conversations" in health["database"]["tables"]


@needs_conversations
def test_metrics_count_what_was_captured(filled: dict[str, bool]) -> None:
    metrics = as_json("metrics")
    figures = metrics["figures"]
    assert figures["sessions"]["value"] == len(SESSIONS)
    assert figures["prompts"]["value"] == sum(s[4] for s in SESSIONS)
    assert figures["sessions"]["provenance"] == "derived"
    assert figures["output_tokens"]["value"] == 500 * sum(s[4] for s in SESSIONS)
    assert figures["tool_error_rate"]["value"] == pytest.approx(1 / 3, abs=0.01)
    assert figures["acceptance_rate"]["value"] == 1.0
    human = bp_query("metrics")
    assert human.returncode == 0 and "acceptance rate" in human.stdout
    assert max(len(line) for line in human.stdout.splitlines()) <= 80


@needs_conversations
def test_sessions_filter_by_platform_and_page(filled: dict[str, bool]) -> None:
    everything = as_json("sessions")
    assert everything["total"] == 3
    assert [s["session_id"] for s in everything["sessions"]] == [s[0] for s in SESSIONS[::-1]]
    cursor = as_json("sessions", "--platform", "cursor")
    assert [s["platform"] for s in cursor["sessions"]] == ["cursor"]
    page2 = as_json("sessions", "--limit", "2", "--page", "2")
    assert page2["total"] == 3 and len(page2["sessions"]) == 1
    project = as_json("sessions", "--project", "0badc0")
    assert project["total"] == 1


@needs_conversations
def test_session_detail_by_prefix(filled: dict[str, bool]) -> None:
    detail = as_json("session", SESSIONS[0][0][:8])
    assert detail["session"]["session_id"] == SESSIONS[0][0]
    assert detail["session"]["prompts"] == 2
    assert {t["tool"] for t in detail["tools"]} >= {"Read", "Edit", "Bash"}
    assert (detail["edits"]["changes"], detail["edits"]["accepted"]) == (2, 2)  # reads apart
    assert detail["errors"]["tool_errors"] == 2  # the failing Bash call of each prompt
    assert detail["errors"]["by_error_type"] == {"exit_code": 2}
    bash = next(t for t in detail["tools"] if t["tool"] == "Bash")
    assert (bash["calls"], bash["errors"], bash["p50_ms"]) == (2, 2, 900)
    human = bp_query("session", SESSIONS[0][0])
    assert human.returncode == 0 and "timeline" in human.stdout


@needs_conversations
def test_costs_by_day_model_and_blocks(filled: dict[str, bool]) -> None:
    by_day = as_json("costs")
    assert by_day["totals"]["output_tokens"] == 500 * sum(s[4] for s in SESSIONS)
    blocks = as_json("costs", "--by", "block")
    assert blocks["rows"] and blocks["rows"][-1]["active"] is True
    assert blocks["rows"][-1]["projection"] is not None
    by_model = as_json("costs", "--by", "model")
    # each request under its own model (the ledger), so no longer an estimate
    assert by_model["provenance"]["cost_usd"] == "derived"
    assert by_model["source"] == "api_requests"
    bad = bp_query("costs", "--by", "year")
    one_line_error(bad, errors.EXIT_USAGE)


def test_tools_give_one_answer_whatever_the_filter(filled: dict[str, bool]) -> None:
    # issue 9: `tools --since 3000d` read Redis (400 days kept, no percentiles) while the same
    # query with --platform read SQLite; now every filter and period reads tool_calls.
    report = as_json("tools", "--since", "3000d")
    assert report["source"] == "sqlite"
    by_tool = {t["tool"]: t for t in report["tools"]}
    prompts = sum(s[4] for s in SESSIONS)
    assert by_tool["Bash"]["errors"] == by_tool["Bash"]["calls"] == prompts
    assert by_tool["Read"]["errors"] == 0
    assert by_tool["Bash"]["p95_ms"] == 900  # exact: every Bash call took 900 ms
    parts = [
        {
            t["tool"]: t["calls"]
            for t in as_json("tools", "--since", "3000d", "--platform", p)["tools"]
        }
        for p in ("claude_code", "cursor")
    ]
    assert {k: parts[0].get(k, 0) + parts[1].get(k, 0) for k in by_tool} == {
        k: t["calls"] for k, t in by_tool.items()
    }


def test_watch_json_prints_live_snapshots(filled: dict[str, bool]) -> None:
    done = bp_query("watch", "--json", "--count", "2", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    snaps = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(snaps) == 2 and snaps[0]["scope"] == "all"
    if filled.get("metrics"):
        assert snaps[-1]["today"]["prompts"] == sum(s[4] for s in SESSIONS)
    human = bp_query("watch", "--count", "2", "--interval", "0.2")
    assert human.returncode == 0, human.stderr
    assert "live all at" in human.stdout and "prompts" in human.stdout


def test_a_runaway_query_is_stopped_by_the_time_limit(empty_db: Path) -> None:
    from blueplane_query.errors import QueryTimeout

    with Store(empty_db, timeout_ms=100) as store, pytest.raises(QueryTimeout):
        store.rows(
            "SELECT COUNT(*) FROM sqlite_master a, sqlite_master b, sqlite_master c,"
            " sqlite_master d, sqlite_master e, sqlite_master f, sqlite_master g"
        )


def test_a_command_loads_no_heavy_module(empty_db: Path) -> None:
    """Start-up budget: a --json command must not import typer/pydantic, redis-py, rich, ..."""
    code = (
        "import sys\n"
        "from blueplane_query import cli\n"
        "rc = cli.main(['sessions', '--json'])\n"
        "heavy = {'typer', 'pydantic', 'redis', 'rich', 'pyarrow', 'mcp'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}), rc, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, timeout=60, env=python_env()
    )
    assert done.stderr.strip() == "[] 0", done.stderr


def test_query_package_imports_no_other_stage() -> None:
    import ast

    from tests.conftest import REPO

    for path in (REPO / "blueplane_query").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert not top.startswith("blueplane") or top in (
                    "blueplane_core",
                    "blueplane_query",
                ), f"{path.name} imports {name}"


@needs_conversations
def test_tools_filtered_by_platform_come_exact_from_sqlite(filled: dict[str, bool]) -> None:
    report = as_json("tools", "--platform", "cursor")
    assert report["source"] == "sqlite"
    by_tool = {t["tool"]: t for t in report["tools"]}
    cursor_prompts = sum(s[4] for s in SESSIONS if s[1] == "cursor")
    assert by_tool["Bash"]["calls"] == by_tool["Bash"]["errors"] == cursor_prompts
    assert by_tool["Edit"]["p95_ms"] == 120 and by_tool["Read"]["p50_ms"] == 40


@needs_conversations
def test_commits_share_assisted_by_an_agent(filled: dict[str, bool]) -> None:
    report = as_json("commits")
    assert (report["commits"], report["agent_assisted"]) == (2, 1)
    assert report["assisted_share"] == 0.5 and report["provenance"]["assisted_share"] == "estimated"
    assert as_json("commits", "--project", "0badc0")["agent_assisted"] == 0


def test_insights_show_their_evidence(filled: dict[str, bool]) -> None:
    if not filled.get("insights"):
        pytest.skip("blueplane_workers.insights is not in this tree yet")
    report = as_json("insights")
    assert report["total"] >= 1
    for insight in report["insights"]:
        assert insight["evidence"] and isinstance(insight["evidence"], dict)
        assert insight["provenance"] == ("estimated" if insight["heuristic"] else "derived")
    human = bp_query("insights")
    assert human.returncode == 0 and "→" in human.stdout
