"""The canary suite: a unique canary in every string field of every source, searched for in every
byte Blueplane keeps.

Each fixture (Claude Code hooks and transcripts, OTLP logs / metrics / traces with unknown events
and custom resource and metric attributes, Cursor hooks and databases, git, Copilot, MCP tracking
calls) is planted twice: once with a canary appended to every string except the few that route
the record (event names, timestamps, joining ids), so every mapping path runs with canaries in
its text fields; once with a canary in EVERY string, routing fields included, which drives the
unknown-event and malformed paths. Each canary is ``CNRY<number>`` inside text with a space and a
slash, the shape of free text. The real pipeline then runs (capture code, a real redis-server with
append-only persistence, ingest, every worker, archival, every export format), and the scan looks
for any canary, as text and as hex, in: every decoded stored event, every value of every SQLite
table, every Redis key name and value, and every file under the data folder (append-only file,
spool, state, logs, archive decoded and raw, exports). Then every stored event is checked against
the allow-list of its type.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from blueplane_capture import copilot, otlp_mapping
from blueplane_capture.transcripts import OffsetStore, TranscriptMonitor
from blueplane_core import allowlist, config, db, paths, privacy
from blueplane_core.emit import Emitter
from tests.conftest import FIXTURES, PYTHON, REPO, _free_port, python_env, start_redis_server
from tests.helpers import ingest_all

CANARY = re.compile(rb"CNRY\d{5}")
CANARY_HEX = re.compile(rb"434e5259(?:3[0-9]){5}", re.IGNORECASE)  # "CNRY" + digits, as hex


class Canaries:
    """Hands out canaries and remembers where each was planted."""

    def __init__(self) -> None:
        self.origin: dict[str, str] = {}

    def token(self, where: str) -> str:
        token = f"CNRY{len(self.origin):05d}"
        self.origin[token] = where
        return token

    def text(self, where: str, original: str = "") -> str:
        """Free text holding a canary (the original kept in front, as an edit would)."""
        return f"{original or 'x'} {self.token(where)}/x"

    def plant(self, obj: Any, where: str, keep: frozenset[str] = frozenset()) -> Any:
        """A copy of ``obj`` with a canary in every string value, except under ``keep`` keys."""
        if isinstance(obj, dict):
            return {
                k: v if k in keep else self.plant(v, f"{where}.{k}", keep) for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self.plant(v, f"{where}[{i}]", keep) for i, v in enumerate(obj)]
        if isinstance(obj, str):
            return self.text(where, obj)
        return obj

    def plant_otel(self, obj: Any, where: str, keep_attrs: frozenset[str]) -> Any:
        """OTLP: attribute names stay, values of ``keep_attrs`` and times stay, the rest gets
        canaries (a custom attribute, an unknown event's text, a resource attribute)."""
        if isinstance(obj, dict):
            if isinstance(obj.get("key"), str) and "value" in obj:
                if obj["key"] in keep_attrs:
                    return obj
                value = self.plant(obj["value"], f"{where}.{obj['key']}")
                return {"key": obj["key"], "value": value}
            return {
                k: v if k.endswith("UnixNano") else self.plant_otel(v, f"{where}.{k}", keep_attrs)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self.plant_otel(v, f"{where}[{i}]", keep_attrs) for i, v in enumerate(obj)]
        return self.plant(obj, where) if isinstance(obj, str) else obj


# ----------------------------------------------------------------------------------- sources

#: names a user relies on, kept in the first variant so the test can check they survive (the
#: second variant plants canaries in them too)
NAMES = frozenset({"tool_name", "model", "name", "agent_type", "subagent_type"})
HOOK_ROUTING = frozenset({"hook_event_name"}) | NAMES
TRANSCRIPT_ROUTING = frozenset(
    {"type", "timestamp", "sessionId", "uuid", "parentUuid", "id", "tool_use_id", "role",
     "subtype", "requestId", "promptId", "agentId"}
) | NAMES  # fmt: skip
OTEL_ROUTING = (
    frozenset(
        {
            "event.name",
            "event.timestamp",
            "event.sequence",
            "session.id",
            "service.name",
            "prompt.id",
        }
    )
    | NAMES
)
COPILOT_ROUTING = frozenset({"day", "date", "report_day"})


def _extra_otel_attributes(canaries: Canaries) -> list[dict[str, Any]]:
    """Attributes a user's environment or a future client may add (issue 11's audit list)."""
    names = ("api_key", "organization.id", "repo", "git.branch", "args", "cwd_dir", "kind")
    return [
        {"key": name, "value": {"stringValue": canaries.text(f"otel.extra.{name}")}}
        for name in names
    ]


def _unknown_otel_records(canaries: Canaries) -> dict[str, Any]:
    """An unknown event with a text name, and a record with no event.name and a text body."""
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "claude-code"}},
                        {
                            "key": "service.version",
                            "value": {"stringValue": canaries.text("resource.version", "2.1")},
                        },
                        {
                            "key": "deployment.env",
                            "value": {"stringValue": canaries.text("resource.custom")},
                        },
                    ]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1795375532397000000",
                                "attributes": [
                                    {
                                        "key": "event.name",
                                        "value": {"stringValue": canaries.text("otel.name")},
                                    },
                                    *_extra_otel_attributes(canaries),
                                    {"key": "count", "value": {"intValue": "3"}},
                                ],
                            },
                            {
                                "timeUnixNano": "1795375532398000000",
                                "body": {"stringValue": canaries.text("otel.body")},
                            },
                        ]
                    }
                ],
            }
        ]
    }


