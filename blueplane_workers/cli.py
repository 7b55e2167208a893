"""The workers' commands of the ``blueplane`` CLI (``blueplane rebuild …``)."""

from __future__ import annotations

import typer

rebuild_app = typer.Typer(help="Recompute derived data from SQLite, the source of truth.", no_args_is_help=True)
