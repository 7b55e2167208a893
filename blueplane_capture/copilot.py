"""``blueplane import copilot``: GitHub Copilot usage reports as daily ``usage_report`` events.

Three generations of GitHub's API are accepted (formats.md section 6; samples in
``shared/fixtures/real/copilot/``), as a file or fetched with a token:

1. legacy ``GET /orgs/{org}/copilot/usage`` - a JSON array of ``{day, total_*, breakdown[]}``;
2. ``GET /orgs/{org}/copilot/metrics`` - a JSON array of ``{date, copilot_ide_code_completions,
   copilot_ide_chat, copilot_dotcom_chat, copilot_dotcom_pull_requests, ...}``;
3. the usage-metrics reports (2026): the endpoint answers ``{download_links, report_day}`` and
   each linked file holds ``day_totals[]`` (organisation or per-user rows), as one JSON document
   or as newline-delimited JSON.

One event per day (and per user in per-user reports). Its id is derived from the generation,
the organisation, the day (and the hashed user), so importing the same file twice, or an
overlapping 28-day window tomorrow, adds nothing. Logins, user ids and organisation ids are
replaced by keyed hashes; of the rest of a day record only numbers and the names of languages,
editors, features and model families are kept under ``totals`` (repository names and custom
model names are not).

Import is an official source (the vendor's own accounting): ``source`` is ``import``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from blueplane_core import allowlist, events, privacy
from blueplane_core.emit import Emitter

log = logging.getLogger("blueplane.capture.copilot")

PLATFORM = "copilot"
LEGACY, METRICS, REPORT = "legacy_usage", "metrics", "usage_metrics"
DEFAULT_API = "https://api.github.com"
API_VERSION = "2022-11-28"
HTTP_TIMEOUT_S = 30


class CopilotImportError(Exception):
    """The input is not a Copilot usage answer, or GitHub refused; the message says which."""


@dataclass
class ImportResult:
    kind: str
    days: list[str] = field(default_factory=list)
    events: int = 0  # handed to the bus (duplicates are dropped at ingest)
    skipped: int = 0


# -------------------------------------------------------------------------- reading shapes


def parse_document(raw: bytes) -> Any:
    """One JSON document, or a list of objects for newline-delimited JSON."""
    text = raw.decode("utf-8-sig", "replace")
    try:
        return json.loads(text)
    except ValueError:
        pass
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise CopilotImportError(f"line {number}: not JSON ({exc})") from None
    if not rows:
        raise CopilotImportError("empty input")
    return rows


def kind_of(document: Any) -> str:
    """Which generation of the API produced ``document``."""
    if isinstance(document, dict):
        if "download_links" in document:
            return "download_links"
        if "day_totals" in document:
            return REPORT
        document = [document]
    if isinstance(document, list) and document and all(isinstance(d, dict) for d in document):
        first = document[0]
        if "day_totals" in first:
            return REPORT
        if "date" in first:
            return METRICS
        if "day" in first and ("breakdown" in first or "total_suggestions_count" in first):
            return LEGACY
        if "day" in first:
            return REPORT
    if isinstance(document, list) and not document:
        return METRICS  # an empty 28-day window: nothing to import, not an error
    raise CopilotImportError(
        "not a Copilot usage answer (expected the /copilot/usage or /copilot/metrics array, "
        "a usage-metrics report with day_totals, or its download_links)"
    )


def day_records(document: Any, kind: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(day, record, report-level fields) for every day in the document."""
    if kind == REPORT:
        reports = document if isinstance(document, list) else [document]
        for report in reports:
            if "day_totals" in report:
                top = {k: v for k, v in report.items() if k != "day_totals"}
                for row in report.get("day_totals") or []:
                    if isinstance(row, dict):
                        yield str(row.get("day") or top.get("report_day") or ""), row, top
            else:  # an NDJSON row is itself a day record
                yield str(report.get("day") or ""), report, {}
        return
    key = "date" if kind == METRICS else "day"
    for row in document:
        if isinstance(row, dict):
            yield str(row.get(key) or ""), row, {}


