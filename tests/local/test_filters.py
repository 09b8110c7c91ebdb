"""Every filter kind of CONTRACT §6, checked against a brute-force reading of the data."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from routes_truth import expected_object, get, names, results, rows, walk

from dials_local.testing import LocalServer

TRACKER, JETMET = "tracker", "jetmet"
DATASET, RUN = 14677060, 367112


def keys(items: list[dict[str, Any]], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(item[f] for f in fields) for item in items]


def all_results(
    server: LocalServer,
    route: str,
    params: dict[str, Any] | list[tuple[str, Any]],
    workspace: str = TRACKER,
) -> list[dict[str, Any]]:
    """Every result of a list route (pages of 500 followed to the end)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    return results(walk(server, route, [*pairs, ("page_size", 500)], workspace))


RUN_KEY = ("dataset_id", "run_number")


@pytest.mark.parametrize(
    ("params", "test"),
    [
        ({"run_number": RUN}, lambda r: r["run_number"] == RUN),
        ({"run_number": f" {RUN} "}, lambda r: r["run_number"] == RUN),  # whitespace
        ({"run_number": f"+{RUN}"}, lambda r: r["run_number"] == RUN),  # leading +
        ({"run_number": f"{RUN}.0"}, lambda r: r["run_number"] == RUN),  # 1.0 == 1
        ({"run_number": f"{RUN}.5"}, lambda r: r["run_number"] == RUN),  # truncated (§6)
        ({"run_number": ""}, lambda r: True),  # empty = absent
        ({"run_number__gte": RUN}, lambda r: r["run_number"] >= RUN),
        ({"run_number__lte": RUN}, lambda r: r["run_number"] <= RUN),
        ({"run_number__gte": f"{RUN}.5"}, lambda r: r["run_number"] >= RUN),  # truncated
        ({"dataset_id__in": f"{DATASET},1,"}, lambda r: r["dataset_id"] == DATASET),
        ({"dataset_id__in": ""}, lambda r: True),
        (
            {"dataset_id": DATASET, "run_number__gte": RUN},
            lambda r: r["dataset_id"] == DATASET and r["run_number"] >= RUN,
        ),
        ({"misspelled__lte": 1}, lambda r: True),  # unknown parameters are ignored
    ],
)
def test_numeric_filters_on_runs(
    any_server: LocalServer, params: dict[str, Any], test: Any
) -> None:
    expected = [r for r in rows(any_server, TRACKER, "fact_run") if test(r)]
    got = all_results(any_server, "run/", params)
    assert keys(got, *RUN_KEY) == keys(expected, *RUN_KEY)


def test_in_filter_last_occurrence_wins(any_server: LocalServer) -> None:
    runs = sorted({r["run_number"] for r in rows(any_server, TRACKER, "fact_run")})
    assert len(runs) >= 3
    got = all_results(
        any_server,
        "run/",
        [("run_number__gte", runs[0]), ("dataset_id__in", "1"), ("dataset_id__in", str(DATASET))],
    )
    expected = [r for r in rows(any_server, TRACKER, "fact_run") if r["dataset_id"] == DATASET]
    assert keys(got, *RUN_KEY) == keys(expected, *RUN_KEY)
    repeated = all_results(any_server, "run/", [("run_number", runs[0]), ("run_number", runs[1])])
    assert {r["run_number"] for r in repeated} == {runs[1]}


def test_dataset_name_lookups(any_server: LocalServer) -> None:
    datasets, _ = names(any_server, TRACKER)
    name = datasets[DATASET]
    expected = [r for r in rows(any_server, TRACKER, "fact_run") if r["dataset_id"] == DATASET]
    assert keys(all_results(any_server, "run/", {"dataset": name}), *RUN_KEY) == keys(
        expected, *RUN_KEY
    )
    era = name.split("/")[2].split("-")[0]  # e.g. Run2023C
    matching = {i for i, n in datasets.items() if re.search(era, n)}
    expected = [r for r in rows(any_server, TRACKER, "fact_run") if r["dataset_id"] in matching]
    got = all_results(any_server, "run/", {"dataset__regex": era})
    assert keys(got, *RUN_KEY) == keys(expected, *RUN_KEY)
    assert all_results(any_server, "run/", {"dataset": "/No/Such/DQMIO"}) == []
    # case-sensitive
    assert all_results(any_server, "run/", {"dataset__regex": era.lower()}) == []
    # the dataset index filters its own column the same way
    got_index = all_results(
        any_server, "dataset-index/", {"dataset__regex": f"^{re.escape(name)}$"}
    )
    assert [r["dataset_id"] for r in got_index] == [DATASET]


def _special_me(server: LocalServer) -> tuple[str, str, int]:
    """A 1-D ME whose name holds regex metacharacters, with th1 rows, in some workspace."""
    for workspace in ("ecal", "tracker", "hcal", "jetmet", "egamma", "csc", "muon_staging"):
        for me in rows(server, workspace, "dim_monitoring_elements"):
            if me["dim"] == 1 and re.search(r"[+().]", me["me"]) and me["count"]:
                return workspace, me["me"], me["me_id"]
    pytest.fail("the tiny seed has no ingested ME with + ( or . in its name")


