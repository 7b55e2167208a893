"""uvicorn's ``Config`` and ``Server`` without the rest of its package, for the two processes
that serve HTTP (the query service and the OTLP receiver).

``import uvicorn`` runs ``uvicorn/__init__.py``, which imports ``uvicorn.main``: the command
line (click) and the reload and multi-worker supervisors (which import watchfiles and anyio).
Neither process uses any of it: each builds a ``Config`` and runs one ``Server`` in-process.
Loading uvicorn with a placeholder for ``uvicorn.main`` saves ~2.6 MB in each of them. If
uvicorn is already loaded (a test, a command that imported it), it is used as it is.
"""

from __future__ import annotations

import sys
import types
from typing import Any

#: uvicorn's own exit code for a server that could not start (port taken, bad socket)
STARTUP_FAILURE = 3


def uvicorn_classes() -> tuple[Any, Any]:
    """``(uvicorn.Config, uvicorn.Server)``, importing as little of uvicorn as possible."""
    if "uvicorn" not in sys.modules:
        placeholder = types.ModuleType("uvicorn.main")
        placeholder.Server = placeholder.main = placeholder.run = None  # type: ignore[attr-defined]
        sys.modules["uvicorn.main"] = placeholder
        try:
            import uvicorn  # its __init__ takes the placeholder's names
        finally:
            del sys.modules["uvicorn.main"]  # a later ``import uvicorn.main`` loads the real one
        import uvicorn.server

        uvicorn.Server = uvicorn.server.Server  # type: ignore[misc]  # as the package exports it
        for name in ("main", "run"):
            delattr(uvicorn, name)
    from uvicorn.config import Config
    from uvicorn.server import Server

    return Config, Server


def serve(app: Any, **options: Any) -> None:
    """Run ``app`` until SIGTERM / SIGINT, as ``uvicorn.run(app, **options)`` does for one
    worker without reload; exits with uvicorn's STARTUP_FAILURE if it could not start."""
    config_type, server_type = uvicorn_classes()
    server = server_type(config_type(app, **options))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)
