"""Where Blueplane keeps its files. ``BLUEPLANE_HOME`` moves all of them (tests rely on it).

Standard library only: the hook imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The data folder: ``$BLUEPLANE_HOME``, else ``~/.blueplane``."""
    configured = os.environ.get("BLUEPLANE_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".blueplane"


def config_file() -> Path:
    return home() / "config.toml"


def database() -> Path:
    return home() / "telemetry.db"


def run_dir() -> Path:
    """Sockets and pid files; private to the user (0700) so nobody else can reach the bus."""
    return home() / "run"


def redis_socket() -> Path:
    return run_dir() / "redis.sock"


def redis_data_dir() -> Path:
    return home() / "redis"


def supervisor_socket() -> Path:
    return run_dir() / "supervisor.sock"


def log_dir() -> Path:
    return home() / "logs"


def spool_dir() -> Path:
    """Events a hook could not hand to Redis wait here for ``capture-spool``."""
    return home() / "spool"


def state_dir() -> Path:
    """Capture processes keep their read positions here (offsets, seen-record hashes)."""
    return home() / "state"


def secret_file() -> Path:
    """The per-installation HMAC key behind every keyed hash."""
    return home() / "secret.key"


def archive_dir() -> Path:
    """Raw traces older than the retention, as Parquet."""
    return home() / "archive"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the user only, and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path
