"""The git post-commit hook: one ``commit`` event per commit, counts and keyed hashes only.

Installed by ``blueplane install git`` (``installers/git.py``) as ``<python> -I -S <this file>``
inside a small shell wrapper that then runs the repository's previous post-commit hook. Git
ignores a post-commit hook's exit status, but a slow hook delays every commit, so this stays on
C modules and the hooks' shared primitives (no ``subprocess``, ``json`` or ``re``), asks git one
question (``git log -1 --numstat``), and exits 0 whatever happens. The event goes to Redis with
one raw XADD under the hooks' deadline, else to the spool for ``capture-spool``.

Kept: hashed commit id, hashed author email, commit time, files changed, lines added / removed,
binary files, file extensions with counts, parent count, hashed branch. Never kept: the message,
paths, names, emails. Linking commits to agent sessions is the metrics worker's job.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a script under -I: put the package root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PLATFORM = "git"
#: what git prints: fields split by US (0x1f), header ended by RS (0x1e), then -z numstat.
GIT_LOG_ARGS = (
    "log",
    "-1",
    "-z",
    "--no-color",
    "--numstat",
    "--no-ext-diff",
    "--format=%H%x1f%ae%x1f%ct%x1f%P%x1f%D%x1e",
    "HEAD",
)
GIT_DEADLINE_S = 10.0
_NO_EXTENSION = "(none)"


def run_git(args: tuple[str, ...], cwd: str | None = None) -> bytes:
    """stdout of ``git <args>``, via posix_spawn (``subprocess`` costs ~20 ms to import)."""
    import time

    if not hasattr(os, "posix_spawnp"):  # Windows: the slow path is the only path
        import subprocess

        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=GIT_DEADLINE_S, check=True
        )
        return done.stdout
    import select

    read_fd, write_fd = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    argv = ["git", *args] if cwd is None else ["git", "-C", cwd, *args]
    try:
        pid = os.posix_spawnp(
            "git",
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, null, 0),
                (os.POSIX_SPAWN_DUP2, write_fd, 1),
                (os.POSIX_SPAWN_DUP2, null, 2),
                (os.POSIX_SPAWN_CLOSE, read_fd),
            ],
        )
    finally:
        os.close(write_fd)
        os.close(null)
    chunks: list[bytes] = []
    deadline = time.monotonic() + GIT_DEADLINE_S
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
                os.kill(pid, 9)
                raise TimeoutError("git log took too long")
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    if status != 0:
        raise OSError(f"git exited with status {status}")
    return b"".join(chunks)


def _branch(decorations: str) -> str:
    """``HEAD -> main, origin/main`` -> ``main``; a detached HEAD has no branch."""
    for part in decorations.split(","):
        part = part.strip()
        if part.startswith("HEAD -> "):
            return part[len("HEAD -> ") :]
    return ""


def parse_log(output: bytes) -> dict[str, Any]:
    """The commit facts in ``git log -1 -z --numstat`` output (paths reduced at once)."""
    from blueplane_capture.hooks.primitives import file_extension

    header, sep, rest = output.partition(b"\x1e")
    if not sep:
        raise ValueError("git log output has no header")
    fields = header.decode("utf-8", "replace").split("\x1f")
    if len(fields) != 5:
        raise ValueError(f"git log header has {len(fields)} fields, expected 5")
    sha, email, commit_time, parents, decorations = fields
    facts: dict[str, Any] = {
        "sha": sha.strip(),
        "email": email.strip().lower(),
        "time": int(commit_time) if commit_time.strip().isdigit() else 0,
        "parent_count": len(parents.split()),
        "branch": _branch(decorations),
        "files": 0,
        "added": 0,
        "removed": 0,
        "binary": 0,
        "extensions": {},
    }
    tokens = rest.lstrip(b"\x00\n").split(b"\x00")
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip(b"\n")
        i += 1
        if not token:
            continue
        parts = token.split(b"\t", 2)
        if len(parts) != 3:
            continue
        added, removed, path = parts
        if not path and i + 1 < len(tokens):  # a rename: old and new path follow
            path = tokens[i + 1]
            i += 2
        facts["files"] += 1
        if added == b"-" or removed == b"-":
            facts["binary"] += 1
        else:
            facts["added"] += int(added)
            facts["removed"] += int(removed)
        ext = file_extension(path.decode("utf-8", "replace")) or _NO_EXTENSION
        facts["extensions"][ext] = facts["extensions"].get(ext, 0) + 1
    return facts


def commit_event(facts: dict[str, Any], toplevel: str, secret: bytes) -> dict[str, Any]:
    """The ``commit`` envelope; the session is the hashed repository."""
    from blueplane_capture.hooks.primitives import derived_event_id, format_timestamp, keyed_hash

    project = keyed_hash(secret, toplevel, "project")
    metadata = {
        "project_hash": project,
        "workspace_hash": keyed_hash(secret, toplevel, "workspace"),
    }
    if facts["branch"]:
        metadata["git_branch_hash"] = keyed_hash(secret, facts["branch"], "branch")
    unix_ms = facts["time"] * 1000 if facts["time"] else None
    from blueplane_core import allowlist_core as allowlist

    return allowlist.clean_event(
        {
            "schema": 1,
            "event_id": derived_event_id("git-commit", f"{project}\x00{facts['sha']}", unix_ms),
            "timestamp": format_timestamp(facts["time"] or None),
            "platform": PLATFORM,
            "source": "git_hook",
            "session_id": project,
            "event_type": "commit",
            "hook_type": "post-commit",
            "metadata": metadata,
            "payload": {
                "commit_hash": keyed_hash(secret, facts["sha"], "commit"),
                "author_hash": keyed_hash(secret, facts["email"], "author")
                if facts["email"]
                else "",
                "files_changed": facts["files"],
                "lines_added": facts["added"],
                "lines_removed": facts["removed"],
                "binary_files": facts["binary"],
                "file_extensions": facts["extensions"],
                "parent_count": facts["parent_count"],
                "is_merge": facts["parent_count"] > 1,
            },
        }
    )


def handle(cwd: str | None = None) -> dict[str, Any] | None:
    """Read the new commit and deliver its event; None when the ``git`` category is off."""
    from blueplane_capture.hooks import primitives, runtime
    from blueplane_core.fast_start import blueplane_home

    home = blueplane_home()
    url, timeout_s, disabled = runtime.settings(home)
    if "git" in disabled:
        return None
    toplevel = os.path.realpath(cwd or os.getcwd())  # git runs post-commit at the work tree root
    event = commit_event(parse_log(run_git(GIT_LOG_ARGS, cwd)), toplevel, primitives.load_secret())
    runtime.deliver(home, url, timeout_s, event, "git post-commit")
    return event


def main() -> None:
    """Entry point: always exits 0, prints nothing (a commit must never fail because of us)."""
    try:
        handle()
    except BaseException as exc:
        from blueplane_capture.hooks.runtime import log_error

        log_error("git post-commit", exc)
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
