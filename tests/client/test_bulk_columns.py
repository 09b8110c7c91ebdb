"""Columnar results: numpy, pandas, Arrow, hist - decoded once, equal to the rows."""

from __future__ import annotations

import copy
import json
import pickle
import sys
from typing import Any

import numpy as np
import orjson
import pytest
from bulk_support import dumped, histogram_rows
from client_support import DATASET_ID, LS, RUN, TH1_ME, Truth
from pydantic import BaseModel

from cmsdials import Dials, HistogramArray
from cmsdials._decode import ReusableParser, decode_histogram_page
from cmsdials._layout import LAYOUT_1D, LAYOUT_2D
from cmsdials._tables import INCUMBENT_FRAME_COLUMNS
from cmsdials.clients.h1d.models import PaginatedLumisectionHistogram1DList
from cmsdials.clients.h2d.models import PaginatedLumisectionHistogram2DList
from cmsdials.errors import (
    MissingDependencyError,
    MixedBinningError,
    ResponseDecodeError,
    ResponseFormatError,
)
from cmsdials.filters import (
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
)
from dials_local.db import schema

PXBARREL: dict[str, Any] = {"me__regex": "PXBarrel", "ls_number": 78}


def _page(rows: list[dict[str, Any]], next_url: str | None = None) -> bytes:
    return orjson.dumps({"next": next_url, "previous": None, "results": rows})


def _th2_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "dataset_id": 1, "dataset": "/A/B/DQMIO", "me": "M/map", "file_id": 2,
        "run_number": 3, "ls_number": 4, "me_id": 5, "x_min": 0.0, "x_max": 3.0,
        "x_bin": 3, "y_min": -1.0, "y_max": 1.0, "y_bin": 2, "entries": 21,
        "data": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
    }  # fmt: skip
    row.update(overrides)
    return row


def _known_result(*rows: dict[str, Any]) -> PaginatedLumisectionHistogram2DList:
    head, columns = decode_histogram_page(_page(list(rows)), LAYOUT_2D)
    return PaginatedLumisectionHistogram2DList.from_columns(head.next, head.previous, columns)


# ---------------------------------------------------------------------------------------
# Known bins: data[iy][ix] through every representation
# ---------------------------------------------------------------------------------------


def test_known_bins_numpy_and_hist() -> None:
    result = _known_result(_th2_row())
    array = result.to_numpy()
    assert isinstance(array, HistogramArray)
    assert array.data.shape == (1, 2, 3)
    assert array.data[0, 1, 0] == 4.0  # data[iy=1][ix=0]
    assert array.x_edges.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert array.y_edges is not None and array.y_edges.tolist() == [-1.0, 0.0, 1.0]
    assert array.binning == (0.0, 3.0, 3, -1.0, 1.0, 2)
    (h,) = result.to_hist()
    x, y = h.axes
    assert (x.name, y.name) == ("x", "y")
    assert x.edges.tolist() == [0.0, 1.0, 2.0, 3.0] and y.edges.tolist() == [-1.0, 0.0, 1.0]
    assert not (x.traits.underflow or x.traits.overflow or y.traits.underflow or y.traits.overflow)
    assert h.values(flow=True).shape == (3, 2)  # no flow bins
    assert h.values()[0, 1] == 4.0  # (ix=0, iy=1) = data[1][0]
    assert h.values()[2, 0] == 3.0
    assert h[2j, -0.5j] == 3.0  # x = 2.x, y = -0.5: the bin of data[0][2]
    assert h.name == "M/map" and h.metadata["run_number"] == 3 and h.metadata["entries"] == 21
    assert h.sum() == 21.0


def test_known_bins_1d_hist() -> None:
    row = {k: v for k, v in _th2_row().items() if not k.startswith("y_")}
    row["data"] = [1.0, 0.0, 2.0]
    head, columns = decode_histogram_page(_page([row]), LAYOUT_1D)
    result = PaginatedLumisectionHistogram1DList.from_columns(head.next, None, columns)
    (h,) = result.to_hist()
    assert h.values().tolist() == [1.0, 0.0, 2.0] and len(h.axes) == 1
    assert result.to_numpy().data.tolist() == [[1.0, 0.0, 2.0]]  # type: ignore[union-attr]


