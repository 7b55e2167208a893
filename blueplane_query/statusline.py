"""``bp-query statusline``: one line for Claude Code's status bar, from the live counters.

Claude Code runs the status-line command after each message, passing a JSON object on stdin
(``session_id``, ``model.display_name``, ``workspace.current_dir``, ``cost.total_cost_usd``,
...) and showing the first line printed. This prints today's cost, the current 5-hour block's
cost, time left and burn rate, and the session's cost: the client's own figure (official) when
it reported one, else Blueplane's computed one. The figures are ``live.snapshot``'s, the view
``bp-query watch`` and the dashboard show, read from Redis in two round trips.

It never fails: whatever happens (no stdin, bad JSON, Redis down, no configuration) it prints a
line and exits 0. When Blueplane cannot answer, the line holds the client's own figures.

``--chain COMMAND`` runs the user's previous status-line command with the same stdin and shows
its first line after ours (``blueplane install statusline`` sets it when one existed).

Claude Code waits for the line after every message, so it must come within 50 ms of the process
starting (``bench/live.py``). ``blueplane install statusline`` therefore starts it the way the
hooks start: ``<python> -I -S .../launch_statusline.py`` (no site-packages scan, no editable
install finder), and this module imports neither the configuration (tomllib, dataclasses) nor
the report filters: the Redis URL and ``display.timezone`` are read as the hooks read their
keys, and JSON as they parse it (``blueplane_core.fast_start``); the figures come from
``live.day_view`` over ``blueplane_core.resp``, the code ``bp-query watch`` uses, with today's
start in the display zone remembered for the day (``local_day``: no ``zoneinfo`` to load).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing costs ~3 ms to import
if TYPE_CHECKING:
    from typing import Any

#: the most stdin read (Claude Code's object is a few hundred bytes).
MAX_INPUT_BYTES = 64 * 1024
#: Redis must answer this fast, or the line shows the client's figures (Claude Code waits for us).
REDIS_TIMEOUT_S = 0.3
#: the chained command's time limit.
CHAIN_TIMEOUT_S = 2.0
SEPARATOR = " │ "


def read_input(raw: bytes) -> dict[str, Any]:
    """The status-line JSON, or {} when it is missing or not an object."""
    from blueplane_core.fast_start import loads

    try:
        data = loads(raw.decode("utf-8", "replace")) if raw.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)  # type: ignore[assignment]
    return data


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def client_figures(data: dict[str, Any]) -> tuple[str | None, float | None]:
    """(model name, session cost the client reported) from Claude Code's JSON."""
    model = _get(data, "model", "display_name") or _get(data, "model", "id")
    cost = _get(data, "cost", "total_cost_usd")
    ok = isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0
    return (str(model)[:40] if model else None), (float(cost) if ok else None)


#: the configuration keys the line depends on (read as the hooks read theirs).
CONFIG_KEYS = frozenset({("redis", "url"), ("display", "timezone")})


def settings() -> tuple[str, str]:
    """(Redis URL, display.timezone) as ``config.load`` gives them: the environment
    (``BLUEPLANE_REDIS_URL``, ``BLUEPLANE_DISPLAY_TIMEZONE``) first, then config.toml."""
    from blueplane_core import fast_start

    home = fast_start.blueplane_home()
    values = fast_start.read_config(home, CONFIG_KEYS)
    zone = fast_start.getenv("BLUEPLANE_DISPLAY_TIMEZONE")
    if zone is None:
        zone = str(values.get("display.timezone") or "")
    return fast_start.redis_url(home, values), zone


def live_figures(session_id: str | None) -> dict[str, Any]:
    """Today's and the block's figures and the session's computed cost, from Redis: the
    numbers of ``bp-query watch`` without a filter (``live.snapshot(reader, Filter())``)."""
    import time
    from datetime import UTC, datetime

    from blueplane_core import metric_keys, resp
    from blueplane_query import local_day
    from blueplane_query.live import counters, day_view

    url, zone_name = settings()
    now = time.time()
    midnight = datetime.fromtimestamp(local_day.today_start(zone_name, now), UTC)
    with resp.parses_in_c(resp.Client(url, REDIS_TIMEOUT_S)) as reader:
        snap = day_view(reader, ["all"], zone_name or "local", midnight, now=now)
        session_cost = None
        if session_id:
            c = counters(reader, metric_keys.scope("session", session_id[:256]), ["total"])
            if c["requests"]:
                session_cost = metric_keys.cost_usd(c)
    return {"today": snap["today"], "block": snap["block"], "session_cost_usd": session_cost}


