"""Where a number comes from, the label every figure carries in ``--json`` and on screen.

``official``: the client's or the vendor's own accounting (OpenTelemetry, vendor imports).
``derived``: counted here from hooks, transcripts and databases.
``estimated``: computed from partial data (a price table applied to tokens when some models
have no price, a rate over a period with gaps, ...). See docs/events.md "Source of a number".
"""

from __future__ import annotations

TYPE_CHECKING = False  # the status line imports this module: typing costs it ~3 ms
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

OFFICIAL = "official"
DERIVED = "derived"
ESTIMATED = "estimated"

_OFFICIAL_SOURCES = frozenset({"otlp", "import"})
_RANK = {OFFICIAL: 0, DERIVED: 1, ESTIMATED: 2}


def of_sources(sources: Iterable[str]) -> str:
    """The label of a number computed from events of these ``source`` values."""
    seen = {s for s in sources if s}
    if seen and seen <= _OFFICIAL_SOURCES:
        return OFFICIAL
    return DERIVED


def weakest(*labels: str | None) -> str:
    """A number built from several others is only as good as the weakest of them."""
    known = [label for label in labels if label in _RANK]
    return max(known, key=_RANK.__getitem__) if known else DERIVED


def figure(
    value: Any, provenance: str, previous: Any = None, *, unit: str | None = None
) -> dict[str, Any]:
    """One headline number: value, previous period's value, change in percent, provenance."""
    change = None
    if isinstance(value, int | float) and isinstance(previous, int | float) and previous:
        change = (value - previous) / abs(previous) * 100
    out: dict[str, Any] = {"value": value, "previous": previous, "change_pct": change}
    if unit:
        out["unit"] = unit
    out["provenance"] = provenance
    return out
