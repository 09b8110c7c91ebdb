"""Histogram results as stacked numpy arrays and as ``hist.Hist`` objects.

``to_numpy()`` stacks the rows of one binning into one array without copying the bin
contents (a view of the decoded columns); rows with different binnings cannot share an
array, so they either raise :class:`~cmsdials.errors.MixedBinningError` naming them or,
with ``by_me=True``, give one array per ME.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cmsdials._columns import HistogramColumns
from cmsdials._optional import require
from cmsdials.errors import MixedBinningError

if TYPE_CHECKING:
    from cmsdials.plot import Plots

__all__ = ["HistogramArray", "histogram_arrays", "histograms"]


@dataclass(frozen=True, repr=False, eq=False)
class HistogramArray:
    """Histograms of one binning, stacked, with their index columns.

    Attributes
    ----------
    data:
        float64, shape ``(n, x_bin)`` for th1 or ``(n, y_bin, x_bin)`` for th2:
        ``data[k, iy, ix]`` is the content of bin (x = ix + 1, y = iy + 1) of row ``k``
        (CONTRACT §7.6); no under/overflow bins.
    dataset_id, run_number, ls_number, me_id, entries, file_id:
        int64 arrays of length ``n``, row ``k`` describing ``data[k]``.
    x_edges, y_edges:
        Bin edges, ``x_bin + 1`` (and ``y_bin + 1``) values from ``x_min`` to ``x_max``
        (``y_edges`` is ``None`` for th1).
    me_names, dataset_names:
        ``me_id`` -> ME name and ``dataset_id`` -> dataset name, for the ids present.

    ``len(array)`` is ``n``; rows keep the order of the result (the server's order).
    """

    data: np.ndarray
    dataset_id: np.ndarray
    run_number: np.ndarray
    ls_number: np.ndarray
    me_id: np.ndarray
    entries: np.ndarray
    file_id: np.ndarray
    x_edges: np.ndarray
    y_edges: np.ndarray | None
    me_names: dict[int, str] = field(default_factory=dict)
    dataset_names: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        mes = ", ".join(map(repr, list(self.me_names.values())[:3]))
        more = ", ..." if len(self.me_names) > 3 else ""
        return f"<HistogramArray {self.data.shape} of {mes}{more}>"

    def _repr_html_(self) -> str:
        """A compact summary for notebooks (shape, MEs, runs, lumisections, binning)."""
        from cmsdials.plot._html import array_html

        return array_html(self)

    @property
    def plot(self) -> Plots:
        """The plots of these histograms (``array.plot.lumisection_map()``, ``.trend()``,
        ``.overlay()``, ``.map()``, ``.compare()``; see :class:`cmsdials.plot.Plots`).
        Needs the ``plot`` extra."""
        from cmsdials.plot import Plots

        return Plots(self)

    def take(self, rows: np.ndarray) -> HistogramArray:
        """The histograms at ``rows`` (indices or a boolean mask), in that order, with the
        names of the MEs and datasets they hold; the bins are copied only where numpy's
        fancy indexing copies them."""
        me_id, dataset_id = self.me_id[rows], self.dataset_id[rows]
        kept_mes, kept_datasets = set(me_id.tolist()), set(dataset_id.tolist())
        return HistogramArray(
            data=self.data[rows],
            dataset_id=dataset_id,
            run_number=self.run_number[rows],
            ls_number=self.ls_number[rows],
            me_id=me_id,
            entries=self.entries[rows],
            file_id=self.file_id[rows],
            x_edges=self.x_edges,
            y_edges=self.y_edges,
            me_names={k: v for k, v in self.me_names.items() if k in kept_mes},
            dataset_names={k: v for k, v in self.dataset_names.items() if k in kept_datasets},
        )

    @property
    def binning(self) -> tuple[float, ...]:
        """``(x_min, x_max, x_bin)`` or ``(x_min, x_max, x_bin, y_min, y_max, y_bin)``."""
        x = (float(self.x_edges[0]), float(self.x_edges[-1]), len(self.x_edges) - 1)
        if self.y_edges is None:
            return x
        return (*x, float(self.y_edges[0]), float(self.y_edges[-1]), len(self.y_edges) - 1)

    def to_hist(self) -> list[Any]:
        """One ``hist.Hist`` per row (needs the ``hist`` extra); see ``Paginated.to_hist``."""
        hist = require("hist", "hist", "to_hist()")
        axes = _axes(hist, self.binning)
        return [
            _one_hist(hist, axes, values, meta)
            for values, meta in zip(self.data, _metadata_rows(self))
        ]


def _metadata_rows(array: HistogramArray) -> list[dict[str, Any]]:
    keys = ("dataset_id", "run_number", "ls_number", "me_id", "entries", "file_id")
    columns = [getattr(array, key).tolist() for key in keys]
    rows = []
    for values in zip(*columns):
        meta = dict(zip(keys, values))
        meta["me"] = array.me_names.get(meta["me_id"])
        meta["dataset"] = array.dataset_names.get(meta["dataset_id"])
        rows.append(meta)
    return rows


def _axes(hist: Any, binning: tuple[float, ...]) -> tuple[Any, ...]:
    """Regular axes without flow bins: x, then y (CONTRACT §7.5 uniform binning)."""
    x = hist.axis.Regular(
        int(binning[2]), binning[0], binning[1], name="x", underflow=False, overflow=False
    )
    if len(binning) == 3:
        return (x,)
    y = hist.axis.Regular(
        int(binning[5]), binning[3], binning[4], name="y", underflow=False, overflow=False
    )
    return (x, y)


def _one_hist(hist: Any, axes: tuple[Any, ...], values: np.ndarray, meta: dict[str, Any]) -> Any:
    # hist indexes values by axis order (x, y); DIALS rows are data[iy][ix]: transpose.
    contents = values if values.ndim == 1 else values.T
    return hist.Hist(
        *axes,
        storage=hist.storage.Double(),
        data=contents,
        name=meta["me"],
        label=meta["me"],
        metadata=meta,
    )


def histograms(columns: HistogramColumns) -> list[Any]:
    """One ``hist.Hist`` per row, each with the row's own binning."""
    hist = require("hist", "hist", "to_hist()")
    if len(columns) == 0:
        return []
    cols = columns.columns
    names = columns.layout.binning_fields
    binnings = list(zip(*(cols[name].tolist() for name in names)))
    keys = ("dataset_id", "dataset", "run_number", "ls_number", "me_id", "me", "entries",
            "file_id")  # fmt: skip
    plain = [c if isinstance(c, list) else c.tolist() for c in (cols[k] for k in keys)]
    axes_cache: dict[tuple[float, ...], tuple[Any, ...]] = {}
    out = []
    for values, binning, meta in zip(columns.data_arrays(), binnings, zip(*plain)):
        axes = axes_cache.get(binning)
        if axes is None:
            axes = axes_cache[binning] = _axes(hist, binning)
        out.append(_one_hist(hist, axes, values, dict(zip(keys, meta))))
    return out


def _binning_table(columns: HistogramColumns) -> np.ndarray:
    names = columns.layout.binning_fields
    return np.stack([columns.columns[name].astype(np.float64) for name in names], axis=1)


def _mixed(columns: HistogramColumns, rows_of: dict[str, np.ndarray], hint: str) -> None:
    table = _binning_table(columns)
    binnings = {
        me: [tuple(float(v) for v in b) for b in np.unique(table[rows], axis=0)]
        for me, rows in rows_of.items()
    }
    binnings = {me: b for me, b in binnings.items() if len(b) > 1} or binnings
    raise MixedBinningError(binnings, hint)


def _rows_by_me(columns: HistogramColumns) -> dict[str, np.ndarray]:
    """ME name -> positions of its rows, MEs in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for position, name in enumerate(columns.columns["me"]):
        groups.setdefault(name, []).append(position)
    return {name: np.array(rows, np.int64) for name, rows in groups.items()}


def _stack(columns: HistogramColumns) -> HistogramArray:
    """One array for rows that share a binning (the bin contents are not copied)."""
    n = len(columns)
    cols = columns.columns
    two_d = columns.layout.dims == 2
    if n == 0:
        shape: tuple[int, ...] = (0, 0, 0) if two_d else (0, 0)
        x_edges = np.empty(0)
        y_edges = np.empty(0) if two_d else None
        data = np.empty(shape)
    else:
        shape = columns.uniform_shape() or ()
        data = columns.values.reshape((n, *shape))
        x_edges = np.linspace(cols["x_min"][0], cols["x_max"][0], int(cols["x_bin"][0]) + 1)
        y_edges = (
            np.linspace(cols["y_min"][0], cols["y_max"][0], int(cols["y_bin"][0]) + 1)
            if two_d
            else None
        )
    return HistogramArray(
        data=data,
        dataset_id=cols["dataset_id"],
        run_number=cols["run_number"],
        ls_number=cols["ls_number"],
        me_id=cols["me_id"],
        entries=cols["entries"],
        file_id=cols["file_id"],
        x_edges=x_edges,
        y_edges=y_edges,
        me_names=_names(cols["me_id"], cols["me"]),
        dataset_names=_names(cols["dataset_id"], cols["dataset"]),
    )


def _names(ids: np.ndarray, names: list[str]) -> dict[int, str]:
    """id -> name for the distinct ids (without a Python int per row)."""
    distinct, first = np.unique(ids, return_index=True)
    return {int(i): names[int(k)] for i, k in zip(distinct, first)}


def _single_binning(columns: HistogramColumns) -> bool:
    if len(columns) == 0:
        return True
    table = _binning_table(columns)
    return bool((table == table[0]).all())


def histogram_arrays(
    columns: HistogramColumns, by_me: bool | None = None
) -> HistogramArray | dict[str, HistogramArray]:
    """The implementation of ``to_numpy(by_me=...)`` (see ``Paginated.to_numpy``)."""
    if not by_me:
        if not _single_binning(columns):
            _mixed(
                columns,
                _rows_by_me(columns),
                "Use to_numpy(by_me=True) for one array per ME, or filter on one binning.",
            )
        return _stack(columns)
    groups = _rows_by_me(columns)
    if len(groups) == 1:
        (name,) = groups
        return {name: histogram_arrays(columns, by_me=False)}  # type: ignore[dict-item]
    out: dict[str, HistogramArray] = {}
    for name, rows in groups.items():
        part = columns.take(rows)
        if not _single_binning(part):
            _mixed(
                part, {name: np.arange(len(part))}, "An ME whose binning changed cannot be stacked."
            )
        out[name] = _stack(part)
    return out
