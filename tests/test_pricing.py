"""Cost: the shipped prices and formula agree with ccusage and with Claude Code's own cost_usd."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from blueplane_core import pricing
from tests.conftest import FIXTURES

LIVE = FIXTURES / "claude_code_live"


def transcript_requests(files: list[Path]) -> list[dict]:
    """ccusage's view of transcripts: lines with usage, deduped on message.id + requestId,
    keeping the line with the largest token total."""
    best: dict[str, dict] = {}
    for file in files:
        for line in file.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            message = row.get("message") or {}
            usage = message.get("usage")
            model = message.get("model")
            if not usage or not model or model == "<synthetic>":
                continue
            key = f"{message.get('id')}:{row.get('requestId') or ''}"
            total = sum(
                usage.get(k) or 0
                for k in (
                    "input_tokens",
                    "output_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                )
            )
            if key not in best or total > best[key]["total"]:
                best[key] = {
                    "total": total,
                    "usage": usage,
                    "model": model,
                    "day": row["timestamp"][:10],
                }
    return list(best.values())


def usage_of(u: dict) -> pricing.Usage:
    split = u.get("cache_creation") or {}
    w5, w1 = split.get("ephemeral_5m_input_tokens"), split.get("ephemeral_1h_input_tokens")
    if w5 is None and w1 is None:
        w5, w1 = u.get("cache_creation_input_tokens") or 0, 0
    return pricing.Usage(
        u.get("input_tokens") or 0,
        u.get("output_tokens") or 0,
        w5 or 0,
        w1 or 0,
        u.get("cache_read_input_tokens") or 0,
        u.get("speed") == "fast",
    )


def costs_by_day_model(requests: list[dict]) -> dict[tuple[str, str], float]:
    table = pricing.load()
    out: dict[tuple[str, str], int] = defaultdict(int)
    for r in requests:
        cost = table.cost_nusd(r["model"], usage_of(r["usage"]))
        assert cost is not None, r["model"]
        name = r["model"] + ("-fast" if r["usage"].get("speed") == "fast" else "")
        out[(r["day"], name)] += cost
    return {k: v / 1e9 for k, v in out.items()}


def ccusage(name: str) -> dict[tuple[str, str], float]:
    data = json.loads((FIXTURES / "ccusage_output" / name).read_text())
    return {
        (d["period"], m["modelName"]): m["cost"]
        for d in data["daily"]
        for m in d["modelBreakdowns"]
    }


def test_live_transcript_costs_match_ccusage_per_model():
    files = sorted((LIVE / "transcripts").rglob("*.jsonl"))
    assert files
    mine = costs_by_day_model(transcript_requests(files))
    expected = ccusage("live_daily.json")
    assert mine.keys() == expected.keys()
    for key, cost in expected.items():
        assert mine[key] == pytest.approx(cost, abs=1e-9), key


def test_public_transcript_costs_match_ccusage_calculate_mode():
    files = sorted((FIXTURES / "claude_code_public").glob("*.jsonl"))
    files += sorted((FIXTURES / "ccusage_fixtures").rglob("*.jsonl"))
    mine = costs_by_day_model(transcript_requests(files))
    expected = ccusage("public_daily_mode_calculate.json")
    assert mine.keys() == expected.keys()
    for key, cost in expected.items():
        assert mine[key] == pytest.approx(cost, abs=1e-9), key


def test_cost_agrees_with_claude_codes_own_cost_usd():
    """OTel api_request events carry the client's cost; recompute each from its tokens."""
    table = pricing.load()
    checked = 0
    for file in sorted((LIVE / "otlp_http_json").rglob("*_v1_logs.json")):
        body = json.loads(file.read_text())
        for rl in body.get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                for rec in sl.get("logRecords", []):
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in rec["attributes"]}
                    if attrs.get("event.name") != "api_request":
                        continue
                    usage = pricing.Usage(
                        int(attrs["input_tokens"]),
                        int(attrs["output_tokens"]),
                        int(attrs["cache_creation_tokens"]),
                        0,
                        int(attrs["cache_read_tokens"]),
                    )
                    cost = table.cost_nusd(attrs["model"], usage)
                    assert cost is not None, attrs["model"]
                    assert cost / 1e9 == pytest.approx(float(attrs["cost_usd"]), abs=1e-9)
                    checked += 1
    assert checked >= 10
    # the figure formats.md quotes
    opus = table.lookup("claude-opus-4-8")
    assert opus is not None and (opus.input, opus.output) == (5, 25)


def test_unknown_model_is_unpriced_not_free():
    table = pricing.load()
    assert table.cost_nusd("some-new-model-2099", pricing.Usage(1000, 1000)) is None
    assert table.lookup("claude-opus-4-8[1m]") is table.lookup("claude-opus-4-8")
    assert table.lookup("claude-sonnet-4-5-20250929") is table.lookup("claude-sonnet-4-5")


def test_long_context_tier_and_one_hour_cache_write():
    table = pricing.load()
    sonnet = "claude-sonnet-4-5"
    # 250k input: 200k at $3/M + 50k at $6/M = 0.6 + 0.3
    assert table.cost_nusd(sonnet, pricing.Usage(input_tokens=250_000)) == 900_000_000
    # 1 h cache write costs twice the input price
    assert table.cost_nusd(sonnet, pricing.Usage(cache_write_1h_tokens=100_000)) == 600_000_000
    # above the tier threshold: 200k at 2*3 + 800k at 2*6 per million
    assert table.cost_nusd(sonnet, pricing.Usage(cache_write_1h_tokens=10**6)) == 10_800_000_000


def test_config_override_file_replaces_and_adds_models(tmp_path):
    override = tmp_path / "prices.json"
    override.write_text(
        json.dumps(
            {
                "version": "mine",
                "models": {
                    "claude-opus-4-8": {
                        "input": "1",
                        "output": "2",
                        "cache_write": "3",
                        "cache_read": "4",
                    },
                    "local-llm": {
                        "input": "0",
                        "output": "0",
                        "cache_write": "0",
                        "cache_read": "0",
                    },
                },
            }
        )
    )
    table = pricing.load(override)
    assert table.cost_nusd("claude-opus-4-8", pricing.Usage(1_000_000)) == 10**9
    assert table.cost_nusd("local-llm", pricing.Usage(5)) == 0
    assert table.version.endswith("+mine")
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"x": {"input": "1"}}}')
    with pytest.raises(ValueError, match="bad price entry"):
        pricing.load(bad)


def test_cursor_model_names_find_the_vendors_price_and_cursors_own_stay_unpriced() -> None:
    table = pricing.load()
    sonnet = table.lookup("claude-sonnet-4-5")
    assert sonnet is not None
    # Cursor spells Anthropic models version-first and adds effort/thinking modes
    for name in ("claude-4.5-sonnet", "claude-4.5-sonnet-thinking", "claude-4.5-sonnet-high"):
        assert table.lookup(name) == sonnet, name
    assert table.lookup("claude-4-opus") == table.lookup("claude-opus-4")
    # Cursor's own models have no public price: unpriced, never $0
    for name in ("composer-1", "composer-2", "auto", "default", "claude-4.5-sonnet-max"):
        assert table.lookup(name) is None, name
        assert table.cost_nusd(name, pricing.Usage(input_tokens=1000)) is None
