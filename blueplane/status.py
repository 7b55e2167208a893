"""``blueplane status``: supervisord's view of every process, plus the pipeline's health.

The health part (heartbeats, streams, groups' pending and lag, dead letters, what is stored) is
``blueplane_query.health``, the same function ``bp-query status`` shows; this adds what only
the admin side knows: supervisord's process states and which integrations are installed.
"""

from __future__ import annotations

from typing import Any

from blueplane import supervisor
from blueplane_core import paths
from blueplane_core.config import Config


def collect(cfg: Config) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (``--json`` prints it as is)."""
    from blueplane_capture.cli import integration_status
    from blueplane_query.health import pipeline_health

    return {
        "home": str(paths.home()),
        "supervisor": supervisor.running(),
        "supervised": [
            {
                "name": f"{p['group']}:{p['name']}",
                "state": p["statename"],
                "pid": p["pid"],
                "description": p["description"],
            }
            for p in supervisor.processes()
        ],
        "integrations": dict(integration_status()),
        **pipeline_health(cfg),
    }