# --------------------------------------------------------------------------- normalising


def _num(value: Any) -> int | float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _sum(rows: Iterable[Any], key: str) -> int | float:
    return sum(_num(row.get(key)) for row in rows if isinstance(row, dict))


def _list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def headline(kind: str, record: dict[str, Any]) -> dict[str, int | float]:
    """The few numbers every generation can give, under one set of names."""
    if kind == LEGACY:
        return {
            "suggestions": _num(record.get("total_suggestions_count")),
            "acceptances": _num(record.get("total_acceptances_count")),
            "lines_suggested": _num(record.get("total_lines_suggested")),
            "lines_accepted": _num(record.get("total_lines_accepted")),
            "active_users": _num(record.get("total_active_users")),
            "chat_turns": _num(record.get("total_chat_turns")),
            "chat_acceptances": _num(record.get("total_chat_acceptances")),
            "active_chat_users": _num(record.get("total_active_chat_users")),
        }
    if kind == METRICS:
        completions = record.get("copilot_ide_code_completions") or {}
        languages = [
            language
            for editor in _list(completions, "editors")
            for model in _list(editor, "models")
            for language in _list(model, "languages")
        ]
        ide_chat = record.get("copilot_ide_chat") or {}
        chat_models = [m for e in _list(ide_chat, "editors") for m in _list(e, "models")]
        dotcom_models = _list(record.get("copilot_dotcom_chat") or {}, "models")
        return {
            "suggestions": _sum(languages, "total_code_suggestions"),
            "acceptances": _sum(languages, "total_code_acceptances"),
            "lines_suggested": _sum(languages, "total_code_lines_suggested"),
            "lines_accepted": _sum(languages, "total_code_lines_accepted"),
            "active_users": _num(record.get("total_active_users")),
            "engaged_users": _num(record.get("total_engaged_users")),
            "chat_turns": _sum(chat_models, "total_chats") + _sum(dotcom_models, "total_chats"),
            "chat_acceptances": _sum(chat_models, "total_chat_insertion_events")
            + _sum(chat_models, "total_chat_copy_events"),
        }
    numbers = {
        "suggestions": _num(record.get("code_generation_activity_count")),
        "acceptances": _num(record.get("code_acceptance_activity_count")),
        "interactions": _num(record.get("user_initiated_interaction_count")),
        "lines_suggested": _num(record.get("loc_suggested_to_add_sum")),
        "lines_accepted": _num(record.get("loc_added_sum")),
        "lines_removed": _num(record.get("loc_deleted_sum")),
    }
    if "daily_active_users" in record:
        numbers["active_users"] = _num(record.get("daily_active_users"))
    if not numbers["lines_accepted"]:  # org rows may only carry the breakdowns
        numbers["lines_accepted"] = _sum(_list(record, "totals_by_feature"), "loc_added_sum")
        numbers["lines_removed"] = _sum(_list(record, "totals_by_feature"), "loc_deleted_sum")
    return numbers


def _day_ms(day: str) -> int:
    parsed = date.fromisoformat(day[:10])
    return int(datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC).timestamp() * 1000)


