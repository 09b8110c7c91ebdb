"""The route table of dials-local (CONTRACT §1.1).

Data routes are generated from the resource declarations (``resources.py``): a list
route, a count route, a standard or composite retrieve route, as each declares.  The
remaining routes are declared here one line each.  Every :class:`RouteSpec` says which
methods, credentials and workspace handling it needs and which query parameters it reads
(the OpenAPI document and the swagger contract test are built from that).
"""

from __future__ import annotations

from starlette.responses import Response

from dials_local.api import meta, ml_json, oms, workspaces
from dials_local.api.auth_routes import auth_route_specs
from dials_local.api.context import Call
from dials_local.api.generic import (
    composite_retrieve_handler,
    count_handler,
    list_handler,
    standard_retrieve_handler,
)
from dials_local.api.mes_by_run import mes_by_run
from dials_local.api.openapi import openapi_document
from dials_local.api.resources import RESOURCES
from dials_local.api.spec import RouteSpec
from dials_local.listing.declaration import CompositeRetrieve, Resource, StandardRetrieve
from dials_local.render import dumps


def resource_routes(resource: Resource) -> list[RouteSpec]:
    """The routes a resource declaration asks for."""
    prefix, filters = resource.prefix, resource.filter_params()
    name = resource.view_name or resource.model_name
    specs = [
        RouteSpec(
            f"{prefix}/",
            list_handler(resource),
            kind="list",
            query_params=(*filters, *resource.list_params),
            resource=resource,
            view_name=f"{name} List",
            summary=f"List {resource.model_name} objects"
            + (" (cursor-paginated)" if resource.paginated else " (plain array)"),
        )
    ]
    if resource.count_route:
        specs.append(
            RouteSpec(
                f"{prefix}/count/",
                count_handler(resource),
                kind="count",
                query_params=filters,
                resource=resource,
                view_name=f"{name} List",
                summary=f"Count {resource.model_name} objects",
            )
        )
    retrieve = resource.retrieve
    if isinstance(retrieve, StandardRetrieve):
        specs.append(
            RouteSpec(
                f"{prefix}/{{pk}}/",
                standard_retrieve_handler(resource, retrieve),
                kind="retrieve",
                query_params=(*filters, "fields"),
                resource=resource,
                view_name=f"{name} Instance",
                summary=f"One {resource.model_name} by {retrieve.lookup}",
            )
        )
    elif isinstance(retrieve, CompositeRetrieve):
        for keys in retrieve.keys:
            specs.append(
                RouteSpec(
                    prefix + "/" + "".join(f"{{{key}}}/" for key in keys),
                    composite_retrieve_handler(resource, keys),
                    kind="composite",
                    resource=resource,
                    view_name=f"{name} Instance",
                    summary=f"One {resource.model_name} by {', '.join(keys)}",
                )
            )
    return specs


def _stub(path: str, what: str, params: tuple[str, ...] = ()) -> RouteSpec:
    """A route answering 501: DIALS proxies a CERN service there."""
    return RouteSpec(
        path,
        meta.not_implemented(
            f"{what} is not available in dials-local (DIALS proxies a CERN service here)."
        ),
        workspace=False,
        query_params=params,
        summary=f"{what} (not available offline: 501)",
    )


def build_routes() -> list[RouteSpec]:
    """Every route of the server."""
    specs: list[RouteSpec] = [
        RouteSpec(
            "",
            meta.api_root,
            auth=False,
            workspace=False,
            view_name="Api Root",
            summary="The API root: list routes by prefix",
        ),
    ]
    for resource in RESOURCES:
        specs.extend(resource_routes(resource))
    specs += [
        RouteSpec(
            "mes/{dataset_id}/{run_number}/",
            mes_by_run,
            summary="MEs present in the first lumisection of a run (plain array)",
            view_name="MEs List",
        ),
        RouteSpec(
            "ml-bad-lumisection/cert-json/",
            ml_json.cert_json,
            methods=("GET", "POST"),
            query_params=ml_json.PARAMS,
            body_params=ml_json.PARAMS,
            summary="Per-LS flags of ML models for runs (GET: comma lists; POST: JSON lists)",
            view_name="ML Bad Lumisection List",
        ),
        RouteSpec(
            "ml-bad-lumisection/golden-json/",
            ml_json.golden_json,
            methods=("GET", "POST"),
            query_params=ml_json.PARAMS,
            body_params=ml_json.PARAMS,
            summary="LS ranges no requested model flagged (GET: comma lists; POST: JSON lists)",
            view_name="ML Bad Lumisection List",
        ),
        RouteSpec(
            "oms-proxy/",
            oms.oms_proxy,
            workspace=False,
            query_params=("endpoint", "filter", "page", "fields", "sort"),
            summary="OMS JSON:API documents from the local OMS records",
            view_name="OMS Proxy",
        ),
        _stub("caf/", "The CAF certification area", ("class_name", "kind")),
        _stub(
            "runregistry/editable-datasets/",
            "The Run Registry",
            ("class_name", "dataset_name", "global_state"),
        ),
        _stub(
            "brilws/brilcalc-lumi/",
            "brilcalc (brilws)",
            (
                "brilws_version",
                "connect",
                "fillnum",
                "runnumber",
                "beamstatus",
                "unit",
                "amodetag",
                "normtag",
                "begin",
                "end",
                "byls",
                "scope",
            ),
        ),
        RouteSpec(
            "auth/workspaces/",
            workspaces.workspace_list,
            workspace=False,
            summary="Configured workspaces",
        ),
        RouteSpec(
            "auth/user-default-workspace/",
            workspaces.default_workspace,
            workspace=False,
            summary="The caller's default workspace",
        ),
        RouteSpec(
            "workspaces/",
            workspaces.workspace_list,
            workspace=False,
            summary="Configured workspaces (C241)",
        ),
        RouteSpec(
            "workspaces/my-default/",
            workspaces.default_workspace,
            workspace=False,
            summary="The caller's default workspace (C241)",
        ),
    ]
    # The device flow of C150 (CONTRACT §3.5): no credentials needed.
    specs += auth_route_specs()
    # Pages for people (CONTRACT §1): no credentials.
    specs += [
        RouteSpec("/", meta.swagger_page, auth=False, workspace=False, summary="Swagger page"),
        RouteSpec(
            "/api/v1/swagger",
            meta.swagger_page,
            auth=False,
            workspace=False,
            summary="Swagger page",
        ),
    ]
    specs.append(_openapi_route(specs))
    return specs


def _openapi_route(specs: list[RouteSpec]) -> RouteSpec:
    """``/static/swagger.json``: the OpenAPI document of ``specs`` (built on first use,
    so that it includes this route too)."""
    cache: list[bytes] = []

    def handler(call: Call) -> Response:
        if not cache:
            cache.append(dumps(openapi_document(specs)))
        return Response(cache[0], media_type="application/json")

    return RouteSpec(
        "/static/swagger.json",
        handler,
        auth=False,
        workspace=False,
        summary="The OpenAPI document of this server",
    )
