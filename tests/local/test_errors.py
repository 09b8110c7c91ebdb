"""Error answers exactly as CONTRACT §2.3 catalogues them."""

from __future__ import annotations

import base64

import pytest
import requests
from routes_truth import get, session

from dials_local.testing import LocalServer

DATASET, RUN = 14677060, 367112


NUMBER = ["Enter a number."]


@pytest.mark.parametrize(
    ("route", "params", "body"),
    [
        ("run/", {"run_number": "abc"}, {"run_number": NUMBER}),
        # several bad parameters: one key each, in filterset order (not request order)
        ("run/", {"run_number": "x", "dataset_id": "y"}, {"dataset_id": NUMBER, "run_number": NUMBER}),  # noqa: E501
        ("run/", {"dataset_id__in": "1,a,2"}, {"dataset_id__in": NUMBER}),
        ("run/", {"run_number": "NaN"}, {"run_number": NUMBER}),
        (
            "th1/",
            {"entries__gte": "many", "me_id": "1", "ls_number__lte": "1e"},
            {"ls_number__lte": NUMBER, "entries__gte": NUMBER},
        ),
        ("file-index/count/", {"min_size": "big"}, {"min_size": NUMBER}),
        ("mes/", {"dim": "two"}, {"dim": NUMBER}),
    ],
)  # fmt: skip
def test_malformed_numbers_give_400_bodies(
    any_server: LocalServer, route: str, params: dict[str, str], body: dict[str, list[str]]
) -> None:
    got = get(any_server, route, params, status=400)
    assert got == body
    assert list(got) == list(body)


@pytest.mark.parametrize("param", ["me__regex", "dataset__regex", "logical_file_name__regex"])
def test_invalid_regex_is_a_clean_400(any_server: LocalServer, param: str) -> None:
    got = get(any_server, "th1/", {param: "charge_(PXLayer"}, status=400)
    assert list(got) == [param] and isinstance(got[param][0], str) and got[param][0]


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!",
        base64.b64encode(b"p=notjson").decode(),
        base64.b64encode(b'p=["1"]').decode(),
        base64.b64encode(b"o=x").decode(),
    ],
)
def test_bad_cursor_is_404(any_server: LocalServer, token: str) -> None:
    assert get(any_server, "run/", {"next_token": token}, status=404) == {
        "detail": "Invalid cursor"
    }


@pytest.mark.parametrize(
    ("route", "model", "workspace"),
    [
        ("dataset-index/1/", "DatasetIndex", "tracker"),
        (f"file-index/{DATASET}/1/", "FileIndex", "tracker"),
        (f"run/{DATASET}/1/", "Run", "tracker"),
        (f"lumisection/{DATASET}/{RUN}/99999/", "Lumisection", "tracker"),
        (f"th1/{DATASET}/{RUN}/1/99999/", "TH1", "tracker"),
        (f"th2/{DATASET}/{RUN}/1/99999/", "TH2", "tracker"),
        ("mes/99999/", "MEs", "tracker"),
        ("ml-models-index/99999/", "MLModelsIndex", "jetmet"),
        ("ml-bad-lumisection/1/2/3/4/5/", "MLBadLumisection", "jetmet"),
        ("ml-bad-lumisection/1/2/3/4/", "MLBadLumisection", "jetmet"),
        (f"th1/{DATASET}/{RUN}/1/99999999999999999999999/", "TH1", "tracker"),
    ],
)
def test_unknown_objects_are_404(
    any_server: LocalServer, route: str, model: str, workspace: str
) -> None:
    body = get(any_server, route, workspace=workspace, status=404)
    assert body == {"detail": f"No {model} matches the given query."}


@pytest.mark.parametrize("route", ["mes/abc/", "dataset-index/x1/", "ml-models-index/count/"])
def test_standard_retrieve_with_non_integer_id(any_server: LocalServer, route: str) -> None:
    assert get(any_server, route, status=404) == {"detail": "Not found."}


