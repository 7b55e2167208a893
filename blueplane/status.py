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
        **pipeline_health(cfg),
    }
