"""The OpenAPI 3.1 document of ``/api/v1``, generated from ``api.ENDPOINTS`` (one source).

Each answer's schema lists its top-level keys with their JSON types, all required, no others:
``tests/test_query_service.py`` validates real answers against it, so the document cannot drift
from what the server returns. Deeper shapes are documented in docs/query.md.
"""

from __future__ import annotations

from typing import Any

from blueplane_query import api


def _param_schema(p: api.Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.kind}
    if p.enum:
        schema["enum"] = list(p.enum)
    if p.default is not None:
        schema["default"] = p.default
    if p.minimum is not None:
        schema["minimum"] = p.minimum
    if p.maximum is not None:
        schema["maximum"] = p.maximum
    return schema


def response_schema(ep: api.Endpoint) -> dict[str, Any]:
    """The JSON schema of an endpoint's answer (top-level keys and types)."""
    props = {
        key: {"type": list(kind) if isinstance(kind, tuple) else kind}
        for key, kind in ep.keys.items()
    }
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}


def document(port: int = 7531) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for ep in api.ENDPOINTS:
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "a session id, or an unambiguous prefix (4+ characters)",
            }
            for name in ("session_id",)
            if "{" + name + "}" in ep.path
        ]
        for p in (*(api.FILTER_PARAMS if ep.filters else ()), *ep.params):
            params.append(
                {
                    "name": p.name,
                    "in": "query",
                    "required": False,
                    "description": p.help,
                    "schema": _param_schema(p),
                }
            )
        ok: dict[str, Any]
        if ep.download:
            ok = {
                "description": "the export file (several files: a zip)",
                "content": {
                    "application/json": {},
                    "text/csv": {},
                    "text/markdown": {},
                    "application/zip": {},
                    "application/vnd.apache.parquet": {},
                },
            }
        else:
            ok = {
                "description": "the same JSON as --json prints on the command line",
                "content": {"application/json": {"schema": response_schema(ep)}},
            }
        error = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
        paths[api.PREFIX + ep.path] = {
            "get": {
                "operationId": ep.name,
                "summary": ep.summary,
                "parameters": params,
                "responses": {
                    "200": ok,
                    "400": {"description": "a bad parameter", **error},
                    "404": {"description": "no such session / nothing to export", **error},
                    "503": {"description": "no database yet, or Redis unreachable", **error},
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Blueplane query API",
            "version": "1",
            "description": "Read-only analytics over what Blueplane captured on this machine. "
            "Every endpoint is GET; the JSON keys are those of bp-query's `--json` output "
            "(docs/query.md). Live feeds: WebSockets /ws/metrics, /ws/events, "
            "/ws/sessions/{id}.",
        },
        "servers": [{"url": f"http://127.0.0.1:{port}"}],
        "paths": paths,
    }
