"""Register the MCP server with Claude Code and Cursor (``blueplane install mcp``; undone by
``blueplane uninstall mcp``).

Claude Code keeps user-scope MCP servers in ``~/.claude.json`` under ``mcpServers`` (entries
``{"type": "stdio", "command", "args", "env"}``); Cursor keeps them in ``~/.cursor/mcp.json``
under ``mcpServers`` (``{"command", "args", "env"}``). Install merges one entry named
``blueplane`` into each file and leaves every other key exactly as it was; running it again
changes nothing; uninstall removes only an entry that is ours. Files are replaced atomically,
keeping their permissions. An entry is "ours" when its command runs ``bp-mcp`` or
``blueplane_query.mcp_server``.

The command is the resolved path of this interpreter's ``bp-mcp`` script (not a shim on PATH,
which would add start-up time and may point at another environment).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from blueplane_query.errors import BadInput, QueryError

ENTRY_NAME = "blueplane"
TARGETS = ("claude_code", "cursor")
_MARKERS = ("bp-mcp", "blueplane_query.mcp_server")


def config_path(target: str, home: Path | None = None) -> Path:
    base = home or Path.home()
    if target == "claude_code":
        return base / ".claude.json"
    if target == "cursor":
        return base / ".cursor" / "mcp.json"
    raise QueryError(f"unknown target {target!r}: use {', '.join(TARGETS)}")


def server_command() -> tuple[str, list[str]]:
    """(command, args) that start the MCP server with this installation."""
    script = Path(sys.executable).resolve().parent / "bp-mcp"
    if not script.exists():
        script = Path(sys.executable).parent / "bp-mcp"
    if script.exists():
        return str(script), []
    return str(Path(sys.executable).resolve()), ["-m", "blueplane_query.mcp_server"]


def entry_for(target: str) -> dict[str, Any]:
    command, args = server_command()
    env = (
        {"BLUEPLANE_HOME": os.environ["BLUEPLANE_HOME"]} if os.environ.get("BLUEPLANE_HOME") else {}
    )
    entry: dict[str, Any] = {"command": command, "args": args, "env": env}
    return {"type": "stdio", **entry} if target == "claude_code" else entry


def is_ours(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    words = [str(entry.get("command", "")), *map(str, entry.get("args") or [])]
    return any(marker in word for word in words for marker in _MARKERS)


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"{path} is not valid JSON ({exc}); fix it by hand, nothing was changed"
        ) from None
    if not isinstance(data, dict):
        raise BadInput(f"{path} does not hold a JSON object; nothing was changed")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install_mcp(
    targets: tuple[str, ...] = TARGETS, *, home: Path | None = None
) -> list[dict[str, str]]:
    """Add (or refresh) the ``blueplane`` MCP entry; returns what happened per target."""
    report = []
    for target in targets:
        path = config_path(target, home)
        data = _read(path)
        servers = data.setdefault("mcpServers", {})
        if not isinstance(servers, dict):
            raise BadInput(f"{path}: 'mcpServers' is not an object; nothing was changed")
        wanted = entry_for(target)
        current = servers.get(ENTRY_NAME)
        if current == wanted:
            report.append({"target": target, "file": str(path), "action": "unchanged"})
            continue
        if current is not None and not is_ours(current):
            raise QueryError(
                f"{path}: an MCP server named '{ENTRY_NAME}' that is not Blueplane's is already "
                "configured; rename or remove it first"
            )
        servers[ENTRY_NAME] = wanted
        _write(path, data)
        report.append(
            {"target": target, "file": str(path), "action": "updated" if current else "installed"}
        )
    return report


def uninstall_mcp(
    targets: tuple[str, ...] = TARGETS, *, home: Path | None = None
) -> list[dict[str, str]]:
    """Remove our entry (only ours); an ``mcpServers`` we emptied is removed too if we made it."""
    report = []
    for target in targets:
        path = config_path(target, home)
        data = _read(path)
        servers = data.get("mcpServers")
        if not isinstance(servers, dict) or not is_ours(servers.get(ENTRY_NAME)):
            report.append({"target": target, "file": str(path), "action": "not installed"})
            continue
        del servers[ENTRY_NAME]
        if not servers:
            del data["mcpServers"]
        if data or target == "claude_code":
            _write(path, data)
        else:
            path.unlink()  # Cursor's mcp.json held only our entry: leave no empty file behind
        report.append({"target": target, "file": str(path), "action": "removed"})
    return report


# -- typer commands (the lead mounts these under `blueplane install|uninstall`) ----------------

install_app = typer.Typer(
    help="Register Blueplane's MCP server with AI tools.", no_args_is_help=True
)
uninstall_app = typer.Typer(
    help="Remove Blueplane's MCP server registration.", no_args_is_help=True
)


def _targets(target: str) -> tuple[str, ...]:
    if target == "all":
        return TARGETS
    if target not in TARGETS:
        raise typer.BadParameter(f"use one of all, {', '.join(TARGETS)}")
    return (target,)


def _print(report: list[dict[str, str]]) -> None:
    for row in report:
        typer.echo(f"{row['target']}: {row['action']} ({row['file']})")


@install_app.command("mcp")
def install_mcp_command(
    target: str = typer.Option("all", "--target", help="all, claude_code or cursor"),
) -> None:
    """Register bp-mcp with Claude Code (~/.claude.json) and Cursor (~/.cursor/mcp.json)."""
    try:
        _print(install_mcp(_targets(target)))
    except QueryError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


@uninstall_app.command("mcp")
def uninstall_mcp_command(
    target: str = typer.Option("all", "--target", help="all, claude_code or cursor"),
) -> None:
    """Remove exactly the entry `install mcp` added."""
    try:
        _print(uninstall_mcp(_targets(target)))
    except QueryError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
