"""Every route of dials-local answers what the database holds, in the contract's shapes
(CONTRACT §1.1, §7), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from routes_truth import (
    TABLE_OF,
    expected_object,
    first_rows,
    get,
    names,
    rows,
    service_rows,
    session,
)

from dials_local.testing import LocalServer

TRACKER, JETMET = "tracker", "jetmet"
# CONTRACT §12.9: ids the clients' documentation and tests use.
DATASET, FILE, RUN, LS, TH1_ME, TH2_ME = 14677060, 3393809397, 367112, 10, 1, 100
JETMET_DATASET, JETMET_RUNS, MODELS = 15042670, (385801, 385799, 385764), (19, 20)

ROOT_ORDER = [
    "dataset-index",
    "file-index",
    "mes",
    "run",
    "lumisection",
    "th1",
    "th2",
    "ml-models-index",
    "ml-bad-lumisection",
    "oms-proxy",
    "caf",
]


def workspace_of(prefix: str) -> str:
    return JETMET if prefix.startswith("ml-") else TRACKER


def test_api_root_lists_list_routes_in_order_without_credentials(any_server: LocalServer) -> None:
    response = requests.get(any_server.api_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ROOT_ORDER
    assert body == {prefix: f"{any_server.api_url}{prefix}/" for prefix in ROOT_ORDER}


@pytest.mark.parametrize("prefix", [p for p in TABLE_OF if p != "mes"])
def test_list_first_page_is_the_first_rows_in_order(any_server: LocalServer, prefix: str) -> None:
    workspace = workspace_of(prefix)
    expected = [
        expected_object(any_server, workspace, prefix, row)
        for row in first_rows(any_server, workspace, TABLE_OF[prefix], 11)
    ]
    assert expected, f"the tiny seed has no {prefix} rows in {workspace}"
    body = get(any_server, f"{prefix}/", workspace=workspace)
    assert list(body) == ["next", "previous", "results"]
    assert body["previous"] is None
    assert (body["next"] is not None) == (len(expected) > 10)
    assert body["results"] == expected[:10]
    # key order is the serializer's (CONTRACT §7)
    assert [list(item) for item in body["results"]] == [list(e) for e in expected[:10]]


def test_mes_is_a_plain_array_of_every_me(any_server: LocalServer) -> None:
    expected = [
        expected_object(any_server, TRACKER, "mes", r)
        for r in rows(any_server, TRACKER, "dim_monitoring_elements")
    ]
    body = get(any_server, "mes/", {"page_size": 1, "next_token": "garbage"})
    assert body == expected


@pytest.mark.parametrize(
    ("route", "table", "key"),
    [
        (
            f"file-index/{DATASET}/{FILE}/",
            "fact_file_index",
            {"dataset_id": DATASET, "file_id": FILE},
        ),
        (f"run/{DATASET}/{RUN}/", "fact_run", {"dataset_id": DATASET, "run_number": RUN}),
        (
            f"lumisection/{DATASET}/{RUN}/{LS}/",
            "fact_lumisection",
            {"dataset_id": DATASET, "run_number": RUN, "ls_number": LS},
        ),
        (
            f"th1/{DATASET}/{RUN}/{LS}/{TH1_ME}/",
            "fact_th1",
            {"dataset_id": DATASET, "run_number": RUN, "ls_number": LS, "me_id": TH1_ME},
        ),
        (
            f"th2/{DATASET}/{RUN}/{LS}/{TH2_ME}/",
            "fact_th2",
            {"dataset_id": DATASET, "run_number": RUN, "ls_number": LS, "me_id": TH2_ME},
        ),
        (f"dataset-index/{DATASET}/", "fact_dataset_index", {"dataset_id": DATASET}),
        (f"mes/{TH1_ME}/", "dim_monitoring_elements", {"me_id": TH1_ME}),
    ],
)
def test_retrieve_routes_return_the_object(
    any_server: LocalServer, route: str, table: str, key: dict[str, int]
) -> None:
    (row,) = rows(any_server, TRACKER, table, **key)
    prefix = next(p for p, t in TABLE_OF.items() if t == table)
    # composite routes ignore query parameters (CONTRACT §9)
    body = get(any_server, route, {"fields": "dataset_id"} if route.count("/") > 3 else None)
    assert body == expected_object(any_server, TRACKER, prefix, row)


@pytest.mark.parametrize("model_id", MODELS)
def test_ml_models_index_retrieve_has_both_client_shapes(
    any_server: LocalServer, model_id: int
) -> None:
    (row,) = rows(any_server, JETMET, "dim_ml_models_index", model_id=model_id)
    body = get(any_server, f"ml-models-index/{model_id}/", workspace=JETMET)
    assert body == expected_object(any_server, JETMET, "ml-models-index", row)
    assert body["id"] == body["model_id"] == model_id
    assert isinstance(body["input_signature"], list)
    assert isinstance(body["output_signature"], list)


def test_ml_bad_lumisection_retrieve_with_five_and_four_keys(any_server: LocalServer) -> None:
    flags = rows(any_server, JETMET, "fact_ml_bad_lumis")
    assert flags, "the tiny seed must flag lumisections in jetmet"
    first = flags[0]
    key = [first[k] for k in ("model_id", "dataset_id", "run_number", "ls_number")]
    body = get(
        any_server,
        "ml-bad-lumisection/" + "".join(f"{v}/" for v in [*key, first["me_id"]]),
        workspace=JETMET,
    )
    assert body == expected_object(any_server, JETMET, "ml-bad-lumisection", first)
    assert body["metric_value"] == body["mse"]
    same_ls = [
        f
        for f in flags
        if [f[k] for k in ("model_id", "dataset_id", "run_number", "ls_number")] == key
    ]
    lowest = min(same_ls, key=lambda f: f["me_id"])
    body4 = get(any_server, "ml-bad-lumisection/" + "".join(f"{v}/" for v in key), workspace=JETMET)
    assert body4 == expected_object(any_server, JETMET, "ml-bad-lumisection", lowest)


@pytest.mark.parametrize(
    ("prefix", "table", "params"),
    [
        ("file-index", "fact_file_index", {}),
        ("file-index", "fact_file_index", {"status": "FINISHED"}),
        ("run", "fact_run", {}),
        ("run", "fact_run", {"run_number__gte": RUN}),
        ("lumisection", "fact_lumisection", {"ls_number__lte": 20}),
    ],
)
def test_count_routes(
    any_server: LocalServer, prefix: str, table: str, params: dict[str, Any]
) -> None:
    def keep(row: dict[str, Any]) -> bool:
        if "status" in params and row["status"] != params["status"]:
            return False
        if "run_number__gte" in params and row["run_number"] < params["run_number__gte"]:
            return False
        return not ("ls_number__lte" in params and row["ls_number"] > params["ls_number__lte"])

    expected = len([r for r in rows(any_server, TRACKER, table) if keep(r)])
    body = get(any_server, f"{prefix}/count/", {**params, "page_size": 1})
    assert body == {"count": expected}


def test_mes_of_a_run_are_those_of_its_first_lumisection(any_server: LocalServer) -> None:
    lumis = rows(any_server, TRACKER, "fact_lumisection", dataset_id=DATASET, run_number=RUN)
    first_ls = min(r["ls_number"] for r in lumis)
    present = {
        r["me_id"]
        for table in ("fact_th1", "fact_th2")
        for r in rows(
            any_server, TRACKER, table, dataset_id=DATASET, run_number=RUN, ls_number=first_ls
        )
    }
    expected = [
        {"me_id": m["me_id"], "me": m["me"], "dim": m["dim"]}
        for m in rows(any_server, TRACKER, "dim_monitoring_elements")
        if m["me_id"] in present
    ]
    assert expected
    assert get(any_server, f"mes/{DATASET}/{RUN}/") == expected
    assert get(any_server, f"mes/{DATASET}/1/") == []  # no lumisection: [] (DIALS: 500)


# --- cert-json / golden-json ----------------------------------------------------------


def _cert_json_truth(
    server: LocalServer, models: list[int], datasets: list[int], runs: list[int]
) -> dict[str, Any]:
    model_rows = {m["model_id"]: m for m in rows(server, JETMET, "dim_ml_models_index")}
    result: dict[str, Any] = {str(run): {} for run in dict.fromkeys(runs)}
    flags = [
        f
        for f in rows(server, JETMET, "fact_ml_bad_lumis")
        if f["model_id"] in models and f["dataset_id"] in datasets and f["run_number"] in runs
    ]
    flags.sort(
        key=lambda f: (f["run_number"], f["ls_number"], f["model_id"], f["dataset_id"], f["me_id"])
    )
    for f in flags:
        result[str(f["run_number"])].setdefault(str(f["ls_number"]), []).append(
            {
                "model_id": f["model_id"],
                "me_id": f["me_id"],
                "filename": model_rows[f["model_id"]]["filename"],
                "me": model_rows[f["model_id"]]["target_me"],
                "mse": f["mse"],
                "metric_value": f["mse"],
            }
        )
    return result


def _golden_json_truth(
    server: LocalServer, models: list[int], datasets: list[int], runs: list[int]
) -> dict[str, Any]:
    bad = {
        (f["run_number"], f["ls_number"])
        for f in rows(server, JETMET, "fact_ml_bad_lumis")
        if f["model_id"] in models and f["dataset_id"] in datasets
    }
    result: dict[str, Any] = {}
    for run in dict.fromkeys(runs):
        lumis = sorted(
            {
                r["ls_number"]
                for r in rows(server, JETMET, "fact_lumisection", run_number=run)
                if r["dataset_id"] in datasets
            }
        )
        good = [ls for ls in lumis if (run, ls) not in bad]
        pairs: list[list[int]] = []
        for ls in good:
            if pairs and ls == pairs[-1][1] + 1:
                pairs[-1][1] = ls
            else:
                pairs.append([ls, ls])
        if pairs:
            result[str(run)] = pairs
    return result


@pytest.mark.parametrize("route", ["cert-json", "golden-json"])
def test_cert_and_golden_json_get_and_post(any_server: LocalServer, route: str) -> None:
    models, datasets, runs = [20, 19], [JETMET_DATASET], [*JETMET_RUNS, JETMET_RUNS[0], 1]
    truth = (_cert_json_truth if route == "cert-json" else _golden_json_truth)(
        any_server, models, datasets, runs
    )
    assert truth, "the tiny seed must give the jetmet examples content"
    if route == "cert-json":
        assert any(truth[str(run)] for run in JETMET_RUNS), "some example run must be flagged"
    url = f"{any_server.api_url}ml-bad-lumisection/{route}/"
    s = session(any_server, JETMET)
    via_get = s.get(
        url,
        params={
            "model_id__in": ",".join(map(str, models)),
            "dataset_id__in": ",".join(map(str, datasets)),
            "run_number__in": ",".join(map(str, runs)),
        },
        timeout=30,
    )
    assert via_get.status_code == 200, via_get.text
    assert via_get.json() == truth
    assert list(via_get.json()) == list(truth)  # request order of runs
    body = {"model_id__in": models, "dataset_id__in": datasets, "run_number__in": runs}
    via_post = s.post(url, json=body, timeout=30)
    assert via_post.status_code == 200, via_post.text
    assert via_post.content == via_get.content
    comma_strings = {k: ",".join(map(str, v)) for k, v in body.items()}
    assert s.post(url, json=comma_strings, timeout=30).content == via_get.content


# --- OMS, workspaces, stubs ------------------------------------------------------------


def _oms(server: LocalServer, endpoint: str) -> list[dict[str, Any]]:
    return [
        json.loads(r["attributes"])
        for r in sorted(service_rows(server, "local_oms_records"), key=lambda r: r["position"])
        if r["endpoint"] == endpoint
    ]


def test_oms_proxy_answers_the_clients_examples(any_server: LocalServer) -> None:
    """C150's OMS tests (CONTRACT §7.10): one run 382921; > 100 lumisections and ZeroBias
    dataset-rate rows for it with page[limit]=5000."""
    body = get(any_server, "oms-proxy/", {"endpoint": "runs", "filter[run_number][EQ]": 382921})
    assert body["meta"]["totalResourceCount"] == 1
    assert body["data"][0]["attributes"]["run_number"] == 382921
    assert body["data"][0]["type"] == "runs" and body["data"][0]["id"] == "382921"
    lumis = get(
        any_server,
        "oms-proxy/",
        {"endpoint": "lumisections", "filter[run_number][EQ]": 382921, "page[limit]": 5000},
    )
    assert lumis["meta"]["totalResourceCount"] > 100
    rates = get(
        any_server,
        "oms-proxy/",
        {
            "endpoint": "datasetrates",
            "filter[run_number][EQ]": 382921,
            "filter[dataset_name][EQ]": "ZeroBias",
            "page[limit]": 5000,
        },
    )
    assert rates["meta"]["totalResourceCount"] > 100
    assert {d["attributes"]["dataset_name"] for d in rates["data"]} == {"ZeroBias"}


@pytest.mark.parametrize(
    ("params", "test"),
    [
        ({"filter[run_number][GT]": 382921}, lambda a: a["run_number"] > 382921),
        ({"filter[run_number][LE]": "382921"}, lambda a: a["run_number"] <= 382921),
        ({"filter[run_number][NEQ]": 382921}, lambda a: a["run_number"] != 382921),
        ({"filter[run_number]": 382921}, lambda a: a["run_number"] == 382921),
        ({"filter[sequence][LIKE]": "GLOBAL%"}, lambda a: a["sequence"].startswith("GLOBAL")),
        (
            {"filter[fill_number][GE]": 9000, "filter[fill_number][LT]": 9900},
            lambda a: 9000 <= a["fill_number"] < 9900,
        ),
    ],
)  # fmt: skip
def test_oms_proxy_filters_sort_and_pages(
    any_server: LocalServer, params: dict[str, Any], test: Any
) -> None:
    runs = _oms(any_server, "runs")
    matching = [a for a in runs if test(a)]
    query = {
        "endpoint": "runs",
        "sort": "-run_number",
        "page[limit]": 3,
        "page[offset]": 1,
        **params,
    }
    body = get(any_server, "oms-proxy/", query)
    assert body["meta"]["totalResourceCount"] == len(matching)
    expected = sorted(matching, key=lambda a: a["run_number"], reverse=True)[1:4]
    assert [d["attributes"] for d in body["data"]] == expected
    trimmed = get(any_server, "oms-proxy/", {**query, "fields": "run_number,fill_number"})
    assert all(set(d["attributes"]) <= {"run_number", "fill_number"} for d in trimmed["data"])


def test_oms_proxy_without_endpoint_or_with_an_unknown_one(any_server: LocalServer) -> None:
    assert "endpoint" in get(any_server, "oms-proxy/", status=400)["detail"]
    unknown = get(any_server, "oms-proxy/", {"endpoint": "nope"}, status=404)
    assert "runs" in unknown["available"]


def test_workspace_routes(any_server: LocalServer) -> None:
    workspaces = ["csc", "ecal", "egamma", "hcal", "jetmet", "muon_staging", "tracker"]
    for route in ("auth/workspaces/", "workspaces/"):
        assert get(any_server, route) == {"workspaces": workspaces}
    for route in ("auth/user-default-workspace/", "workspaces/my-default/"):
        # secret keys carry no roles: the default workspace (CONTRACT §3.2, §4.3)
        assert get(any_server, route, workspace="jetmet") == {"workspace": "tracker"}


def test_workspace_header_selects_the_database(any_server: LocalServer) -> None:
    tracker = [r["dataset_id"] for r in rows(any_server, TRACKER, "fact_dataset_index")][:10]
    jetmet = [r["dataset_id"] for r in rows(any_server, JETMET, "fact_dataset_index")][:10]
    assert tracker != jetmet

    def ids(body: dict[str, Any]) -> list[int]:
        return [item["dataset_id"] for item in body["results"]]

    assert ids(get(any_server, "dataset-index/")) == tracker
    assert ids(get(any_server, "dataset-index/", workspace="jetmet")) == jetmet
    s = session(any_server)
    shouted = s.get(
        any_server.api_url + "dataset-index/", headers={"WORKSPACE": "jetmet"}, timeout=10
    )
    assert ids(shouted.json()) == jetmet
    empty = s.get(any_server.api_url + "dataset-index/", headers={"Workspace": ""}, timeout=10)
    assert ids(empty.json()) == tracker


@pytest.mark.parametrize("route", ["runregistry/editable-datasets/"])
def test_third_party_proxies_answer_501(any_server: LocalServer, route: str) -> None:
    body = get(any_server, route, status=501)
    assert "not available in dials-local" in body["detail"]


# --- encoding -----------------------------------------------------------------------


def test_json_is_compact_with_utc_datetimes(any_server: LocalServer) -> None:
    response = session(any_server).get(any_server.api_url + "dataset-index/", timeout=10)
    assert response.headers["content-type"] == "application/json"
    assert b'", "' not in response.content and b'": ' not in response.content
    stamp = response.json()["results"][0]["last_modification_date"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", stamp)


def test_histogram_data_has_the_declared_shape(any_server: LocalServer) -> None:
    th1 = get(any_server, f"th1/{DATASET}/{RUN}/{LS}/{TH1_ME}/")
    assert isinstance(th1["x_bin"], int) and len(th1["data"]) == th1["x_bin"]
    th2 = get(any_server, f"th2/{DATASET}/{RUN}/{LS}/{TH2_ME}/")
    assert len(th2["data"]) == th2["y_bin"]
    assert all(len(row) == th2["x_bin"] for row in th2["data"])
    _, mes = names(any_server, TRACKER)
    assert th1["me"] == mes[TH1_ME] and th2["me"] == mes[TH2_ME]
