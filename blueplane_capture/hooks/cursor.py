"""bp-cursor-hook: the one command Cursor runs for every hook event.

Installed by ``blueplane install cursor`` as ``<python> -I -S <this file> <eventName>`` in
``hooks.json``, once per event. Contract with Cursor (formats.md 4): it waits for ``before*``
hooks and reads their stdout as a decision, so the answer (``cursor_mapping.answer``: ``{}``,
or ``{"continue":true}`` for beforeSubmitPrompt) is printed and flushed FIRST, from the event
name on the command line, before stdin is even parsed; then the event is captured; the exit code
is always 0 (2 would block the agent). The event goes to Redis with one raw XADD under the hooks'
deadline, else to the spool. Errors go to ``<home>/logs/hooks.log``. Same C-modules-only path
as the Claude Code hook, whose stdin reader, settings and log helpers are reused.
"""

import posix
import sys

if __package__ in (None, ""):  # run as a script under -I: put the package root on the path
    _here = __file__ if __file__.startswith("/") else f"{posix.getcwd()}/{__file__}"
    sys.path.insert(0, _here.rsplit("/", 3)[0])

_BOM = b"\xef\xbb\xbf"


def _name_from_argv() -> str:
    return sys.argv[1] if len(sys.argv) > 1 and sys.argv[1].isalnum() else ""


def respond(event_name: str) -> None:
    """Print the answer Cursor expects and flush it; never raises."""
    from blueplane_capture.cursor_mapping import answer

    try:
        posix.write(1, answer(event_name) + b"\n")
    except OSError:
        pass


def handle(raw: bytes, event_name: str = "", stop_reason: str = "") -> dict | None:
    """Map one Cursor hook input to its envelope and deliver it (Redis, else spool)."""
    from blueplane_capture import cursor_mapping as mapping
    from blueplane_capture.hooks import primitives, runtime
    from blueplane_core import fast_start

    home = fast_start.blueplane_home()
    url, timeout_s, disabled = runtime.settings(home)
    event = None
    if raw.startswith(_BOM):  # seen from Cursor 3.21 (formats.md 4)
        raw = raw[len(_BOM) :]
    if not stop_reason:
        try:
            payload = fast_start.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            event = mapping.map_hook(payload, primitives.load_secret(), event_name, home=home)
        else:
            stop_reason = "invalid_json"
    if event is None:
        event = mapping.unparsed_hook_event(event_name, stop_reason, len(raw))
    if mapping.CATEGORY.get(event["event_type"], "other") in disabled:
        return None
    runtime.deliver(home, url, timeout_s, event, "cursor hook")
    return event


def main() -> None:
    """Entry point: answer at once, capture, always exit 0."""
    event_name = _name_from_argv()
    answered = False
    try:
        if event_name:  # installed with the name on the command line: answer before reading
            respond(event_name)
            answered = True
        from blueplane_capture.hooks.runtime import read_stdin

        raw, stop_reason = read_stdin()
        if not answered:
            respond("beforeSubmitPrompt" if b'"beforeSubmitPrompt"' in raw else "")
            answered = True
        handle(raw, event_name, stop_reason)
    except BaseException as exc:
        try:
            if not answered:
                posix.write(1, b"{}\n")
        except BaseException:
            pass
        from blueplane_capture.hooks.runtime import log_error

        log_error("cursor hook", exc)
    finally:
        posix._exit(0)


if __name__ == "__main__":
    main()
