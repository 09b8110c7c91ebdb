"""The route table of dials-local (CONTRACT §1.1): every :class:`Endpoint` it serves.

Data endpoints are generated from the resource declarations (``resources.py``): a list
endpoint, a count endpoint, a standard or composite retrieve endpoint, as each declares.
The remaining endpoints are declared here one line each.  Every :class:`Endpoint` says
which methods, credentials and workspace handling it needs and which query parameters it
reads (the OpenAPI document and the swagger contract test are built from that).
"""

from __future__ import annotations

from starlette.responses import Response

from dials_local.api import meta, ml_json, oms, thirdparty, workspace_routes
from dials_local.api.auth_routes import auth_endpoints
from dials_local.api.context import Call
from dials_local.api.endpoint import Endpoint
from dials_local.api.generic import (
    composite_retrieve_handler,
    count_handler,
    list_handler,
    standard_retrieve_handler,
)
from dials_local.api.mes_by_run import mes_by_run
from dials_local.api.openapi import openapi_document
from dials_local.api.resources import RESOURCES
from dials_local.listing.declaration import CompositeRetrieve, Resource, StandardRetrieve
from dials_local.render import dumps


def resource_endpoints(resource: Resource) -> list[Endpoint]:
    """The endpoints a resource declaration asks for."""
    prefix, filters = resource.prefix, resource.filter_params()
    name = resource.view_name or resource.model_name
    endpoints = [
        Endpoint(
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
        endpoints.append(
            Endpoint(
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
        endpoints.append(
            Endpoint(
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
            endpoints.append(
                Endpoint(
                    prefix + "/" + "".join(f"{{{key}}}/" for key in keys),
                    composite_retrieve_handler(resource, keys),
                    kind="composite",
                    resource=resource,
                    view_name=f"{name} Instance",
                    summary=f"One {resource.model_name} by {', '.join(keys)}",
                )
            )
    return endpoints


def _stub(path: str, what: str, params: tuple[str, ...] = ()) -> Endpoint:
    """An endpoint answering 501: DIALS proxies a CERN service there."""
    return Endpoint(
        path,
        meta.not_implemented(
            f"{what} is not available in dials-local (DIALS proxies a CERN service here)."
        ),
        workspace=False,
        query_params=params,
        summary=f"{what} (not available offline: 501)",
    )


def build_endpoints() -> list[Endpoint]:
    """Every endpoint of the server (its route table)."""
    endpoints: list[Endpoint] = [
        Endpoint(
            "",
            meta.api_root,
            auth=False,
            workspace=False,
            view_name="Api Root",
            summary="The API root: list routes by prefix",
        ),
    ]
    for resource in RESOURCES:
        endpoints.extend(resource_endpoints(resource))
    endpoints += [
        Endpoint(
            "mes/{dataset_id}/{run_number}/",
            mes_by_run,
            summary="MEs present in the first lumisection of a run (plain array)",
            view_name="MEs List",
        ),
        Endpoint(
            "ml-bad-lumisection/cert-json/",
            ml_json.cert_json,
            methods=("GET", "POST"),
            query_params=ml_json.PARAMS,
            body_params=ml_json.PARAMS,
            summary="Per-LS flags of ML models for runs (GET: comma lists; POST: JSON lists)",
            view_name="ML Bad Lumisection List",
        ),
        Endpoint(
            "ml-bad-lumisection/golden-json/",
            ml_json.golden_json,
            methods=("GET", "POST"),
            query_params=ml_json.PARAMS,
            body_params=ml_json.PARAMS,
            summary="LS ranges no requested model flagged (GET: comma lists; POST: JSON lists)",
            view_name="ML Bad Lumisection List",
        ),
        Endpoint(
            "oms-proxy/",
            oms.oms_proxy,
            workspace=False,
            query_params=("endpoint", "filter", "page", "fields", "sort"),
            summary="OMS JSON:API documents from the local OMS records",
            view_name="OMS Proxy",
        ),
        Endpoint(
            "caf/",
            thirdparty.caf,
            workspace=False,
            query_params=thirdparty.CAF_PARAMS,
            summary="The latest certification JSON (golden, muon, dcs) of a class name",
            view_name="CAF List",
        ),
        _stub(
            "runregistry/editable-datasets/",
            "The Run Registry",
            ("class_name", "dataset_name", "global_state"),
        ),
        Endpoint(
            "brilws/brilcalc-lumi/",
            thirdparty.brilcalc_lumi,
            workspace=False,
            query_params=thirdparty.BRILWS_PARAMS,
            summary="brilcalc lumi: delivered and recorded luminosity per run or lumisection",
            view_name="Brilcalc Lumi",
        ),
        Endpoint(
            "auth/workspaces/",
            workspace_routes.workspace_list,
            workspace=False,
            summary="Configured workspaces",
        ),
        Endpoint(
            "auth/user-default-workspace/",
            workspace_routes.default_workspace,
            workspace=False,
            summary="The caller's default workspace",
        ),
        Endpoint(
            "workspaces/",
            workspace_routes.workspace_list,
            workspace=False,
            summary="Configured workspaces (C241)",
        ),
        Endpoint(
            "workspaces/my-default/",
            workspace_routes.default_workspace,
            workspace=False,
            summary="The caller's default workspace (C241)",
        ),
    ]
    # The device flow of C150 (CONTRACT §3.5): no credentials needed.
    endpoints += auth_endpoints()
    # Pages for people (CONTRACT §1): no credentials.
    endpoints += [
        Endpoint("/", meta.swagger_page, auth=False, workspace=False, summary="Swagger page"),
        Endpoint(
            "/api/v1/swagger",
            meta.swagger_page,
            auth=False,
            workspace=False,
            summary="Swagger page",
        ),
    ]
    endpoints.append(_openapi_endpoint(endpoints))
    return endpoints


def _openapi_endpoint(endpoints: list[Endpoint]) -> Endpoint:
    """``/static/swagger.json``: the OpenAPI document of ``endpoints`` (built on first use,
    so that it includes this route too)."""
    cache: list[bytes] = []

    def handler(call: Call) -> Response:
        if not cache:
            cache.append(dumps(openapi_document(endpoints)))
        return Response(cache[0], media_type="application/json")

    return Endpoint(
        "/static/swagger.json",
        handler,
        auth=False,
        workspace=False,
        summary="The OpenAPI document of this server",
    )