def test_all_representations_agree_with_rows(dials: Dials, truth: Truth) -> None:
    th2 = schema.fact_th2
    where = [th2.c.me_id == 100, th2.c.ls_number <= 3]
    expected = histogram_rows(truth, "tracker", 2, where)
    data = dials.h2d.list_all(
        LumisectionHistogram2DFilters(me_id=100, ls_number__lte=3, page_size=7)
    )
    assert len(expected) > 10
    array = data.to_numpy()
    assert isinstance(array, HistogramArray)
    assert array.data.tolist() == [row["data"] for row in expected]
    for name in ("dataset_id", "run_number", "ls_number", "me_id", "entries", "file_id"):
        assert getattr(array, name).tolist() == [row[name] for row in expected]
    first = expected[0]
    assert np.allclose(
        array.x_edges, np.linspace(first["x_min"], first["x_max"], first["x_bin"] + 1)
    )
    assert array.me_names == {100: first["me"]}

    frame = data.to_pandas()
    # cmsdials 2.4.1's column order; th2 cells are lists of x_bin-long float64 lines.
    assert (
        list(frame.columns)
        == list(INCUMBENT_FRAME_COLUMNS[2])
        == sorted(expected[0], key=INCUMBENT_FRAME_COLUMNS[2].index)
    )
    assert [np.asarray(a).tolist() for a in frame["data"]] == [row["data"] for row in expected]
    assert frame.drop(columns="data").to_dict("records") == [
        {k: v for k, v in row.items() if k != "data"} for row in expected
    ]

    table = data.to_arrow()
    assert str(table.schema.field("data").type).startswith("fixed_size_list")
    assert table.to_pylist() == expected

    hists = data.to_hist()
    assert [h.values().T.tolist() for h in hists] == [row["data"] for row in expected]
    assert dumped(data.results) == expected


def test_mixed_binnings_error_names_the_mes_or_split_by_me(dials: Dials, truth: Truth) -> None:
    data = dials.h2d.list_all(LumisectionHistogram2DFilters(**PXBARREL, page_size=50))
    with pytest.raises(MixedBinningError, match="by_me=True") as caught:
        data.to_numpy()
    names = {row.me for row in data.results}
    assert set(caught.value.binnings) <= names and len(caught.value.binnings) > 1
    assert any(name in str(caught.value) for name in names)
    by_me = data.to_numpy(by_me=True)
    assert isinstance(by_me, dict) and set(by_me) == names
    for name, array in by_me.items():
        rows = [row for row in data.results if row.me == name]
        assert array.data.tolist() == [row.data for row in rows]
        assert [(d, r, ls, m) for d, r, ls, m in zip(array.dataset_id.tolist(), array.run_number.tolist(), array.ls_number.tolist(), array.me_id.tolist())] == [(r.dataset_id, r.run_number, r.ls_number, r.me_id) for r in rows]  # fmt: skip  # noqa: E501
    # Mixed shapes: variable lists in Arrow, per-row arrays in pandas.
    table = data.to_arrow()
    assert str(table.schema.field("data").type) == "list<item: list<item: double>>"
    assert table.column("data").to_pylist() == [row.data for row in data.results]
    frame = data.to_pandas()
    assert [np.shape(a) for a in frame["data"]] == [(r.y_bin, r.x_bin) for r in data.results]


def test_stream_to_numpy_equals_list_all(dials: Dials) -> None:
    filters = LumisectionHistogram1DFilters(me=TH1_ME, ls_number__lte=20, page_size=30)
    streamed = dials.h1d.stream(filters, workers=3).to_numpy()
    collected = dials.h1d.list_all(filters).to_numpy()
    assert isinstance(streamed, HistogramArray) and isinstance(collected, HistogramArray)
    assert np.array_equal(streamed.data, collected.data)
    assert np.array_equal(streamed.ls_number, collected.ls_number)
    streamed_frame = dials.h1d.stream(filters).to_pandas()
    collected_frame = dials.h1d.list_all(filters).to_pandas()
    assert streamed_frame.drop(columns="data").equals(collected_frame.drop(columns="data"))
    assert [a.tolist() for a in streamed_frame["data"]] == [
        a.tolist() for a in collected_frame["data"]
    ]


def test_empty_results_keep_their_shape(dials: Dials) -> None:
    empty = dials.h2d.list_all(LumisectionHistogram2DFilters(run_number=1))
    array = empty.to_numpy()
    assert isinstance(array, HistogramArray) and array.data.shape == (0, 0, 0) and len(array) == 0
    assert empty.to_numpy(by_me=True) == {}
    frame = empty.to_pandas()
    assert frame.empty and list(frame.columns) == list(INCUMBENT_FRAME_COLUMNS[2])
    assert empty.to_arrow().num_rows == 0 and empty.to_hist() == []
    assert empty.results == []


def test_other_routes_convert_from_models(dials: Dials) -> None:
    lumis = dials.lumi.list_all(LumisectionFilters(run_number=RUN, page_size=50))
    frame = lumis.to_pandas()
    assert frame["ls_number"].tolist() == [r.ls_number for r in lumis.results]
    assert lumis.to_arrow().to_pylist() == [r.model_dump() for r in lumis.results]
    with pytest.raises(TypeError, match="th1/th2"):
        lumis.to_numpy()
    with pytest.raises(TypeError, match="th1/th2"):
        dials.lumi.stream(LumisectionFilters(run_number=RUN)).to_numpy()


