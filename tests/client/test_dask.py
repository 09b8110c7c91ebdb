"""Dask: queries and fetched data sets as Dask DataFrames, and fetches on a cluster.

One ``distributed.LocalCluster`` (two worker processes) for the module: every task runs
in another process, with a client of its own made from a pickled spec, against the
session's dials-local.  Results are compared with ``list_all`` / ``to_pandas`` of the
same slice row for row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_read_support import assert_frames_equal, regex_of

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.dataset._dask import PieceFailure, run_pieces_on_dask
from cmsdials.dataset._fetch import FetchSpec
from cmsdials.dataset._manifest import Manifest
from cmsdials.dataset._read import open_dataset
from cmsdials.errors import UnknownMEError

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

TH1_MES = ("PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2", "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_1")  # fmt: skip  # noqa: E501
PIECE_ROWS = 170


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def client(target: Any) -> Iterator[Dials]:
    with Dials(
        Credentials(token=target.secret), workspace="tracker", base_url=target.base_url
    ) as d:
        yield d


@pytest.fixture(scope="module")
def th2_me(client: Dials) -> str:
    """The smallest 2-D ME."""
    mes = [me for me in client.mes.list() if me.dim == 2]
    return min(mes, key=lambda me: (me.count, me.me_id)).me


@pytest.fixture(scope="module")
def root(client: Dials, th2_me: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dask") / "local"
    client.fetch(path, mes=[*TH1_MES, th2_me], piece_rows=PIECE_ROWS, progress=False)
    return path


# -- queries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "filters"),
    [
        ("h1d", {"me__regex": regex_of(TH1_MES)}),
        ("h1d", {"me": TH1_MES[0], "run_number__gte": 367000, "run_number__lte": 380000}),
        ("h2d", "th2"),
    ],
)
def test_query_equals_list_all(
    cluster_client: Any, client: Dials, th2_me: str, route: str, filters: Any
) -> None:
    if filters == "th2":
        filters = {"me": th2_me}
    resource = getattr(client, route)
    frame = resource.to_dask(filters, workers=2)
    assert frame.npartitions > 1  # cut by dataset and run range
    got = cluster_client.compute(frame).result()
    expected = resource.list_all(filters, enable_progress=False).to_pandas()
    assert len(expected) > 0
    # Concatenated partitions are the server's order: no sorting here.
    assert_frames_equal(got.reset_index(drop=True), expected)


def test_query_empty_and_mistakes(cluster_client: Any, client: Dials) -> None:
    frame = client.h1d.to_dask({"me": TH1_MES[0], "run_number": 1}, workers=2)
    got = cluster_client.compute(frame).result()
    assert len(got) == 0
    assert list(got.columns) == list(frame._meta.columns)
    # Checked on the caller's side, before any task exists.
    with pytest.raises(UnknownMEError, match="charge_PXLayer_2"):
        client.h1d.to_dask({"me": "PixelPhase1/Tracks/PXBarrel/charge_PXLayer2"})
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        client.h1d.to_dask({"me_id": 1}, workers=0)


# -- fetched data sets --------------------------------------------------------------------


def test_dataset_to_dask_equals_to_pandas(cluster_client: Any, root: Path) -> None:
    dataset = open_dataset(root)
    frame = dataset.to_dask(kind="th1")
    pieces = [piece for piece in dataset.pieces if piece.kind == "th1"]
    assert frame.npartitions == len(pieces) > 4
    got = cluster_client.compute(frame).result()
    # Partitions are pieces (ME by ME): sorted back into the server's order.
    got = got.sort_values(["dataset_id", "run_number", "ls_number", "me_id"], kind="stable")
    assert_frames_equal(got.reset_index(drop=True), dataset.to_pandas(kind="th1"))


def test_dataset_to_dask_selection(cluster_client: Any, root: Path, th2_me: str) -> None:
    dataset = open_dataset(root)
    frame = dataset.to_dask(me=th2_me, runs=(367000, 380000), columns=["run_number", "data"])
    got = cluster_client.compute(frame).result()
    expected = dataset.to_pandas(me=th2_me, runs=(367000, 380000), columns=["run_number", "data"])
    assert len(expected) > 0
    assert_frames_equal(got.reset_index(drop=True), expected)


def test_dataset_to_dask_array(cluster_client: Any, root: Path) -> None:
    dataset = open_dataset(root)
    array = dataset.to_dask_array(me=TH1_MES[1])
    pieces = [piece for piece in dataset.pieces if piece.me == TH1_MES[1]]
    assert array.numblocks[0] == len(pieces) > 1
    assert array.chunks[0] == tuple(piece.rows for piece in pieces)
    expected = dataset.to_numpy(me=TH1_MES[1]).data
    np.testing.assert_array_equal(cluster_client.compute(array).result(), expected)
    # A run range that cuts pieces: chunk lengths unknown until computed.
    cut = dataset.to_dask_array(me=TH1_MES[1], runs=(367000, 380000))
    np.testing.assert_array_equal(
        cluster_client.compute(cut).result(),
        dataset.to_numpy(me=TH1_MES[1], runs=(367000, 380000)).data,
    )


# -- fetch on a cluster ---------------------------------------------------------------------


def _files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "_manifest.json"
    }


def test_fetch_on_dask_equals_local_fetch(
    cluster_client: Any, client: Dials, root: Path, th2_me: str, tmp_path: Path
) -> None:
    report = client.fetch(
        tmp_path / "on-dask",
        mes=[*TH1_MES, th2_me],
        piece_rows=PIECE_ROWS,
        progress=False,
        dask_client=cluster_client,
    )
    assert report.complete and report.pieces_done == report.pieces_total > 4
    assert _files(tmp_path / "on-dask") == _files(root)
    local, on_dask = Manifest.load(root), Manifest.load(tmp_path / "on-dask")
    assert on_dask.entries() == local.entries()


def test_run_pieces_reports_failures_per_piece(
    cluster_client: Any, client: Dials, root: Path, tmp_path: Path
) -> None:
    pieces: list[Any] = []
    for piece in Manifest.load(root).pieces:  # three pieces in three directories
        if all(Path(piece.path).parent != Path(other.path).parent for other in pieces):
            pieces.append(piece)
    pieces = pieces[:3]
    target = tmp_path / "target"
    # The second piece cannot be written: its directory is a file.
    blocked = target / pieces[1].path
    blocked.parent.parent.mkdir(parents=True)
    blocked.parent.write_text("not a directory")
    seen: list[Any] = []
    results = run_pieces_on_dask(
        FetchSpec.from_dials(client, target), pieces, cluster_client, on_result=seen.append
    )
    assert len(results) == 3 and len(seen) == 3
    assert isinstance(results[1], PieceFailure)
    assert results[1].piece_id == pieces[1].id and results[1].error
    for k in (0, 2):
        assert results[k].id == pieces[k].id
        assert (target / pieces[k].path).read_bytes() == (root / pieces[k].path).read_bytes()
