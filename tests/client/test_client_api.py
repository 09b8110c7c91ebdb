"""The public surface: module paths, class names, filters, models, credentials."""

from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from typing import Any

import pytest
from client_support import DATASET_ID, RUN, TH1_ME

from cmsdials import Dials
from cmsdials.auth.base import BaseCredentials
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import MissingDependencyError, UnknownFilterError
from cmsdials.filters import (
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
    MEFilters,
    MLBadLumisectionFilters,
    MLModelsIndexFilters,
    RunFilters,
)

# Module -> names users import from it (the incumbent's layout, CONTRACT §14).
PUBLIC_NAMES: dict[str, list[str]] = {
    "cmsdials": ["Dials"],
    "cmsdials.filters": [
        "DatasetIndexFilters", "FileIndexFilters", "LumisectionFilters",
        "LumisectionHistogram1DFilters", "LumisectionHistogram2DFilters", "MEFilters",
        "MLBadLumisectionFilters", "MLModelsIndexFilters", "OMSFilter", "OMSPage", "RunFilters",
    ],
    "cmsdials.auth.secret_key": ["Credentials"],
    "cmsdials.clients.dataset_index.models": ["DatasetIndex", "DatasetIndexFilters", "PaginatedDatasetIndexList"],  # noqa: E501
    "cmsdials.clients.dataset_index.client": ["DatasetIndexClient"],
    "cmsdials.clients.file_index.models": ["FileIndex", "FileIndexFilters", "PaginatedFileIndexList"],  # noqa: E501
    "cmsdials.clients.file_index.client": ["FileIndexClient"],
    "cmsdials.clients.h1d.models": ["LumisectionHistogram1D", "LumisectionHistogram1DFilters", "PaginatedLumisectionHistogram1DList"],  # noqa: E501
    "cmsdials.clients.h1d.client": ["LumisectionHistogram1DClient"],
    "cmsdials.clients.h2d.models": ["LumisectionHistogram2D", "LumisectionHistogram2DFilters", "PaginatedLumisectionHistogram2DList"],  # noqa: E501
    "cmsdials.clients.h2d.client": ["LumisectionHistogram2DClient"],
    "cmsdials.clients.lumisection.models": ["Lumisection", "LumisectionFilters", "PaginatedLumisectionList"],  # noqa: E501
    "cmsdials.clients.lumisection.client": ["LumisectionClient"],
    "cmsdials.clients.run.models": ["PaginatedRunList", "Run", "RunFilters"],
    "cmsdials.clients.run.client": ["RunClient"],
    "cmsdials.clients.mes.models": ["MEFilters", "MonitoringElement"],
    "cmsdials.clients.mes.client": ["MonitoringElementClient"],
    "cmsdials.clients.ml_models_index.models": ["MLModelsIndex", "MLModelsIndexFilters", "PaginatedMLModelsIndexList"],  # noqa: E501
    "cmsdials.clients.ml_models_index.client": ["MLModelsIndexClient"],
    "cmsdials.clients.ml_bad_lumisection.models": ["MLBadLumisection", "MLBadLumisectionFilters", "PaginatedMLBadLumisectionList"],  # noqa: E501
    "cmsdials.clients.ml_bad_lumisection.client": ["MLBadLumisectionClient"],
    "cmsdials.clients.oms_proxy.models": ["OMSFilter", "OMSPage"],
    "cmsdials.clients.oms_proxy.client": ["OMSProxyClient"],
    "cmsdials.clients.workspace.models": [],
    "cmsdials.clients.workspace.client": ["WorkspaceClient"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC_NAMES))
