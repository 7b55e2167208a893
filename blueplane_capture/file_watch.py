"""Changed file paths under folders, for the transcript and Cursor monitors, without anyio.

watchfiles' ``watch()`` lives in ``watchfiles.main``, which imports anyio at its top (for
``awatch``); ``import watchfiles`` runs it, and so does ``import watchfiles._rust_notify``
(a submodule's package is imported first). That costs each monitor ~3.7 MB for an event loop
library it never uses. The monitors only need the synchronous loop, so this module loads the
Rust notifier (``watchfiles._rust_notify``) on its own and runs the loop ``watch()`` runs:
wait up to a timeout, group a burst of changes for up to ``debounce_ms``, stop when the
process's shutdown flag is set. The notifier is registered under its own name, so a later
``import watchfiles`` in the same process reuses it rather than initialising it twice.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from blueplane_core import lifecycle

_NOTIFIER = "watchfiles._rust_notify"


def changed_paths(
    roots: list[str],
    shutdown: lifecycle.Shutdown,
    *,
    keep: Callable[[str], bool],
    timeout_ms: int,
    debounce_ms: int = 1_600,
    yield_on_timeout: bool = False,
) -> Iterator[set[str]]:
    """Sets of changed paths under ``roots`` (recursively) that ``keep`` accepts, until
    shutdown is requested. An empty set after each quiet ``timeout_ms`` when
    ``yield_on_timeout`` (callers use it to rescan and beat their heartbeat).

    Raises OSError (a root missing or unreadable) or RuntimeError (the notifier failed) as
    ``watchfiles.watch`` does; the monitors catch both and fall back to periodic rescans.
    """
    force_polling = _force_polling()
    with _notifier_type()(
        roots,
        bool(os.environ.get("WATCHFILES_DEBUG")),
        force_polling,
        _poll_delay_ms(),
        True,  # recursive
        bool(os.environ.get("WATCHFILES_IGNORE_PERMISSION_DENIED")),
    ) as notifier:
        stop = _StopFlag(shutdown)
        while True:
            raw = notifier.watch(debounce_ms, 50, timeout_ms, stop)
            if raw == "timeout":
                if yield_on_timeout:
                    yield set()
            elif raw in ("stop", "signal"):  # a signal: the shutdown handler has the say
                return
            else:
                paths = {path for _change, path in raw if keep(path)}
                if paths:
                    yield paths


class _StopFlag:
    """The notifier polls ``is_set()``; this answers from the process's shutdown flag."""

    def __init__(self, shutdown: lifecycle.Shutdown) -> None:
        self._shutdown = shutdown

    def is_set(self) -> bool:
        return self._shutdown.requested


def _notifier_type() -> Any:
    """``RustNotify``, loaded from watchfiles' folder without running the package's
    ``__init__`` (which imports anyio), unless watchfiles is already loaded."""
    module = sys.modules.get(_NOTIFIER)
    if module is None and "watchfiles" in sys.modules:
        import watchfiles._rust_notify as module
    if module is None:
        package = importlib.util.find_spec("watchfiles")  # finds it; does not run __init__
        if package is None or not package.submodule_search_locations:
            raise RuntimeError("watchfiles is not installed")
        spec = importlib.machinery.PathFinder.find_spec(
            _NOTIFIER, list(package.submodule_search_locations)
        )
        if spec is None or spec.loader is None:
            raise RuntimeError("watchfiles has no Rust notifier")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NOTIFIER] = module  # ``import watchfiles`` later takes this one
        spec.loader.exec_module(module)
    return module.RustNotify


def _force_polling() -> bool:
    """As watchfiles decides: WATCHFILES_FORCE_POLLING if set, else poll only on WSL (its
    inotify does not see changes on Windows drives)."""
    setting = os.environ.get("WATCHFILES_FORCE_POLLING")
    if setting:
        return setting.lower() not in {"false", "disable", "disabled"}
    uname = os.uname()
    return "microsoft-standard" in uname.release.lower() and uname.sysname.lower() == "linux"


def _poll_delay_ms() -> int:
    """Milliseconds between polls when polling: WATCHFILES_POLL_DELAY_MS, else watchfiles' 300."""
    setting = os.environ.get("WATCHFILES_POLL_DELAY_MS", "")
    return int(setting) if setting.isdecimal() else 300
