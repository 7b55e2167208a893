"""A realistic event mix of any size, made of the envelopes the real capture code builds from the
real fixtures.

``fixture_events()`` puts every fixture through the mapping that would capture it in production
(and the Emitter's checks): the Claude Code hook payloads (``claude_code_mapping``), the
transcript trees (``TranscriptMonitor``: the live runs and the public agentlogs sessions), the
OTLP logs and metrics bodies (``otlp_mapping``), the Cursor stores and hook payloads
(``cursor_db`` / ``cursor_mapping``; formats.md 4-5, built by ``tests/cursor_stores.py`` since no
real Cursor data exists) and the Copilot report files (``copilot``). The ccusage test lines are
left out: they are hand-made, not client output.

``Mix`` scales them up. Every platform session of the fixtures (with the events of all its
sources) is a template; each copy of a template is a new session: fresh session, prompt, request,
tool and agent ids (the same fresh value wherever the original value appeared, so a fact seen by
hook, transcript and OTel still shares its ids), fresh file hashes, one of ``PROJECTS`` projects'
workspace/project/branch hashes, token counts, lengths and durations scaled by a factor per copy,
and its times moved to the copy's place in the day. The fixture runs are a prompt or two long;
a working session runs longer, so a copy repeats its template's turn events (everything but the
once-per-session events: start, end, the client's hook registrations) 1 to 11 times (6 on
average), each repetition with fresh ids. Event ids keep their kind: a time-prefixed
id (UUIDv7, or a derived id with a time prefix) gets the new time as prefix, a hashed one stays
random, so the UNIQUE index sees the same insert pattern as in production.

Proportions of a working day (why these): four Claude Code sessions for each Cursor session (the
split ``blueplane_core.synthetic`` assumes); each Claude Code template equally likely, so the
mix of sources (hooks, transcript, OTel) and event types within them is what the real client
wrote with every capture on, hook-execution OTel logs included; one Copilot import (the org
reports of one day, of one of the three API shapes) per ``SESSIONS_PER_DAY`` sessions.

Deterministic for a seed and independent of the installation secret: replacement values come
from the seed in order of first appearance, never from the originals.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from blueplane_capture import copilot, cursor_db, cursor_mapping
from blueplane_capture.offsets import OffsetStore
from blueplane_capture.transcripts import TranscriptMonitor
from blueplane_core import events, privacy, streams
from blueplane_core.emit import Emitter
from tests import cursor_stores, real_runs
from tests.history import FIXTURES

PLATFORM_SHARE = {"claude_code": 4, "cursor": 1}
SESSIONS_PER_DAY = 40
PROJECTS = 6
#: integer and float payload values scaled per copy (counts of tokens, bytes, characters, time)
_SCALED = re.compile(r"(_tokens|_length|_ms|_bytes|_usd|_cents)$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: an id inside a string: 16+ hex digits, or the base62 tail of an API id (``toolu_01...``)
_ID_RUN = re.compile(r"[0-9a-f]{16,}|(?<=_)[0-9A-Za-z]{20,}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PROJECT_KEYS = ("workspace_hash", "project_hash", "git_branch_hash")
_DAY_MS = 86_400_000
#: mean times a copy repeats its template's turn events (uniform over 1 .. 2 * this - 1)
TURN_REPEATS = 6


class _Collector:
    """Where the Emitter's pipeline puts the bytes it would XADD (in memory, in order)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def pipeline(self, transaction: bool = False) -> _Collector:
        return self

    def xadd(self, stream: str, fields: dict[str, bytes]) -> None:
        self.sent.append(fields[streams.EVENT_FIELD])

    def execute(self) -> list[Any]:
        return []