def compose(data: dict[str, Any], live: dict[str, Any] | None) -> str:
    """The line: ``Opus · today $4.10 · block $1.20 (2h31m left, $0.80/h) · session $0.42``."""
    model, reported = client_figures(data)
    parts = [model] if model else []
    if live is not None:
        today = live["today"]
        parts.append(f"today {_usd(today['cost_usd'])}")
        block = live["block"]
        if block:
            left = round(block["remaining_minutes"] or 0)
            burn = (block["burn_rate"] or {}).get("cost_usd_per_hour")
            detail = f"{left // 60}h{left % 60:02d}m left"
            if burn is not None:
                detail += f", {_usd(burn)}/h"
            parts.append(f"block {_usd(block['cost_usd'])} ({detail})")
        else:
            parts.append("no active block")
    if reported is not None:
        parts.append(f"session {_usd(reported)}")
    elif live is not None and live["session_cost_usd"] is not None:
        parts.append(f"session {_usd(live['session_cost_usd'])} (computed)")
    if live is None:
        parts.append("Blueplane not running")
    return " · ".join(parts)


def chained(command: str, raw: bytes) -> str:
    """The first line the user's own status-line command prints for the same input ('' if none)."""
    import subprocess

    try:
        done = subprocess.run(
            command,
            shell=True,  # it is the user's own status-line command, as Claude Code would run it
            input=raw,
            capture_output=True,
            timeout=CHAIN_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    return lines[0] if lines else ""


def short_lived() -> None:
    """Set up a process that prints one line and leaves (``launch`` and the console script).

    The cyclic garbage collector is switched off: it only ran during the imports of a process
    that lives milliseconds. ``datetime`` is ``_datetime``, its C implementation: on Python
    3.11 ``datetime.py`` first builds the whole pure-Python implementation (and imports ``math``
    and ``operator`` for it), then replaces every public name with ``_datetime``'s, ~1 ms of a
    line's 15 (3.12 imports the C module first and skips the rest). The classes are the same
    either way."""
    import gc

    gc.disable()
    if "datetime" not in sys.modules:
        try:
            import _datetime
        except ImportError:  # an interpreter without the C module: the standard import
            return
        sys.modules["datetime"] = _datetime


def launch() -> None:
    """The installed command's process (``launch_statusline.py``): print the line and leave.

    ``-S`` (no site-packages scan, no editable install's import finder: ~15 ms) leaves off the
    interpreter's own site-packages; it is appended last, for hiredis alone (it parses the day
    of per-minute counters in C, ``resp.parses_in_c``; no .pth file is processed). The process
    leaves without the interpreter's teardown (``run`` has flushed the line; nothing else is
    open)."""
    import posix

    short_lived()
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    sys.path.append(f"{sys.executable.rsplit('/', 2)[0]}/lib/python{version}/site-packages")
    code = run(sys.argv[1:])
    sys.stdout.flush()
    posix._exit(code)


def run(argv: list[str]) -> int:
    """Print the line; always exit 0."""
    chain = None
    if len(argv) >= 2 and argv[0] == "--chain":
        chain = argv[1]
    raw = b""
    try:
        if not sys.stdin.isatty():
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES)
    except (OSError, ValueError):
        raw = b""
    data = read_input(raw)
    try:
        sid = data.get("session_id")
        live: dict[str, Any] | None = live_figures(sid if isinstance(sid, str) else None)
    except Exception:  # Redis down, no config, anything: the client's own figures still show
        live = None
    try:
        line = compose(data, live)
    except Exception:
        line = "Blueplane"
    if chain:
        theirs = chained(chain, raw)
        if theirs:
            line = f"{line}{SEPARATOR}{theirs}" if line else theirs
    try:
        sys.stdout.write((line or "Blueplane") + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    return 0