def to_events(document: Any, secret: bytes, org: str = "") -> tuple[str, list[dict[str, Any]], int]:
    """(kind, envelopes, records skipped) for a parsed Copilot answer."""
    kind = kind_of(document)
    if kind == "download_links":
        raise CopilotImportError(
            "this is a download_links answer: import the linked report files, or use --org"
        )
    built: list[dict[str, Any]] = []
    skipped = 0
    for day, record, top in day_records(document, kind):
        try:
            unix_ms = _day_ms(day)
        except ValueError:
            skipped += 1
            log.warning("skipped a %s record without a valid day", kind)  # never its value
            continue
        org_id = str(record.get("organization_id") or top.get("organization_id") or org or "")
        scope = privacy.keyed_hash(secret, org_id, "org") if org_id else "unscoped"
        user = record.get("user_login") or record.get("user_id")
        user_hash = privacy.keyed_hash(secret, str(user), "user") if user else ""
        payload: dict[str, Any] = {"report_kind": kind, "day": day[:10], "org_hash": scope}
        if user_hash:
            payload["user_hash"] = user_hash
        payload.update(headline(kind, record))
        # numbers and names of languages / editors / features / model families only
        # (``allowlist.COPILOT_TOTALS``): no repository names, logins or custom model names
        payload["totals"] = allowlist.COPILOT_TOTALS.coerce(
            {k: v for k, v in record.items() if k not in ("day", "date")}
        )
        built.append(
            events.make_event(
                event_type="usage_report",
                platform=PLATFORM,
                source="import",
                session_id=f"copilot:{scope}",
                payload=payload,
                hook_type=kind,
                event_id=events.derived_event_id(
                    "copilot", f"{kind}\x00{scope}\x00{day[:10]}\x00{user_hash}", unix_ms
                ),
                timestamp=events.format_timestamp(unix_ms / 1000),
            )
        )
    return kind, built, skipped


def import_document(
    document: Any, emitter: Emitter, secret: bytes | None = None, org: str = ""
) -> ImportResult:
    """Emit the days in a parsed answer; safe to repeat (derived ids)."""
    kind, built, skipped = to_events(document, secret or privacy.load_secret(), org)
    result = ImportResult(kind=kind, skipped=skipped)
    result.days = sorted({e["payload"]["day"] for e in built})
    for start in range(0, len(built), 500):
        result.events += emitter.emit_many(built[start : start + 500])
    return result


def import_file(path: Path, emitter: Emitter, org: str = "") -> ImportResult:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CopilotImportError(f"{path}: {exc.strerror or exc}") from None
    try:
        return import_document(parse_document(raw), emitter, org=org)
    except CopilotImportError as exc:
        raise CopilotImportError(f"{path}: {exc}") from None


# ------------------------------------------------------------------------------ fetching


def _get(url: str, token: str | None) -> bytes:
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "blueplane-import"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
        headers["X-GitHub-Api-Version"] = API_VERSION
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = str(json.loads(exc.read()).get("message", ""))[:200]
        except (ValueError, AttributeError, OSError):
            pass
        host = urllib.parse.urlsplit(url).netloc
        raise CopilotImportError(
            f"{host} answered HTTP {exc.code}{': ' + detail if detail else ''}"
            + (
                " (check the token's scopes: manage_billing:copilot or read:org)"
                if exc.code in (401, 403)
                else ""
            )
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CopilotImportError(
            f"cannot reach {urllib.parse.urlsplit(url).netloc}: {reason}"
        ) from None


def report_url(api: str, org: str, day: str, users: bool = False) -> str:
    name = "users-1-day" if users else "organization-1-day"
    org_part = urllib.parse.quote(org, safe="")
    return f"{api.rstrip('/')}/orgs/{org_part}/copilot/metrics/reports/{name}?day={day}"


def fetch(
    org: str,
    token: str,
    emitter: Emitter,
    day: str | None = None,
    users: bool = False,
    api: str = DEFAULT_API,
) -> list[ImportResult]:
    """Fetch the usage-metrics report of one day (default: yesterday, UTC) and import it.

    The report endpoint answers with signed download links; the token is sent only to the API,
    never to the download host.
    """
    if not token:
        raise CopilotImportError("a GitHub token is needed (--token or GITHUB_TOKEN)")
    when = day or (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    answer = parse_document(_get(report_url(api, org, when, users), token))
    if kind_of(answer) != "download_links":
        return [import_document(answer, emitter, org=org)]
    results = []
    for link in answer.get("download_links") or []:
        target = urllib.parse.urljoin(api.rstrip("/") + "/", str(link))
        if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
            raise CopilotImportError(f"refusing a download link that is not http(s): {link!r}")
        results.append(import_document(parse_document(_get(target, None)), emitter, org=org))
    return results
