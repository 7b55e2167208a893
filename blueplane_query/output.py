"""How answers leave the query side: JSON with stable keys, or rich on an 80-column terminal."""

from __future__ import annotations

import sys
from typing import Any

import orjson

#: the widest layout the tables are designed for; a wider terminal simply has spare room.
MAX_WIDTH = 100


def dumps(result: Any, *, pretty: bool = True) -> bytes:
    """JSON bytes: keys in the order the report built them (that order is the documented one)."""
    option = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    if pretty:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(result, option=option, default=str)


def write_json(result: Any, *, pretty: bool = True) -> None:
    sys.stdout.buffer.write(dumps(result, pretty=pretty) + b"\n")
    sys.stdout.flush()


def console() -> Any:
    """A rich console: the terminal's width up to MAX_WIDTH, 80 when not a terminal."""
    import shutil

    from rich.console import Console

    width = min(shutil.get_terminal_size((80, 24)).columns, MAX_WIDTH)
    return Console(width=width, soft_wrap=False, highlight=False)
