"""What every hook process shares: its settings, its log, a bounded stdin, and the hand-off.

The Claude Code, Cursor and git hooks all run as short-lived ``python -I -S`` processes under
the same rules (formats.md 1.4): nothing on stdout, exit 0 on every path, finish in
milliseconds. Standard library (C modules) only, like the rest of ``hooks``.
"""

import posix

from blueplane_core.fast_start import (
    blueplane_home,
    dumps,
    ensure_private_dir,
    getenv,
    join,
    read_config,
    redis_url,
)

#: stdin beyond this is not read (a Read of a huge file); the event is still recorded.
MAX_INPUT_BYTES = 32 * 1024 * 1024
#: longest wait for stdin to close; Claude Code writes it at once.
STDIN_DEADLINE_S = 2.0
DEFAULT_TIMEOUT_MS = 50
MAX_TIMEOUT_MS = 500
#: after stdin, the whole rest of a fire (config, secret, XADD or spool) must end within this.
WORK_DEADLINE_S = 1.0
#: hooks.log stops growing at this size (the spool itself still holds every event).
MAX_LOG_BYTES = 5 * 1024 * 1024


class _Deadline(Exception):
    """Raised by the SIGALRM watchdog."""


def _alarm(signum: int, frame: object) -> None:
    raise _Deadline


def read_stdin() -> tuple[bytes, str]:
    """All of stdin, bounded in size and time: (bytes, "" or why it stopped early).

    The time bound is a SIGALRM timer (the C ``_signal`` module; ``select`` or ``signal`` would
    cost an import): a read blocked on a stdin that never closes is interrupted.
    """
    import _signal

    chunks: list[bytes] = []
    size = 0
    _signal.signal(_signal.SIGALRM, _alarm)
    _signal.setitimer(_signal.ITIMER_REAL, STDIN_DEADLINE_S)
    try:
        while True:
            chunk = posix.read(0, 1 << 20)
            if not chunk:
                return b"".join(chunks), ""
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_INPUT_BYTES:
                return b"".join(chunks), "too_large"
    except _Deadline:
        return b"".join(chunks), "timeout"
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)


#: the config.toml keys a hook reads.
HOOK_KEYS = frozenset(
    {("redis", "url"), ("capture", "hook_timeout_ms"), ("privacy", "disabled_categories")}
)


def settings(home: str) -> tuple[str, float, frozenset[str]]:
    """(Redis URL, timeout in seconds, disabled categories), from the environment first, then
    config.toml (read only when it mentions one of these keys).

    Also narrows the process's umask: every file and folder a hook creates (spool, log, data
    folder, secret) is the user's alone, whatever umask the client runs hooks with."""
    posix.umask(0o077)
    try:
        values = read_config(home, HOOK_KEYS)
    except Exception as exc:  # a broken config must not break the user's editor
        log(home, f"config.toml ignored: {type(exc).__name__}")
        values = {}
    url = redis_url(home, values)
    timeout_ms: float = DEFAULT_TIMEOUT_MS
    disabled: list[str] = []
    try:
        timeout_ms = float(values.get("capture.hook_timeout_ms", timeout_ms))  # type: ignore[arg-type]
        found = values.get("privacy.disabled_categories", [])
        disabled = [str(x) for x in found] if isinstance(found, list) else []
    except Exception as exc:  # a broken config must not break the user's editor
        log(home, f"config.toml ignored: {type(exc).__name__}")
    env_timeout = getenv("BLUEPLANE_CAPTURE_HOOK_TIMEOUT_MS")
    if env_timeout:
        try:
            timeout_ms = float(env_timeout)
        except ValueError:
            pass
    env_disabled = getenv("BLUEPLANE_PRIVACY_DISABLED_CATEGORIES")
    if env_disabled is not None:
        disabled = [x.strip() for x in env_disabled.split(",") if x.strip()]
    # capped well below the watchdog (WORK_DEADLINE_S), so a slow Redis still leaves time to spool
    return url, min(max(timeout_ms, 1.0), MAX_TIMEOUT_MS) / 1000.0, frozenset(disabled)


def log(home: str, line: str) -> None:
    """Best effort: one line in <home>/logs/hooks.log; never raises."""
    posix.umask(0o077)
    try:
        from blueplane_capture.hooks.primitives import format_timestamp

        folder = join(home, "logs")
        path = join(folder, "hooks.log")
        text = f"{format_timestamp()} bp-hook[{posix.getpid()}] {line}\n".encode("utf-8", "replace")
        flags = posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT
        try:
            fd = posix.open(path, flags, 0o600)
        except FileNotFoundError:
            ensure_private_dir(folder)
            fd = posix.open(path, flags, 0o600)
        try:
            if posix.fstat(fd).st_size < MAX_LOG_BYTES:  # Redis down for days must not fill a disk
                posix.write(fd, text)  # one append-mode write: parallel hooks' lines never mix
        finally:
            posix.close(fd)
    except Exception:
        pass


def deliver(home: str, url: str, timeout_s: float, event: dict, label: str) -> None:
    """XADD the event under ``timeout_s``; if Redis is down, slow or refuses, spool it.

    The event id is fixed before either path, so ``capture-spool`` delivering it later and
    ingest's UNIQUE event_id keep it exactly once. With a cluster URL the client follows the
    cluster's redirects within the same deadline (``resp_wire.execute_once``: the full client
    is loaded only for a cluster URL).
    """
    from blueplane_core import resp_wire, streams

    data = dumps(event)
    try:
        resp_wire.execute_once(
            url, timeout_s, "XADD", streams.EVENTS_STREAM, "*", streams.EVENT_FIELD, data
        )
    except (resp_wire.RedisError, ValueError) as exc:
        from blueplane_capture.hooks import spool_file  # only on this path: imports cost ms

        try:
            spool_file.write(event["event_id"], data)
        except OSError as spool_exc:
            # Nowhere to put it (a full or read-only disk): the event is lost. Count it where
            # `blueplane status` shows it, in a fixed-size file that needs no new disk block.
            from blueplane_core import losses

            counted = losses.record(home)
            log(
                home,
                f"{label} LOST {event['event_id']}: Redis refused ({exc}) and the spool "
                f"could not be written ({type(spool_exc).__name__}); "
                f"{'counted' if counted else 'not even counted'}",
            )
            return
        log(home, f"{label} spooled {event['event_id']} ({exc})")


def log_error(label: str, exc: BaseException) -> None:
    """Log where a hook failed: the exception's type and place only (a message could quote the
    payload, which must never reach a file)."""
    try:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename.rpartition('/')[2]}:{tb.tb_lineno}" if tb else ""
        log(blueplane_home(), f"{label} error {type(exc).__name__} at {where}")
    except BaseException:
        pass
