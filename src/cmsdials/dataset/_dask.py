"""Dask: queries and fetched data sets as Dask collections, and fetches run on a cluster.

Three things, all built on Dask's own APIs (no scheduler of ours):

* :func:`query_to_dask` (``dials.h1d.to_dask(filters)``): the query cut by
  ``cmsdials._partition.partition_query`` (by dataset and run range), one Dask partition
  per slice, built with ``dask.dataframe.from_map``.  Each task makes its own
  :class:`~cmsdials.Dials` from a picklable :class:`ClientSpec` and walks its slice; the
  slices concatenate to the server's order.
* :func:`dataset_to_dask` / :func:`dataset_to_dask_array` (``FetchedDataset.to_dask()``):
  one partition (or chunk) per piece file, read on the workers.
* :func:`run_pieces_on_dask`: the pieces of a fetch as Dask tasks
  (``cmsdials.dataset._fetch.run_piece``), failures returned per piece.

Dask is an optional extra (``pip install 'cmsdials[dask]'``), imported on first use.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmsdials._optional import require
from cmsdials._transport import DEFAULT_TIMEOUT, Retries, Timeout
from cmsdials.dataset._read import (
    KINDS,
    FetchedDataset,
    NamesArg,
    PieceView,
    RunsArg,
    columns_from_arrow,
    empty_frame,
    frame_from_table,
    read_piece_table,
)
from cmsdials.errors import MixedBinningError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cmsdials._dials import Dials
    from cmsdials._filters import PaginatedFilters
    from cmsdials._resources import PaginatedResource
    from cmsdials.auth.base import BaseCredentials

__all__ = [
    "ClientSpec",
    "PieceFailure",
    "dataset_to_dask",
    "dataset_to_dask_array",
    "query_to_dask",
    "run_pieces_on_dask",
]

#: The histogram routes and the attribute of :class:`~cmsdials.Dials` that serves them.
_ROUTES = {"th1/": ("h1d", "th1"), "th2/": ("h2d", "th2")}


def _dask(feature: str) -> Any:
    require("dask", "dask", feature)
    return require("dask.dataframe", "dask", feature)


def _from_map(dd: Any, *args: Any, **kwargs: Any) -> Any:
    """``dd.from_map`` keeping the partitions' columns as they are.

    Dask converts object columns to Arrow strings by default (``dataframe.convert-string``,
    decided when the collection is made); the ``data`` cells are arrays, not strings, and
    the name columns already have pandas' own string dtype, as in ``to_pandas()``.
    """
    dask = require("dask", "dask", "to_dask()")
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(*args, **kwargs)


# ---------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    """What a Dask worker needs to make its own :class:`~cmsdials.Dials` (picklable).

    The credentials travel pickled to the workers; their repr never shows the secret.
    """

    creds: BaseCredentials
    base_url: str
    workspace: str | None
    route: str | None = None
    version: str | None = None
    timeout: Timeout = field(default=DEFAULT_TIMEOUT)

    @classmethod
    def of(cls, resource: PaginatedResource[Any, Any, Any]) -> ClientSpec:
        """The spec of the client ``resource`` belongs to; refused early when its
        credentials cannot be sent to a worker."""
        transport = resource.transport
        try:
            pickle.dumps(transport.creds)
        except Exception as exc:
            raise TypeError(
                f"to_dask() sends the credentials to the Dask workers, and "
                f"{type(transport.creds).__name__} cannot be pickled ({exc}); use a secret "
                "key (cmsdials.auth.secret_key.Credentials) or client credentials"
            ) from exc
        return cls(
            creds=transport.creds,
            base_url=transport.base_url,
            workspace=transport.workspace,
            route=transport.route,
            version=transport.version,
            timeout=transport.timeout,
        )

    def dials(self) -> Dials:
        from cmsdials._dials import Dials

        return Dials(
            self.creds,
            workspace=self.workspace,
            base_url=self.base_url,
            route=self.route,
            version=self.version,
            timeout=self.timeout,
            # Checked once on the caller's side before the graph was built.
            check_me_names=False,
        )


def _walk_partition(
    filters: PaginatedFilters, spec: ClientSpec, route_path: str, retries: Retries
) -> pd.DataFrame:
    """One Dask partition of a query: its slice walked by a client of the worker's own."""
    attribute, kind = _ROUTES[route_path]
    with spec.dials() as dials:
        result = getattr(dials, attribute).list_all(filters, enable_progress=False, retries=retries)
    if result.num_rows == 0:
        return empty_frame(kind)  # string columns typed as in the meta
    frame: pd.DataFrame = result.to_pandas()
    return frame


