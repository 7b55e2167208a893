"""Copilot import: GitHub's three API generations, real samples, end to end to raw_traces."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from blueplane_capture import copilot
from blueplane_core import db, paths
from blueplane_core.emit import Emitter
from blueplane_core.raw_traces import RawEvents
from tests.conftest import FIXTURES
from tests.helpers import ingest_all

SAMPLES = FIXTURES / "copilot"
LEGACY = SAMPLES / "usage_api_legacy_org_response_first5days.json"
METRICS = SAMPLES / "metrics_api_org_response.json"
ORG_REPORT = SAMPLES / "usage_metrics_org_1day_report.json"
USERS_REPORT = SAMPLES / "usage_metrics_org_users_1day_report.json"
LINKS = SAMPLES / "usage_metrics_download_links.json"


def stored() -> list[dict[str, Any]]:
    conn = db.connect_writer(paths.database())
    try:
        return [event for _, event in RawEvents(conn).iterate()]
    finally:
        conn.close()


@pytest.fixture
def emitter(redis_client: redis.Redis) -> Emitter:
    return Emitter(redis_client)


def test_legacy_usage_days_are_imported_with_their_totals(emitter: Emitter) -> None:
    result = copilot.import_file(LEGACY, emitter, org="acme")
    assert result.kind == copilot.LEGACY and result.events == 5
    ingest_all()
    days = {e["payload"]["day"]: e for e in stored()}
    source = {d["day"]: d for d in json.loads(LEGACY.read_text())}
    assert days.keys() == source.keys()
    first = days["2024-03-18"]
    assert first["event_type"] == "usage_report" and first["source"] == "import"
    assert first["timestamp"] == "2024-03-18T00:00:00.000Z"
    assert first["payload"]["suggestions"] == 8312 and first["payload"]["acceptances"] == 2009
    assert first["payload"]["lines_accepted"] == 5038 and first["payload"]["chat_turns"] == 190
    assert len(first["payload"]["totals"]["breakdown"]) == len(source["2024-03-18"]["breakdown"])


def test_metrics_api_days_sum_the_per_language_counts(emitter: Emitter) -> None:
    result = copilot.import_file(METRICS, emitter)
    source = json.loads(METRICS.read_text())
    assert result.kind == copilot.METRICS and result.events == len(source) == 21
    ingest_all()
    by_day = {e["payload"]["day"]: e["payload"] for e in stored()}
    for day in source:
        expected = sum(
            lang.get("total_code_suggestions", 0)
            for editor in day.get("copilot_ide_code_completions", {}).get("editors", [])
            for model in editor.get("models", [])
            for lang in model.get("languages", [])
        )
        assert by_day[day["date"]]["suggestions"] == expected
        assert by_day[day["date"]]["active_users"] == day["total_active_users"]


def test_usage_metrics_reports_hash_every_identity(emitter: Emitter) -> None:
    assert copilot.import_file(ORG_REPORT, emitter).events == 1
    users = copilot.import_file(USERS_REPORT, emitter)
    assert users.events == 2 and users.days == ["2026-04-25"]
    ingest_all()
    events = stored()
    assert len(events) == 3
    org_row = next(e for e in events if "user_hash" not in e["payload"])
    assert org_row["payload"]["active_users"] == 2
    assert org_row["payload"]["totals"]["totals_by_cli"]["token_usage"]["output_tokens_sum"] > 0
    assert len({e["payload"]["user_hash"] for e in events if "user_hash" in e["payload"]}) == 2
    blob = orjson.dumps(events)
    for identity in (b"hubot", b"octocat", b"100000001", b"200001", b"338097"):
        assert identity not in blob


def test_importing_the_same_file_twice_adds_nothing(emitter: Emitter) -> None:
    copilot.import_file(METRICS, emitter)
    ingest_all()
    first = sorted(e["event_id"] for e in stored())
    again = copilot.import_file(METRICS, emitter)
    assert again.events == 21  # sent again ...
    ingest_all()
    assert sorted(e["event_id"] for e in stored()) == first  # ... stored once


def test_newline_delimited_report_gives_the_same_events_as_json(tmp_path: Path) -> None:
    document = json.loads(USERS_REPORT.read_text())
    ndjson = tmp_path / "users.ndjson"
    ndjson.write_text("\n".join(json.dumps(row) for row in document["day_totals"]) + "\n")
    secret = b"s" * 32
    _, from_json, _ = copilot.to_events(document, secret)
    _, from_ndjson, _ = copilot.to_events(copilot.parse_document(ndjson.read_bytes()), secret)
    assert [e["event_id"] for e in from_json] == [e["event_id"] for e in from_ndjson]


def test_download_links_file_and_garbage_are_refused_with_a_reason(
    emitter: Emitter, tmp_path: Path
) -> None:
    with pytest.raises(copilot.CopilotImportError, match="download_links"):
        copilot.import_file(LINKS, emitter)
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(copilot.CopilotImportError, match="not a Copilot usage answer"):
        copilot.import_file(bad, emitter)


class StandIn:
    """GitHub's API and its download host, on loopback."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.seen.append((self.path, self.headers.get("Authorization")))
                if self.path.startswith("/orgs/acme/copilot/metrics/reports/organization-1-day"):
                    if self.headers.get("Authorization") != "Bearer good-token":
                        return self.reply(401, b'{"message": "Bad credentials"}')
                    port = self.server.server_address[1]
                    links = {
                        "download_links": [f"http://127.0.0.1:{port}/dl/r.json?sig=abc"],
                        "report_day": "2026-04-25",
                    }
                    return self.reply(200, json.dumps(links).encode())
                if self.path.startswith("/dl/r.json"):
                    return self.reply(200, ORG_REPORT.read_bytes())
                return self.reply(404, b'{"message": "Not Found"}')

            def reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def github() -> Iterator[StandIn]:
    stand_in = StandIn()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def test_fetch_follows_download_links_without_leaking_the_token(
    github: StandIn, emitter: Emitter
) -> None:
    (result,) = copilot.fetch("acme", "good-token", emitter, day="2026-04-25", api=github.url)
    assert result.events == 1 and result.days == ["2026-04-25"]
    (api_path, api_auth), (dl_path, dl_auth) = github.seen
    assert api_path == "/orgs/acme/copilot/metrics/reports/organization-1-day?day=2026-04-25"
    assert api_auth == "Bearer good-token"
    assert dl_path.startswith("/dl/r.json") and dl_auth is None
    ingest_all()
    assert [e["payload"]["day"] for e in stored()] == ["2026-04-25"]


def test_fetch_with_a_bad_token_fails_with_the_status(github: StandIn, emitter: Emitter) -> None:
    with pytest.raises(copilot.CopilotImportError, match="HTTP 401: Bad credentials"):
        copilot.fetch("acme", "wrong", emitter, day="2026-04-25", api=github.url)


def test_cli_import_twice_reports_days_and_stores_once(redis_client: redis.Redis) -> None:
    from typer.testing import CliRunner

    from blueplane.cli import app

    runner = CliRunner()
    for _ in range(2):
        outcome = runner.invoke(app, ["import", "copilot", str(LEGACY), "--org", "acme"])
        assert outcome.exit_code == 0, outcome.output
        assert "5 daily events (2024-03-18..2024-03-23)" in outcome.output
    ingest_all()
    assert len(stored()) == 5
