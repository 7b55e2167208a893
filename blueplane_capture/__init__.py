"""Capture: hooks, monitors and receivers that turn what the tools emit into sanitized events
on the events stream. Privacy is enforced here, before anything leaves the process.

This package's own module is also the hook processes' start and import finder. The hook
launchers (``hooks/launch_*.py``, the files the IDEs run on every event) only put the
repository on ``sys.path`` and call :func:`fire`: Python compiles the script it is started with
on every run (the launchers' former ten lines cost 0.4M instructions, 2% of a fire) but loads
imported modules from cached bytecode, so everything else they did lives here. It is here, and
not in ``hooks``, because this is the one module a hook must import through the standard path
machinery (``hooks`` through it cost another 0.25M); other processes only define these
functions and never install the finder.

A fire imports about ten of Blueplane's modules, and the standard path machinery (a directory
listing per folder, a spec built from several path candidates, the ``.pyc`` read through the
``io`` stack and validated in Python) costs about 0.3M instructions per module before the
module's own code runs. :func:`fire` puts this module first on ``sys.meta_path``. It answers
only for the modules of ``blueplane_capture`` and ``blueplane_core`` under the launcher's root
whose ``.pyc`` is there and current, by the same rule the standard loader applies (this
interpreter's magic number, a timestamp ``.pyc`` whose recorded mtime and size equal the
source's); for anything else (no ``.pyc``, a stale or hash-based one, another package) it
answers None and the standard machinery finds, compiles and caches the module as usual. The
module object itself is the finder and the loader, so installing it creates no class. Only
builtin modules are used (all loaded by the interpreter's start already).
"""

import _imp
import marshal
import posix
import sys
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import MAGIC_NUMBER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, ModuleType

#: the folder holding ``blueplane_capture`` and ``blueplane_core`` (two levels above this file)
ROOT = __file__.rsplit("/", 2)[0]
_PACKAGES = ("blueplane_capture", "blueplane_core")
_TAG = sys.implementation.cache_tag
#: code objects found but not yet executed, by module name
_CODE: "dict[str, CodeType]" = {}


def _current_code(source: str, stat: "posix.stat_result", pyc: str) -> "CodeType | None":
    """The code in ``pyc`` if it was compiled from ``source`` as it is now (``stat``), else
    None."""
    try:
        fd = posix.open(pyc, posix.O_RDONLY)
    except OSError:
        return None
    try:
        size = posix.fstat(fd).st_size
        data = posix.read(fd, size)
    except OSError:
        return None
    finally:
        posix.close(fd)
    if (
        len(data) != size
        or data[:4] != MAGIC_NUMBER
        or data[4:8] != b"\0\0\0\0"  # flags 0: checked by timestamp (not a hash-based .pyc)
        or int.from_bytes(data[8:12], "little") != int(stat.st_mtime) & 0xFFFFFFFF
        or int.from_bytes(data[12:16], "little") != stat.st_size & 0xFFFFFFFF
    ):
        return None
    try:
        code = marshal.loads(memoryview(data)[16:])
    except (ValueError, EOFError, TypeError):
        return None
    _imp._fix_co_filename(code, source)  # type: ignore[attr-defined]  # as the standard loader
    return code


def find_spec(name: str, path: object = None, target: object = None) -> "ModuleSpec | None":
    """The meta path finder's call: a spec for one of our modules with current bytecode."""
    if name.partition(".")[0] not in _PACKAGES or sys.flags.optimize:
        return None
    head, _, tail = name.rpartition(".")
    folder = ROOT + "/" + head.replace(".", "/") if head else ROOT
    # a package before a module of the same name, as the standard path finder decides (asked
    # with access(), which answers False where a failed stat() would raise: most are modules)
    package = posix.access(f"{folder}/{tail}/__init__.py", posix.F_OK)
    if package:
        source = f"{folder}/{tail}/__init__.py"
        pyc = f"{folder}/{tail}/__pycache__/__init__.{_TAG}.pyc"
    else:
        source, pyc = f"{folder}/{tail}.py", f"{folder}/__pycache__/{tail}.{_TAG}.pyc"
    try:
        stat = posix.stat(source)
    except OSError:
        return None  # not one of our modules: the standard machinery says so
    code = _current_code(source, stat, pyc)
    if code is None:  # no current bytecode: the standard way (which writes it)
        return None
    loader = sys.modules[__name__]  # this package (see the docstring)
    spec = ModuleSpec(name, loader, origin=source, is_package=package)  # type: ignore[arg-type]
    if package:
        spec.submodule_search_locations = [f"{folder}/{tail}"]
    spec.has_location = True
    spec.cached = pyc
    _CODE[name] = code
    return spec


def fire(hook: str) -> None:
    """Run one hook process: ``hooks.<hook>.main()`` (``cursor`` or ``claude_code``), with the
    cyclic garbage collector off (it only ran during the imports of a process that lives
    milliseconds) and this package first on ``sys.meta_path`` (see above)."""
    import gc

    gc.disable()
    sys.meta_path.insert(0, sys.modules[__name__])  # type: ignore[arg-type]  # see above
    __import__(f"{__name__}.hooks.{hook}", fromlist=("main",)).main()


def create_module(spec: ModuleSpec) -> None:
    """The loader's call: the default module object will do."""
    return None


def exec_module(module: "ModuleType") -> None:
    """The loader's call: run the module's code found by :func:`find_spec`."""
    exec(_CODE.pop(module.__name__), module.__dict__)