def test_me_regex_with_metacharacters(any_server: LocalServer) -> None:
    workspace, name, me_id = _special_me(any_server)
    run = rows(any_server, workspace, "fact_th1", me_id=me_id)[0]["run_number"]
    expected = rows(any_server, workspace, "fact_th1", me_id=me_id, run_number=run)
    key = ("dataset_id", "run_number", "ls_number", "me_id")
    escaped = {"me__regex": "^" + re.escape(name) + "$", "run_number": run}
    got = all_results(any_server, "th1/", escaped, workspace)
    assert keys(got, *key) == keys(expected, *key)
    assert {r["me"] for r in got} == {name}
    exact = all_results(any_server, "th1/", {"me": name, "run_number": run}, workspace)
    assert keys(exact, *key) == keys(expected, *key)
    # mes/ filters its own column
    assert [
        m["me_id"]
        for m in get(any_server, "mes/", {"me__regex": re.escape(name)}, workspace=workspace)
    ] == [
        m["me_id"]
        for m in rows(any_server, workspace, "dim_monitoring_elements")
        if re.search(re.escape(name), m["me"])
    ]


def test_histogram_filters_combined(any_server: LocalServer) -> None:
    """The C150 resume example: me__regex=PXBarrel, ls_number=78, entries__gte=100."""
    _, mes = names(any_server, TRACKER)
    pixel = {i for i, n in mes.items() if "PXBarrel" in n}
    expected = [
        r
        for r in rows(any_server, TRACKER, "fact_th2", ls_number=78)
        if r["me_id"] in pixel and r["entries"] >= 100
    ]
    key = ("dataset_id", "run_number", "ls_number", "me_id")
    got = all_results(
        any_server, "th2/", {"me__regex": "PXBarrel", "ls_number": 78, "entries__gte": 100}
    )
    assert keys(got, *key) == keys(expected, *key)
    assert len(got) >= 200 and len({r["run_number"] for r in got}) >= 3  # CONTRACT §12.9


def test_file_lookups_on_histograms(any_server: LocalServer) -> None:
    (row,) = rows(
        any_server, TRACKER, "fact_th1", dataset_id=DATASET, run_number=RUN, ls_number=10, me_id=1
    )
    files = {
        f["file_id"]: f["logical_file_name"] for f in rows(any_server, TRACKER, "fact_file_index")
    }
    lfn = files[row["file_id"]]
    expected = rows(any_server, TRACKER, "fact_th1", file_id=row["file_id"], me_id=1)
    key = ("dataset_id", "run_number", "ls_number")
    got = all_results(any_server, "th1/", {"logical_file_name": lfn, "me_id": 1})
    assert keys(got, *key) == keys(expected, *key)
    tail = lfn.rsplit("/", 1)[-1]
    got_regex = all_results(
        any_server, "th1/", {"logical_file_name__regex": re.escape(tail) + "$", "me_id": 1}
    )
    assert keys(got_regex, *key) == keys(expected, *key)
    by_id = all_results(any_server, "th1/", {"file_id": row["file_id"], "me_id": "1.0"})
    assert keys(by_id, *key) == keys(expected, *key)


