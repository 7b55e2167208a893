"""The architecture as code review would check it: stages never import each other, and every
stream / group / key name is spelled only in blueplane_core/streams.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

STAGES = ("blueplane_capture", "blueplane_ingest", "blueplane_workers", "blueplane_query")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_only_the_core_of_blueplane(stage: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_packages(path) & (set(STAGES) - {stage}))
        for path in (REPO / stage).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_core_imports_no_stage() -> None:
    for path in (REPO / "blueplane_core").rglob("*.py"):
        assert not imported_packages(path) & (set(STAGES) | {"blueplane"}), path


STREAM_LITERAL = re.compile(r"\{bp\}:|^telemetry:|^cdc:events$")


def string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals in code, docstrings excluded (they may name a key to explain it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_stream_names_are_spelled_only_in_the_core() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for package in (*STAGES, "blueplane")
        for path in (REPO / package).rglob("*.py")
        for line, text in string_constants(path)
        if STREAM_LITERAL.search(text)
    ]
    assert offenders == []
