"""What a process that must start in milliseconds needs, on C modules only: JSON, the
environment, paths, and a few keys of config.toml.

The hooks (``blueplane_capture.hooks``) and ``bp-query statusline`` run as fresh ``python -I -S``
processes that the client waits for. Importing ``json`` pulls in ``re`` and ``enum``, ``os``
(with ``_collections_abc``, ``posixpath`` and ``stat``) costs a quarter of the bare
interpreter's start-up, and ``blueplane_core.config`` (tomllib, dataclasses) ~20 ms; so this
module re-states, on ``_json`` and ``posix`` alone, the little they use of those.
``tests/test_claude_hook.py`` proves each function answers as its standard counterpart does.
POSIX systems only (Linux, macOS), like Blueplane.
"""

import _json
import posix
import sys

TYPE_CHECKING = False  # typing itself costs a hook ~5 ms to import
if TYPE_CHECKING:
    from typing import Any

# ---------------------------------------------------------------------------------------- JSON


def _parse_constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


#: what the C scanner reads from a ``json.JSONDecoder``: a namespace rather than a class of
#: our own (creating a class costs a hook ~0.1M instructions); ``type(sys.implementation)``
#: is ``types.SimpleNamespace``, without importing ``types``
_NAMESPACE: "Any" = type(sys.implementation)
_DECODER = _NAMESPACE(
    strict=False,
    object_hook=None,
    object_pairs_hook=None,
    parse_float=float,
    parse_int=int,
    parse_constant=_parse_constant,
)


_WHITESPACE = " \t\n\r"


def loads(text: str) -> "Any":
    """Parse one JSON document (ValueError on anything else)."""
    scan = _json.make_scanner(_DECODER)  # a duck-typed decoder
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = scan(text, start)
    except StopIteration:
        raise ValueError("not a JSON document") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data after position {end}")
    return value


def _refuse(obj: "Any") -> "Any":
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


_ENCODE = _json.make_encoder(
    None, _refuse, _json.encode_basestring_ascii, None, ":", ",", False, False, False
)


def dumps(obj: "Any") -> bytes:
    """Compact JSON bytes (ASCII, no NaN), the same document ``orjson.dumps`` would give."""
    return "".join(_ENCODE(obj, 0)).encode("ascii")


