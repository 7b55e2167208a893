"""bp-hook: the one command Claude Code runs for every hook event.

Installed as ``<python> -I -S .../launch_claude_code.py`` (see ``installers/claude_code.py``),
which calls ``main`` here: no site-packages scan, only C modules on the path, so a fire costs
little more than the interpreter's start.
Contract with Claude Code (formats.md 1.4): read stdin, print NOTHING on stdout (SessionStart
and UserPromptSubmit stdout would reach the model), exit 0 on every path (exit 2 would block the
user's tool call), finish in milliseconds. The event goes to Redis with one raw XADD under a hard
deadline (``capture.hook_timeout_ms``); if Redis is down, slow or refuses, the event is written
to the spool and ``capture-spool`` delivers it later. Errors go to ``<home>/logs/hooks.log``.
"""

import posix
import sys

if __package__ in (None, ""):  # run as a script under -I: put the repository root on the path
    _here = __file__ if __file__.startswith("/") else f"{posix.getcwd()}/{__file__}"
    sys.path.insert(0, _here.rsplit("/", 3)[0])

from blueplane_capture.hooks.runtime import (
    WORK_DEADLINE_S,
    deliver,
    log_error,
    read_stdin,
    settings,
)


def handle(raw: bytes, stop_reason: str = "") -> dict | None:
    """Map one hook input to its envelope and deliver it (Redis, else spool).

    Returns the envelope that was delivered, or None when its category is switched off.
    """
    from blueplane_capture import claude_code_mapping as mapping
    from blueplane_capture.hooks import primitives
    from blueplane_core import fast_start

    home = fast_start.blueplane_home()
    url, timeout_s, disabled = settings(home)
    event = None
    if not stop_reason:
        try:
            payload = fast_start.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            event = mapping.map_hook(payload, primitives.load_secret())
        else:
            stop_reason = "invalid_json"
    if event is None:
        event = mapping.unparsed_hook_event(stop_reason, len(raw))
    if mapping.CATEGORY.get(event["event_type"], "other") in disabled:
        return None
    deliver(home, url, timeout_s, event, "bp-hook")
    return event


def main() -> None:
    """Entry point (``bp-hook`` and ``python -I -S claude_code.py``): always exits 0, silently."""
    try:
        raw, stop_reason = read_stdin()
        import _signal

        _signal.setitimer(_signal.ITIMER_REAL, WORK_DEADLINE_S)  # a last-resort bound
        handle(raw, stop_reason)
    except BaseException as exc:
        log_error("bp-hook", exc)
    finally:
        try:
            sys.stderr.flush()
        finally:
            posix._exit(0)  # skip interpreter teardown: it costs time and can only fail


if __name__ == "__main__":  # normally started through launch_claude_code.py (see there)
    main()
