"""``blueplane status``: the pipeline's health plus which integrations are installed.

The health part (supervisord's program states, heartbeats, streams, groups' pending and lag,
dead letters, what is stored) is ``blueplane_query.health``, the same function ``bp-query
status`` shows; this adds what only the admin side knows: which integrations are installed and
how many events hooks lost because they could not write anywhere.
"""

from __future__ import annotations

from typing import Any

from blueplane_core import paths
from blueplane_core.config import Config


def collect(cfg: Config) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (``--json`` prints it as is)."""
    from blueplane_capture.cli import integration_status
    from blueplane_query.health import pipeline_health

    return {
        "home": str(paths.home()),
        "integrations": dict(integration_status()),
        "backfill": backfill(cfg),
        **pipeline_health(cfg),
    }


def backfill(cfg: Config) -> dict[str, dict[str, Any]]:
    """Each capture process's first-start backfill (numbers only), as published; {} when none
    ran this week or Redis does not answer (the health part reports that)."""
    from blueplane_core import backfill_progress, redis_conn

    try:
        client = redis_conn.small_client(cfg)
        try:
            found = backfill_progress.read_all(client)
        finally:
            client.close()
    except redis_conn.errors():
        return {}
    return {name: {**vars(p), "mb_per_s": round(p.mb_per_s(), 2)} for name, p in found.items()}
