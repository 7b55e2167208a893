"""The capture commands of the ``blueplane`` CLI: install / uninstall integrations, imports.

``blueplane/cli.py`` mounts these apps; each command is a thin layer over a library function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blueplane_core import config, lifecycle, redis_conn
from blueplane_core.emit import Emitter

install_app = typer.Typer(
    help="Register Blueplane with a tool (hooks, settings).", no_args_is_help=True
)
uninstall_app = typer.Typer(help="Remove exactly what install added.", no_args_is_help=True)
import_app = typer.Typer(help="Import usage exported by a vendor.", no_args_is_help=True)


def integration_status() -> list[tuple[str, str]]:
    """(integration, state) rows for ``blueplane status``: which hooks are installed."""
    rows: list[tuple[str, str]] = []
    rows += _claude_code_status()
    rows += _more_sources_status()
    return rows


# ------------------------------------------------ git, Copilot, Cursor, OpenTelemetry (issue 5)


def _emitter() -> Emitter:
    """An Emitter on the configured Redis; a config or connection error ends the command."""
    try:
        cfg = config.load()
    except config.ConfigError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(config.EXIT_CONFIG) from None
    client = redis_conn.small_client(cfg)
    try:
        client.ping()
    except redis_conn.errors() as exc:
        typer.echo(
            f"blueplane: Redis is not reachable ({exc}); start it with `blueplane up`", err=True
        )
        raise typer.Exit(lifecycle.EXIT_REDIS_UNAVAILABLE) from None
    return Emitter(client, cfg["privacy.disabled_categories"])


@install_app.command("git")
def install_git(
    repo: Annotated[Path, typer.Argument(help="the repository (default: this folder)")] = Path("."),
) -> None:
    """Add a post-commit hook that records each commit (counts and hashes only)."""
    from blueplane_capture.installers import git as git_installer

    try:
        done = git_installer.install(repo.resolve())
    except git_installer.GitInstallError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    state = "installed" if done.changed else "already installed"
    chained = f" (runs your previous hook {done.chained.name} after it)" if done.chained else ""
    typer.echo(f"git post-commit hook {state}: {done.hook}{chained}")


@uninstall_app.command("git")
def uninstall_git(
    repo: Annotated[Path, typer.Argument(help="the repository (default: this folder)")] = Path("."),
) -> None:
    """Remove the post-commit hook and put back the one it chained, if any."""
    from blueplane_capture.installers import git as git_installer

    try:
        done = git_installer.uninstall(repo.resolve())
    except git_installer.GitInstallError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    if not done.changed:
        typer.echo(f"no Blueplane hook in {done.hook}; nothing changed")
    else:
        restored = " (your previous hook is back)" if done.chained else ""
        typer.echo(f"removed {done.hook}{restored}")


@install_app.command("cursor")
def install_cursor(
    project: Annotated[
        Path | None, typer.Option(help="install in PROJECT/.cursor/hooks.json instead")
    ] = None,
) -> None:
    """Register bp-cursor-hook for Cursor's agent hook events (keeps your own hooks)."""
    from blueplane_capture.installers import cursor as cursor_installer

    try:
        done = cursor_installer.install(project.resolve() if project else None)
    except cursor_installer.SettingsError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    if not done.added:
        typer.echo(f"Cursor hooks already installed in {done.file}")
    else:
        typer.echo(f"Cursor hooks installed in {done.file}: {len(done.added)} events")


@uninstall_app.command("cursor")
def uninstall_cursor(
    project: Annotated[
        Path | None, typer.Option(help="remove from PROJECT/.cursor/hooks.json instead")
    ] = None,
) -> None:
    """Remove exactly the hook entries `install cursor` added."""
    from blueplane_capture.installers import cursor as cursor_installer

    try:
        done = cursor_installer.uninstall(project.resolve() if project else None)
    except cursor_installer.SettingsError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    if not done.removed:
        typer.echo(f"no Blueplane hooks in {done.file}; nothing changed")
    else:
        typer.echo(f"removed Blueplane hooks for {len(done.removed)} events from {done.file}")


@import_app.command("copilot")
def import_copilot(
    file: Annotated[Path | None, typer.Argument(help="a saved API answer (JSON/NDJSON)")] = None,
    org: Annotated[str, typer.Option(help="organisation (with a token: fetch its report)")] = "",
    token: Annotated[str, typer.Option(envvar="GITHUB_TOKEN", help="GitHub token")] = "",
    day: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: yesterday)")] = None,
    users: Annotated[bool, typer.Option(help="fetch the per-user report")] = False,
    api_url: Annotated[str, typer.Option(help="GitHub API base URL")] = "https://api.github.com",
) -> None:
    """Load GitHub Copilot usage reports as daily events (re-importing adds nothing)."""
    from blueplane_capture import copilot

    if file is None and not org:
        typer.echo("blueplane: give a FILE to import, or --org (with a token) to fetch", err=True)
        raise typer.Exit(2)
    emitter = _emitter()
    try:
        if file is not None:
            results = [copilot.import_file(file, emitter, org=org)]
        else:
            results = copilot.fetch(org, token, emitter, day=day, users=users, api=api_url)
    except copilot.CopilotImportError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    for result in results:
        span = f"{result.days[0]}..{result.days[-1]}" if result.days else "no days"
        skipped = f", {result.skipped} skipped" if result.skipped else ""
        typer.echo(f"copilot {result.kind}: {result.events} daily events ({span}){skipped}")


