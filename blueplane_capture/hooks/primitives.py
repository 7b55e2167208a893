"""The few helpers a hook needs, built only on C modules so the hook starts in milliseconds.

Claude Code runs a hook on every tool call and waits for it. Importing ``json`` pulls in ``re``
and ``enum``; ``blueplane_core.events`` adds ``uuid`` and ``platform``; ``privacy`` adds ``shlex``
and ``pathlib``: together ~20 ms before any work, more than the whole budget (median <= 15 ms).
So this module re-states, on ``_sha256`` and ``posix`` alone, exactly what the hook uses from
``blueplane_core``: the keyed hash, event ids, timestamps, file extensions and program names
(JSON, the environment and paths come from ``blueplane_core.fast_start``, without ``os``).
``blueplane_core`` stays the definition: ``tests/test_claude_hook.py`` proves each function here
returns what its core counterpart returns.
"""

import posix
import time

from blueplane_core.fast_start import blueplane_home, ensure_private_dir, join, uuid_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:  # Python 3.11 (the 3.12 merge into _sha2 is the fallback)
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the interpreter
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]

# ------------------------------------------------------------------------------- data folder


def load_secret() -> bytes:
    """``privacy.load_secret()``: the installation's HMAC key, created on first use."""
    home = blueplane_home()
    path = join(home, "secret.key")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        pass
    ensure_private_dir(home)
    tmp = join(home, f".secret.key.{posix.getpid()}.tmp")
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL, 0o600)
    try:
        posix.write(fd, posix.urandom(32))
        posix.fsync(fd)
    finally:
        posix.close(fd)
    try:
        posix.link(tmp, path)  # never replaces a key another process created meanwhile
    except FileExistsError:
        pass
    finally:
        posix.unlink(tmp)
    with open(path, "rb") as handle:
        return handle.read()


# ------------------------------------------------------------------------------------ hashes

_BLOCK = 64
#: HMAC's pads as translation tables (byte x -> x ^ 0x36, x ^ 0x5C), built by one integer XOR
#: over all 256 bytes (a generator over them costs a hook ~0.1 ms)
_ALL = int.from_bytes(bytes(range(256)), "big")
_IPAD = (_ALL ^ int.from_bytes(b"\x36" * 256, "big")).to_bytes(256, "big")
_OPAD = (_ALL ^ int.from_bytes(b"\x5c" * 256, "big")).to_bytes(256, "big")


def _hmac_sha256_hex(key: bytes, message: bytes) -> str:
    if len(key) > _BLOCK:
        key = _sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = _sha256(key.translate(_IPAD) + message).digest()
    return _sha256(key.translate(_OPAD) + inner).hexdigest()


def keyed_hash(secret: bytes, value: str, kind: str = "") -> str:
    """``privacy.keyed_hash``: HMAC-SHA256 of ``kind NUL value``, 24 hex characters."""
    message = f"{kind}\x00{value}".encode("utf-8", "surrogatepass")
    return _hmac_sha256_hex(secret, message)[:24]


# ------------------------------------------------------------------------------ ids and time


def new_event_id(unix_ms: int | None = None) -> str:
    """``events.new_event_id``: a UUIDv7."""
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    rand = int.from_bytes(posix.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    return uuid_text(f"{value:032x}")


def derived_event_id(namespace: str, record_key: str, unix_ms: int | None = None) -> str:
    """``events.derived_event_id``: the deterministic UUIDv8 of a fact."""
    digest = _sha256(f"{namespace}\x00{record_key}".encode()).digest()
    rand = int.from_bytes(digest[:16], "big")
    prefix = rand >> 80 if unix_ms is None else unix_ms & 0xFFFF_FFFF_FFFF
    value = prefix << 80 | 0x8 << 76 | (rand >> 64 & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    return uuid_text(f"{value:032x}")


def format_timestamp(unix_seconds: float | None = None) -> str:
    """``events.format_timestamp``: UTC ISO-8601 with milliseconds and ``Z``."""
    when = time.time() if unix_seconds is None else unix_seconds
    seconds, millis = divmod(int(round(when * 1000)), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


# ------------------------------------------------------------------------- privacy reductions

_EXT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-")
_PROGRAM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_WRAPPERS = frozenset({"sudo", "env", "nohup", "time", "nice", "exec", "command", "builtin"})


def file_extension(path: "Any") -> str:
    """``privacy.file_extension``: the lowercase extension (``.py``) or ``""``."""
    if not path or not isinstance(path, str):
        return ""
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return ""
    suffix = name[dot:].lower()
    if len(suffix) > 13 or not _EXT_CHARS.issuperset(suffix[1:]):
        return ""
    return suffix


def _split_words(command: str) -> list[str]:
    """POSIX shell word splitting as ``shlex.split`` does it (no comments); ValueError if a
    quote or escape is left open."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    i, n = 0, len(command)
    while i < n:
        ch = command[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                word.append(ch)
        elif quote == '"':
            if ch == '"':
                quote = ""
            elif ch == "\\" and i + 1 < n and command[i + 1] in '\\"':
                i += 1
                word.append(command[i])
            else:
                word.append(ch)
        elif ch in " \t\r\n":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif ch in "'\"":
            quote, in_word = ch, True
        elif ch == "\\":
            if i + 1 >= n:
                raise ValueError("no escaped character")
            i += 1
            word.append(command[i])
            in_word = True
        else:
            word.append(ch)
            in_word = True
        i += 1
    if quote:
        raise ValueError("no closing quotation")
    if in_word:
        words.append("".join(word))
    return words


def _is_assignment(word: str) -> bool:
    eq = word.find("=")
    return eq > 0 and word[0] in _NAME_START and all(c in _NAME_CHARS for c in word[1:eq])


def program_facts(command: "Any", secret: bytes) -> dict[str, str]:
    """``privacy.program_facts``: a well-known program by name, anything else ``other`` and a
    keyed hash of its name (a script's name can say what a project is about)."""
    from blueplane_core import allowlist_core as allowlist

    return allowlist.program_facts(
        program_name(command), lambda name: keyed_hash(secret, name, "program")
    )


def program_name(command: "Any") -> str:
    """``privacy.program_name``: the program a shell command line runs, nothing else."""
    if not command or not isinstance(command, str):
        return ""
    try:
        words = _split_words(command)
    except ValueError:
        words = command.split()
    for word in words:
        if _is_assignment(word) or word in _WRAPPERS or word.startswith("-"):
            continue
        name = word.rsplit("/", 1)[-1]
        return name[:64] if name and _PROGRAM_CHARS.issuperset(name) else ""
    return ""