def test_public_module_paths_and_names(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in PUBLIC_NAMES[module]:
        assert hasattr(loaded, name), f"{module}.{name}"


def test_each_model_is_declared_once() -> None:
    from cmsdials.clients.h1d.client import LumisectionHistogram1D as from_client
    from cmsdials.clients.h1d.models import LumisectionHistogram1D as from_models
    from cmsdials.clients.h1d.models import LumisectionHistogram1DFilters as filters_from_models
    from cmsdials.filters import LumisectionHistogram1DFilters as from_filters

    assert from_client is from_models
    assert from_filters is filters_from_models


def test_dials_attributes() -> None:
    dials = Dials(Credentials(token="x"), workspace="jetmet", base_url="http://127.0.0.1:1/")
    names = ["dataset_index", "file_index", "h1d", "h2d", "lumi", "run", "mes",
             "ml_models_index", "ml_bad_lumis", "oms", "workspace"]  # fmt: skip
    for name in names:
        assert getattr(dials, name) is not None
    assert dials.ml_bad_lumisection is dials.ml_bad_lumis
    assert dials.workspace_name == "jetmet"
    params = list(inspect.signature(Dials).parameters)
    assert params[:5] == ["creds", "workspace", "base_url", "route", "version"]


def test_get_signatures_follow_the_route_keys() -> None:
    dials = Dials(Credentials(token="x"), base_url="http://127.0.0.1:1/")
    expected = {
        "dataset_index": ["dataset_id"],
        "file_index": ["dataset_id", "file_id"],
        "run": ["dataset_id", "run_number"],
        "lumi": ["dataset_id", "run_number", "ls_number"],
        "h1d": ["dataset_id", "run_number", "ls_number", "me_id"],
        "h2d": ["dataset_id", "run_number", "ls_number", "me_id"],
        "mes": ["me_id"],
        "ml_models_index": ["model_id"],
        "ml_bad_lumis": ["model_id", "dataset_id", "run_number", "ls_number", "me_id"],
    }
    for name, names in expected.items():
        params = inspect.signature(getattr(dials, name).get).parameters
        assert list(params) == [*names, "retries", "params", "return_raw_json"], name
    assert inspect.signature(dials.ml_bad_lumis.get).parameters["me_id"].default is None
    with pytest.raises(TypeError, match="ls_number"):
        dials.h1d.get(1, 2)
    with pytest.raises(TypeError):
        dials.run.get(1, 2, 3)
    with pytest.raises(ValueError, match="non-negative integer"):
        dials.run.get(1, "x")


def test_list_all_signature_matches_the_incumbent_order() -> None:
    from cmsdials.clients.run.client import RunClient

    signature = inspect.signature(RunClient.list_all)
    params = list(signature.parameters)
    # The incumbent's positional order, then the keyword-only bulk option (docs/bulk.md).
    assert params == ["self", "filters", "max_pages", "enable_progress", "retries",
                      "keep_failed", "resume_from", "workers"]  # fmt: skip
    assert signature.parameters["workers"].kind is inspect.Parameter.KEYWORD_ONLY


# ---------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------


def test_filter_encoding() -> None:
    params = MLBadLumisectionFilters(
        page_size=500, model_id__in=[20, 19], dataset_id__in=[15042670], run_number=None
    ).to_params()
    assert params == {"page_size": "500", "model_id__in": "20,19", "dataset_id__in": "15042670"}
    assert MLModelsIndexFilters(active=True, ready=False).to_params() == {
        "active": "True",
        "ready": "False",
    }
    # ``__in`` filters also take a tuple, a "1,2" string or one int, made a list by the
    # validator; the fields are typed ``list[int]`` (what they hold), hence the ignores.
    tupled = RunFilters(dataset_id__in=(1, 2))  # type: ignore[arg-type]
    assert tupled.to_params() == {"dataset_id__in": "1,2"}
    listed = MLBadLumisectionFilters(run_number__in="1, 2,")  # type: ignore[arg-type]
    assert listed.run_number__in == [1, 2]
    single = MLBadLumisectionFilters(model_id__in=19)  # type: ignore[arg-type]
    assert single.model_id__in == [19]


def test_filters_are_typed() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RunFilters(run_number="abc")  # type: ignore[arg-type]  # wrong on purpose
    with pytest.raises(ValidationError):
        MLBadLumisectionFilters(model_id__in=["x"])  # type: ignore[list-item]  # wrong on purpose


def test_unknown_filter_name_suggests_close_names() -> None:
    with pytest.raises(UnknownFilterError) as caught:
        LumisectionHistogram1DFilters(me_regex="PXBarrel")  # type: ignore[call-arg]  # a typo
    assert "me__regex" in str(caught.value) and caught.value.suggestions[0] == "me__regex"
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)
    with pytest.raises(UnknownFilterError, match="run_number__in"):
        RunFilters(run_number__in=[1])  # type: ignore[call-arg]  # run/ has no run_number__in
    with pytest.raises(UnknownFilterError):
        MEFilters(page_size=10)  # type: ignore[call-arg]  # mes/ is not paginated