def drive_otlp(canaries: Canaries, emitter: Emitter) -> None:
    state = otlp_mapping.CumulativeState()
    folder = FIXTURES / "claude_code_live" / "otlp_http_json"
    for path in sorted(folder.glob("*/*.json")):
        body = json.loads(path.read_text())
        signal = path.stem.split("_v1_")[-1]
        variants = [
            canaries.plant_otel(body, f"otlp.{path.parent.name}.{signal}", OTEL_ROUTING),
            canaries.plant_otel(body, f"otlp-all.{path.parent.name}.{signal}", frozenset()),
        ]
        for variant in variants:
            if signal == "logs":
                for record in _records(variant, "resourceLogs", "scopeLogs", "logRecords"):
                    record.setdefault("attributes", []).extend(_extra_otel_attributes(canaries))
                emitter.emit_many(otlp_mapping.log_events(variant).events)
            elif signal == "metrics":
                for point in _metric_points(variant):
                    point.setdefault("attributes", []).extend(_extra_otel_attributes(canaries))
                with state.lock:
                    mapped = otlp_mapping.metric_events(variant, state)
                emitter.emit_many(mapped.events)
                state.commit(mapped.state_updates)
            # traces are accepted and dropped by the receiver: nothing to map
    emitter.emit_many(otlp_mapping.log_events(_unknown_otel_records(canaries)).events)


