"""The OpenAPI document of dials-local, generated from the route declarations, so that
it lists exactly the parameters the server reads (unlike DIALS' hand-written file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dials_local import __version__
from dials_local.api.endpoint import Endpoint
from dials_local.listing.filters import Filter

_PAGE_PARAMS = {
    "next_token": "Opaque cursor taken from the `next`/`previous` URL of the previous page.",
    "page_size": "Rows per page: default 10, at most 500.",
    "fields": "Comma-separated output keys to keep (sparse fieldsets).",
}


def _query_parameter(endpoint: Endpoint, name: str) -> dict[str, Any]:
    """The OpenAPI parameter object of one query parameter of ``endpoint``."""
    filters: dict[str, Filter] = (
        {f.param: f for f in endpoint.resource.filters} if endpoint.resource is not None else {}
    )
    item = filters.get(name)
    description = item.describe() if item is not None else _PAGE_PARAMS.get(name, name)
    schema_type = item.schema_type if item is not None else "string"
    if name == "page_size":
        schema_type = "integer"
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": schema_type},
    }


def _body_schema(name: str) -> dict[str, Any]:
    """The schema of one POST body attribute: the ``__in`` lists of cert-json/golden-json
    are arrays of integers; the sign-in attributes (``device_code``, ``refresh_token``)
    are strings."""
    if name.endswith("__in"):
        return {"type": "array", "items": {"type": "integer"}}
    return {"type": "string"}


def _operation(endpoint: Endpoint, method: str) -> dict[str, Any]:
    """The OpenAPI operation of ``endpoint`` for ``method``."""
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in endpoint.path_params
    ]
    if method == "get":
        parameters += [_query_parameter(endpoint, name) for name in endpoint.query_params]
    if endpoint.workspace:
        parameters.append(
            {
                "name": "workspace",
                "in": "header",
                "required": False,
                "description": "Workspace to read (default: routed by the caller's roles).",
                "schema": {"type": "string"},
            }
        )
    operation: dict[str, Any] = {
        "summary": endpoint.summary or endpoint.path,
        "operationId": f"{method}_{endpoint.full_path.strip('/').replace('/', '_') or 'root'}",
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
    }
    if endpoint.auth:
        operation["responses"]["403"] = {"description": "Missing or invalid credentials"}
    else:
        operation["security"] = []
    if method == "post" and endpoint.body_params:
        operation["requestBody"] = {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": list(endpoint.body_params),
                        "properties": {name: _body_schema(name) for name in endpoint.body_params},
                    }
                }
            }
        }
    return operation


def openapi_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """OpenAPI 3.0 description of ``endpoints``."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        item = paths.setdefault(endpoint.full_path, {})
        for method in endpoint.methods:
            item[method.lower()] = _operation(endpoint, method.lower())
    return {
        "openapi": "3.0.2",
        "info": {"title": "DIALS (dials-local)", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiClientSecret": {"type": "apiKey", "in": "header", "name": "X-CLIENT-SECRET"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            }
        },
        "security": [{"ApiClientSecret": []}, {"Bearer": []}],
    }
