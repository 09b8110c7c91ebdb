"""The ``data`` cells of ``to_pandas()``: numpy views by default, 2.4.1's lists on request.

The default cells (th1: 1-D float64 arrays; th2: lists of 1-D float64 lines) must give
what cmsdials 2.4.1's lists of floats give in the common uses of user code.  The
reference here is ``to_pandas(data_as="list")``, whose cells are checked equal to 2.4.1's
own in ``test_incumbent_parity.py``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from client_support import TH1_ME

from cmsdials import Dials
from cmsdials.filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters

#: th2 rows of several MEs with different binnings (the per-row path), and of one.
MIXED_TH2: dict[str, Any] = {"me__regex": "PXBarrel", "ls_number": 78, "page_size": 50}


@pytest.fixture(scope="module")
def results(server: Any) -> Iterator[dict[str, Any]]:
    from cmsdials.auth.secret_key import Credentials

    with Dials(Credentials(token=server.secret_key), base_url=server.base_url) as dials:
        mixed = dials.h2d.list_all(LumisectionHistogram2DFilters(**MIXED_TH2))
        one_me = sorted({row.me for row in mixed.results})[0]
        yield {
            "th1": dials.h1d.list_all(LumisectionHistogram1DFilters(me=TH1_ME), max_pages=3),
            "th2": dials.h2d.list_all(LumisectionHistogram2DFilters(**{**MIXED_TH2, "me": one_me})),
            "th2-mixed": mixed,
        }


KINDS = ["th1", "th2", "th2-mixed"]


def _frames(result: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    return result.to_pandas(), result.to_pandas(data_as="list")


@pytest.mark.parametrize("kind", KINDS)
def test_list_cells_are_the_rows_lists_of_python_floats(results: dict[str, Any], kind: str) -> None:
    result = results[kind]
    _, lists = _frames(result)
    assert len(lists) > 5
    assert lists["data"].tolist() == [row.data for row in result.results]
    cell = lists["data"].iloc[0]
    assert type(cell) is list
    inner = cell if kind == "th1" else cell[0]
    assert type(inner) is list and type(inner[0]) is float


@pytest.mark.parametrize("kind", ["th1", "th2"])
def test_stacking_gives_the_same_array(results: dict[str, Any], kind: str) -> None:
    numpy_frame, lists = _frames(results[kind])
    expected = np.stack(lists.data)
    assert expected.dtype == np.float64 and expected.ndim == (2 if kind == "th1" else 3)
    for got in (np.stack(numpy_frame.data), np.array(numpy_frame.data.tolist())):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert np.array_equal(got, expected)
    assert np.array_equal(np.array(lists.data.tolist()), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_indexing_len_and_iteration_agree(results: dict[str, Any], kind: str) -> None:
    numpy_frame, lists = _frames(results[kind])
    for ours, theirs in zip(numpy_frame.data, lists.data):
        assert len(ours) == len(theirs)
        assert [_plain(v) for v in ours] == theirs  # iteration: lines (th2) or values
        assert _plain(ours[1:3]) == theirs[1:3]  # slices
        if kind == "th1":
            assert ours[-1] == theirs[-1] and ours[0] == theirs[0]
        else:  # data[iy][ix]
            assert ours[-1][0] == theirs[-1][0] and ours[0][-1] == theirs[0][-1]
            assert len(ours[0]) == len(theirs[0])
    assert _plain(numpy_frame["data"].iloc[-1]) == lists["data"].iloc[-1]
    assert _plain(numpy_frame.data[0]) == lists.data[0]


def _plain(value: Any) -> Any:
    """Cells (arrays, lists of arrays) as nested lists of floats."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.tolist() if hasattr(value, "tolist") else value


@pytest.mark.parametrize("kind", KINDS)
def test_to_json_is_the_same_text(results: dict[str, Any], kind: str) -> None:
    numpy_frame, lists = _frames(results[kind])
    assert numpy_frame.to_json() == lists.to_json()
    assert numpy_frame.to_json(orient="records") == lists.to_json(orient="records")


@pytest.mark.parametrize("kind", KINDS)
def test_to_parquet_writes_the_same_table(results: dict[str, Any], kind: str) -> None:
    pytest.importorskip("pyarrow")
    numpy_frame, lists = _frames(results[kind])
    written = []
    for frame in (numpy_frame, lists):
        buffer = io.BytesIO()
        frame.to_parquet(buffer)  # 2-D array cells would fail here (Arrow takes 1-D only)
        buffer.seek(0)
        written.append(pd.read_parquet(buffer))
    ours, theirs = written
    assert list(ours.columns) == list(theirs.columns) == list(lists.columns)
    assert ours.drop(columns="data").equals(theirs.drop(columns="data"))
    assert [_plain(list(c)) for c in ours.data] == [_plain(list(c)) for c in theirs.data]
    assert [_plain(list(c)) for c in ours.data] == lists["data"].tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_cells_are_views_not_copies(results: dict[str, Any], kind: str) -> None:
    """The default keeps no Python float per bin: cells share the decoded buffer."""
    numpy_frame, _ = _frames(results[kind])
    cell = numpy_frame["data"].iloc[0]
    arrays = [cell] if kind == "th1" else cell
    assert all(isinstance(a, np.ndarray) and a.ndim == 1 for a in arrays)
    assert all(a.base is not None for a in arrays)  # views, not owners of their bins
    if kind == "th2":
        assert len(cell) == int(numpy_frame["y_bin"].iloc[0])


def test_other_frames_are_equal_and_bins_are_float64(results: dict[str, Any]) -> None:
    numpy_frame, lists = _frames(results["th2"])
    assert numpy_frame.drop(columns="data").equals(lists.drop(columns="data"))
    assert str(numpy_frame["x_bin"].dtype) == str(numpy_frame["y_bin"].dtype) == "float64"
    assert list(numpy_frame.columns[:3]) == ["dataset", "me", "dataset_id"]
    with pytest.raises(ValueError, match="data_as"):
        results["th1"].to_pandas(data_as="lists")