def test_both_generations_of_model_filters() -> None:
    new: dict[str, Any] = {
        "id": 1, "id__in": [1, 2], "name": "a", "name__regex": "a", "active": True,
        "ready": True, "type": "t", "input_signature_contains_me": "m",
        "input_signature_contains_me__regex": "m", "tag_name": "n", "tag_value": "v",
    }  # fmt: skip
    old: dict[str, Any] = {
        "model_id": 1, "model_id__in": [1], "filename": "f", "filename__regex": "f",
        "target_me": "m", "target_me__regex": "m",
    }  # fmt: skip
    assert set(MLModelsIndexFilters(**new, **old).to_params()) == set(new) | set(old)


@pytest.mark.parametrize("filters", [LumisectionHistogram1DFilters, LumisectionHistogram2DFilters])
def test_misspelt_ls_number_lte_is_a_deprecated_alias(filters: Any) -> None:
    with pytest.warns(DeprecationWarning, match="ls_number__lte"):
        value = filters(ls_numbet__lte=20)
    assert value.to_params() == {"ls_number__lte": "20"}
    assert value.ls_numbet__lte == 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert filters(ls_number__lte=20).to_params() == {"ls_number__lte": "20"}
    assert LumisectionFilters(ls_number__lte=5).to_params() == {"ls_number__lte": "5"}


def test_alias_sends_ls_number_lte_and_bounds_results(dials: Dials) -> None:
    with pytest.warns(DeprecationWarning):
        filters = LumisectionHistogram1DFilters(  # type: ignore[call-arg]  # deprecated spelling
            me=TH1_ME, ls_numbet__lte=12, page_size=500
        )
    data = dials.h1d.list_all(filters)
    assert data.results and max(r.ls_number for r in data.results) <= 12
    unbounded = dials.h1d.list_all(LumisectionHistogram1DFilters(me=TH1_ME, page_size=500))
    assert max(r.ls_number for r in unbounded.results) > 12
    assert [r.ls_number for r in unbounded.results if r.ls_number <= 12] == [
        r.ls_number for r in data.results
    ]


def test_filters_of_another_route_are_refused(dials: Dials) -> None:
    with pytest.raises(TypeError, match="LumisectionHistogram1DFilters"):
        dials.h1d.list(RunFilters())  # type: ignore[arg-type]  # wrong route on purpose


def test_filters_as_dict(dials: Dials) -> None:
    assert dials.run.list({"run_number": RUN}).results[0].run_number == RUN
    with pytest.raises(UnknownFilterError):
        dials.run.list({"run": RUN})


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------


