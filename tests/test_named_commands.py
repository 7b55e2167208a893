"""Every command a message names exists: each is parsed with the real CLI parsers.

Insights, hints and error messages tell the user what to run next ("list them with
`bp-query sessions`"). A renamed or mistyped command (`bp-query cost`) would send them into a
usage error, so this test collects every such mention from the code's string literals (and the
docs' code spans) and parses it with ``bp-query``'s argparse parser or the ``blueplane`` click
tree. A command in backticks with options must parse completely (as the user would copy it); a
command named without options, or in running prose (``start it with: blueplane up``), must at
least be a real command.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import typer

from tests.conftest import REPO

PACKAGES = (
    "blueplane",
    "blueplane_core",
    "blueplane_capture",
    "blueplane_ingest",
    "blueplane_workers",
    "blueplane_query",
)
PROGRAMS = ("bp-query", "blueplane")
_BACKTICKED = re.compile(r"`+((?:bp-query|blueplane) [^`]+)`+")
_MENTION = re.compile(r"(?<![\w./-])(bp-query|blueplane) ([a-z][\w-]*(?: [a-z][\w-]*)*)")


def _strings(path: Path) -> list[tuple[str, bool]]:
    """Every string literal of a module (f-string parts too), each with whether it is a
    docstring (a docstring may name a command without its required options: "``bp-query
    export``: ..."; only the command itself must exist)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.value, id(node) in docs)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _mentions() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(backticked commands, prose mentions), each with where it was found."""
    full: set[tuple[str, str]] = set()
    prose: set[tuple[str, str]] = set()
    sources: list[tuple[str, str, bool]] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            where = str(path.relative_to(REPO))
            sources.extend((where, text, doc) for text, doc in _strings(path))
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        sources.append((str(doc.relative_to(REPO)), doc.read_text(encoding="utf-8"), False))
    for where, text, docstring in sources:
        for match in _BACKTICKED.finditer(text):
            command = match.group(1).strip()
            # with options it must run as written; without, it names a command ("the formats
            # of `bp-query export`"), which must exist
            naming = docstring or not any(w.startswith("-") for w in command.split()[1:])
            (prose if naming else full).add((where, command))
        outside = _BACKTICKED.sub(" ", text)
        for match in _MENTION.finditer(outside):
            prose.add((where, f"{match.group(1)} {match.group(2)}"))
    return full, prose


def _blueplane_command(words: list[str], *, complete: bool) -> None:
    """Resolve ``words`` through the ``blueplane`` click tree; raise if a command is unknown
    (and, with ``complete``, if the options or arguments do not parse)."""
    from blueplane.cli import app

    command: Any = typer.main.get_command(app)
    rest = list(words)
    name = "blueplane"
    while hasattr(command, "list_commands"):  # a group (typer's own class, not click.Group)
        if not rest or rest[0].startswith("-"):
            return  # a group named alone ("see `blueplane dlq`") shows its commands' list
        sub = command.get_command(click.Context(command), rest[0])
        if sub is None:
            raise click.UsageError(f"`{name} {rest[0]}` is not a command")
        name = f"{name} {rest.pop(0)}"
        command = sub
    if complete:
        command.make_context(name, rest, resilient_parsing=False)


def _bp_query_command(words: list[str], *, complete: bool) -> None:
    from blueplane_query.cli import build_parser

    parser = build_parser()
    if complete:
        parser.parse_args(words)
        return
    sub = next(a for a in parser._actions if a.dest == "command")  # the subcommand table
    assert isinstance(sub.choices, dict)
    while words and words[0] == "--demo":  # the one option before the command
        words = words[1:]
    if not words or words[0] not in sub.choices:
        raise SystemExit(f"`bp-query {' '.join(words[:1])}` is not a command")
    if words[0] == "team" and (len(words) < 2 or words[1] not in ("aggregate",)):
        raise SystemExit("`bp-query team` needs `aggregate`")


def _check(command: str, *, complete: bool) -> str | None:
    """None if ``command`` parses, else why not."""
    program, *words = shlex.split(command)
    try:
        if program == "blueplane":
            _blueplane_command(words, complete=complete)
        else:
            _bp_query_command(words, complete=complete)
    except (click.ClickException, SystemExit) as exc:
        return str(exc) or type(exc).__name__
    return None


def test_every_named_command_parses(capsys: pytest.CaptureFixture[str]) -> None:
    full, prose = _mentions()
    assert len(full) + len(prose) > 40, "the collector found too few commands: is it looking?"
    broken = []
    for where, command in sorted(full):
        problem = _check(command, complete=True)
        if problem:
            broken.append(f"{where}: `{command}`: {problem}")
    for where, command in sorted(prose):
        # prose goes on after the command ("blueplane uninstall git removes it"): only the
        # command path must exist, the words after it are not checked
        words = command.split()
        problem = None
        for end in range(len(words), 1, -1):
            problem = _check(" ".join(words[:end]), complete=False)
            if problem is None:
                break
        if problem:
            broken.append(f"{where}: {command!r} (in prose): {problem}")
    capsys.readouterr()  # argparse prints its usage to stderr on a failed parse
    assert not broken, "\n".join(broken)


def test_the_checker_catches_a_missing_command() -> None:
    """The check is not vacuous: the command the insights used to suggest is refused."""
    assert _check("bp-query cost --by model", complete=True) is not None
    assert _check("bp-query costs --by model", complete=True) is None
    assert _check("bp-query export -f json", complete=True) is not None  # -o is required
    assert _check("blueplane uninstall gti", complete=False) is not None
    assert _check("blueplane uninstall git", complete=True) is None
