"""Every example of the usage guide, run as written (only base_url and credentials differ).

Results are compared with what the server holds (its SQLite files): the right rows, in
the right order, in the right number.  The guide's bearer/device-flow examples belong to
the next issue; their data calls are made here with secret-key credentials.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from client_support import (
    DATASET_ID,
    FILE_ID,
    JETMET_DATASET,
    JETMET_MODELS,
    JETMET_RUNS,
    LS,
    RUN,
    TH1_ME,
    Truth,
    keys,
)
from urllib3.util import Retry

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.filters import (
    DatasetIndexFilters,
    FileIndexFilters,
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
    MLBadLumisectionFilters,
    MLModelsIndexFilters,
    RunFilters,
)
from dials_local.db import schema

TH = ("dataset_id", "run_number", "ls_number", "me_id")
ORDER: dict[str, tuple[str, ...]] = {
    "dataset_index": ("dataset_id",),
    "file_index": ("dataset_id", "file_id"),
    "run": ("dataset_id", "run_number"),
    "lumi": ("dataset_id", "run_number", "ls_number"),
    "h1d": TH,
    "h2d": TH,
    "ml_models_index": ("model_id",),
    "ml_bad_lumisection": ("model_id", "dataset_id", "run_number", "ls_number", "me_id"),
}
TABLE = {
    "dataset_index": schema.fact_dataset_index,
    "file_index": schema.fact_file_index,
    "run": schema.fact_run,
    "lumi": schema.fact_lumisection,
    "h1d": schema.fact_th1,
    "h2d": schema.fact_th2,
    "ml_models_index": schema.dim_ml_models_index,
    "ml_bad_lumisection": schema.fact_ml_bad_lumis,
}
H2D_RESUME = {"me__regex": "PXBarrel", "ls_number": 78, "entries__gte": 100}


def expected_h2d_resume(truth: Truth) -> list[dict[str, Any]]:
    """Rows of the guide's resume query, in the server's order."""
    th2 = schema.fact_th2
    me_ids = truth.me_ids("tracker", regex="PXBarrel")
    where = [th2.c.me_id.in_(me_ids), th2.c.ls_number == 78, th2.c.entries >= 100]
    return truth.rows("tracker", th2, where, TH)


# ---------------------------------------------------------------------------------------
# Credentials and the first example
# ---------------------------------------------------------------------------------------


def test_secret_key_credentials_example(target: Any) -> None:
    creds = Credentials(token=target.secret)
    headers: dict[str, str] = {}
    creds.apply(headers)
    assert headers == {"X-CLIENT-SECRET": target.secret}
    assert target.secret not in repr(creds)


def test_first_example_h1d_by_me_five_pages(dials: Dials, known: Truth | None) -> None:
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me="PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"),
        max_pages=5,
    )
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    th1 = schema.fact_th1
    me_ids = truth.me_ids("tracker", name=TH1_ME)
    assert me_ids == [1]  # CONTRACT §12.9
    expected = truth.rows("tracker", th1, [th1.c.me_id.in_(me_ids)], TH)
    assert len(expected) > 50, "the seed should have more than 5 pages of this ME"
    assert keys(data.results, *TH) == keys(expected[:50], *TH)
    assert {row.me for row in data.results} == {TH1_ME}
    assert data.next is not None and data.previous is None
    assert data.exc_type is None and data.exc_formatted is None


def test_workspace_example(creds: Credentials, target: Any) -> None:
    dials = Dials(creds, workspace="jetmet", base_url=target.base_url)
    assert dials.workspace_name == "jetmet"
    models = dials.ml_models_index.list()
    assert models.results, "jetmet has ML models"


# ---------------------------------------------------------------------------------------
# get
# ---------------------------------------------------------------------------------------


def test_get_examples(dials: Dials, known: Truth | None) -> None:
    dataset = dials.dataset_index.get(dataset_id=14677060)
    file = dials.file_index.get(dataset_id=14677060, file_id=3393809397)
    h1 = dials.h1d.get(dataset_id=14677060, run_number=367112, ls_number=10, me_id=1)
    h96 = dials.h1d.get(dataset_id=14677060, run_number=367112, ls_number=10, me_id=96)
    lumi = dials.lumi.get(dataset_id=14677060, run_number=367112, ls_number=10)
    run = dials.run.get(dataset_id=14677060, run_number=367112)
    assert dataset.dataset_id == DATASET_ID
    assert (file.dataset_id, file.file_id) == (DATASET_ID, FILE_ID)
    assert file.dataset == dataset.dataset == run.dataset == lumi.dataset == h1.dataset
    for h, me_id in ((h1, 1), (h96, 96)):
        assert (h.dataset_id, h.run_number, h.ls_number, h.me_id) == (DATASET_ID, RUN, LS, me_id)
        assert h.x_bin == len(h.data)
    assert (lumi.ls_number, run.run_number) == (LS, RUN)
    assert dials.h1d.get(14677060, 367112, 10, 1) == h1  # positional keys
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known

    ds = schema.fact_dataset_index
    (ds_row,) = truth.rows("tracker", ds, [ds.c.dataset_id == DATASET_ID])
    assert dataset.dataset == ds_row["dataset"] and dataset.era == ds_row["era"]
    assert dataset.last_modification_date.replace(tzinfo=None) == ds_row["last_modification_date"]

    fi = schema.fact_file_index
    (file_row,) = truth.rows(
        "tracker", fi, [fi.c.dataset_id == DATASET_ID, fi.c.file_id == FILE_ID]
    )
    assert file.logical_file_name == file_row["logical_file_name"]
    assert file.status == file_row["status"]

    th1 = schema.fact_th1
    for h in (h1, h96):
        where = [
            th1.c.dataset_id == DATASET_ID,
            th1.c.run_number == RUN,
            th1.c.ls_number == LS,
            th1.c.me_id == h.me_id,
        ]
        (row,) = truth.rows("tracker", th1, where)
        assert h.data == json.loads(row["data"])
        assert h.x_bin == int(row["x_bin"])
        assert h.entries == row["entries"] and h.file_id == row["file_id"]
        assert h.me == truth.me_name("tracker", h.me_id)
    assert h1.me == TH1_ME

    fl = schema.fact_lumisection
    where = [fl.c.dataset_id == DATASET_ID, fl.c.run_number == RUN, fl.c.ls_number == LS]
    (lumi_row,) = truth.rows("tracker", fl, where)
    assert (lumi.th1_count, lumi.th2_count) == (lumi_row["th1_count"], lumi_row["th2_count"])

    fr = schema.fact_run
    (run_row,) = truth.rows("tracker", fr, [fr.c.dataset_id == DATASET_ID, fr.c.run_number == RUN])
    assert run.ls_count == run_row["ls_count"]
    assert run.ls_completeness == pytest.approx(run_row["ls_completeness"])


def test_get_examples_jetmet(jetmet: Dials, known: Truth | None) -> None:
    dials = jetmet
    model = dials.ml_models_index(model_id=1)
    flagged = dials.ml_bad_lumisection(
        model_id=19, dataset_id=15102369, run_number=386951, ls_number=36
    )
    assert model.model_id == model.id == 1
    assert (flagged.model_id, flagged.dataset_id, flagged.run_number, flagged.ls_number) == (
        19,
        15102369,
        386951,
        36,
    )
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known

    mm = schema.dim_ml_models_index
    (model_row,) = truth.rows("jetmet", mm, [mm.c.model_id == 1])
    assert model.filename == model_row["filename"] and model.target_me == model_row["target_me"]
    assert model.active is bool(model_row["active"])

    bl = schema.fact_ml_bad_lumis
    where = [
        bl.c.model_id == 19,
        bl.c.dataset_id == 15102369,
        bl.c.run_number == 386951,
        bl.c.ls_number == 36,
    ]
    rows = truth.rows("jetmet", bl, where, order=["me_id"])
    assert rows, "CONTRACT §12.9: model 19 flags dataset 15102369 run 386951 LS 36"
    # The 4-segment route returns the row of the lowest me_id (CONTRACT §7.9).
    assert flagged.me_id == rows[0]["me_id"]
    assert flagged.metric_value == pytest.approx(rows[0]["mse"]) == flagged.mse
    # With me_id, the 5-segment route of the original API.
    last = rows[-1]
    same = dials.ml_bad_lumis.get(19, 15102369, 386951, 36, me_id=last["me_id"])
    assert same.me_id == last["me_id"] and same.mse == pytest.approx(last["mse"])


# ---------------------------------------------------------------------------------------
# list / list_all without filters
# ---------------------------------------------------------------------------------------

ROUTES = list(ORDER)


def _client(dials: Dials, name: str) -> Any:
    return getattr(dials, name)


@pytest.mark.parametrize("name", ROUTES)
def test_list_examples(dials: Dials, known: Truth | None, name: str) -> None:
    page = _client(dials, name).list()
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    everything = truth.rows("tracker", TABLE[name], order=ORDER[name])
    assert keys(page.results, *ORDER[name]) == keys(everything[:10], *ORDER[name])
    assert (page.next is not None) == (len(everything) > 10)
    assert page.previous is None


# The guide's unfiltered walks run in a workspace small enough for a test: the tracker
# seed holds some 2600 pages of th1 at the default page size (the guide warns about it).
LIST_ALL_WORKSPACE = {
    "h1d": "ecal",
    "h2d": "ecal",
    "ml_models_index": "jetmet",
    "ml_bad_lumisection": "jetmet",
}


@pytest.mark.parametrize("name", ROUTES)
def test_list_all_examples(creds: Credentials, target: Any, truth: Truth, name: str) -> None:
    workspace = LIST_ALL_WORKSPACE.get(name, "tracker")
    dials = Dials(creds, workspace=workspace, base_url=target.base_url)
    data = _client(dials, name).list_all()
    everything = truth.rows(workspace, TABLE[name], order=ORDER[name])
    assert everything, f"the seed has {name} rows in {workspace}"
    assert keys(data.results, *ORDER[name]) == keys(everything, *ORDER[name])
    assert data.next is None and data.exc_type is None


def test_list_all_ellipsis_max_pages_example(dials: Dials, known: Truth | None) -> None:
    data = dials.run.list_all(..., max_pages=5)
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    runs = truth.rows("tracker", schema.fact_run, order=ORDER["run"])
    assert keys(data.results, *ORDER["run"]) == keys(runs[:50], *ORDER["run"])
    assert (data.next is not None) == (len(runs) > 50)


# ---------------------------------------------------------------------------------------
# Filter examples
# ---------------------------------------------------------------------------------------


def test_dataset_index_page_size_example(dials: Dials, known: Truth | None) -> None:
    data = dials.dataset_index.list_all(DatasetIndexFilters(page_size=500))
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    expected = truth.rows("tracker", schema.fact_dataset_index, order=["dataset_id"])
    assert [d.dataset_id for d in data.results] == [r["dataset_id"] for r in expected]


def test_file_index_regex_example(dials: Dials, known: Truth | None) -> None:
    data = dials.file_index.list(FileIndexFilters(dataset__regex="2024B"))
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    datasets = {
        r["dataset_id"]
        for r in truth.rows("tracker", schema.fact_dataset_index)
        if re.search("2024B", r["dataset"])
    }
    fi = schema.fact_file_index
    expected = truth.rows("tracker", fi, [fi.c.dataset_id.in_(datasets)], ORDER["file_index"])
    assert keys(data.results, "dataset_id", "file_id") == keys(
        expected[:10], "dataset_id", "file_id"
    )
    assert all("2024B" in f.dataset for f in data.results)


def test_h1d_me_example(dials: Dials, known: Truth | None) -> None:
    data = dials.h1d.list(LumisectionHistogram1DFilters(me=TH1_ME))
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    th1 = schema.fact_th1
    expected = truth.rows("tracker", th1, [th1.c.me_id == 1], TH)
    assert keys(data.results, *TH) == keys(expected[:10], *TH)


def test_h2d_regex_example(dials: Dials, known: Truth | None) -> None:
    data = dials.h2d.list_all(
        LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, entries__gte=100),
        max_pages=5,
    )
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    expected = expected_h2d_resume(truth)
    # CONTRACT §12.9: at least 200 rows over at least 3 runs (the resume examples need it).
    assert len(expected) >= 200 and len({r["run_number"] for r in expected}) >= 3
    assert keys(data.results, *TH) == keys(expected[:50], *TH)
    assert all(r.ls_number == 78 and r.entries >= 100 and "PXBarrel" in r.me for r in data.results)
    for row in data.results[:3]:
        assert len(row.data) == row.y_bin and all(len(line) == row.x_bin for line in row.data)


def test_lumi_run_example(dials: Dials, known: Truth | None) -> None:
    data = dials.lumi.list_all(LumisectionFilters(run_number=360392), max_pages=5)
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    fl = schema.fact_lumisection
    expected = truth.rows("tracker", fl, [fl.c.run_number == 360392], ORDER["lumi"])
    assert keys(data.results, *ORDER["lumi"]) == keys(expected[:50], *ORDER["lumi"])


def test_run_range_example(dials: Dials, known: Truth | None) -> None:
    data = dials.run.list_all(
        RunFilters(run_number__gte=360392, run_number__lte=365000), max_pages=5
    )
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    fr = schema.fact_run
    where = [fr.c.run_number >= 360392, fr.c.run_number <= 365000]
    expected = truth.rows("tracker", fr, where, ORDER["run"])
    assert keys(data.results, *ORDER["run"]) == keys(expected[:50], *ORDER["run"])


def test_ml_models_active_example(jetmet: Dials, known: Truth | None) -> None:
    data = jetmet.ml_models_index.list_all(MLModelsIndexFilters(active=True))
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    mm = schema.dim_ml_models_index
    expected = [
        r["model_id"] for r in truth.rows("jetmet", mm, [mm.c.active.is_(True)], ["model_id"])
    ]
    assert {19, 20} <= set(expected)
    assert [m.model_id for m in data.results] == expected
    assert all(m.active for m in data.results)


def test_ml_bad_lumis_example(jetmet: Dials, known: Truth | None) -> None:
    dials = jetmet
    data = dials.ml_bad_lumis.list_all(
        MLBadLumisectionFilters(
            page_size=500,
            model_id__in=[20, 19],
            dataset_id__in=[15042670],
            run_number__in=[385801, 385799, 385764],
        )
    )
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    bl = schema.fact_ml_bad_lumis
    where = [
        bl.c.model_id.in_(JETMET_MODELS),
        bl.c.dataset_id == JETMET_DATASET,
        bl.c.run_number.in_(JETMET_RUNS),
    ]
    expected = truth.rows("jetmet", bl, where, ORDER["ml_bad_lumisection"])
    assert expected, "the seed flags lumisections of these runs"
    assert keys(data.results, *ORDER["ml_bad_lumisection"]) == keys(
        expected, *ORDER["ml_bad_lumisection"]
    )
    assert [r.mse for r in data.results] == pytest.approx([r["mse"] for r in expected])


def test_mes_example(dials: Dials, known: Truth | None) -> None:
    mes = dials.mes.list()
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    expected = truth.rows("tracker", schema.dim_monitoring_elements, order=["me_id"])
    assert isinstance(mes, list)
    assert [(m.me_id, m.me, m.dim, m.count) for m in mes] == [
        (r["me_id"], r["me"], r["dim"], r["count"]) for r in expected
    ]


# ---------------------------------------------------------------------------------------
# to_pandas, progress, retries
# ---------------------------------------------------------------------------------------


def test_to_pandas_example(dials: Dials) -> None:
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me="PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"),
        max_pages=5,
    )
    frame = data.to_pandas()
    assert len(frame) == len(data.results) == 50
    assert list(frame.columns[:3]) == ["dataset", "me", "dataset_id"]  # as cmsdials 2.4.1
    assert frame["me"].unique().tolist() == [TH1_ME]
    assert frame["ls_number"].tolist() == [r.ls_number for r in data.results]
    # data holds numpy arrays (docs/bulk.md), equal to the rows' lists of floats.
    assert frame["data"].iloc[0].tolist() == data.results[0].data


def test_progress_example(dials: Dials, capsys: pytest.CaptureFixture[str]) -> None:
    data = dials.h2d.list_all(
        LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, entries__gte=100),
        max_pages=5,
        enable_progress=True,
    )
    assert len(data.results) == 50
    err = capsys.readouterr().err
    assert "Progress" in err and "50/50" in err and "row" in err  # rows, not pages


def test_retry_examples(dials: Dials) -> None:
    data = dials.h1d.get(
        dataset_id=14677060, run_number=367112, ls_number=10, me_id=1,
        retries=Retry(total=3, backoff_factor=0.1),
    )  # fmt: skip
    assert data.me_id == 1
    page = dials.h1d.list(retries=Retry(total=3, backoff_factor=0.1))
    assert len(page.results) == 10
    merged = dials.h1d.list_all(
        LumisectionHistogram1DFilters(), max_pages=5, retries=Retry(total=5, backoff_factor=0.1)
    )
    assert len(merged.results) == 50
    assert keys(merged.results[:10], *TH) == keys(page.results, *TH)


# ---------------------------------------------------------------------------------------
# Resuming (the guide's two examples)
# ---------------------------------------------------------------------------------------


def test_resume_after_failure_example(
    creds: Credentials, target: Any, truth: Truth, faults: Any
) -> None:
    dials = Dials(creds, workspace="tracker", base_url=target.base_url)
    # Pages 1..10 succeed; the 11th request and its three default retries fail, so the
    # walk breaks after 100 rows, as the guide narrates.
    faults(",".join(f"503@{k}x1" for k in (11, 12, 13, 14)))
    data = dials.h2d.list_all(LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, entries__gte=100), keep_failed=True)  # fmt: skip  # noqa: E501
    print(len(data.results))  # 100
    print(data.exc_type)
    print(data.exc_formatted)
    assert len(data.results) == 100
    assert data.exc_type == "HTTPError"
    assert data.exc_formatted is not None and "503 Server Error" in data.exc_formatted
    assert data.next is not None

    data = dials.h2d.list_all(LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, entries__gte=100), keep_failed=True, resume_from=data)  # fmt: skip  # noqa: E501
    expected = expected_h2d_resume(truth)
    assert keys(data.results, *TH) == keys(expected, *TH)
    assert data.exc_type is None and data.next is None


def test_resume_from_partial_example(creds: Credentials, target: Any, known: Truth | None) -> None:
    dials = Dials(creds, workspace="tracker", base_url=target.base_url)
    data = dials.h2d.list_all(LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, entries__gte=100), max_pages=10, keep_failed=True)  # fmt: skip  # noqa: E501
    assert len(data.results) == 100 and data.exc_type is None
    data = dials.h2d.list_all(LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, entries__gte=100), max_pages=10, keep_failed=True, resume_from=data)  # fmt: skip  # noqa: E501
    assert len(data.results) == 200
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    assert keys(data.results, *TH) == keys(expected_h2d_resume(truth)[:200], *TH)


# ---------------------------------------------------------------------------------------
# cert/golden JSON (jetmet)
# ---------------------------------------------------------------------------------------


def _bad_rows(truth: Truth) -> list[dict[str, Any]]:
    bl = schema.fact_ml_bad_lumis
    where = [
        bl.c.model_id.in_(JETMET_MODELS),
        bl.c.dataset_id == JETMET_DATASET,
        bl.c.run_number.in_(JETMET_RUNS),
    ]
    return truth.rows("jetmet", bl, where, ORDER["ml_bad_lumisection"])


def test_cert_json_example(jetmet: Dials, known: Truth | None) -> None:
    dials = jetmet
    cert = dials.ml_bad_lumis.cert_json(
        model_id__in=[20, 19], dataset_id__in=[15042670], run_number__in=[385801, 385799, 385764]
    )
    assert list(cert) == [str(run) for run in JETMET_RUNS]  # every run, request order
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    models = {r["model_id"]: r for r in truth.rows("jetmet", schema.dim_ml_models_index)}
    expected: dict[str, dict[str, list[tuple[Any, ...]]]] = {str(r): {} for r in JETMET_RUNS}
    for row in _bad_rows(truth):
        entry = (row["model_id"], row["me_id"], models[row["model_id"]]["filename"],
                 models[row["model_id"]]["target_me"], round(row["mse"], 9))  # fmt: skip
        expected[str(row["run_number"])].setdefault(str(row["ls_number"]), []).append(entry)
    got = {
        run: {
            ls: sorted(
                (e["model_id"], e["me_id"], e["filename"], e["me"], round(e["mse"], 9))
                for e in entries
            )
            for ls, entries in by_ls.items()
        }
        for run, by_ls in cert.items()
    }
    assert got == {
        run: {ls: sorted(v) for ls, v in by_ls.items()} for run, by_ls in expected.items()
    }
    for by_ls in cert.values():
        assert list(by_ls) == sorted(by_ls, key=int)  # LS keys ascending


def _expected_golden(truth: Truth) -> dict[str, list[list[int]]]:
    bad: dict[int, set[int]] = {}
    for row in _bad_rows(truth):
        bad.setdefault(row["run_number"], set()).add(row["ls_number"])
    fl = schema.fact_lumisection
    golden: dict[str, list[list[int]]] = {}
    for run in JETMET_RUNS:
        lumis = truth.rows(
            "jetmet", fl, [fl.c.dataset_id == JETMET_DATASET, fl.c.run_number == run], ["ls_number"]
        )
        good = [r["ls_number"] for r in lumis if r["ls_number"] not in bad.get(run, set())]
        ranges: list[list[int]] = []
        for ls in good:
            if ranges and ranges[-1][1] == ls - 1:
                ranges[-1][1] = ls
            else:
                ranges.append([ls, ls])
        if ranges:
            golden[str(run)] = ranges
    return golden


def test_golden_json_example(jetmet: Dials, known: Truth | None) -> None:
    dials = jetmet
    golden = dials.ml_bad_lumis.golden_json(
        model_id__in=[20, 19], dataset_id__in=[15042670], run_number__in=[385801, 385799, 385764]
    )
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    assert golden == _expected_golden(truth)
    assert list(golden) == [run for run in map(str, JETMET_RUNS) if run in golden]


def test_cert_and_golden_json_post_form(jetmet: Dials) -> None:
    # The newer DIALS only takes the POST form (answering 405 to GET); the client switches
    # after a 405.  Both forms must give the same documents.
    args: dict[str, Any] = {
        "model_id__in": [20, 19],
        "dataset_id__in": [15042670],
        "run_number__in": JETMET_RUNS,
    }
    by_get = (jetmet.ml_bad_lumis.cert_json(**args), jetmet.ml_bad_lumis.golden_json(**args))
    jetmet.ml_bad_lumis._post_only = True
    by_post = (jetmet.ml_bad_lumis.cert_json(**args), jetmet.ml_bad_lumis.golden_json(**args))
    assert by_post == by_get


# ---------------------------------------------------------------------------------------
# Using a local DIALS (base_url)
# ---------------------------------------------------------------------------------------


def test_local_dials_example(target: Any, known: Truth | None) -> None:
    DEV_URL = target.base_url
    creds = Credentials(token=target.secret)
    dials = Dials(creds, base_url=DEV_URL)
    data = dials.h2d.list_all(LumisectionHistogram2DFilters(me__regex="EEOT digi occupancy EE +", entries__gte=100, run_number__gte=360392, run_number__lte=365000), max_pages=5)  # fmt: skip  # noqa: E501
    if known is None:
        return  # another DIALS: the calls and the models' validation are the check
    truth = known
    th2 = schema.fact_th2
    me_ids = truth.me_ids("tracker", regex="EEOT digi occupancy EE +")
    where = [
        th2.c.me_id.in_(me_ids),
        th2.c.entries >= 100,
        th2.c.run_number >= 360392,
        th2.c.run_number <= 365000,
    ]
    expected = truth.rows("tracker", th2, where, TH)
    assert keys(data.results, *TH) == keys(expected[:50], *TH)