def test_unknown_workspace_is_404_after_authentication(any_server: LocalServer) -> None:
    assert get(any_server, "run/", workspace="atlas", status=404) == {
        "detail": "Workspace 'atlas' not found"
    }
    anonymous = requests.get(
        any_server.api_url + "run/", headers={"Workspace": "atlas"}, timeout=10
    )
    assert anonymous.status_code == 403


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("route", ["run/", f"th1/{DATASET}/{RUN}/10/1/", "mes/1/", "workspaces/"])
def test_write_methods_are_405_after_authentication(
    any_server: LocalServer, method: str, route: str
) -> None:
    url = any_server.api_url + route
    response = session(any_server).request(method, url, timeout=10)
    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method}" not allowed.'}
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert requests.request(method, url, timeout=10).status_code == 403


def test_cert_json_validation_errors_are_arrays(any_server: LocalServer) -> None:
    url = any_server.api_url + "ml-bad-lumisection/"
    s = session(any_server, "jetmet")
    cert = [
        "dataset_id and run_number must be valid integers and model_ids a valid list of integers"
    ]
    golden = ["dataset_id__in and run_number__in, and model_id__in a valid list of integers"]
    bad = {"model_id__in": "19,x", "dataset_id__in": "1", "run_number__in": "2"}
    for route, message in (("cert-json/", cert), ("golden-json/", golden)):
        for response in (
            s.get(url + route, params=bad, timeout=10),
            s.get(url + route, params={"model_id__in": "19"}, timeout=10),  # missing parameters
            s.post(
                url + route,
                json={"model_id__in": [19, "x"], "dataset_id__in": [1], "run_number__in": [2]},
                timeout=10,
            ),
            s.post(url + route, json={"model_id__in": [19]}, timeout=10),
        ):
            assert response.status_code == 400, response.text
            assert response.json() == message


def test_missing_slash_redirects_only_to_existing_paths(any_server: LocalServer) -> None:
    response = requests.get(
        any_server.api_url + "run", params={"a": "1"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 301
    assert response.headers["location"] == "/api/v1/run/?a=1"
    deep = requests.get(
        any_server.api_url + f"th1/{DATASET}/{RUN}/10/1", allow_redirects=False, timeout=10
    )
    assert (
        deep.status_code == 301 and deep.headers["location"] == f"/api/v1/th1/{DATASET}/{RUN}/10/1/"
    )
    missing = requests.get(any_server.api_url + "nothing", allow_redirects=False, timeout=10)
    assert missing.status_code == 404 and "<title>Not Found</title>" in missing.text


@pytest.mark.parametrize(
    "path",
    [
        "api/v1/run/1/abc/",
        "api/v1/dataset-index/1/2/",
        "api/v1/th1/count/",
        "nowhere/",
        "api/v1/mes/1.5/",
    ],
)
def test_unmatched_paths_get_the_html_404_page(any_server: LocalServer, path: str) -> None:
    response = session(any_server).get(any_server.base_url + path, timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Not Found</title>" in response.text


def test_no_error_ever_is_401_or_challenges(any_server: LocalServer) -> None:
    for headers in ({}, {"X-CLIENT-SECRET": "wrong"}, {"Authorization": "Bearer x"}):
        response = requests.get(any_server.api_url + "run/", headers=headers, timeout=10)
        assert response.status_code == 403
        assert "www-authenticate" not in response.headers


def test_a_pattern_only_postgresql_rejects_is_a_400_there(any_server: LocalServer) -> None:
    """Python accepts named groups, PostgreSQL's ARE syntax does not: the database's
    refusal becomes a 400 naming the parameter instead of a 500."""
    params: dict[str, str | int] = {"me__regex": "(?P<x>PX)Barrel", "page_size": 1}
    response = session(any_server).get(any_server.api_url + "th1/", params=params, timeout=10)
    if any_server.database_url is None:
        assert response.status_code == 200  # SQLite runs Python's re.search
    else:
        assert response.status_code == 400
        assert list(response.json()) == ["me__regex"]


def test_cert_json_allows_post_but_not_put(any_server: LocalServer) -> None:
    url = any_server.api_url + "ml-bad-lumisection/cert-json/"
    response = session(any_server, "jetmet").put(url, json={}, timeout=10)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert response.headers["allow"] == "GET, POST, HEAD, OPTIONS"


@pytest.mark.parametrize("route", ["workspaces/", "auth/workspaces/", "oms-proxy/?endpoint=runs"])
def test_routes_without_workspace_ignore_the_header(any_server: LocalServer, route: str) -> None:
    response = session(any_server, "atlas").get(any_server.api_url + route, timeout=10)
    assert response.status_code == 200
