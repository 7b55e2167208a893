"""The hooks' import finder (the ``blueplane_capture`` package's module): our modules straight
from current bytecode, the same modules the standard import gives, and the standard import
whenever the bytecode is not current. Run in fresh ``python -I -S`` processes on a compiled copy
of the packages."""

from __future__ import annotations

import compileall
import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import PYTHON, REPO

#: what a hook fire imports after the launcher installed the finder
MODULES = [
    "blueplane_capture.hooks.claude_code",
    "blueplane_capture.hooks.cursor",
    "blueplane_capture.cursor_mapping",
    "blueplane_capture.claude_code_mapping",
    "blueplane_core.allowlist",
    "blueplane_core.resp_wire",
    "blueplane_core.streams",
]


def _compiled_copy(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """The two packages (and ``files``, path -> text) copied under tmp_path and compiled."""
    root = tmp_path / "tree"
    for package in ("blueplane_capture", "blueplane_core"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    assert compileall.compile_dir(str(root), quiet=1)
    return root


def _imported(root: Path, finder: bool, extra: tuple[str, ...] = ()) -> dict[str, list[object]]:
    """For every blueplane module loaded: [loaded by the finder?, __file__, __cached__,
    __package__, __path__, a constant of streams] as a fresh -I -S process sees them."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "import blueplane_capture as finder\n"
        f"if {finder}: sys.meta_path.insert(0, finder)\n"
        f"for name in {[*MODULES, *extra]!r}: __import__(name)\n"
        "print(json.dumps({n: [m.__spec__.loader is finder, m.__file__, m.__cached__,"
        " m.__package__, getattr(m, '__path__', None), getattr(m, 'STALE', None)]"
        " for n, m in sys.modules.items() if n.startswith('blueplane')}))\n"
    )
    done = subprocess.run(
        [PYTHON, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: dict[str, list[object]] = json.loads(done.stdout)
    return loaded


def test_current_bytecode_is_loaded_by_the_finder_as_the_standard_import_loads_it(
    tmp_path: Path,
) -> None:
    root = _compiled_copy(tmp_path)
    fast, standard = _imported(root, True), _imported(root, False)
    assert fast.keys() == standard.keys() and len(fast) > len(MODULES)
    # imported before the launcher installs the finder: the package that is the finder
    before = {"blueplane_capture"}
    for name, (by_finder, *attributes) in fast.items():
        assert by_finder is (name not in before), name
        assert attributes == standard[name][1:], name
    assert fast["blueplane_core"][4] == [str(root / "blueplane_core")]  # a package's __path__


def test_stale_or_missing_bytecode_goes_the_standard_way(tmp_path: Path) -> None:
    root = _compiled_copy(tmp_path)
    with (root / "blueplane_core" / "streams.py").open("a") as source:
        source.write("\nSTALE = 'the source changed after compiling'\n")
    missing = next((root / "blueplane_core" / "__pycache__").glob("allowlist.*.pyc"))
    missing.unlink()
    fast = _imported(root, True)
    assert fast["blueplane_core.streams"][0] is False
    assert fast["blueplane_core.streams"][5] == "the source changed after compiling"
    assert fast["blueplane_core.allowlist"][0] is False
    assert fast["blueplane_core.resp_wire"][0] is True  # the rest still from bytecode


def test_a_package_wins_over_a_module_of_the_same_name_as_in_the_standard_import(
    tmp_path: Path,
) -> None:
    probe = {
        "blueplane_core/probe.py": "STALE = 'the module'\n",
        "blueplane_core/probe/__init__.py": "STALE = 'the package'\n",
    }
    root = _compiled_copy(tmp_path, probe)
    fast = _imported(root, True, ("blueplane_core.probe",))["blueplane_core.probe"]
    standard = _imported(root, False, ("blueplane_core.probe",))["blueplane_core.probe"]
    assert fast[0] is True and fast[1:] == standard[1:]
    assert fast[5] == "the package"
