"""The routes and query parameters dials-local declares agree with DIALS' ``swagger.json``
except where CONTRACT §13 (and the C241 additions of §7.8 / §13.16) says the file is wrong.

Each known difference is listed below with its contract reference: a new difference -
a parameter added or lost, a route added or lost - fails this test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dials_local.api.endpoint import Endpoint
from dials_local.api.routes import build_endpoints

#: The real service's OpenAPI, kept in the repository (docs/contract.md says where; drift
#: from an outside copy is reported, never failed on, by tests/test_contract_docs.py).
SWAGGER = Path(__file__).parent / "contract" / "swagger.json"

Key = tuple[str, str]  # (method, path with {} placeholders)

C241_MODEL_FILTERS = {
    "id", "id__in", "name", "name__regex", "ready", "type",
    "input_signature_contains_me", "input_signature_contains_me__regex", "tag_name", "tag_value",
}  # fmt: skip
B112_MODEL_FILTERS = {
    "model_id", "model_id__in", "filename", "filename__regex", "target_me", "target_me__regex",
    "active",
}  # fmt: skip

#: Query parameters we read that swagger.json does not list.
EXTRA_PARAMS: dict[Key, set[str]] = {
    # §13.3: the file-index list and count omit the dataset_id filter, which exists
    ("GET", "/api/v1/file-index/"): {"dataset_id"},
    ("GET", "/api/v1/file-index/count/"): {"dataset_id"},
    # §13.4: lumisection/count omits the ls_number filters
    ("GET", "/api/v1/lumisection/count/"): {"ls_number", "ls_number__lte", "ls_number__gte"},
    # §13.5: run/count omits dataset_id__in
    ("GET", "/api/v1/run/count/"): {"dataset_id__in"},
    # §6: standard retrieve routes apply the list filters and honour `fields`
    ("GET", "/api/v1/dataset-index/{}/"): {"dataset", "dataset__regex", "fields"},
    ("GET", "/api/v1/mes/{}/"): {"me", "me__regex", "dim", "fields"},
    ("GET", "/api/v1/ml-models-index/{}/"): B112_MODEL_FILTERS | C241_MODEL_FILTERS | {"fields"},
    # §7.8, §13.16: the C241 filterset of ml-models-index
    ("GET", "/api/v1/ml-models-index/"): C241_MODEL_FILTERS,
    # §7.10: OMS also takes fields= and sort=, passed through
    ("GET", "/api/v1/oms-proxy/"): {"fields", "sort"},
}

#: Query parameters swagger.json lists that we do not read.
MISSING_PARAMS: dict[Key, set[str]] = {}

#: Routes we serve that swagger.json does not have.
EXTRA_ROUTES: set[Key] = {
    ("GET", "/api/v1/"),  # §1: the DRF API root
    ("GET", "/"),  # §1: Swagger UI pages and the spec file
    ("GET", "/api/v1/swagger"),
    ("GET", "/static/swagger.json"),
    ("GET", "/api/v1/ml-bad-lumisection/{}/{}/{}/{}/"),  # §1.1 22b, §13.16 (C241)
    ("POST", "/api/v1/ml-bad-lumisection/cert-json/"),  # §1.1 23b, §13.16 (C241)
    ("POST", "/api/v1/ml-bad-lumisection/golden-json/"),  # §1.1 24b, §13.16 (C241)
    ("GET", "/api/v1/workspaces/"),  # §1.1 30b, §13.16 (C241)
    ("GET", "/api/v1/workspaces/my-default/"),  # §1.1 30c, §13.16 (C241)
}

#: swagger.json paths written differently from the real routes.
SWAGGER_PATH_FIXES = {
    # §13.9: written without the trailing slash
    "/api/v1/ml-bad-lumisection/cert-json": "/api/v1/ml-bad-lumisection/cert-json/",
    "/api/v1/ml-bad-lumisection/golden-json": "/api/v1/ml-bad-lumisection/golden-json/",
}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _swagger() -> dict[Key, set[str]]:
    if not SWAGGER.exists():
        pytest.fail(f"{SWAGGER} not found")
    document = json.loads(SWAGGER.read_text())
    found: dict[Key, set[str]] = {}
    for path, item in document["paths"].items():
        path = SWAGGER_PATH_FIXES.get(path, path)
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            params = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
            found[(method.upper(), _shape(path))] = params
    return found


def _ours() -> dict[Key, set[str]]:
    found: dict[Key, set[str]] = {}
    endpoint: Endpoint
    for endpoint in build_endpoints():
        for method in endpoint.methods:
            params = set(endpoint.query_params) if method == "GET" else set()
            found[(method, _shape(endpoint.full_path))] = params
    return found


def test_every_swagger_route_is_served_and_only_known_extras_exist() -> None:
    swagger, ours = _swagger(), _ours()
    assert set(swagger) - set(ours) == set(), "swagger routes we do not serve"
    assert set(ours) - set(swagger) == EXTRA_ROUTES


def test_query_parameters_match_swagger_up_to_the_contracts_corrections() -> None:
    swagger, ours = _swagger(), _ours()
    extra = {key: ours[key] - swagger[key] for key in swagger if ours[key] - swagger[key]}
    missing = {key: swagger[key] - ours[key] for key in swagger if swagger[key] - ours[key]}
    assert extra == EXTRA_PARAMS
    assert missing == MISSING_PARAMS


def test_the_declared_parameters_are_the_ones_the_server_reads() -> None:
    """Guard the test's own premise: list routes declare paging parameters and filters."""
    ours = _ours()
    assert {"next_token", "page_size", "fields", "run_number__gte"} <= ours[("GET", "/api/v1/th1/")]
    assert ours[("GET", "/api/v1/th1/{}/{}/{}/{}/")] == set()
