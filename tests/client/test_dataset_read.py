"""open_dataset: a fetched data set read back equals list_all of the same slice.

The data sets are fetched from the session's dials-local with ``dials.fetch`` (small
pieces, so that a slice spans many files); every read is compared with ``list_all``
against the same server: same rows, order, columns and dtypes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.dataset as pads
import pytest
from dataset_read_support import assert_frames_equal, make_pending, regex_of

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.dataset._manifest import ManifestError
from cmsdials.dataset._read import DatasetSelectionError, FetchedDataset, open_dataset
from cmsdials.errors import MixedBinningError

TH1_MES = ("PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2", "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_1")  # fmt: skip  # noqa: E501


@pytest.fixture(scope="module")
def client(target: Any) -> Iterator[Dials]:
    with Dials(
        Credentials(token=target.secret), workspace="tracker", base_url=target.base_url
    ) as d:
        yield d


@pytest.fixture(scope="module")
def th2_mes(client: Dials) -> tuple[str, str]:
    """Two small 2-D MEs of different binnings (the smallest by row count)."""
    mes = sorted(
        (me for me in client.mes.list() if me.dim == 2), key=lambda me: (me.count, me.me_id)
    )
    binnings: dict[tuple[int, int], str] = {}
    for me in mes[:12]:
        row = client.h2d.list({"me": me.me, "page_size": 1}).results[0]
        binnings.setdefault((row.x_bin, row.y_bin), me.me)
        if len(binnings) == 2:
            first, second = binnings.values()
            return first, second
    pytest.fail("no two 2-D MEs of different binnings among the smallest")


@pytest.fixture(scope="module")
def queries(th2_mes: tuple[str, str]) -> dict[str, dict[str, Any]]:
    return {"th1": {"me__regex": regex_of(TH1_MES)}, "th2": {"me__regex": regex_of(th2_mes)}}


#: Rows per piece: small, so that one ME's rows span several pieces of each dataset.
PIECE_ROWS = 170


@pytest.fixture(scope="module")
def root(client: Dials, th2_mes: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:  # fmt: skip  # noqa: E501
    path = tmp_path_factory.mktemp("dataset") / "slice"
    report = client.fetch(path, mes=[*TH1_MES, *th2_mes], piece_rows=PIECE_ROWS, progress=False)
    assert report.complete
    return path


@pytest.fixture
def dataset(root: Path) -> FetchedDataset:
    return open_dataset(root)


@pytest.fixture(scope="module")
def th1_expected(client: Dials, queries: dict[str, dict[str, Any]]) -> Any:
    return client.h1d.list_all(queries["th1"], enable_progress=False)


@pytest.fixture(scope="module")
def th2_expected(client: Dials, queries: dict[str, dict[str, Any]]) -> Any:
    return client.h2d.list_all(queries["th2"], enable_progress=False)


# -- whole kinds ----------------------------------------------------------------------


def test_th1_equals_list_all(dataset: FetchedDataset, th1_expected: Any) -> None:
    expected = th1_expected.to_pandas()
    assert len(expected) > 1000  # several MEs, datasets and runs: many pieces
    got = dataset.to_pandas(kind="th1")
    assert_frames_equal(got, expected)
    assert dataset.to_arrow(kind="th1").equals(th1_expected.to_arrow())


def test_th2_equals_list_all(dataset: FetchedDataset, th2_expected: Any) -> None:
    expected = th2_expected.to_pandas()
    assert len(expected) > 0
    assert_frames_equal(dataset.to_pandas(kind="th2"), expected)
    # Two binnings: variable lists on both sides.
    assert dataset.to_arrow(kind="th2").equals(th2_expected.to_arrow())


def test_description(dataset: FetchedDataset, th1_expected: Any, th2_expected: Any) -> None:
    assert dataset.kinds == ("th1", "th2")
    assert set(TH1_MES) <= set(dataset.mes)
    assert dataset.mes["PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"] == 1
    assert dataset.complete
    assert dataset.rows == th1_expected.num_rows + th2_expected.num_rows
    frame = th1_expected.to_pandas()
    runs = dataset.runs
    assert runs is not None and runs[0] <= frame.run_number.min()
    assert runs[1] >= frame.run_number.max()
    assert set(dataset.datasets.values()) >= set(frame.dataset_id)


# -- selections -----------------------------------------------------------------------


@pytest.mark.parametrize("me", ["PixelPhase1/Tracks/PXBarrel/charge_PXLayer_1", 4])
def test_me_by_name_or_id(dataset: FetchedDataset, client: Dials, me: Any) -> None:
    expected = client.h1d.list_all({"me_id": 4}, enable_progress=False).to_pandas()
    assert set(expected.me) == {"PixelPhase1/Tracks/PXBarrel/charge_PXLayer_1"}
    assert_frames_equal(dataset.to_pandas(me=me), expected)


@pytest.mark.parametrize(
    "runs",
    [367112, (367000, 368000), [360392, (374000, 380000)], [(379018, 379091), 382921]],
)
def test_runs(dataset: FetchedDataset, th1_expected: Any, runs: Any) -> None:
    full = th1_expected.to_pandas()
    ranges = [runs] if not isinstance(runs, list) else runs
    mask = np.zeros(len(full), bool)
    for item in ranges:
        low, high = (item, item) if isinstance(item, int) else item
        mask |= (full.run_number >= low).to_numpy() & (full.run_number <= high).to_numpy()
    assert 0 < mask.sum() < len(full)
    assert_frames_equal(dataset.to_pandas(runs=runs, kind="th1"), full[mask])


def test_datasets_by_name_or_id(dataset: FetchedDataset, th1_expected: Any) -> None:
    full = th1_expected.to_pandas()
    (name, ident), (other_name, _) = list(dataset.datasets.items())[:2]
    expected = full[full.dataset_id == ident]
    assert 0 < len(expected) < len(full)
    assert_frames_equal(dataset.to_pandas(datasets=name, kind="th1"), expected)
    assert_frames_equal(dataset.to_pandas(datasets=[ident], kind="th1"), expected)
    both = full[full.dataset.isin([name, other_name])]
    assert_frames_equal(dataset.to_pandas(datasets=[name, other_name], kind="th1"), both)


def test_combined_selection_reads_only_its_files(root: Path, tmp_path: Path, client: Dials) -> None:
    """Every file the selection does not need is deleted first: the read still works."""
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    dataset = open_dataset(copy)
    selection = dataset.select(me=4, runs=(367000, 368000), datasets=14677060)
    needed = {piece.path for piece in selection.pieces}
    assert 0 < len(needed) < len(dataset.pieces) // 4
    removed = 0
    for path in copy.rglob("*.parquet"):
        if str(path.relative_to(copy)) not in needed:
            path.unlink()
            removed += 1
    assert removed == len(dataset.pieces) - len(needed)
    expected = client.h1d.list_all(
        {"me_id": 4, "dataset_id": 14677060, "run_number__gte": 367000, "run_number__lte": 368000},
        enable_progress=False,
    ).to_pandas()
    assert len(expected) > 0
    assert_frames_equal(dataset.to_pandas(me=4, runs=(367000, 368000), datasets=14677060), expected)
    # ... and reading anything else fails, which shows the files really are gone.
    with pytest.raises(FileNotFoundError):
        dataset.to_pandas(me=1)


def test_arrow_dataset_prunes_partitions(dataset: FetchedDataset) -> None:
    arrow = dataset.arrow("th1")
    assert arrow.schema.field("me_id").type == "int64"
    mine = [p for p in dataset.pieces if p.kind == "th1" and p.me_id == 4]
    fragments = list(arrow.get_fragments(filter=pads.field("me_id") == 4))
    assert len(fragments) == len(mine) < len(arrow.files)
    table = arrow.to_table(filter=(pads.field("me_id") == 4) & (pads.field("run_number") == 367112))
    assert set(table.column("me_id").to_pylist()) == {4}
    assert set(table.column("run_number").to_pylist()) == {367112}
    assert table.num_rows > 0


def test_columns(dataset: FetchedDataset, th1_expected: Any) -> None:
    full = th1_expected.to_pandas()
    assert_frames_equal(
        dataset.to_pandas(kind="th1", columns=["run_number", "me", "data"]),
        full[["run_number", "me", "data"]],
    )
    table = dataset.to_arrow(kind="th1", columns=["ls_number", "me_id", "dataset"])
    assert table.column_names == ["ls_number", "me_id", "dataset"]
    assert table.equals(th1_expected.to_arrow().select(["ls_number", "me_id", "dataset"]))
    with pytest.raises(DatasetSelectionError, match=r"'run_numbr'.*'run_number'"):
        dataset.to_pandas(kind="th1", columns=["run_numbr"])


# -- numpy ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind_me", [("h1d", 0), ("h2d", 1)])
def test_to_numpy_equals_list_all(
    dataset: FetchedDataset, client: Dials, th2_mes: tuple[str, str], kind_me: Any
) -> None:
    route, position = kind_me
    me = TH1_MES[0] if route == "h1d" else th2_mes[position]
    expected = getattr(client, route).list_all({"me": me}, enable_progress=False).to_numpy()
    got = dataset.to_numpy(me=me)
    assert got.data.shape == expected.data.shape and len(got) > 0
    np.testing.assert_array_equal(got.data, expected.data)
    for name in ("dataset_id", "run_number", "ls_number", "me_id", "entries", "file_id"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    np.testing.assert_array_equal(got.x_edges, expected.x_edges)
    if expected.y_edges is None:
        assert got.y_edges is None
    else:
        np.testing.assert_array_equal(got.y_edges, expected.y_edges)
    assert got.me_names == expected.me_names
    assert got.dataset_names == expected.dataset_names


def test_to_numpy_of_two_binnings_names_them(
    dataset: FetchedDataset, th2_mes: tuple[str, str]
) -> None:
    with pytest.raises(MixedBinningError) as caught:
        dataset.to_numpy(kind="th2")
    assert all(name in str(caught.value) for name in th2_mes)


# -- mistakes ---------------------------------------------------------------------------


def test_unknown_me_name_suggests_the_closest(dataset: FetchedDataset) -> None:
    with pytest.raises(DatasetSelectionError) as caught:
        dataset.to_pandas(me="PixelPhase1/Tracks/PXBarrel/charge_PXLayer2")
    assert "charge_PXLayer2" in str(caught.value)
    assert caught.value.suggestions[0] == "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"
    assert "did you mean" in str(caught.value)


def test_other_mistakes(dataset: FetchedDataset) -> None:
    with pytest.raises(DatasetSelectionError, match=r"no ME with id 999.*ids held: 1, 4"):
        dataset.to_pandas(me=999)
    with pytest.raises(DatasetSelectionError, match=r"no dataset named 'nope'"):
        dataset.to_pandas(datasets="nope", kind="th1")
    with pytest.raises(DatasetSelectionError, match=r"\(368000, 367000\) is empty"):
        dataset.to_pandas(runs=(368000, 367000), kind="th1")
    with pytest.raises(DatasetSelectionError, match=r"th1 and th2.*kind="):
        dataset.to_pandas()
    with pytest.raises(DatasetSelectionError, match="kind must be 'th1' or 'th2'"):
        dataset.to_pandas(kind="th3")
    with pytest.raises(ManifestError, match=r"no _manifest\.json"):
        open_dataset(dataset.path / "th1")


# -- incomplete data sets, repr -----------------------------------------------------------


def test_pending_pieces_are_not_read(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "part"
    shutil.copytree(root, copy)
    th1 = [piece.id for piece in open_dataset(copy).pieces if piece.kind == "th1"]
    make_pending(copy, th1[-3:])
    dataset = open_dataset(copy)
    pending = [piece for piece in dataset.pieces if not piece.complete]
    assert [piece.id for piece in pending] == th1[-3:] and not dataset.complete
    frame = dataset.to_pandas(kind="th1")
    assert len(frame) > 0
    assert dataset.rows == len(frame) + len(dataset.to_pandas(kind="th2"))
    keys = set(zip(frame.me_id, frame.dataset_id, frame.run_number))
    for piece in pending:
        assert not any(
            me == piece.me_id
            and ds == piece.dataset_id
            and piece.first_run <= run <= piece.last_run
            for me, ds, run in keys
        )
    text = repr(dataset)
    total = len(dataset.pieces)
    assert f"pieces={total - 3}/{total} complete" in text
    assert repr(str(copy)) in text
    assert f"rows={dataset.rows}" in text
    assert "kinds=th1,th2 " in text and "MEs=4 " in text
    assert f"runs={dataset.runs[0]}-{dataset.runs[1]}" in text  # type: ignore[index]


def test_audit_is_wired(dataset: FetchedDataset, client: Dials) -> None:
    report = dataset.audit(client)
    assert report.ok, str(report)
    assert report.pieces == len(dataset.pieces)