def fixture_events() -> list[dict[str, Any]]:
    """Every envelope capture makes of the real fixtures, as the Emitter would send them.

    Needs ``BLUEPLANE_HOME`` set (the installation secret the hashes are keyed with lives there).
    """
    sink = _Collector()
    emitter = Emitter(sink)
    secret = privacy.load_secret()
    roots = [real_runs.LIVE / "transcripts", FIXTURES / "claude_code_public"]
    with tempfile.TemporaryDirectory() as state:
        monitor = TranscriptMonitor(roots, emitter, OffsetStore("mix", Path(state)), secret)
        monitor.backfill(show_progress=False, flush=True)
    emitter.emit_many(real_runs.otlp_events())
    for run in real_runs.RUNS:
        emitter.emit_many(real_runs.hook_events(run))
    with tempfile.TemporaryDirectory() as folder:
        user_dir = Path(folder) / "User"
        cursor_stores.build(user_dir)
        cursor_db.Monitor(emitter, [user_dir], secret=secret).scan_once()
    emitter.emit_many(cursor_mapping.map_hook(p, secret) for p in cursor_stores.hook_events())
    for report in sorted((FIXTURES / "copilot").glob("*.json")):
        document = copilot.parse_document(report.read_bytes())
        if copilot.kind_of(document) != "download_links":  # links only, no events
            emitter.emit_many(copilot.to_events(document, secret)[1])
    return [orjson.loads(data) for data in sink.sent]


def _once_per_session(event: dict[str, Any]) -> bool:
    """Events a session has once however long it runs: its start and end, the client's hook
    registrations (OTel logs one per configured hook at start) and its session counter."""
    return event["event_type"] in ("session_start", "session_end") or event["hook_type"] in (
        "hook_registered",
        "claude_code.session.count",
    )


def source_of(event: dict[str, Any]) -> str:
    """The label figures are printed under: platform/source."""
    return f"{event['platform']}/{event['source']}"


def _unix_ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Template:
    """One platform session of the fixtures, every source's events in it, in time order."""

    platform: str
    events: list[tuple[int, dict[str, Any]]]  # (unix ms, envelope)
    start_ms: int
    project_values: list[str]  # its workspace/project/branch hashes


def templates(found: list[dict[str, Any]]) -> list[Template]:
    """The sessions of ``found`` (for Copilot: the reports of one day, a daily import)."""
    grouped: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
    for event in found:
        copilot = event["platform"] == "copilot"
        key = (event["platform"], event["payload"]["day"] if copilot else event["session_id"])
        grouped.setdefault(key, []).append((_unix_ms(event["timestamp"]), event))
    out = []
    for (platform, _), timed in sorted(grouped.items(), key=lambda item: item[0]):
        timed.sort(key=lambda pair: pair[0])
        # in order of appearance, never sorted: their values depend on the installation secret
        values = dict.fromkeys(
            e["metadata"][k] for _, e in timed for k in _PROJECT_KEYS if k in e["metadata"]
        )
        out.append(Template(platform, timed, timed[0][0], list(values)))
    return out