def _more_sources_status() -> list[tuple[str, str]]:
    from blueplane_capture.installers import cursor as cursor_installer
    from blueplane_capture.installers import git as git_installer
    from blueplane_capture.installers import otel

    try:
        cfg = config.load()
        otel_state = otel.status(host=cfg["capture.otlp_host"], port=cfg["capture.otlp_port"])
    except config.ConfigError:
        otel_state = otel.status()
    rows = [
        ("cursor hooks (~/.cursor/hooks.json)", cursor_installer.status()),
        ("claude-code OpenTelemetry (~/.claude/settings.json)", otel_state),
    ]
    project_state = cursor_installer.status(Path.cwd())
    if project_state != "not installed":
        rows.append(("cursor hooks (this project)", project_state))
    state = git_installer.status(Path.cwd())
    if state != "not a git repository":
        rows.append(("git post-commit (this repository)", state))
    return rows


# ------------------------------------------------------------------- Claude Code hooks (issue 6)


@install_app.command("claude-code")
def install_claude_code(
    project: Annotated[
        Path | None, typer.Option(help="install in PROJECT/.claude/settings.json instead")
    ] = None,
    otel: Annotated[bool, typer.Option(help="also export Claude Code's OpenTelemetry")] = False,
    all_events: Annotated[
        bool, typer.Option(help="register every 2.1.197 event even if the client looks older")
    ] = False,
) -> None:
    """Register bp-hook for every Claude Code hook event (keeps your own hooks and settings)."""
    from blueplane_capture.installers import claude_code

    version = claude_code.client_version()
    events = claude_code.EVENTS if all_events else claude_code.events_for(version)
    if events is claude_code.BASE_EVENTS:
        seen = ".".join(map(str, version)) if version else "unknown"
        typer.echo(
            f"Claude Code version {seen}: registering the {len(events)} events every version "
            "accepts (an unknown event name makes older clients ignore the whole file); "
            "use --all-events for all of them"
        )
    try:
        done = claude_code.install(project.resolve() if project else None, events=events)
        if otel:
            from blueplane_capture.installers import otel as otel_installer

            cfg = config.load()
            otel_installer.install(done.path, cfg["capture.otlp_host"], cfg["capture.otlp_port"])
    except (claude_code.SettingsError, config.ConfigError) as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    if not done.changed:
        typer.echo(f"Claude Code hooks already installed in {done.path}")
        return
    what = f"{len(done.added)} events added"
    if done.updated:
        what += f", {len(done.updated)} updated"
    backup = f" (backup: {done.backup})" if done.backup else ""
    typer.echo(f"Claude Code hooks installed in {done.path}: {what}{backup}")


@uninstall_app.command("claude-code")
def uninstall_claude_code(
    project: Annotated[
        Path | None, typer.Option(help="remove from PROJECT/.claude/settings.json instead")
    ] = None,
    otel: Annotated[bool, typer.Option(help="also remove the OpenTelemetry settings")] = False,
) -> None:
    """Remove exactly the hook entries `install claude-code` added."""
    from blueplane_capture.installers import claude_code

    try:
        done = claude_code.uninstall(project.resolve() if project else None)
        if otel:
            from blueplane_capture.installers import otel as otel_installer

            cfg = config.load()
            otel_installer.uninstall(done.path, cfg["capture.otlp_host"], cfg["capture.otlp_port"])
    except (claude_code.SettingsError, config.ConfigError) as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    if not done.changed:
        typer.echo(f"no Blueplane hooks in {done.path}; nothing changed")
        return
    backup = f" (backup: {done.backup})" if done.backup else ""
    typer.echo(f"removed Blueplane hooks for {len(done.removed)} events from {done.path}{backup}")


def _statusline_change(install: bool) -> None:
    """Install or uninstall the status line and say what changed (one line, a backup named)."""
    from blueplane_capture.installers import statusline
    from blueplane_capture.installers.json_file import SettingsError

    try:
        done = statusline.install() if install else statusline.uninstall()
    except SettingsError as exc:
        typer.echo(f"blueplane: {exc}", err=True)
        raise typer.Exit(1) from None
    if not done.changed:
        typer.echo(
            f"the Blueplane status line is already installed in {done.path}"
            if install
            else f"no Blueplane status line in {done.path}; nothing changed"
        )
        return
    backup = f" (backup: {done.backup})" if done.backup else ""
    if install:
        typer.echo(f"status line installed in {done.path}: {statusline.status(done.path)}{backup}")
    else:
        typer.echo(f"Blueplane status line removed from {done.path}{backup}")


@install_app.command("statusline")
def install_statusline() -> None:
    """Show Blueplane's line (today, the 5-hour block, the session) in Claude Code's status bar;
    a status line you already have is chained after it."""
    _statusline_change(install=True)


@uninstall_app.command("statusline")
def uninstall_statusline() -> None:
    """Remove Blueplane's status line; your own comes back exactly as it was."""
    _statusline_change(install=False)


def _claude_code_status() -> list[tuple[str, str]]:
    from blueplane_capture.installers import claude_code, statusline

    rows = [("claude-code hooks (~/.claude/settings.json)", claude_code.status())]
    rows.append(("claude-code status line (~/.claude/settings.json)", statusline.status()))
    project_state = claude_code.status(Path.cwd())
    if project_state != "not installed":
        rows.append(("claude-code hooks (this project)", project_state))
    return rows