def test_file_index_filters(any_server: LocalServer) -> None:
    files = rows(any_server, TRACKER, "fact_file_index")
    sizes = sorted(f["file_size"] for f in files)
    threshold = sizes[len(sizes) // 2]
    key = ("dataset_id", "file_id")
    got = all_results(any_server, "file-index/", {"min_size": threshold})
    assert keys(got, *key) == keys([f for f in files if f["file_size"] >= threshold], *key)
    statuses = {f["status"] for f in files}
    for status in statuses:
        got = all_results(any_server, "file-index/", {"status": status, "dataset_id": DATASET})
        expected = [f for f in files if f["status"] == status and f["dataset_id"] == DATASET]
        assert keys(got, *key) == keys(expected, *key)
    failed = [f for f in files if f["err_trace"] is not None]
    assert all(f["status"] not in ("FINISHED", "PENDING", "STARTED") for f in failed)


@pytest.mark.parametrize(
    ("value", "wanted"),
    [
        ("true", True), ("True", True), ("1", True), ("TRUE", True),
        ("false", False), ("False", False), ("0", False),
        ("yes", None), ("abc", None),
    ],
)  # fmt: skip
def test_boolean_filter(any_server: LocalServer, value: str, wanted: bool | None) -> None:
    models = rows(any_server, JETMET, "dim_ml_models_index")
    assert {m["active"] for m in models} == {True, False}, (
        "the seed needs active and inactive models"
    )
    expected = [m["model_id"] for m in models if wanted is None or m["active"] == wanted]
    got = all_results(any_server, "ml-models-index/", {"active": value}, JETMET)
    assert [m["model_id"] for m in got] == expected


def _items(text: str | None) -> list[Any]:
    return json.loads(text) if text else []


def _names_of(items: list[Any], key: str) -> list[str]:
    out = []
    for item in items:
        value = item.get(key) if isinstance(item, dict) else item
        if value is not None:
            out.append(value if isinstance(value, str) else json.dumps(value))
    return out


def test_c241_model_filters(any_server: LocalServer) -> None:
    models = rows(any_server, JETMET, "dim_ml_models_index")

    def ids(found: list[dict[str, Any]]) -> list[int]:
        return [m["id"] for m in found]

    target = models[0]["target_me"]
    expected = [
        m["model_id"] for m in models if target in _names_of(_items(m["input_signature"]), "me")
    ]
    assert expected, "input_signature items must name the model's target ME"
    assert (
        ids(
            all_results(
                any_server, "ml-models-index/", {"input_signature_contains_me": target}, JETMET
            )
        )
        == expected
    )
    fragment = target.rsplit("/", 1)[-1]
    expected_re = [
        m["model_id"]
        for m in models
        if any(re.search(fragment, n) for n in _names_of(_items(m["input_signature"]), "me"))
    ]
    assert (
        ids(
            all_results(
                any_server,
                "ml-models-index/",
                {"input_signature_contains_me__regex": fragment},
                JETMET,
            )
        )
        == expected_re
    )
    tagged = [m for m in models if _items(m["tags"])]
    if tagged:
        tag = _items(tagged[0]["tags"])[0]
        by_name = [
            m["model_id"] for m in models if tag["name"] in _names_of(_items(m["tags"]), "name")
        ]
        assert (
            ids(all_results(any_server, "ml-models-index/", {"tag_name": tag["name"]}, JETMET))
            == by_name
        )
        value = tag["value"] if isinstance(tag["value"], str) else json.dumps(tag["value"])
        by_value = [m["model_id"] for m in models if value in _names_of(_items(m["tags"]), "value")]
        assert (
            ids(all_results(any_server, "ml-models-index/", {"tag_value": value}, JETMET))
            == by_value
        )
    assert ids(all_results(any_server, "ml-models-index/", {"id__in": "20,19"}, JETMET)) == [19, 20]
    assert ids(all_results(any_server, "ml-models-index/", {"model_id": 19}, JETMET)) == [19]
    name = models[0]["name"]
    assert ids(all_results(any_server, "ml-models-index/", {"name": name}, JETMET)) == [
        m["model_id"] for m in models if m["name"] == name
    ]
    assert ids(
        all_results(any_server, "ml-models-index/", {"filename__regex": r"\.onnx$"}, JETMET)
    ) == [m["model_id"] for m in models if m["filename"] and m["filename"].endswith(".onnx")]


def test_bad_lumisection_filters(any_server: LocalServer) -> None:
    flags = rows(any_server, JETMET, "fact_ml_bad_lumis")
    _, mes = names(any_server, JETMET)
    key = ("model_id", "dataset_id", "run_number", "ls_number", "me_id")
    runs = sorted({f["run_number"] for f in flags})
    got = all_results(
        any_server,
        "ml-bad-lumisection/",
        {"run_number__in": ",".join(map(str, runs[:2])), "model_id": 19},
        JETMET,
    )
    assert keys(got, *key) == keys(
        [f for f in flags if f["run_number"] in runs[:2] and f["model_id"] == 19], *key
    )
    me_id = flags[0]["me_id"]
    got = all_results(any_server, "ml-bad-lumisection/", {"me": mes[me_id]}, JETMET)
    assert keys(got, *key) == keys([f for f in flags if f["me_id"] == me_id], *key)


@pytest.mark.parametrize(
    "fields", ["run_number,ls_count", "ls_count,run_number,bogus", "bogus", ""]
)
def test_sparse_fieldsets(any_server: LocalServer, fields: str) -> None:
    wanted = [
        f
        for f in ("dataset_id", "dataset", "run_number", "ls_count", "ls_completeness")
        if f in fields.split(",")
    ]
    body = get(any_server, "run/", {"fields": fields, "page_size": 3})
    assert body["results"] and all(list(item) == wanted for item in body["results"])
    assert body["next"] is not None and "fields=" in body["next"]
    # the three standard retrieve routes honour it too
    assert get(any_server, f"dataset-index/{DATASET}/", {"fields": "era,dataset_id"}) == {
        k: v
        for k, v in expected_object(
            any_server,
            TRACKER,
            "dataset-index",
            rows(any_server, TRACKER, "fact_dataset_index", dataset_id=DATASET)[0],
        ).items()
        if k in ("dataset_id", "era")
    }
    assert list(get(any_server, "mes/", {"fields": "dim"})[0]) == ["dim"]


def test_standard_retrieve_applies_the_list_filters(any_server: LocalServer) -> None:
    me_2d = next(m for m in rows(any_server, TRACKER, "dim_monitoring_elements") if m["dim"] == 2)
    assert get(any_server, f"mes/{me_2d['me_id']}/", {"dim": 2})["me_id"] == me_2d["me_id"]
    assert get(any_server, f"mes/{me_2d['me_id']}/", {"dim": 1}, status=404) == {
        "detail": "No MEs matches the given query."
    }
    assert get(any_server, f"mes/{me_2d['me_id']}/", {"dim": "abc"}, status=400) == {
        "dim": ["Enter a number."]
    }
