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


def demo_home() -> Path:
    """Where ``blueplane demo`` keeps its own pipeline and data: ``$BLUEPLANE_DEMO_HOME``, else
    beside the data folder (``~/.blueplane-demo``), never inside it, so synthetic sessions can
    never be counted with real ones (``blueplane demo --clean`` removes it)."""
    configured = os.environ.get("BLUEPLANE_DEMO_HOME")
    if configured:
        return Path(configured).expanduser()
    real = home()
    return real.with_name(real.name + "-demo")


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


def for_log(path: Path | str, roots: tuple[Path, ...] | list[Path] = ()) -> str:
    """``path`` as a log line may show it: the watched root holding it (``~`` for the home
    folder), then ``…/`` and the file's name. Folders in between are left out: Claude Code names
    them after the project's path, and logs never carry a path. The name (a session id, a spool
    event id, ``state.vscdb``) with its root is enough to find the file."""
    target = Path(path)
    for root in roots:
        try:
            relative = target.relative_to(root)
        except ValueError:
            continue
        shown = _tilde(Path(root))
        if not relative.parts:
            return shown
        return f"{shown}/{target.name}" if len(relative.parts) == 1 else f"{shown}/…/{target.name}"
    return target.name


def _tilde(path: Path) -> str:
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return path.as_posix()


#: the umask of every Blueplane process: files 0600, folders 0700, whatever the user's umask
PRIVATE_UMASK = 0o077


def restrict_umask() -> None:
    """Make every file and folder this process (and its children: supervisord, Redis, SQLite's
    -wal/-shm files, logs) creates readable by the user only. Called first by every entry
    point; the hooks do the same in ``hooks.runtime.settings``."""
    os.umask(PRIVATE_UMASK)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp + fsync + rename), mode 0600."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
