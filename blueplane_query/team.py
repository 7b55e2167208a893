"""``bp-query team aggregate``: several people's anonymized JSON exports merged into one report.

Only anonymized exports are accepted (an export that still carries real ids is refused), so a
team report never holds anything that identifies a member's projects; members appear under the
random ``member`` id their export drew. Totals, per-member, per-day, per-model and per-tool
figures are sums over the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from blueplane_query.errors import BadInput
from blueplane_query.export import EXPORT_FORMAT


def load(path: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"{path}: not JSON ({exc})") from None
    meta = doc.get("meta") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise BadInput(
            f"{path}: not a Blueplane JSON export "
            "(make one with `bp-query export -f json --anonymize -o FILE`)"
        )
    if not meta.get("anonymized"):
        raise BadInput(f"{path}: not anonymized; export it with --anonymize before sharing")
    return doc


def _acceptance(accepted: int, rejected: int) -> float | None:
    return accepted / (accepted + rejected) if accepted + rejected else None


def _empty() -> dict[str, Any]:
    return {
        "sessions": 0,
        "prompts": 0,
        "tool_calls": 0,
        "tokens": 0,
        "cost_nusd": 0,
        "unpriced_sessions": 0,
        "edits_accepted": 0,
        "edits_rejected": 0,
        "commits": 0,
    }


def _add(acc: dict[str, Any], s: dict[str, Any]) -> None:
    acc["sessions"] += 1
    acc["prompts"] += s.get("prompts") or 0
    acc["tool_calls"] += s.get("tool_calls") or 0
    acc["tokens"] += sum(
        s.get(k) or 0
        for k in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
    )
    if s.get("cost_nusd") is None:
        acc["unpriced_sessions"] += 1
    else:
        acc["cost_nusd"] += s["cost_nusd"]
    acc["edits_accepted"] += s.get("edits_accepted") or 0
    acc["edits_rejected"] += s.get("edits_rejected") or 0


def _finish(acc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in acc.items() if k != "cost_nusd"}
    out["cost_usd"] = acc["cost_nusd"] / 1e9
    out["acceptance_rate"] = _acceptance(acc["edits_accepted"], acc["edits_rejected"])
    return out


def aggregate(files: list[Path], *, output: Path | None = None) -> dict[str, Any]:
    if not files:
        raise BadInput("give at least one anonymized export")
    totals = _empty()
    members: dict[str, dict[str, Any]] = {}
    by_day: dict[str, dict[str, Any]] = {}
    by_model: dict[str, dict[str, Any]] = {}
    tools: dict[str, int] = {}
    for index, path in enumerate(files):
        doc = load(path)
        member = str(doc["meta"].get("member") or f"member-{index + 1}")
        if member in members:
            member = f"{member}-{index + 1}"
        mine = members.setdefault(member, _empty())
        for s in doc.get("sessions", []):
            for acc in (
                totals,
                mine,
                by_day.setdefault(str(s.get("started_at", ""))[:10], _empty()),
                by_model.setdefault(s.get("model") or "(unknown)", _empty()),
            ):
                _add(acc, s)
        for t in doc.get("turns", []):
            calls = t.get("tools")
            if isinstance(calls, str):
                calls = orjson.loads(calls) if calls else {}
            for name, count in (calls or {}).items():
                tools[name] = tools.get(name, 0) + int(count)
        commits = len(doc.get("commits", []))
        mine["commits"] += commits
        totals["commits"] += commits
    report = {
        "format": "blueplane-team-report",
        "version": 1,
        "members": len(members),
        "files": len(files),
        "totals": _finish(totals),
        "by_member": [{"member": m, **_finish(a)} for m, a in sorted(members.items())],
        "by_day": [{"day": d, **_finish(a)} for d, a in sorted(by_day.items())],
        "by_model": [
            {"model": m, **_finish(a)}
            for m, a in sorted(by_model.items(), key=lambda kv: -kv[1]["cost_nusd"])
        ],
        "by_tool": [
            {"tool": t, "calls": n}
            for t, n in sorted(tools.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "provenance": {"counts": "derived", "cost_usd": "derived"},
    }
    if output is not None:
        from blueplane_query.output import dumps

        output.write_bytes(dumps(report))
    return report