def query_to_dask(
    resource: PaginatedResource[Any, Any, Any],
    filters: PaginatedFilters,
    *,
    workers: int,
    retries: Retries,
) -> Any:
    """The implementation of ``dials.h1d.to_dask`` / ``dials.h2d.to_dask``."""
    dd = _dask("to_dask()")
    from cmsdials._mes import check_me_name
    from cmsdials._partition import partition_query

    path = resource.route.path
    if path not in _ROUTES:
        raise TypeError(f"to_dask() is for the th1/ and th2/ routes, not {path}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer, not {workers!r}")
    transport = resource.transport
    check_me_name(path, transport, filters, retries)
    spec = ClientSpec.of(resource)
    # Planned here, on the caller's side: two small listings, and the graph has its
    # partitions before anything runs.
    partitions = partition_query(transport, filters, workers, retries)
    _, kind = _ROUTES[path]
    return _from_map(
        dd,
        _walk_partition,
        [partition.filters for partition in partitions],
        args=[spec, path, retries],
        meta=empty_frame(kind),
        label=f"cmsdials-{kind}",
        enforce_metadata=False,
    )


# ---------------------------------------------------------------------------------------
# Fetched data sets
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PieceRead:
    """One piece to read on a worker (picklable, small)."""

    root: str
    piece: PieceView
    runs: list[tuple[int, int]] | None
    columns: list[str] | None


def _read_piece_frame(task: _PieceRead) -> pd.DataFrame:
    table = read_piece_table(Path(task.root), task.piece, task.runs)
    if table.num_rows == 0:
        return empty_frame(task.piece.kind, task.columns)
    return frame_from_table(table, task.piece.kind, task.columns)


def dataset_to_dask(
    dataset: FetchedDataset,
    me: NamesArg = None,
    runs: RunsArg = None,
    datasets: NamesArg = None,
    columns: Sequence[str] | None = None,
    *,
    kind: str | None = None,
) -> Any:
    """``FetchedDataset.to_dask``: a Dask DataFrame with one partition per piece.

    Partitions come in the order (dataset, first run, ME); within each the rows are in
    the server's order, with the columns and dtypes of ``to_pandas()``.  Nothing is read
    until the graph is computed (the meta comes from the schema).
    """
    dd = _dask("to_dask()")
    selection = dataset.select(me, runs, datasets, kind)
    wanted = dataset._check_columns(selection.kind, columns)
    meta = empty_frame(selection.kind, wanted)
    if not selection.pieces:
        with require("dask", "dask", "to_dask()").config.set({"dataframe.convert-string": False}):
            return dd.from_pandas(meta, npartitions=1)
    tasks = [
        _PieceRead(str(dataset.path), piece, selection.runs, wanted) for piece in selection.pieces
    ]
    return _from_map(
        dd,
        _read_piece_frame,
        tasks,
        meta=meta,
        label=f"cmsdials-{selection.kind}-pieces",
        enforce_metadata=False,
    )


def _read_piece_array(task: _PieceRead, shape: tuple[int, ...]) -> np.ndarray:
    from cmsdials._arrays import histogram_arrays

    table = read_piece_table(Path(task.root), task.piece, task.runs)
    columns = columns_from_arrow(table, KINDS[task.piece.kind])
    array = histogram_arrays(columns, by_me=False)
    data: np.ndarray = array.data  # type: ignore[union-attr]
    if len(data) and data.shape[1:] != shape:
        raise MixedBinningError(
            {task.piece.me: [shape, data.shape[1:]]},
            f"piece {task.piece.id} changed its binning since the graph was built",
        )
    return data.reshape((len(data), *shape))


def _binning_of(path: Path, kind: str) -> tuple[float, ...]:
    """A piece file's binning from its Parquet footer (row-group statistics)."""
    parquet = require("pyarrow.parquet", "arrow", "to_dask_array()")
    metadata = parquet.ParquetFile(path).metadata
    names = KINDS[kind].binning_fields
    positions = {metadata.schema.column(i).name: i for i in range(metadata.num_columns)}
    values: dict[str, set[float]] = {name: set() for name in names}
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for name in names:
            statistics = row_group.column(positions[name]).statistics
            if statistics is None or not statistics.has_min_max:
                raise ValueError(f"{path} has no statistics for {name}")
            values[name].update((float(statistics.min), float(statistics.max)))
    binning = []
    for name in names:
        if len(values[name]) != 1:
            raise MixedBinningError(
                {path.name: [tuple(sorted(values[name]))]},
                f"{name} varies within one piece: choose runs of one binning",
            )
        (value,) = values[name]
        binning.append(value)
    return tuple(binning)


