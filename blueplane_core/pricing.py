"""Model prices and the cost of one API request: the one cost formula everyone uses.

The table ships with the package (``blueplane_core/data/pricing.json``, versioned by its
``version`` field) so cost works offline; ``pricing.file`` in the config points at a JSON file of
the same shape whose models replace or extend the shipped ones. Prices are USD per million tokens.

Cost of one request (the formula in docs/metrics.md, the same as ccusage's ``calculate`` mode)::

    cost = in*input + out*output + cw5m*cache_write + cw1h*(2*input) + cr*cache_read
    (tokens of one kind above 200,000 use the model's ``tier_above_200k`` prices, if it has them)
    x fast_multiplier when the request ran at speed ``fast``

Money is returned in nano-USD integers (1 USD = 1e9) computed with Decimal, so sums are exact
and ``rebuild metrics`` gives the same digits. A model not in the table is **unpriced**:
:func:`request_cost` returns None and callers must show the cost as unknown, never as 0.

The query side reads: :func:`load`, :meth:`PriceTable.lookup`, :func:`nusd_to_usd`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

#: the context-size threshold of the long-context price tier (tokens of one kind per request).
TIER_THRESHOLD = 200_000
_NUSD_PER_USD_PER_MTOK = Decimal(1000)  # (USD / 1e6 tokens) * 1e9 nUSD/USD = 1000 nUSD per token
_KINDS = ("input", "output", "cache_write", "cache_read")
_DATE_SUFFIX = re.compile(r"-\d{8}$")
_BRACKET_SUFFIX = re.compile(r"\[[^\]]*\]$")
_PROVIDER_PREFIX = re.compile(r"^(?:[a-z]{2}\.)?(?:anthropic[./]|openai/)")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
#: Cursor names Anthropic models version-first (``claude-4.5-sonnet``, ``claude-4-opus``) and
#: adds mode suffixes (``-thinking``, ``-high``, ...) that bill the same tokens at the same
#: rates; Cursor's own models (``composer-1``, ``auto``, ``default``) have no public price.
_CURSOR_CLAUDE = re.compile(r"^claude-(\d+(?:\.\d+)?)-(opus|sonnet|haiku)$")
_CURSOR_MODES = re.compile(r"(?:-(?:thinking|high|low|medium))+$")


@dataclass(frozen=True)
class Price:
    """Prices of one model, USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    tier: dict[str, Decimal] | None = None
    fast_multiplier: Decimal = Decimal(1)


@dataclass(frozen=True)
class Usage:
    """Token counts of one API request."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    fast: bool = False


class PriceTable:
    """A loaded price table; :meth:`lookup` normalises the model names clients report."""

    def __init__(self, version: str, models: dict[str, Price]) -> None:
        self.version = version
        self.models = models

    def lookup(self, model: str | None) -> Price | None:
        """The price of ``model`` or None (unpriced)."""
        if not model:
            return None
        name = model.strip().lower()
        name = _BRACKET_SUFFIX.sub("", name)  # OTel reports e.g. claude-opus-4-8[1m]
        name = _PROVIDER_PREFIX.sub("", name)
        name = _BEDROCK_VERSION.sub("", name)
        cursor = _CURSOR_MODES.sub("", name)
        cursor = _CURSOR_CLAUDE.sub(
            lambda m: f"claude-{m.group(2)}-{m.group(1).replace('.', '-')}", cursor
        )
        for candidate in (
            name,
            _DATE_SUFFIX.sub("", name),
            name.removesuffix("-latest"),
            cursor,
        ):
            price = self.models.get(candidate)
            if price is not None:
                return price
        return None

    def cost_nusd(self, model: str | None, usage: Usage) -> int | None:
        price = self.lookup(model)
        return None if price is None else request_cost(price, usage)


def _tiered(tokens: int, base: Decimal, tier: Decimal | None) -> Decimal:
    if tokens <= 0:
        return Decimal(0)
    if tier is not None and tokens > TIER_THRESHOLD:
        return TIER_THRESHOLD * base + (tokens - TIER_THRESHOLD) * tier
    return tokens * base


def request_cost(price: Price, usage: Usage) -> int:
    """Cost of one request in nano-USD (see the module docstring for the formula)."""
    tier = price.tier or {}
    cost = (
        _tiered(usage.input_tokens, price.input, tier.get("input"))
        + _tiered(usage.output_tokens, price.output, tier.get("output"))
        + _tiered(usage.cache_write_5m_tokens, price.cache_write, tier.get("cache_write"))
        + _tiered(
            usage.cache_write_1h_tokens,
            2 * price.input,
            2 * tier["input"] if "input" in tier else None,
        )
        + _tiered(usage.cache_read_tokens, price.cache_read, tier.get("cache_read"))
    )
    if usage.fast:
        cost *= price.fast_multiplier
    return int((cost * _NUSD_PER_USD_PER_MTOK).to_integral_value(rounding=ROUND_HALF_EVEN))


def nusd_to_usd(nusd: int) -> float:
    return nusd / 1e9


def _parse_models(models: dict[str, Any], origin: str) -> dict[str, Price]:
    parsed: dict[str, Price] = {}
    for name, entry in models.items():
        try:
            tier = entry.get("tier_above_200k")
            base = [Decimal(str(entry[k])) for k in _KINDS]
            parsed[name.lower()] = Price(
                input=base[0],
                output=base[1],
                cache_write=base[2],
                cache_read=base[3],
                tier={k: Decimal(str(v)) for k, v in tier.items()} if tier else None,
                fast_multiplier=Decimal(str(entry.get("fast_multiplier", 1))),
            )
        except (KeyError, TypeError, ArithmeticError, AttributeError) as exc:
            raise ValueError(f"{origin}: model {name!r} has a bad price entry ({exc!r})") from None
    return parsed


def shipped() -> dict[str, Any]:
    """The raw shipped table (version, models)."""
    # beside this module (importlib.resources would cost every worker ~1 MB of imports)
    text = (Path(__file__).parent / "data" / "pricing.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def load(override_file: str | Path | None = None) -> PriceTable:
    """The shipped table, with the models of ``override_file`` (config ``pricing.file``) on top."""
    table = shipped()
    models = _parse_models(table["models"], "pricing.json")
    version = str(table["version"])
    if override_file:
        path = Path(override_file).expanduser()
        try:
            extra = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read the pricing override ({exc})") from None
        models.update(_parse_models(extra.get("models", {}), str(path)))
        version += "+" + str(extra.get("version", path.name))
    return PriceTable(version, models)
