"""``blueplane install git [REPO]``: a post-commit hook that records each commit, chaining any
hook the repository already had.

The hooks folder is the one git itself uses (``git rev-parse --git-path hooks``, so
``core.hooksPath`` and worktrees are respected). An existing ``post-commit`` is moved aside to
``post-commit.blueplane-previous`` and our small wrapper runs it after recording the commit, with
the same arguments, so its output and exit status are what they were. Uninstall puts it back.
Installing twice only refreshes the wrapper (a new interpreter path, say).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from blueplane_capture import git_hook
from blueplane_capture.installers.claude_code import interpreter as resolved_interpreter

HOOK = "post-commit"
PREVIOUS = "post-commit.blueplane-previous"
MARKER = "# installed by blueplane (blueplane uninstall git removes it)"


class GitInstallError(Exception):
    """The folder is not a git repository, or the hook cannot be written."""


@dataclass
class GitInstall:
    hook: Path
    chained: Path | None  # the user's previous hook, now run by ours
    changed: bool


def hooks_dir(repo: Path) -> Path:
    """The folder git runs this repository's hooks from."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--git-path", "hooks"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except FileNotFoundError:
        raise GitInstallError("git is not installed (not on PATH)") from None
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else "git failed"
        raise GitInstallError(f"{repo}: not a git repository ({reason})") from None
    path = Path(out)
    return path if path.is_absolute() else (repo / path).resolve()


def wrapper_script(python: str | None = None) -> str:
    """The post-commit hook: record the commit (never failing), then run the previous hook."""
    interpreter = shlex.quote(python or resolved_interpreter())
    script = shlex.quote(str(Path(git_hook.__file__).resolve()))
    return (
        "#!/bin/sh\n"
        f"{MARKER}\n"
        "# Records commit counts and hashes only (no message, no paths). Fast, never fails.\n"
        f"{interpreter} -I -S {script} </dev/null >/dev/null 2>&1\n"
        f'previous="$(dirname "$0")/{PREVIOUS}"\n'
        'if [ -x "$previous" ]; then exec "$previous" "$@"; fi\n'
        "exit 0\n"
    )


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False


def install(repo: Path, python: str | None = None) -> GitInstall:
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    hook, previous = folder / HOOK, folder / PREVIOUS
    content = wrapper_script(python)
    if hook.exists() and not is_ours(hook):
        if previous.exists():
            raise GitInstallError(
                f"{hook} is not ours and {previous} already exists; move one of them away"
            )
        os.replace(hook, previous)
    elif is_ours(hook) and hook.read_text(encoding="utf-8") == content:
        return GitInstall(hook, previous if previous.exists() else None, changed=False)
    tmp = folder / f".{HOOK}.{os.getpid()}.tmp"
    tmp.write_text(content, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, hook)
    return GitInstall(hook, previous if previous.exists() else None, changed=True)


def uninstall(repo: Path) -> GitInstall:
    folder = hooks_dir(repo)
    hook, previous = folder / HOOK, folder / PREVIOUS
    if not is_ours(hook):
        return GitInstall(hook, None, changed=False)
    if previous.exists():
        os.replace(previous, hook)
        return GitInstall(hook, hook, changed=True)
    hook.unlink()
    return GitInstall(hook, None, changed=True)


def status(repo: Path) -> str:
    try:
        return "installed" if is_ours(hooks_dir(repo) / HOOK) else "not installed"
    except GitInstallError:
        return "not a git repository"