def _records(body: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    level: list[Any] = [body]
    for key in keys:
        level = [item for parent in level for item in (parent.get(key) or [])]
    return level


def _metric_points(body: dict[str, Any]) -> list[dict[str, Any]]:
    points = []
    for metric in _records(body, "resourceMetrics", "scopeMetrics", "metrics"):
        for kind in ("sum", "gauge", "histogram"):
            points.extend((metric.get(kind) or {}).get("dataPoints") or [])
    return points


def drive_claude_hooks(canaries: Canaries, env: dict[str, str]) -> None:
    script = REPO / "blueplane_capture" / "hooks" / "launch_claude_code.py"
    folder = FIXTURES / "claude_code_live" / "hooks"
    for path in sorted(folder.glob("*/*.json")):
        raw = json.loads(path.read_text())
        for keep in (HOOK_ROUTING, frozenset()):
            planted = canaries.plant(raw, f"hook.{path.parent.name}.{path.stem}", keep)
            extra = {"CLAUDE_PROJECT_DIR": canaries.text("hook.env.project_dir", "/home/dev")}
            done = subprocess.run(
                [PYTHON, "-I", "-S", str(script)],
                input=orjson.dumps(planted),
                capture_output=True,
                timeout=30,
                env={**env, **extra},
            )
            assert done.returncode == 0 and done.stdout == b""


def drive_transcripts(canaries: Canaries, emitter: Emitter, work: Path) -> None:
    source = FIXTURES / "claude_code_live" / "transcripts"
    root = work / "claude"
    # the project folder's name is the project's path: a canary there too
    folders = {
        keep: canaries.token(f"transcript.folder.{n}") + "-proj"
        for n, keep in enumerate((TRANSCRIPT_ROUTING, frozenset()))
    }
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(source)
        for keep, folder in folders.items():
            parts = [folder if p.startswith("-") else p for p in relative.parts]
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".jsonl":
                lines = []
                for number, line in enumerate(path.read_text().splitlines()):
                    where = f"transcript.{path.stem}.{number}"
                    lines.append(json.dumps(canaries.plant(json.loads(line), where, keep)))
                target.write_text("\n".join(lines) + "\n")
            else:
                meta = canaries.plant(json.loads(path.read_text()), f"meta.{path.stem}")
                target.write_text(json.dumps(meta))
    monitor = TranscriptMonitor(
        [root], emitter, OffsetStore("claude_transcripts").load(), privacy.load_secret()
    )
    monitor.poll(flush=True)
    monitor.poll(flush=True, now=4_000_000_000.0)  # long quiet: session ends reported


def drive_copilot(canaries: Canaries, emitter: Emitter) -> None:
    for path in sorted((FIXTURES / "copilot").glob("*.json")):
        document = json.loads(path.read_text())
        for keep in (COPILOT_ROUTING, frozenset()):
            planted = canaries.plant(document, f"copilot.{path.stem}", keep)
            try:
                copilot.import_document(planted, emitter)
            except copilot.CopilotImportError:
                pass  # a download_links answer, or one whose days are canaries: refused whole


def drive_cursor_hooks(canaries: Canaries, env: dict[str, str]) -> None:
    from blueplane_capture.hooks import cursor as cursor_hook
    from tests.test_cursor_hook import PAYLOADS, payload

    script = Path(cursor_hook.__file__).resolve()
    for name in [*PAYLOADS, "someFutureEvent"]:
        raw = payload(name) if name in PAYLOADS else {"hook_event_name": name, "note": "x"}
        for keep in (HOOK_ROUTING, frozenset()):
            planted = canaries.plant(raw, f"cursor-hook.{name}", keep)
            done = subprocess.run(
                [PYTHON, "-I", "-S", str(script), name],
                input=orjson.dumps(planted),
                capture_output=True,
                timeout=30,
                env=env,
            )
            assert done.returncode == 0


def drive_cursor_db(canaries: Canaries, emitter: Emitter, work: Path) -> None:
    """Every database shape the Cursor tests know (``tests/cursor_stores``), each value written
    with canaries in its strings (ids and kinds that route a record kept)."""
    from blueplane_capture import cursor_db
    from tests import cursor_stores

    original = cursor_stores.put

    def planted(path: Path, table: str, key: str, value: Any, as_text: bool = False) -> None:
        original(path, table, key, canaries.plant(value, f"cursor-db.{key}", KEEP_C), as_text)

    user = work / "Cursor" / "User"
    cursor_stores.put = planted  # type: ignore[assignment]
    try:
        cursor_stores.build(user, 1795300000000)
    finally:
        cursor_stores.put = original  # type: ignore[assignment]
    for folder in user.glob("workspaceStorage/*/workspace.json"):
        data = json.loads(folder.read_text())
        folder.write_text(json.dumps(canaries.plant(data, "cursor-db.workspace.json")))
    monitor = cursor_db.Monitor(emitter, [user], secret=privacy.load_secret())
    monitor.scan_once()


KEEP_C = NAMES | frozenset(
    {
        "composerId",
        "bubbleId",
        "type",
        "status",
        "generationUUID",
        "id",
        "requestId",
        "serverBubbleId",
        "_v",
        "createdAt",
        "unixMs",
        "modelName",
    }
)


def drive_git(canaries: Canaries, env: dict[str, str], work: Path) -> None:
    from blueplane_capture.installers import git as git_installer

    repo = work / canaries.token("git.repo_folder")
    repo.mkdir()
    branch = canaries.token("git.branch") + "-branch"
    email = canaries.token("git.email") + "@example.com"

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", f"user.email={email}", "-c", "user.name=N " + canaries.token("git.name"),
             *args],
            cwd=repo, check=True, capture_output=True, env=env,
        )  # fmt: skip

    git("init", "-q", "-b", branch)
    git_installer.install(repo, python=PYTHON)
    (repo / f"{canaries.token('git.file')}.py").write_text("print(1)\n")
    git("add", ".")
    git("commit", "-q", "-m", canaries.text("git.message"))


def drive_mcp(canaries: Canaries) -> None:
    from blueplane_query.mcp_server import Tracking

    tracking = Tracking()
    decided = tracking.decision(
        {
            "category": "architecture",
            "rationale": canaries.text("mcp.rationale"),
            "session_id": canaries.text("mcp.session_id"),
        }
    )
    tracking.outcome(
        {
            "result": "success",
            "decision_id": decided["decision_id"],
            "summary": canaries.text("mcp.summary"),
        }
    )
    tracking.outcome(
        {
            "result": "failure",
            "decision_id": canaries.text("mcp.decision_id"),
            "session_id": canaries.text("mcp.session_id2"),
        }
    )