# ---------------------------------------------------------------------------------------
# Lazy models, decoded once
# ---------------------------------------------------------------------------------------


def test_results_are_built_lazily_from_the_columns(dials: Dials) -> None:
    page = dials.h2d.list(LumisectionHistogram2DFilters(page_size=5))
    assert "results" not in vars(page)
    assert page.num_rows == 5
    page.to_numpy(by_me=True)
    assert "results" not in vars(page)  # still no models
    row = page.results[0]
    assert row == dials.h2d.get(row.dataset_id, row.run_number, row.ls_number, row.me_id)
    assert isinstance(row.data[0][0], float) and isinstance(row.x_bin, int)
    assert page.model_dump()["results"][0]["data"] == row.data
    assert "results=[" in repr(page)


def test_conversions_follow_changes_to_results(dials: Dials) -> None:
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me=TH1_ME, run_number=RUN, page_size=50)
    )
    n = len(data.results)
    del data.results[0]
    assert len(data.to_pandas()) == n - 1
    data.results = data.results[:3]
    assert data.to_numpy().data.shape[0] == 3  # type: ignore[union-attr]


def test_conversions_read_the_columns_until_results_change(dials: Dials) -> None:
    page = dials.h1d.list(LumisectionHistogram1DFilters(me=TH1_ME, run_number=RUN, page_size=6))
    decoded = page.histogram_columns()
    rows = page.results
    page.results = rows  # the same list, the same rows: still what the columns hold
    assert page.histogram_columns() is decoded
    rows.reverse()  # in place
    reversed_ = page.histogram_columns()
    assert reversed_ is not decoded
    assert reversed_.columns["ls_number"].tolist() == [row.ls_number for row in rows]
    assert page.to_numpy().ls_number.tolist() == [row.ls_number for row in rows]  # type: ignore[union-attr]


class Holder(BaseModel):
    """A model of the caller's that holds a result (serialized through it)."""

    page: PaginatedLumisectionHistogram1DList


@pytest.mark.parametrize(
    "read",
    [
        lambda page: page.model_dump()["results"],
        lambda page: json.loads(page.model_dump_json())["results"],
        lambda page: dict(page)["results"],
        lambda page: pickle.loads(pickle.dumps(page)).results,
        lambda page: copy.copy(page).results,
        lambda page: copy.deepcopy(page).results,
        lambda page: page.model_copy(update={"next": None}).results,
        lambda page: Holder(page=page).model_dump()["page"]["results"],
    ],
    ids=["dump", "dump_json", "dict", "pickle", "copy", "deepcopy", "model_copy", "nested"],
)
def test_every_way_of_reading_a_result_sees_its_rows(dials: Dials, read: Any) -> None:
    filters = LumisectionHistogram1DFilters(me=TH1_ME, run_number=RUN, page_size=4)
    lazy = dials.h1d.list(filters)
    assert "results" not in vars(lazy)  # nothing built yet
    rows = [row if isinstance(row, dict) else row.model_dump() for row in read(lazy)]
    assert rows == [row.model_dump() for row in dials.h1d.list(filters).results]
    assert len(rows) == 4


def test_repr_shows_the_rows(dials: Dials) -> None:
    lazy = dials.h1d.list(LumisectionHistogram1DFilters(me=TH1_ME, page_size=2))
    assert "results=[LumisectionHistogram1D(" in repr(lazy)


def test_results_keep_their_serialization_schema() -> None:
    schema_ = PaginatedLumisectionHistogram2DList.model_json_schema(mode="serialization")
    assert schema_["required"] == ["next", "previous", "results"]
    assert schema_["properties"]["results"]["items"] == {"$ref": "#/$defs/LumisectionHistogram2D"}


def test_equality_ignores_how_rows_were_decoded(dials: Dials) -> None:
    filters = LumisectionHistogram1DFilters(me=TH1_ME, run_number=RUN, ls_number__lte=5)
    a, b = dials.h1d.list(filters), dials.h1d.list(filters)
    assert a == b
    a.results  # noqa: B018 - one side built, the other not
    assert a == b


def test_results_equal_the_pydantic_decode_of_the_same_bytes(dials: Dials) -> None:
    params: dict[str, Any] = {
        "dataset_id": DATASET_ID,
        "run_number": RUN,
        "ls_number": LS,
        "page_size": 40,
    }
    page = dials.h2d.list(LumisectionHistogram2DFilters(**params))
    headers = dials.h2d.transport.creds.headers()
    body = dials.session.get(dials.api_url + "th2/", params=params, headers=headers).content
    validated = PaginatedLumisectionHistogram2DList.model_validate_json(body)
    assert len(page.results) > 10 and page.results == validated.results


