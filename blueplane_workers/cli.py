"""The workers' commands of the ``blueplane`` CLI (``blueplane rebuild …``).

Thin: each command loads the config, opens the database and Redis, and calls the library
function in ``blueplane_workers.rebuild`` / ``conversations`` that does the work.
"""

from __future__ import annotations

import sys
import time

import typer

from blueplane_core import config, db, migrations, paths, pricing, redis_conn

rebuild_app = typer.Typer(
    help="Recompute derived data from SQLite, the source of truth.", no_args_is_help=True
)


def _setup() -> tuple[config.Config, pricing.PriceTable]:
    try:
        cfg = config.load()
        prices = pricing.load(cfg["pricing.file"] or None)
    except (config.ConfigError, ValueError) as exc:
        print(f"blueplane rebuild: {exc}", file=sys.stderr)
        raise typer.Exit(config.EXIT_CONFIG) from None
    return cfg, prices


@rebuild_app.command("metrics")
def rebuild_metrics_command() -> None:
    """Delete every Redis metric and recompute it from every stored event, raw and archived
    (stop the metrics workers first)."""
    from blueplane_workers.metrics import publish_meta
    from blueplane_workers.rebuild import rebuild_metrics

    cfg, prices = _setup()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    started = time.monotonic()
    applied = rebuild_metrics(conn, client, prices)
    publish_meta(client, prices.version)
    conn.close()
    typer.echo(f"rebuilt metrics from {applied} events in {time.monotonic() - started:.1f}s")


@rebuild_app.command("conversations")
def rebuild_conversations_command() -> None:
    """Recompute every conversation, turn, code change and commit row from every stored event,
    raw and archived."""
    from blueplane_workers.conversations import rebuild_conversations

    _cfg, prices = _setup()
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    started = time.monotonic()
    sessions = rebuild_conversations(conn, prices)
    conn.close()
    typer.echo(f"rebuilt {sessions} sessions in {time.monotonic() - started:.1f}s")


@rebuild_app.command("insights")
def rebuild_insights_command() -> None:
    """Recompute every insight from the metrics and conversation tables (rebuild those first)."""
    from blueplane_workers import insight_rules
    from blueplane_workers.insights import store_insights

    cfg, _prices = _setup()
    client = redis_conn.connect(cfg)
    conn = db.connect_writer(paths.database())
    migrations.migrate(conn)
    started = time.monotonic()
    count = store_insights(conn, insight_rules.compute(client, conn))
    conn.close()
    typer.echo(f"rebuilt {count} insights in {time.monotonic() - started:.1f}s")
