"""Reading a fetched data set back: ``open_dataset(path)`` -> :class:`FetchedDataset`.

A data set on disk (see docs/datasets.md) is two Hive-partitioned Parquet data sets,
``<root>/th1`` and ``<root>/th2``, partitioned by ``me_id`` and ``dataset_id``, one file per
piece, plus the manifest.  Reading is lazy and filtered:

* ``me=`` and ``datasets=`` choose pieces by the manifest (names resolved there, typos
  answered with the closest names) and are also pushed down as partition expressions;
* ``runs=`` drops the pieces whose run range misses every requested range and is pushed
  down as a ``run_number`` expression, which Parquet row-group statistics answer;

so only the files of the chosen pieces are opened.  Rows come back in the server's order
(``dataset_id, run_number, ls_number, me_id``, CONTRACT §5.3): a read equals
``list_all`` of the same slice row for row.  Conversions go through the client's own
histogram columns (``cmsdials._columns``), so frames, arrays and tables are built by the
same code as ``list_all``'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import TypeAlias

from cmsdials._layout import LAYOUT_1D, LAYOUT_2D, Layout
from cmsdials._optional import require
from cmsdials._suggest import closest
from cmsdials.dataset._plan import Piece
from cmsdials.errors import DatasetSelectionError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pads

    from cmsdials._arrays import HistogramArray
    from cmsdials._columns import HistogramColumns
    from cmsdials.dataset._manifest import Manifest
    from cmsdials.plot import Plots

__all__ = ["DatasetSelectionError", "FetchedDataset", "PieceView", "open_dataset"]

#: The kinds of histograms a data set holds, and their row layouts.
KINDS: dict[str, Layout] = {"th1": LAYOUT_1D, "th2": LAYOUT_2D}
#: The Hive partition keys of every kind's directory.
PARTITION_KEYS = ("me_id", "dataset_id")
#: The server's order of histogram rows (CONTRACT §5.3).
ORDER = ("dataset_id", "run_number", "ls_number", "me_id")

#: What ``runs=`` accepts: a run, an inclusive ``(first, last)`` range, or a list of them.
RunsArg: TypeAlias = "int | tuple[int, int] | Sequence[int | tuple[int, int]] | None"
#: What ``me=`` / ``datasets=`` accept: names or ids, one or several.
NamesArg: TypeAlias = "str | int | Sequence[str | int] | None"

_RunRange = tuple[int, int]


@dataclass(frozen=True)
class PieceView(Piece):
    """One piece of the data set with its state (a row of the manifest's table)."""

    status: str
    rows: int | None

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def overlaps(self, ranges: Sequence[_RunRange] | None) -> bool:
        """Whether any of ``ranges`` (``None``: all runs) meets this piece's run range."""
        if ranges is None:
            return True
        return any(low <= self.last_run and high >= self.first_run for low, high in ranges)


def pieces_of(manifest: Manifest) -> list[PieceView]:
    """The manifest's piece table, with the records under ``_pieces/`` merged in."""
    names = PieceView.__dataclass_fields__
    return [PieceView(**{name: entry[name] for name in names}) for entry in manifest.entries()]


# ---------------------------------------------------------------------------------------
# Arrow <-> the client's histogram columns
# ---------------------------------------------------------------------------------------


def _strings(column: Any) -> list[str]:
    """A string column as a list of (shared) ``str`` objects: one object per distinct
    name, as the client's decoded pages hold them."""
    column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    encoded = column.dictionary_encode()
    names = encoded.dictionary.to_pylist()
    return [names[i] for i in encoded.indices.to_numpy(zero_copy_only=False).tolist()]


def columns_from_arrow(table: pa.Table, layout: Layout) -> HistogramColumns:
    """Histogram columns from an Arrow table with the fields of ``layout``.

    ``data`` may be fixed-size or variable lists (lists of lists for th2); its values are
    checked against ``x_bin`` (and ``y_bin``) so that a damaged file fails here, not as
    wrong shapes later.
    """
    import numpy as np

    from cmsdials._columns import HistogramColumns

    columns: dict[str, Any] = {}
    for name in layout.ints:
        columns[name] = np.ascontiguousarray(table.column(name).to_numpy(), dtype=np.int64)
    for name in layout.floats:
        columns[name] = np.ascontiguousarray(table.column(name).to_numpy(), dtype=np.float64)
    for name in layout.strings:
        columns[name] = _strings(table.column(name))
    data = table.column("data")
    chunks = []
    for chunk in data.chunks:
        flat = chunk.flatten()
        if layout.dims == 2:
            flat = flat.flatten()
        chunks.append(flat.to_numpy(zero_copy_only=False))
    values = (
        np.concatenate(chunks).astype(np.float64, copy=False) if chunks else np.empty(0, np.float64)
    )
    result = HistogramColumns(layout, columns, values)
    if int(result.sizes().sum()) != len(values):
        raise ValueError(
            f"histogram data do not match x_bin/y_bin: {len(values)} values for "
            f"{int(result.sizes().sum())} bins"
        )
    return result


def in_server_order(columns: HistogramColumns) -> HistogramColumns:
    """The rows sorted by the server's order (a no-op, without copy, when they are)."""
    import numpy as np

    if len(columns) < 2:
        return columns
    keys = [columns.columns[name] for name in ORDER]
    order = np.lexsort(keys[::-1])
    if (order == np.arange(len(order))).all():
        return columns
    return columns.take(order)


def arrow_schema(kind: str, with_keys: bool = True) -> pa.Schema:
    """The schema of a kind's files (variable-list ``data``), with the partition keys."""
    from cmsdials._tables import histogram_schema

    schema = histogram_schema(KINDS[kind].dims)
    for name in PARTITION_KEYS:
        schema = schema.remove(schema.get_field_index(name))
    if with_keys:
        pa = require("pyarrow", "arrow", "open_dataset()")
        for name in PARTITION_KEYS:
            schema = schema.append(pa.field(name, pa.int64()))
    return schema


def hive_partitioning() -> Any:
    pa = require("pyarrow", "arrow", "open_dataset()")
    pads = require("pyarrow.dataset", "arrow", "open_dataset()")
    return pads.partitioning(
        pa.schema([(name, pa.int64()) for name in PARTITION_KEYS]), flavor="hive"
    )


def run_expression(ranges: Sequence[_RunRange] | None) -> Any:
    """``run_number`` within any of ``ranges`` (``None``: no condition)."""
    if ranges is None:
        return None
    pads = require("pyarrow.dataset", "arrow", "open_dataset()")
    run = pads.field("run_number")
    expression = None
    for low, high in ranges:
        term = (run >= low) & (run <= high)
        expression = term if expression is None else expression | term
    return expression


def read_piece_table(
    root: Path,
    piece: PieceView,
    ranges: Sequence[_RunRange] | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """One piece's rows (``me_id``/``dataset_id`` restored), ``run_number`` in ``ranges``.

    Read through its own Hive-partitioned one-file dataset, so that the partition keys
    come back from the path exactly as in :meth:`FetchedDataset.arrow`.
    """
    pads = require("pyarrow.dataset", "arrow", "open_dataset()")
    base = root / piece.kind
    dataset = pads.dataset(
        [str(root / piece.path)],
        format="parquet",
        partitioning=hive_partitioning(),
        partition_base_dir=str(base),
        schema=arrow_schema(piece.kind),
    )
    return dataset.to_table(
        columns=list(columns) if columns is not None else None, filter=run_expression(ranges)
    )


def frame_from_table(table: pa.Table, kind: str, columns: Sequence[str] | None) -> pd.DataFrame:
    """A DataFrame as ``list_all(...).to_pandas()`` builds it, then ``columns`` of it."""
    from cmsdials._tables import histogram_frame

    layout = KINDS[kind]
    frame = histogram_frame(in_server_order(columns_from_arrow(table, layout)))
    if columns is not None:
        frame = frame[list(columns)]
    return frame


def empty_frame(kind: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A frame without rows with the columns and dtypes of a non-empty one."""
    from cmsdials._columns import HistogramColumns
    from cmsdials._tables import histogram_frame

    pandas = require("pandas", "pandas", "to_pandas()")
    frame = histogram_frame(HistogramColumns.empty(KINDS[kind]))
    # An empty list has no strings to infer a string dtype from (pandas 3 infers `str`
    # for names): give the name columns the dtype a non-empty frame gets.
    string_dtype = pandas.Series(["name"]).dtype
    for name in KINDS[kind].strings:
        frame[name] = frame[name].astype(string_dtype)
    if columns is not None:
        frame = frame[list(columns)]
    return frame


# ---------------------------------------------------------------------------------------
# Selections
# ---------------------------------------------------------------------------------------


def normalize_runs(runs: RunsArg) -> list[_RunRange] | None:
    """``runs=`` as a list of inclusive ``(first, last)`` ranges; ``None`` for all runs."""
    if runs is None:
        return None
    if isinstance(runs, tuple) and len(runs) == 2 and all(_is_int(v) for v in runs):
        items: list[Any] = [runs]
    elif _is_int(runs):
        items = [runs]
    elif isinstance(runs, (list, tuple)):
        items = list(runs)
    else:
        raise DatasetSelectionError(
            f"runs must be a run number, a (first, last) range or a list of them, "
            f"not {type(runs).__name__}"
        )
    ranges: list[_RunRange] = []
    for item in items:
        if _is_int(item):
            ranges.append((int(item), int(item)))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(map(_is_int, item)):
            low, high = int(item[0]), int(item[1])
            if low > high:
                raise DatasetSelectionError(
                    f"run range ({low}, {high}) is empty: give (first, last) with first <= last"
                )
            ranges.append((low, high))
        else:
            raise DatasetSelectionError(
                f"runs: {item!r} is neither a run number nor a (first, last) range"
            )
    return ranges


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_list(value: NamesArg) -> list[str | int] | None:
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return [value]
    return list(value)


def resolve(
    wanted: NamesArg, known: dict[str, int], what: str, argument: str, root: Path
) -> set[int] | None:
    """Ids of ``wanted`` names or ids among ``known`` (name -> id); ``None`` for all.

    An unknown name raises with the closest names; an unknown id with the ids held.
    """
    items = _as_list(wanted)
    if items is None:
        return None
    ids = set(known.values())
    chosen: set[int] = set()
    for item in items:
        if _is_int(item):
            if item not in ids:
                held = ", ".join(map(str, sorted(ids)[:20])) or "none"
                raise DatasetSelectionError(
                    f"{argument}: no {what} with id {item} in the data set at {root} "
                    f"(ids held: {held})"
                )
            chosen.add(int(item))
        elif isinstance(item, str):
            if item not in known:
                suggestions = closest(item, known)
                hint = did_you_mean(suggestions) or (
                    f" ({len(known)} {what}s held; see .{argument} of the data set)"
                )
                raise DatasetSelectionError(
                    f"{argument}: no {what} named {item!r} in the data set at {root}{hint}",
                    suggestions,
                )
            chosen.add(known[item])
        else:
            raise DatasetSelectionError(
                f"{argument} takes {what} names or ids, not {type(item).__name__}"
            )
    return chosen


@dataclass(frozen=True)
class Selection:
    """What a read asks for: its kind, its pieces, and the pushed-down conditions."""

    kind: str
    pieces: list[PieceView]
    me_ids: set[int] | None
    dataset_ids: set[int] | None
    runs: list[_RunRange] | None

    def expression(self) -> Any:
        """The Arrow filter of the selection (partition keys and ``run_number``)."""
        pads = require("pyarrow.dataset", "arrow", "open_dataset()")
        terms = []
        if self.me_ids is not None:
            terms.append(pads.field("me_id").isin(sorted(self.me_ids)))
        if self.dataset_ids is not None:
            terms.append(pads.field("dataset_id").isin(sorted(self.dataset_ids)))
        runs = run_expression(self.runs)
        if runs is not None:
            terms.append(runs)
        expression = None
        for term in terms:
            expression = term if expression is None else expression & term
        return expression


# ---------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------


class FetchedDataset:
    """A data set written by ``dials.fetch`` (or ``cmsdials fetch``), opened for reading.

    Made by :func:`open_dataset`.  Nothing is read from the Parquet files until a
    conversion runs; each conversion reads only the files of the pieces its selection
    needs.

    Every reader takes the same selection:

    me:
        ME names or ids, one or several (names as in the manifest).
    runs:
        A run, an inclusive ``(first, last)`` range, or a list of them.
    datasets:
        Dataset names or ids, one or several.
    kind:
        ``"th1"`` or ``"th2"``, when the selection holds both kinds (a frame or array
        holds one).

    Only complete pieces are read (a fetch still running, or interrupted, leaves others
    pending: see :attr:`complete`).
    """

    def __init__(self, path: str | os.PathLike[str], manifest: Manifest) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._pieces = pieces_of(manifest)

    # -- description ------------------------------------------------------------------

    @property
    def pieces(self) -> list[PieceView]:
        """Every piece of the manifest, complete or not."""
        return list(self._pieces)

    @property
    def complete(self) -> bool:
        """True when every piece of the manifest is complete."""
        return all(piece.complete for piece in self._pieces)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of histograms in the data set (``"th1"``, ``"th2"``)."""
        present = {piece.kind for piece in self._pieces}
        return tuple(kind for kind in KINDS if kind in present)

    @property
    def mes(self) -> dict[str, int]:
        """ME name -> ``me_id``, for every ME of the data set (ordered by kind, then id)."""
        ordered = sorted(self._pieces, key=lambda p: (p.kind, p.me_id))
        return {piece.me: piece.me_id for piece in ordered}

    @property
    def datasets(self) -> dict[str, int]:
        """Dataset name -> ``dataset_id``, ordered by id."""
        ordered = sorted(self._pieces, key=lambda p: p.dataset_id)
        return {piece.dataset: piece.dataset_id for piece in ordered}

    @property
    def runs(self) -> tuple[int, int] | None:
        """The first and last run covered by the pieces (``None`` for no piece)."""
        if not self._pieces:
            return None
        return (
            min(piece.first_run for piece in self._pieces),
            max(piece.last_run for piece in self._pieces),
        )

    @property
    def rows(self) -> int:
        """Rows in the complete pieces (from their records: no file read)."""
        return sum(piece.rows or 0 for piece in self._pieces if piece.complete)

    def __repr__(self) -> str:
        done = sum(piece.complete for piece in self._pieces)
        runs = f"{self.runs[0]}-{self.runs[1]}" if self.runs else "none"
        return (
            f"<FetchedDataset {str(self.path)!r} kinds={','.join(self.kinds) or 'none'} "
            f"pieces={done}/{len(self._pieces)} complete rows={self.rows} "
            f"MEs={len(self.mes)} runs={runs}>"
        )

    # -- selection --------------------------------------------------------------------

    def select(
        self,
        me: NamesArg = None,
        runs: RunsArg = None,
        datasets: NamesArg = None,
        kind: str | None = None,
    ) -> Selection:
        """The complete pieces of one kind that ``me``/``runs``/``datasets`` need.

        Raises :class:`DatasetSelectionError` for unknown names or ids, malformed runs,
        or a selection spanning th1 and th2 without ``kind``.
        """
        if kind is not None and kind not in KINDS:
            raise DatasetSelectionError(
                f"kind must be 'th1' or 'th2', not {kind!r}", closest(str(kind), KINDS)
            )
        ranges = normalize_runs(runs)
        me_ids = resolve(me, self.mes, "ME", "mes", self.path)
        dataset_ids = resolve(datasets, self.datasets, "dataset", "datasets", self.path)
        chosen = [
            piece
            for piece in self._pieces
            if (me_ids is None or piece.me_id in me_ids)
            and (dataset_ids is None or piece.dataset_id in dataset_ids)
            and (kind is None or piece.kind == kind)
        ]
        kinds = [k for k in KINDS if any(piece.kind == k for piece in chosen)]
        if kind is None:
            if len(kinds) > 1:
                raise DatasetSelectionError(
                    "the selection holds th1 and th2 MEs, which cannot share a table: "
                    "pass kind='th1' or kind='th2', or me= MEs of one kind"
                )
            kind = kinds[0] if kinds else (self.kinds[0] if self.kinds else "th1")
        wanted = [
            piece
            for piece in chosen
            if piece.complete and piece.kind == kind and piece.overlaps(ranges)
        ]
        wanted.sort(key=lambda p: (p.dataset_id, p.first_run, p.me_id))
        return Selection(kind, wanted, me_ids, dataset_ids, ranges)

    def arrow(self, kind: str | None = None) -> pads.Dataset:
        """The complete pieces of ``kind`` as a ``pyarrow.dataset.Dataset``.

        Hive-partitioned by ``me_id`` and ``dataset_id`` (restored as int64 columns);
        ``data`` read as variable lists (files of different binnings share the schema).
        Filter it with ``pyarrow.dataset`` expressions; the partition keys prune files
        and ``run_number`` conditions use the Parquet statistics.  ``kind`` may be left
        out when the data set holds one kind.
        """
        selection = self.select(kind=kind)
        return self._arrow_dataset(selection.kind, selection.pieces)

    def _arrow_dataset(self, kind: str, pieces: Iterable[PieceView]) -> pads.Dataset:
        pads = require("pyarrow.dataset", "arrow", "open_dataset()")
        return pads.dataset(
            [str(self.path / piece.path) for piece in pieces],
            format="parquet",
            partitioning=hive_partitioning(),
            partition_base_dir=str(self.path / kind),
            schema=arrow_schema(kind),
        )

    def _scan(self, selection: Selection, columns: Sequence[str] | None = None) -> pa.Table:
        dataset = self._arrow_dataset(selection.kind, selection.pieces)
        return dataset.to_table(columns=columns, filter=selection.expression())

    def _columns(self, selection: Selection) -> HistogramColumns:
        layout = KINDS[selection.kind]
        return in_server_order(columns_from_arrow(self._scan(selection), layout))

    @staticmethod
    def _check_columns(kind: str, columns: Sequence[str] | None) -> list[str] | None:
        if columns is None:
            return None
        if isinstance(columns, str):
            columns = [columns]
        fields = KINDS[kind].fields
        for name in columns:
            if name not in fields:
                suggestions = closest(name, fields)
                hint = did_you_mean(suggestions)
                raise DatasetSelectionError(
                    f"columns: {kind} rows have no column {name!r}{hint} "
                    f"(columns: {', '.join(fields)})",
                    suggestions,
                )
        return list(columns)

    # -- conversions ------------------------------------------------------------------

    def to_arrow(
        self,
        me: NamesArg = None,
        runs: RunsArg = None,
        datasets: NamesArg = None,
        columns: Sequence[str] | None = None,
        *,
        kind: str | None = None,
    ) -> pa.Table:
        """The selected rows as a ``pyarrow.Table``, in the server's order.

        With every column, the same table as ``list_all(...).to_arrow()`` of the same
        slice (``data`` fixed-size lists when every row shares a binning).  ``columns``
        reads only those columns (in that order).
        """
        from cmsdials._tables import histogram_table

        selection = self.select(me, runs, datasets, kind)
        wanted = self._check_columns(selection.kind, columns)
        if wanted is None or "data" in wanted:
            table = histogram_table(self._columns(selection))
            return table if wanted is None else table.select(wanted)
        pa = require("pyarrow", "arrow", "to_arrow()")
        pc = require("pyarrow.compute", "arrow", "to_arrow()")
        table = self._scan(selection, sorted(set(wanted) | set(ORDER)))
        if table.num_rows > 1:
            order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in ORDER])
            table = table.take(order)
        return pa.Table.from_arrays([table.column(name) for name in wanted], names=wanted)

    def to_pandas(
        self,
        me: NamesArg = None,
        runs: RunsArg = None,
        datasets: NamesArg = None,
        columns: Sequence[str] | None = None,
        *,
        kind: str | None = None,
    ) -> pd.DataFrame:
        """The selected rows as a DataFrame: the columns, order and dtypes of
        ``list_all(...).to_pandas()`` (``data`` cells are float64 arrays; th2: lists of
        lines), rows in the server's order.  ``columns`` keeps only those columns.
        """
        from cmsdials._tables import histogram_frame

        require("pandas", "pandas", "to_pandas()")
        selection = self.select(me, runs, datasets, kind)
        wanted = self._check_columns(selection.kind, columns)
        if not selection.pieces:
            return empty_frame(selection.kind, wanted)
        frame = histogram_frame(self._columns(selection))
        return frame if wanted is None else frame[wanted]

    def to_numpy(
        self,
        me: NamesArg = None,
        runs: RunsArg = None,
        datasets: NamesArg = None,
        *,
        kind: str | None = None,
    ) -> HistogramArray:
        """The selected histograms stacked: a :class:`~cmsdials.HistogramArray` equal to
        ``list_all(...).to_numpy()`` of the same slice.

        One binning only: choose an ME with ``me=`` when the data set holds several
        (else :class:`~cmsdials.errors.MixedBinningError` names the binnings).
        """
        require("numpy", "numpy", "to_numpy()")
        from cmsdials._arrays import HistogramArray, histogram_arrays

        selection = self.select(me, runs, datasets, kind)
        array = histogram_arrays(self._columns(selection), by_me=False)
        assert isinstance(array, HistogramArray)
        return array

    def to_dask(
        self,
        me: NamesArg = None,
        runs: RunsArg = None,
        datasets: NamesArg = None,
        columns: Sequence[str] | None = None,
        *,
        kind: str | None = None,
    ) -> Any:
        """The selected rows as a Dask DataFrame, one partition per piece (needs the
        ``dask`` extra); see :func:`cmsdials.dataset._dask.dataset_to_dask`."""
        from cmsdials.dataset._dask import dataset_to_dask

        return dataset_to_dask(self, me, runs, datasets, columns, kind=kind)

    def to_dask_array(
        self,
        me: NamesArg = None,
        runs: RunsArg = None,
        datasets: NamesArg = None,
        *,
        kind: str | None = None,
    ) -> Any:
        """The bin contents of one binning as a Dask array ``(n, x_bin)`` or
        ``(n, y_bin, x_bin)``, one chunk per piece (needs the ``dask`` extra); see
        :func:`cmsdials.dataset._dask.dataset_to_dask_array`."""
        from cmsdials.dataset._dask import dataset_to_dask_array

        return dataset_to_dask_array(self, me, runs, datasets, kind=kind)

    def plot(
        self,
        me: NamesArg = None,
        runs: RunsArg = None,
        datasets: NamesArg = None,
        *,
        kind: str | None = None,
    ) -> Plots:
        """The plots of the selected histograms: ``dataset.plot(me=...).lumisection_map()``
        (see :class:`cmsdials.plot.Plots`; needs the ``plot`` extra).  The selection is
        read once, as :meth:`to_numpy` reads it: one binning, so choose one ME with ``me=``
        when the data set holds several."""
        from cmsdials.plot import Plots

        return Plots(self.to_numpy(me, runs, datasets, kind=kind))

    def audit(self, dials: Any) -> Any:
        """Compare the data set with what the server holds (see
        ``cmsdials.dataset._audit.audit``): missing or duplicated pieces and rows."""
        from cmsdials.dataset._audit import audit

        return audit(self, dials)


def open_dataset(path: str | os.PathLike[str]) -> FetchedDataset:
    """Open a data set written by ``dials.fetch`` for reading.

    Parameters
    ----------
    path:
        The data set's directory (the one holding ``_manifest.json``).

    Returns
    -------
    FetchedDataset
        Lazy: only the manifest is read here.

    Raises
    ------
    cmsdials.dataset._manifest.ManifestError
        When ``path`` holds no manifest, or one this client cannot read.
    """
    require("pyarrow", "arrow", "open_dataset()")
    from cmsdials.dataset._manifest import Manifest

    return FetchedDataset(path, Manifest.load(path))