class Mix:
    """An endless working-day stream of copies of the fixture sessions (see the module text)."""

    def __init__(self, found: list[dict[str, Any]], seed: int = 0, start_unix: float = 0) -> None:
        self.rng = random.Random(seed)
        self.clock_ms = int((start_unix or 1_790_000_000) * 1000)
        by_platform: dict[str, list[Template]] = {}
        for template in templates(found):
            by_platform.setdefault(template.platform, []).append(template)
        self.copilot = by_platform.pop("copilot", [])
        self.by_platform = by_platform
        self.platforms = [p for p in PLATFORM_SHARE if p in by_platform]
        self.weights = [PLATFORM_SHARE[p] for p in self.platforms]
        self.projects: list[dict[str, str]] = [{} for _ in range(PROJECTS)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        sessions = 0
        while True:
            if sessions % SESSIONS_PER_DAY == 0 and self.copilot:
                yield from self._copy(self.rng.choice(self.copilot), project=0)
            platform = self.rng.choices(self.platforms, self.weights)[0]
            template = self.rng.choice(self.by_platform[platform])
            yield from self._copy(template, self.rng.randrange(PROJECTS))
            sessions += 1

    def take(self, count: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for event in self:
            out.append(event)
            if len(out) == count:
                return out
        return out

    # -- one copy ---------------------------------------------------------------------------

    def _copy(self, template: Template, project: int) -> Iterator[dict[str, Any]]:
        rng = self.rng
        session: dict[str, str] = {}
        for value in template.project_values:  # a project keeps its hashes all day
            session[value] = self.projects[project].setdefault(value, self._hex(len(value)))
        for _, event in template.events:
            self._session(event["session_id"], session)
        timed = template.events
        if template.platform == "copilot":  # one import: every report at the same moment
            timed = [(template.start_ms + i, event) for i, (_, event) in enumerate(timed)]
        turns = [i for i, (_, event) in enumerate(timed) if not _once_per_session(event)]
        last = turns[-1] if turns else len(timed) - 1
        scale: dict[str, float] = {}
        shift = self.clock_ms - template.start_ms
        mapping = dict(session)
        for ms, event in timed[: last + 1]:
            yield self._event(event, ms, ms + shift, mapping, scale)
        if turns:  # the fixture runs are a prompt or two long; a working session runs longer
            span = timed[last][0] - timed[turns[0]][0]
            for _ in range(rng.randint(1, 2 * TURN_REPEATS - 1) - 1):
                shift += span + int(rng.expovariate(1 / 60_000))
                mapping = dict(session)
                for ms, event in (timed[i] for i in turns):
                    yield self._event(event, ms, ms + shift, mapping, scale)
        for ms, event in timed[last + 1 :]:
            yield self._event(event, ms, ms + shift, mapping, scale)
        # the next session starts after a pause of a few seconds to half an hour
        self.clock_ms = timed[-1][0] + shift + int(rng.expovariate(1 / 300_000))

    def _event(
        self,
        event: dict[str, Any],
        ms: int,
        new_ms: int,
        mapping: dict[str, str],
        scale: dict[str, float],
    ) -> dict[str, Any]:
        return {
            "schema": event["schema"],
            "event_id": self._event_id(event["event_id"], ms, new_ms, mapping),
            "timestamp": events.format_timestamp(new_ms / 1000),
            "platform": event["platform"],
            "source": event["source"],
            "session_id": mapping[event["session_id"]],
            "event_type": event["event_type"],
            "hook_type": event["hook_type"],
            "metadata": self._vary(event["metadata"], mapping, scale),
            "payload": self._vary(event["payload"], mapping, scale),
        }

    def _hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def _uuid(self, like: str) -> str:
        f = self._hex(32)
        # keep the version and variant characters, so every id stays of its kind
        return f"{f[:8]}-{f[8:12]}-{like[14]}{f[13:16]}-{like[19]}{f[17:20]}-{f[20:]}"

    def _event_id(self, old: str, ms: int, new_ms: int, mapping: dict[str, str]) -> str:
        found = mapping.get(old)
        if found:
            return found
        prefix = int(old[:8] + old[9:13], 16)
        if abs(prefix - ms) < _DAY_MS:  # time-ordered: the new time is its prefix
            head = f"{new_ms & 0xFFFF_FFFF_FFFF:012x}"
            fresh = self._uuid(old)
            mapping[old] = f"{head[:8]}-{head[8:]}{fresh[13:]}"
        else:
            mapping[old] = self._uuid(old)
        return mapping[old]

    def _session(self, old: str, mapping: dict[str, str]) -> str:
        found = mapping.get(old)
        if found is None:
            found = self._string(old, mapping)
            if found == old:  # a name, not an id (hand-made stores): a fresh id for the copy
                found = mapping[old] = self._uuid("00000000-0000-4000-8000-000000000000")
        return found

    def _string(self, value: str, mapping: dict[str, str]) -> str:
        """``value`` with its ids replaced: a whole UUID, or every id run in it."""
        found = mapping.get(value)
        if found is None:
            if _UUID.match(value):
                found = self._uuid(value)
            else:
                found = _ID_RUN.sub(lambda m: self._run(m.group(0), mapping), value)
            mapping[value] = found
        return found

    def _run(self, run: str, mapping: dict[str, str]) -> str:
        found = mapping.get(run)
        if found is None:
            if all(c in "0123456789abcdef" for c in run):
                found = self._hex(len(run))
            else:  # keep the API's version prefix (``01``)
                found = run[:2] + "".join(self.rng.choices(_BASE62, k=len(run) - 2))
            mapping[run] = found
        return found

    def _vary(self, value: Any, mapping: dict[str, str], scale: dict[str, float]) -> Any:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(item) is str:
                out[key] = self._string(item, mapping)
            elif type(item) in (int, float) and _SCALED.search(key):
                factor = scale.get(key)
                if factor is None:
                    factor = scale[key] = self.rng.uniform(0.5, 2.0)
                out[key] = int(item * factor) if type(item) is int else round(item * factor, 6)
            elif type(item) is dict:
                out[key] = self._vary(item, mapping, scale)
            elif type(item) is list:
                out[key] = [self._string(v, mapping) if type(v) is str else v for v in item]
            else:
                out[key] = item
        return out