# -------------------------------------------------------------------------------- the scan


def find(data: bytes) -> set[str]:
    """Canaries in ``data``, as text or as hex."""
    found = {m.decode() for m in CANARY.findall(data)}
    for match in CANARY_HEX.findall(data):
        found.add(bytes.fromhex(match.decode()).decode())
    return found


def scan_sqlite(path: Path) -> dict[str, set[str]]:
    leaks: dict[str, set[str]] = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    data = value if isinstance(value, bytes) else str(value).encode()
                    hits = find(data)
                    if hits:
                        leaks.setdefault(f"sqlite table {table}", set()).update(hits)
    finally:
        conn.close()
    return leaks


def scan_redis(client: redis.Redis) -> dict[str, set[str]]:
    leaks: dict[str, set[str]] = {}
    for key in client.scan_iter(count=1000):
        hits = find(key)
        kind = client.type(key).decode()
        if kind == "string":
            hits |= find(client.get(key) or b"")
        elif kind == "hash":
            hits |= find(orjson.dumps({k.hex(): v.hex() for k, v in client.hgetall(key).items()}))
            hits |= find(b"".join(k + v for k, v in client.hgetall(key).items()))
        elif kind == "list":
            hits |= find(b"".join(client.lrange(key, 0, -1)))
        elif kind == "set":
            hits |= find(b"".join(client.smembers(key)))
        elif kind == "zset":
            hits |= find(b"".join(m for m, _ in client.zrange(key, 0, -1, withscores=True)))
        elif kind == "stream":
            for entry_id, fields in client.xrange(key):
                hits |= find(entry_id + b"".join(k + v for k, v in fields.items()))
        if hits:
            leaks.setdefault(f"redis key {key[:60]!r}", set()).update(hits)
    return leaks


def scan_files(folder: Path) -> dict[str, set[str]]:
    leaks: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*")):
        hits = find(str(path.relative_to(folder)).encode())
        if path.is_file():
            hits |= find(path.read_bytes())
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                hits |= find(orjson.dumps(pq.read_table(path).to_pylist(), default=str))
            if _is_sqlite(path):
                for where, found in scan_sqlite(path).items():
                    leaks.setdefault(f"{path.name}: {where}", set()).update(found)
        if hits:
            leaks.setdefault(f"file {path.relative_to(folder)}", set()).update(hits)
    return leaks


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def scan_everything(home: Path, client: redis.Redis, redis_dir: Path) -> dict[str, set[str]]:
    from blueplane import privacy_report

    leaks: dict[str, set[str]] = {}
    conn = privacy_report.open_database()
    try:
        for event in privacy_report.stored_events(conn):
            hits = find(orjson.dumps(event))
            if hits:
                leaks.setdefault(f"stored {event['event_type']} event", set()).update(hits)
    finally:
        conn.close()
    for part in (scan_files(home), scan_redis(client), scan_files(redis_dir)):
        for where, found in part.items():
            leaks.setdefault(where, set()).update(found)
    return leaks


# ------------------------------------------------------------------------------- pipeline


