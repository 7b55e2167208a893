"""Migration 5: ``conversations.project_label``, the project's folder name kept on this machine.

The last component of the project's path (``blueplane`` for ``/home/me/src/blueplane``), so
reports show a readable name and ``--project`` accepts it. Only where the config keeps labels
(``privacy.project_labels = "basename"``, the default; capture sends none with ``"hash"``), and
never in an anonymized export. NULL for sessions captured without one.
"""

from __future__ import annotations

import sqlite3


def apply(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE conversations ADD COLUMN project_label TEXT")