def uuid_text(hex32: str) -> str:
    """The 8-4-4-4-12 text of a UUID from its 32 hex digits, without ``uuid`` (a hook cannot
    afford its import; the ingest and worker path formats one per event read)."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


# ---------------------------------------------------------------------- environment and paths


def getenv(name: str) -> str | None:
    """``os.environ.get(name)`` without importing ``os``. A hook process never loads
    ``os``, so there ``posix.environ`` (the environment it started with) is the whole truth;
    where ``os`` is loaded (the tests, a long-running process) ``os.environ`` is, since changes
    made through it do not reach ``posix.environ``."""
    os_module = sys.modules.get("os")
    if os_module is not None:
        found: str | None = os_module.environ.get(name)
        return found
    value = posix.environ.get(name.encode("utf-8", "surrogateescape"))
    return None if value is None else value.decode("utf-8", "surrogateescape")


def join(base: str, *names: str) -> str:
    """``os.path.join`` for relative ``names`` (all a hook joins)."""
    return base + ("" if base.endswith("/") else "/") + "/".join(names)


def expand_user(path: str) -> str:
    """``os.path.expanduser`` for ``~`` and ``~/...`` (``$HOME``, else the password database);
    ``~user/...`` is left to posixpath (rare: only then is it imported)."""
    if not path.startswith("~"):
        return path
    user, slash, rest = path[1:].partition("/")
    if user:
        import posixpath

        return posixpath.expanduser(path)
    home = getenv("HOME")
    if not home:
        import pwd

        home = pwd.getpwuid(posix.getuid()).pw_dir
    return (home.rstrip("/") + slash + rest) or "/"


def blueplane_home() -> str:
    """``paths.home()`` without pathlib."""
    return expand_user(getenv("BLUEPLANE_HOME") or "~/.blueplane")


def ensure_private_dir(path: str) -> str:
    """``os.makedirs(path, 0o700, exist_ok=True)``: the folder and its missing parents."""
    try:
        posix.mkdir(path, 0o700)
    except FileExistsError:
        if posix.stat(path).st_mode & 0o170000 != 0o040000:  # not S_ISDIR
            raise
    except FileNotFoundError:
        parent = path.rstrip("/").rpartition("/")[0]
        if not parent:
            raise
        ensure_private_dir(parent)
        try:
            posix.mkdir(path, 0o700)
        except FileExistsError:  # created meanwhile by a parallel hook
            pass
    return path


# -------------------------------------------------------------------------------- config.toml

_FAIL = object()


def _quick_value(text: str) -> object:
    """A one-line TOML string, number or array of strings; _FAIL for anything else."""
    if text[:1] in ('"', "'"):
        end = text.find(text[0], 1)
        if end < 0 or (text[0] == '"' and "\\" in text[1:end]):
            return _FAIL
        rest = text[end + 1 :].strip()
        return text[1:end] if not rest or rest[0] == "#" else _FAIL
    if text[:1] == "[":
        end = text.rfind("]")
        rest = text[end + 1 :].strip() if end > 0 else "x"
        if rest and rest[0] != "#":
            return _FAIL
        items = []
        for part in text[1:end].split(","):
            part = part.strip()
            if not part:
                continue
            value = _quick_value(part)
            if not isinstance(value, str):
                return _FAIL
            items.append(value)
        return items
    number = text.partition("#")[0].strip().replace("_", "")
    try:
        return float(number)
    except ValueError:
        return _FAIL


def _quick_config(text: str, keys: frozenset[tuple[str, str]]) -> dict[str, object] | None:
    """``keys`` from config.toml without tomllib (whose import costs ~10 ms); None when a line
    about them is not plain one-line TOML (then tomllib decides)."""
    if '"""' in text or "'''" in text:
        return None
    names = {name for _, name in keys}
    section = ""
    found: dict[str, object] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] == "#":
            continue
        if stripped[0] == "[":
            head, _, rest = stripped.partition("]")
            if stripped.startswith("[[") or (rest.strip() and rest.strip()[0] != "#"):
                return None
            section = head[1:].strip()
            continue
        key, eq, value = stripped.partition("=")
        key = key.strip()
        if (section, key) not in keys:
            if key.rsplit(".", 1)[-1].strip("\"' ") in names:
                return None  # a dotted or quoted spelling of one of our keys
            continue
        parsed = _quick_value(value.strip()) if eq else _FAIL
        if parsed is _FAIL:
            return None
        found[f"{section}.{key}"] = parsed
    return found


def _config_values(raw: bytes, keys: frozenset[tuple[str, str]]) -> dict[str, object]:
    text = raw.decode("utf-8", "replace")
    quick = _quick_config(text, keys)
    if quick is not None:
        return quick
    import tomllib

    table = tomllib.loads(text)
    return {
        f"{section}.{name}": table[section][name]
        for section, name in keys
        if isinstance(table.get(section), dict) and name in table[section]
    }


def read_config(home: str, keys: frozenset[tuple[str, str]]) -> dict[str, object]:
    """``"section.key"`` -> value, for those of ``keys`` that ``<home>/config.toml`` sets; {}
    when it sets none of them or cannot be read. The file is parsed only when it mentions one
    of the keys; a file tomllib refuses raises its error (``ValueError``)."""
    try:
        with open(join(home, "config.toml"), "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    if not any(name.encode() in raw for _, name in keys):
        return {}
    return _config_values(raw, keys)


def redis_url(home: str, values: dict[str, object]) -> str:
    """``BLUEPLANE_REDIS_URL``, else ``redis.url`` (``values`` from :func:`read_config`), else
    the embedded Redis's unix socket: the rule of ``redis_conn.redis_url``."""
    configured = getenv("BLUEPLANE_REDIS_URL") or str(values.get("redis.url") or "")
    return configured or "unix://" + join(home, "run", "redis.sock")