@pytest.fixture
def aof_redis(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A redis-server of this test's own, persisting to an append-only file we can scan."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server")
    folder = Path(tempfile.mkdtemp(prefix="bp-canary-redis-"))
    proc, url = start_redis_server(binary, folder, "--appendonly", "yes", "--appendfsync", "always")
    client = redis.Redis.from_url(url)
    monkeypatch.setenv("BLUEPLANE_REDIS_URL", url)
    yield client, folder
    client.close()
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(folder, ignore_errors=True)


def run_pipeline(client: redis.Redis) -> None:
    from blueplane_ingest import retention
    from tests.query_data import run_workers

    ingest_all()
    ran = run_workers()
    assert all(ran.values()), ran
    conn = db.connect_writer(paths.database())
    try:
        bound = retention.applied_bound(client, conn)
        while retention.archive_old(conn, 1, bound, now=4_000_000_000.0):
            pass
    finally:
        conn.close()


def export_everything(out: Path) -> None:
    out.mkdir()
    for fmt in ("json", "csv", "parquet", "markdown"):
        for anonymize in ((), ("--anonymize",)):
            target = out / f"export{'-anon' if anonymize else ''}.{fmt}"
            done = subprocess.run(
                [PYTHON, "-m", "blueplane_query.cli", "export", "-f", fmt, "-o", str(target),
                 "--since", "3650d", *anonymize],
                capture_output=True, text=True, timeout=120, env=python_env(),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr


def _drive_everything(
    canaries: Canaries,
    env: dict[str, str],
    emitter: Emitter,
    client: redis.Redis,
    blueplane_home: Path,
    tmp_path: Path,
) -> None:
    drive_claude_hooks(canaries, env)
    drive_transcripts(canaries, emitter, tmp_path)
    drive_otlp(canaries, emitter)
    drive_cursor_hooks(canaries, env)
    drive_cursor_db(canaries, emitter, tmp_path)
    drive_git(canaries, env, tmp_path)
    drive_copilot(canaries, emitter)
    drive_mcp(canaries)
    # a hook that cannot reach Redis spools its event: the spool is scanned too
    spooled = {**env, "BLUEPLANE_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"}
    drive_claude_hooks(canaries, spooled)
    run_pipeline(client)
    export_everything(blueplane_home / "exports")


@pytest.mark.slow
def test_no_canary_survives_anywhere_blueplane_keeps_data(
    aof_redis: Any, blueplane_home: Path, tmp_path: Path
) -> None:
    client, redis_dir = aof_redis
    canaries = Canaries()
    url = os.environ["BLUEPLANE_REDIS_URL"]
    env = python_env({"BLUEPLANE_HOME": str(blueplane_home), "BLUEPLANE_REDIS_URL": url})
    emitter = Emitter(client)
    # what the in-process stages log goes to a file in the data folder, scanned like the rest
    (blueplane_home / "logs").mkdir(exist_ok=True)
    handler = logging.FileHandler(blueplane_home / "logs" / "stages.log")
    logger = logging.getLogger("blueplane")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        _drive_everything(canaries, env, emitter, client, blueplane_home, tmp_path)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
    logged = (blueplane_home / "logs" / "stages.log").read_text()
    assert str(tmp_path) not in logged  # files are named relative to their watched folder

    leaks = scan_everything(blueplane_home, client, redis_dir)
    report = {
        where: sorted(f"{c} (planted in {canaries.origin.get(c, '?')})" for c in found)[:5]
        for where, found in leaks.items()
    }
    assert not report, json.dumps(report, indent=1)
    assert len(canaries.origin) > 1000  # the suite did plant widely

    # every stored event carries only its type's allowed keys, each with a value of its kind
    from blueplane import privacy_report

    conn = privacy_report.open_database()
    try:
        stored = list(privacy_report.stored_events(conn))
    finally:
        conn.close()
    by_type: dict[str, int] = {}
    for event in stored:
        problem = allowlist.violation(event)
        assert problem is None, problem
        assert set(event["payload"]) <= set(allowlist.PAYLOAD[event["event_type"]])
        by_type[event["event_type"]] = by_type.get(event["event_type"], 0) + 1
    # every source made it through (the canaries did not just make everything be refused)
    platforms = {e["platform"] for e in stored}
    assert {"claude_code", "cursor", "git", "copilot", "blueplane"} <= platforms, platforms
    assert {"tool_result", "token_usage", "api_request", "metric", "usage_report", "commit",
            "decision", "outcome", "generic", "file_edit"} <= set(by_type), by_type  # fmt: skip
    # what a user relies on is still there: tokens, tool names, models, extensions
    usage = [e for e in stored if e["event_type"] == "token_usage"]
    assert sum(e["payload"].get("output_tokens", 0) for e in usage) > 0
    assert {"Bash", "Edit"} <= {e["payload"].get("tool_name") for e in stored}
    assert any(e["metadata"].get("model", "").startswith("claude-") for e in stored)


def test_the_scan_finds_a_canary_in_every_kind_of_store(
    redis_client: redis.Redis, blueplane_home: Path, tmp_path: Path
) -> None:
    """The scanner itself: a canary put in each kind of place is reported (so a clean scan
    means something)."""
    token = "CNRY99999"
    state = paths.state_dir()
    state.mkdir(parents=True)
    (state / "x.json").write_text(json.dumps({"head": token.encode().hex()}))
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", (f"a {token}/x",))
    conn.commit()
    conn.close()
    redis_client.hset("{bp}:h", "field", f"v {token}")
    redis_client.sadd(f"{{bp}}:key:{token}", "1")
    assert token in scan_files(blueplane_home)["file state/x.json"]
    assert token in scan_sqlite(tmp_path / "t.db")["sqlite table t"]
    found = scan_redis(redis_client)
    assert any("{bp}:h" in where for where in found)
    assert any(token in where for where in found)  # in a key name
    config.load()  # the settings the scan ran under are the test's own