# ---------------------------------------------------------------------------------------
# Decoding: broken and unexpected bodies
# ---------------------------------------------------------------------------------------


def test_one_parser_decodes_every_page_of_a_walk() -> None:
    """Pages decoded by a reused parser equal fresh decodes, including after an error and
    while a document of the parser is still referenced (a fresh parser takes over)."""
    parser = ReusableParser()
    pages = [
        _page([_th2_row(ls_number=n, data=[[n, 2.0, 3.0], [4.0, 5.0, -n]]) for n in range(k)])
        for k in (1, 3, 2)
    ]
    for body in pages:
        _, reused = decode_histogram_page(body, LAYOUT_2D, parser)
        _, fresh = decode_histogram_page(body, LAYOUT_2D)
        assert reused.values.tolist() == fresh.values.tolist()
        assert reused.columns["ls_number"].tolist() == fresh.columns["ls_number"].tolist()
    with pytest.raises(ResponseDecodeError):
        decode_histogram_page(pages[1][:-3], LAYOUT_2D, parser)
    held = parser.parse(pages[0])["results"]  # a live document of the shared parser
    _, columns = decode_histogram_page(pages[1], LAYOUT_2D, parser)
    assert columns.columns["ls_number"].tolist() == [0, 1, 2]
    assert held[0]["ls_number"] == 0  # the held document was not overwritten


def test_broken_json_is_a_decode_error() -> None:
    body = _page([_th2_row()])
    with pytest.raises(ResponseDecodeError):
        decode_histogram_page(body[: len(body) // 2], LAYOUT_2D)


@pytest.mark.parametrize(
    "row",
    [
        _th2_row(data=[[1.0, 2.0, 3.0]]),  # one y line missing
        _th2_row(data=[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),  # right count, wrong shape
        _th2_row(data=[[1.0, None, 3.0], [4.0, 5.0, 6.0]]),
        _th2_row(x_min=None),
        _th2_row(run_number="3"),
        _th2_row(x_bin=3.5),
        _th2_row(me=None),
        {k: v for k, v in _th2_row().items() if k != "entries"},
    ],
)
def test_unexpected_rows_are_format_errors(row: dict[str, Any]) -> None:
    with pytest.raises(ResponseFormatError):
        decode_histogram_page(_page([row]), LAYOUT_2D)


def test_integral_floats_and_integer_bins_are_accepted() -> None:
    _, columns = decode_histogram_page(
        _page([_th2_row(x_bin=3.0, data=[[1, 2, 3], [4, 5, 6]])]), LAYOUT_2D
    )
    assert columns.columns["x_bin"].dtype == np.int64 and columns.values.tolist() == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


def test_without_numpy_extra_pages_take_the_model_path(
    dials: Dials, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cmsdials._collect
    import cmsdials._decode

    filters = LumisectionHistogram2DFilters(me_id=100, ls_number__lte=2, page_size=5)
    fast = dials.h2d.list_all(filters, workers=2)
    monkeypatch.setattr(cmsdials._decode, "columnar_available", lambda: False)
    monkeypatch.setattr(cmsdials._collect, "columnar_available", lambda: False)
    slow = dials.h2d.list_all(filters, workers=2)
    # Columns leave `results` to be built on first use; models are there from the start.
    assert "results" not in vars(fast) and "results" in vars(slow)
    assert slow.results == fast.results
    assert np.array_equal(slow.to_numpy().data, fast.to_numpy().data)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("module", "extra", "call"),
    [
        ("hist", "hist", lambda r: r.to_hist()),
        ("pyarrow", "arrow", lambda r: r.to_arrow()),
        ("pandas", "pandas", lambda r: r.to_pandas()),
        ("numpy", "numpy", lambda r: r.to_numpy()),
    ],
)
def test_missing_extras_are_named(
    monkeypatch: pytest.MonkeyPatch, module: str, extra: str, call: Any
) -> None:
    result = _known_result(_th2_row())
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError, match=rf"cmsdials\[{extra}\]"):
        call(result)


def test_histogram_array_repr_and_metadata() -> None:
    array = _known_result(_th2_row(), _th2_row(ls_number=5)).to_numpy()
    assert isinstance(array, HistogramArray) and len(array) == 2
    assert "M/map" in repr(array) and array.dataset_names == {1: "/A/B/DQMIO"}
    assert [h.metadata["ls_number"] for h in array.to_hist()] == [4, 5]
    assert (
        json.loads(orjson.dumps(array.data, option=orjson.OPT_SERIALIZE_NUMPY))[1]
        == _th2_row()["data"]
    )
