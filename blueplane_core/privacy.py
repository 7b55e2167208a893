"""The privacy rules, enforced at capture: what may leave a hook or monitor, and how.

Never stored: source code, prompt or response text, file paths, shell command lines beyond the
program name, secrets, emails. Stored instead: lengths, counts, extensions, tool names, and keyed
hashes (HMAC-SHA256 with a per-installation secret) that cannot be reversed by guessing.
Standard library only: the hook imports this module.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import shlex
from pathlib import Path
from typing import Any

from blueplane_core import paths

_SECRET_BYTES = 32
_HASH_HEX_CHARS = 24  # 96 bits: collisions are not a concern at one person's scale
_EXTENSION_RE = re.compile(r"^\.[A-Za-z0-9_+-]{1,12}$")
_ENV_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset({"sudo", "env", "nohup", "time", "nice", "exec", "command", "builtin"})

#: Payload and metadata keys that would carry content, paths or identities. ``emit`` refuses
#: an event holding any of them, so a capture bug fails loudly in tests instead of leaking.
FORBIDDEN_KEYS: frozenset[str] = frozenset(
    {
        "prompt",
        "text",
        "content",
        "message",
        "messages",
        "response",
        "command",
        "full_command",
        "command_line",
        "cwd",
        "file_path",
        "filepath",
        "filePath",
        "path",
        "transcript_path",
        "tool_input",
        "tool_response",
        "tool_output",
        "output",
        "stdout",
        "stderr",
        "old_string",
        "new_string",
        "oldString",
        "newString",
        "patch",
        "diff",
        "email",
        "user_email",
        "summary",
        "compact_summary",
        "last_assistant_message",
        "custom_instructions",
        "delta",
        "error_message",
        "commit_message",
    }
)


class PrivacyViolation(ValueError):
    """A capture tried to emit a field that may carry private content."""


def load_secret(create: bool = True) -> bytes:
    """The installation's HMAC key, created (0600, atomically) on first use."""
    path = paths.secret_file()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise
    paths.ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(_SECRET_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process created meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def keyed_hash(secret: bytes, value: str, kind: str = "") -> str:
    """A stable, irreversible stand-in for an identifier (path, branch, email, workspace).

    ``kind`` separates namespaces, so a branch and a path that happen to be equal strings do
    not get the same hash.
    """
    mac = hmac.new(secret, f"{kind}\x00{value}".encode("utf-8", "surrogatepass"), hashlib.sha256)
    return mac.hexdigest()[:_HASH_HEX_CHARS]


def project_label(path: str | None) -> str:
    """A project's folder name (the last component of its path), or ``""``.

    A label the user's own machine keeps so reports can say "blueplane" instead of a hash: it
    is stored only where ``privacy.project_labels = "basename"`` (the Emitter drops it
    otherwise), never in an anonymized export, and never the path itself."""
    if not path:
        return ""
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:128]


def file_extension(path: str | None) -> str:
    """The lowercase extension of a path (``.py``), or ``""``: all a path may leave behind."""
    if not path:
        return ""
    suffix = Path(path.replace("\\", "/")).suffix.lower()
    return suffix if _EXTENSION_RE.match(suffix) else ""


def program_name(command: str | None) -> str:
    """The program a shell command line runs (``git`` for ``FOO=1 sudo git push``), nothing else."""
    if not command:
        return ""
    try:
        words = shlex.split(command, posix=True)
    except ValueError:
        words = command.split()
    for word in words:
        if _ENV_ASSIGNMENT_RE.match(word) or word in _WRAPPERS or word.startswith("-"):
            continue
        name = os.path.basename(word)
        return name[:64] if re.match(r"^[A-Za-z0-9._+-]+$", name) else ""
    return ""


def program_facts(command: str | None, secret: bytes) -> dict[str, str]:
    """What a shell command line may leave behind: its program by name when it is a well-known
    tool (``allowlist.PROGRAMS``), else ``other`` and a keyed hash of the program's name; no
    script names, no arguments."""
    from blueplane_core import allowlist

    return allowlist.program_facts(
        program_name(command), lambda name: keyed_hash(secret, name, "program")
    )


def text_length(value: Any) -> int:
    """The length of a text we must not keep (0 for anything that is not a string)."""
    return len(value) if isinstance(value, str) else 0


def check_sanitized(obj: Any, where: str = "payload") -> None:
    """Raise PrivacyViolation if a forbidden key appears anywhere inside ``obj``."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in FORBIDDEN_KEYS:
                raise PrivacyViolation(f"{where}.{key} may carry private content")
            check_sanitized(value, f"{where}.{key}")
    elif isinstance(obj, list):
        for item in obj:
            check_sanitized(item, where)
