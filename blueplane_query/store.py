"""Read-only access to the processed tables of ``telemetry.db``: the query side's only way in.

Read-only by construction: the file is opened ``mode=ro`` through
``blueplane_core.db.connect_readonly``, whose authorizer refuses every write and every read of
``raw_traces``; every statement runs under a time limit. The query side never migrates: a
database the pipeline has not created yet is a clear :class:`NoDatabase`, and a table a worker
has not created yet (an older schema) reads as empty rather than failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blueplane_core import db, paths
from blueplane_query.errors import AccessDenied, NoDatabase, QueryError, QueryTimeout

#: the longest any one statement may run (the CLI must answer; the MCP server must not hang).
DEFAULT_TIMEOUT_MS = 5_000


class Store:
    """One read-only connection plus the schema facts the queries need (which tables exist)."""

    def __init__(self, path: Path | None = None, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.path = path or paths.database()
        try:
            # every statement on this connection runs under the time limit (db.ReadOnlyConnection)
            self.conn = db.connect_readonly(self.path, time_limit_s=timeout_ms / 1000)
        except FileNotFoundError:
            raise NoDatabase(
                f"no Blueplane database at {self.path} yet: start the pipeline with "
                "`blueplane up` (or import data) and try again"
            ) from None
        except sqlite3.Error as exc:
            raise NoDatabase(f"cannot open {self.path}: {exc}") from None
        self._tables: set[str] | None = None
        self._columns: dict[str, set[str]] = {}

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------

    @property
    def tables(self) -> set[str]:
        if self._tables is None:
            rows = self._run("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')", ())
            self._tables = {str(r[0]) for r in rows}
        return self._tables

    def has(self, table: str, *columns: str) -> bool:
        """True if ``table`` exists (and has every one of ``columns``)."""
        if table not in self.tables:
            return False
        return not columns or set(columns) <= self.columns(table)

    def columns(self, table: str) -> set[str]:
        if table not in self._columns:
            rows = self._run(f"PRAGMA table_info({_ident(table)})", ())
            self._columns[table] = {str(r[1]) for r in rows}
        return self._columns[table]

    def schema_version(self) -> int:
        if "schema_migrations" not in self.tables:
            return 0
        value = self.scalar("SELECT MAX(version) FROM schema_migrations")
        return int(value or 0)

    # -- statements ---------------------------------------------------------------------------

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        """Every row of a statement, as dicts keyed by column name."""
        cursor = self._cursor(sql, params)
        names = [d[0] for d in cursor.description or ()]
        try:
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None

    def tuples(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Every row of a statement as plain tuples: for reports that turn thousands of rows
        into their answer (a dict per row costs more than the query)."""
        return self._run(sql, params)

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self._run(sql, params)
        return row[0][0] if row else None

    def _run(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        cursor = self._cursor(sql, params)
        try:
            return cursor.fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None

    def _cursor(self, sql: str, params: Any) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One report function on a fresh read-only store: how the CLI, the MCP server and the HTTP
    API all answer. A :class:`~blueplane_query.filters.Filter` argument is bound to the store
    first (``--project`` resolved from a name, path or hash, or a clear NotFound)."""
    from blueplane_query.filters import Filter

    with Store() as store:
        bound = tuple(a.bind(store) if isinstance(a, Filter) else a for a in args)
        return fn(store, *bound, **kwargs)


def _translate(exc: sqlite3.Error, path: Path) -> QueryError:
    text = str(exc)
    if "interrupted" in text:
        return QueryTimeout(f"a query on {path} ran past its time limit; narrow it with --since")
    if "not authorized" in text or "prohibited" in text:
        return AccessDenied(f"the query side may not run this statement: {text}")
    if "readonly" in text or "read-only" in text:
        return AccessDenied(f"the query side is read-only: {text}")
    return QueryError(f"cannot read {path}: {text}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
