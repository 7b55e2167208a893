"""The capture commands of the ``blueplane`` CLI: install / uninstall integrations, imports.

``blueplane/cli.py`` mounts these apps; each command is a thin layer over a library function.
"""

from __future__ import annotations

import typer

install_app = typer.Typer(help="Register Blueplane with a tool (hooks, settings).", no_args_is_help=True)
uninstall_app = typer.Typer(help="Remove exactly what install added.", no_args_is_help=True)
import_app = typer.Typer(help="Import usage exported by a vendor.", no_args_is_help=True)


def integration_status() -> list[tuple[str, str]]:
    """(integration, state) rows for ``blueplane status``: which hooks are installed."""
    return []