def dataset_to_dask_array(
    dataset: FetchedDataset,
    me: NamesArg = None,
    runs: RunsArg = None,
    datasets: NamesArg = None,
    *,
    kind: str | None = None,
) -> Any:
    """``FetchedDataset.to_dask_array``: the bin contents of one binning, one chunk per
    piece, rows in the server's order for one ME.

    The binning of every selected piece is read from its Parquet footer (no data read);
    pieces of different binnings raise :class:`~cmsdials.errors.MixedBinningError`.
    Chunk lengths are the pieces' row counts, unknown (NaN) when ``runs`` cuts a piece.
    """
    _dask("to_dask_array()")
    da = require("dask.array", "dask", "to_dask_array()")
    delayed = require("dask", "dask", "to_dask_array()").delayed
    import numpy as np

    selection = dataset.select(me, runs, datasets, kind)
    dims = KINDS[selection.kind].dims
    if not selection.pieces:
        return da.zeros((0,) * (dims + 1), dtype=np.float64, chunks=1)
    binnings: dict[tuple[float, ...], list[str]] = {}
    for piece in selection.pieces:
        binning = _binning_of(dataset.path / piece.path, selection.kind)
        binnings.setdefault(binning, []).append(piece.me)
    if len(binnings) > 1:
        by_me: dict[str, list[tuple[float, ...]]] = {}
        for binning, mes in binnings.items():
            for name in dict.fromkeys(mes):
                by_me.setdefault(name, []).append(binning)
        raise MixedBinningError(
            by_me, "A Dask array holds one binning: choose one ME with me=, or runs of one."
        )
    (binning,) = binnings
    shape = (int(binning[2]),) if dims == 1 else (int(binning[5]), int(binning[2]))
    chunks = []
    for piece in selection.pieces:
        task = _PieceRead(str(dataset.path), piece, selection.runs, None)
        cut = selection.runs is not None and not any(
            low <= piece.first_run and piece.last_run <= high for low, high in selection.runs
        )
        rows = math.nan if cut or piece.rows is None else piece.rows
        value = delayed(_read_piece_array, pure=True)(task, shape)
        chunks.append(da.from_delayed(value, shape=(rows, *shape), dtype=np.float64))
    return da.concatenate(chunks, axis=0)


# ---------------------------------------------------------------------------------------
# Fetch on a cluster
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PieceFailure:
    """A piece whose task failed on the cluster: its id and the error as text."""

    piece_id: str
    error: str
    exception: BaseException | None = None


def run_pieces_on_dask(
    spec: Any,
    pieces: Sequence[Any],
    client: Any,
    on_result: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Run ``cmsdials.dataset._fetch.run_piece(spec, piece)`` for every piece on a
    ``dask.distributed`` client.

    Returns one entry per piece, in the order of ``pieces``: the piece's ``PieceRecord``,
    or a :class:`PieceFailure` when its task raised (the others still run).
    ``on_result`` is called with each entry as it arrives (progress).
    """
    distributed = require("distributed", "dask", "fetch(dask_client=...)")
    from cmsdials.dataset._fetch import run_piece

    if not pieces:
        return []
    # Keys of our own, one per piece: stable names on the dashboard, and no two fetches
    # of the same pieces share results by accident.
    token = require("dask.base", "dask", "fetch(dask_client=...)").tokenize(spec, list(pieces))
    keys = [f"cmsdials-piece-{_piece_id(piece)}-{token}" for piece in pieces]
    futures = client.map(run_piece, [spec] * len(pieces), list(pieces), key=keys, pure=False)
    position = {future.key: k for k, future in enumerate(futures)}
    results: list[Any] = [None] * len(pieces)
    try:
        for future in distributed.as_completed(futures):
            k = position[future.key]
            if future.status == "error":
                exception = future.exception()
                entry: Any = PieceFailure(
                    _piece_id(pieces[k]), f"{type(exception).__name__}: {exception}", exception
                )
            else:
                entry = future.result()
            results[k] = entry
            if on_result is not None:
                on_result(entry)
    finally:
        client.cancel([future for future in futures if not future.done()])
    return results


def _piece_id(piece: Any) -> str:
    identifier = getattr(piece, "id", None)
    return str(identifier) if identifier is not None else repr(piece)