def test_models_accept_both_generations() -> None:
    from cmsdials.clients.ml_bad_lumisection.models import MLBadLumisection
    from cmsdials.clients.ml_models_index.models import MLModelsIndex
    from cmsdials.clients.run.models import Run

    old = MLModelsIndex.model_validate_json(
        b'{"model_id":3,"filename":"m.onnx","target_me":"JetMET/MET/x","active":true}'
    )
    assert (old.id, old.model_id, old.name) == (3, 3, None)
    new = MLModelsIndex.model_validate_json(
        b'{"id":4,"name":"n","revision":1,"ready":true,"active":false,"type":"t",'
        b'"anomaly_threshold":null,"builtin_threshold":true,"description":"","flagging_key":null,'
        b'"input_signature":[{"me":"a"}],"metric_key":null,"output_signature":[],"tags":null,'
        b'"isvc_service_name":null,"isvc_yaml":null,"created_by":"a","modified_by":"b",'
        b'"created_at":"2024-06-23T22:14:07Z","modified_at":"2024-06-23T22:14:07Z","new_key":1}'
    )
    assert (new.id, new.model_id, new.input_signature) == (4, 4, [{"me": "a"}])
    bad_old = MLBadLumisection.model_validate(
        {
            "model_id": 1,
            "dataset_id": 2,
            "file_id": 3,
            "run_number": 4,
            "ls_number": 5,
            "me_id": 6,
            "mse": 0.5,
        }
    )
    bad_new = MLBadLumisection.model_validate(
        {"model_id": 1, "dataset_id": 2, "run_number": 4, "ls_number": 5, "metric_value": 0.5}
    )
    assert bad_old.metric_value == bad_new.mse == 0.5
    run = Run.model_validate({"dataset_id": 1, "dataset": "d", "run_number": 2, "ls_count": 3})
    assert run.ls_completeness is None


def test_to_pandas_names_the_extra_when_pandas_is_missing(
    dials: Dials, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = dials.run.list()
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(MissingDependencyError, match=r"cmsdials\[pandas\]"):
        page.to_pandas()


def test_to_pandas_of_an_empty_result_has_the_columns(dials: Dials) -> None:
    frame = dials.run.list(RunFilters(run_number=1)).to_pandas()
    assert frame.empty and list(frame.columns) == [
        "dataset_id", "dataset", "run_number", "ls_count", "ls_completeness"
    ]  # fmt: skip


def test_mes_list_and_list_all_return_plain_lists(dials: Dials) -> None:
    everything = dials.mes.list()
    assert isinstance(everything, list) and everything
    assert [m.me_id for m in dials.mes.list_all()] == [m.me_id for m in everything]
    two_d = dials.mes.list(MEFilters(dim=2))
    assert two_d and all(m.dim == 2 for m in two_d)
    first = everything[0]
    assert dials.mes.get(first.me_id) == first
    assert dials.mes.get(id=first.me_id) == first


def test_dataset_index_get_uses_the_route_that_exists(dials: Dials) -> None:
    assert dials.dataset_index.get(DATASET_ID).dataset_id == DATASET_ID


# ---------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_secret_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Credentials(token=token)


def test_credentials_interface() -> None:
    creds = Credentials(token="abc")
    assert isinstance(creds, BaseCredentials)
    assert creds.headers() == {"X-CLIENT-SECRET": "abc"}
    assert "abc" not in repr(creds)

    class Counting(BaseCredentials):
        calls = 0

        def apply(self, headers: dict[str, str]) -> None:
            headers["Authorization"] = "Bearer t"

        def before_request(self, headers: dict[str, str]) -> None:
            type(self).calls += 1  # a token credential would refresh here
            super().before_request(headers)

    assert Counting().headers() == {"Authorization": "Bearer t"} and Counting.calls == 1


def test_before_request_runs_for_every_attempt(target: Any, faults: Any) -> None:
    class Counting(Credentials):
        calls = 0

        def before_request(self, headers: dict[str, str]) -> None:
            type(self).calls += 1
            super().before_request(headers)

    dials = Dials(Counting(token=target.secret), base_url=target.base_url)
    faults("503@1x1")
    dials.run.get(DATASET_ID, RUN)
    assert Counting.calls == 2


def test_creds_must_be_a_credentials_object() -> None:
    with pytest.raises(TypeError, match="credentials"):
        Dials("my-secret")  # type: ignore[arg-type]


def test_retries_argument_is_checked(dials: Dials) -> None:
    with pytest.raises(TypeError, match="retries"):
        dials.run.list(retries=-1)
    with pytest.raises(TypeError, match="retries"):
        dials.run.list(retries="3")  # type: ignore[arg-type]
