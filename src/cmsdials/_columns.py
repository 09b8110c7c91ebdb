"""Histogram rows held as columns: one numpy array per field, all bin contents in one array.

This is how th1/th2 pages live in memory once decoded (see ``_decode.histogram_page``):
a float64 array of every bin content back to back (row after row; for 2-D rows ``y_bin``
lines of ``x_bin`` values, ``data[iy][ix]`` order, CONTRACT §7.6), numpy arrays for the
numeric fields and lists of (shared) strings for ``dataset`` and ``me``.  About 8 bytes per
bin instead of the ~46 of a Python float in a list, and no object for the collector to walk.

Every other representation is derived from here without JSON: row models (on first access
of ``.results``), DataFrames, Arrow tables, stacked numpy arrays, hist objects.

Requires numpy (the ``numpy`` extra); imported only by code paths that decode histograms
into columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cmsdials._gc import gc_paused
from cmsdials._layout import Layout

__all__ = ["HistogramColumns", "HistogramStore"]


class HistogramColumns:
    """Histogram rows column by column (one page, or a whole result).

    Attributes
    ----------
    layout:
        Field names by kind.
    columns:
        Field name -> ``np.ndarray`` (ints as int64, floats as float64) or ``list[str]``.
    values:
        Every bin content, row after row (float64, 1-D).
    """

    __slots__ = ("_offsets", "columns", "layout", "values")

    def __init__(self, layout: Layout, columns: dict[str, Any], values: np.ndarray) -> None:
        self.layout = layout
        self.columns = columns
        self.values = values
        self._offsets: np.ndarray | None = None

    @classmethod
    def empty(cls, layout: Layout) -> HistogramColumns:
        columns: dict[str, Any] = {name: np.empty(0, np.int64) for name in layout.ints}
        columns.update({name: np.empty(0, np.float64) for name in layout.floats})
        columns.update({name: [] for name in layout.strings})
        return cls(layout, columns, np.empty(0, np.float64))

    def __len__(self) -> int:
        return len(self.columns["dataset_id"])

    def __repr__(self) -> str:
        return f"<HistogramColumns {len(self)} rows, {self.values.size} bins>"

    # -- shapes -----------------------------------------------------------------------

    def shapes(self) -> np.ndarray:
        """Per row ``(x_bin,)`` or ``(y_bin, x_bin)``, as an ``(n, dims)`` int array."""
        if self.layout.dims == 1:
            x_bin: np.ndarray = self.columns["x_bin"]
            return x_bin[:, None]
        return np.stack([self.columns["y_bin"], self.columns["x_bin"]], axis=1)

    def sizes(self) -> np.ndarray:
        """Number of bins of each row."""
        sizes: np.ndarray = self.columns["x_bin"]
        if self.layout.dims == 2:
            sizes = sizes * self.columns["y_bin"]
        return sizes

    def offsets(self) -> np.ndarray:
        """Start of each row in :attr:`values`, plus the end (``n + 1`` entries)."""
        if self._offsets is None:
            offsets = np.zeros(len(self) + 1, np.int64)
            np.cumsum(self.sizes(), out=offsets[1:])
            self._offsets = offsets
        return self._offsets

    def uniform_shape(self) -> tuple[int, ...] | None:
        """The common ``(x_bin,)`` / ``(y_bin, x_bin)`` of every row, else ``None``."""
        if len(self) == 0:
            return None
        shapes = self.shapes()
        first = shapes[0]
        if (shapes == first).all():
            return tuple(int(v) for v in first)
        return None

    def data_arrays(self) -> list[np.ndarray]:
        """One array per row, a view of :attr:`values`: ``(x_bin,)`` or ``(y_bin, x_bin)``."""
        n = len(self)
        shape = self.uniform_shape()
        if shape is not None:
            return list(self.values.reshape((n, *shape)))
        offsets = self.offsets()
        shapes = self.shapes().tolist()
        return [self.values[offsets[i] : offsets[i + 1]].reshape(shapes[i]) for i in range(n)]

    # -- selections -----------------------------------------------------------------

    def take(self, rows: np.ndarray) -> HistogramColumns:
        """The rows at the positions ``rows`` (a copy), in that order."""
        columns: dict[str, Any] = {}
        for name, column in self.columns.items():
            if isinstance(column, list):
                columns[name] = [column[i] for i in rows.tolist()]
            else:
                columns[name] = column[rows]
        offsets = self.offsets()
        starts, ends = offsets[:-1][rows], offsets[1:][rows]
        if len(rows) and (ends - starts == ends[0] - starts[0]).all():
            width = int(ends[0] - starts[0])
            values = self.values[starts[:, None] + np.arange(width)].ravel()
        else:
            values = (
                np.concatenate([self.values[s:e] for s, e in zip(starts.tolist(), ends.tolist())])
                if len(rows)
                else np.empty(0, np.float64)
            )
        return HistogramColumns(self.layout, columns, values)

    # -- row models -------------------------------------------------------------------

    def to_models(self, model: type[Any]) -> list[Any]:
        """Row models with ``data`` as (nested) lists of floats, in row order.

        The values were checked when the page was decoded (types, lengths), so models are
        built with ``model_construct``: no second validation pass over every bin.
        """
        n = len(self)
        if n == 0:
            return []
        with gc_paused():
            plain: dict[str, list[Any]] = {
                name: (column if isinstance(column, list) else column.tolist())
                for name, column in self.columns.items()
            }
            shape = self.uniform_shape()
            if shape is not None:
                data = self.values.reshape((n, *shape)).tolist()
            else:
                data = [array.tolist() for array in self.data_arrays()]
            plain["data"] = data
            names = self.layout.fields
            construct = model.model_construct
            ordered = [plain[name] for name in names]
            return [construct(**dict(zip(names, values))) for values in zip(*ordered)]

    @classmethod
    def from_models(cls, layout: Layout, rows: Sequence[Any]) -> HistogramColumns:
        """Columns from row models (results built by hand, or by a client without numpy)."""
        if not rows:
            return cls.empty(layout)
        columns: dict[str, Any] = {}
        for name in layout.ints:
            columns[name] = np.fromiter((getattr(r, name) for r in rows), np.int64, len(rows))
        for name in layout.floats:
            columns[name] = np.fromiter((getattr(r, name) for r in rows), np.float64, len(rows))
        for name in layout.strings:
            columns[name] = [getattr(r, name) for r in rows]
        values = np.concatenate([np.asarray(r.data, np.float64).ravel() for r in rows])
        return cls(layout, columns, values)


class _Growing:
    """A 1-D numpy array that grows in place.

    ``ndarray.resize`` reallocates; for large blocks the C library moves pages instead of
    copying them, so growing page by page costs no copy and no second buffer: peak memory
    stays at the final size plus one page.  The array is never exposed while it grows
    (resizing would invalidate views); :meth:`result` hands out the finished array.
    """

    __slots__ = ("array", "size")

    def __init__(self, dtype: Any) -> None:
        self.array = np.empty(0, dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        count = len(values)
        if count == 0:
            return
        end = self.size + count
        if end > len(self.array):
            # Some headroom keeps reallocations rare for small columns; capped so that it
            # never costs more memory than a fraction of a page (new space is zero-filled,
            # i.e. resident).
            headroom = min(len(self.array) // 4, 1 << 16)
            self.array.resize(max(end, len(self.array) + headroom), refcheck=False)
        self.array[self.size : end] = values
        self.size = end

    def result(self) -> np.ndarray:
        if len(self.array) != self.size:
            self.array.resize(self.size, refcheck=False)
        return self.array


class HistogramStore:
    """Collects pages of histogram columns into one :class:`HistogramColumns`.

    Used by ``list_all`` and by the streaming conversions: peak memory is the final columns
    plus the page being appended, whatever the number of pages.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._numeric = {name: _Growing(np.int64) for name in layout.ints}
        self._numeric.update({name: _Growing(np.float64) for name in layout.floats})
        self._strings: dict[str, list[str]] = {name: [] for name in layout.strings}
        self._values = _Growing(np.float64)
        self._done: HistogramColumns | None = None

    def __len__(self) -> int:
        return self._numeric["dataset_id"].size

    def extend(self, page: HistogramColumns) -> None:
        """Append the rows of ``page`` (copied)."""
        if self._done is not None:
            raise RuntimeError("the store was already finished")
        for name, growing in self._numeric.items():
            growing.extend(page.columns[name])
        for name, strings in self._strings.items():
            strings.extend(page.columns[name])
        self._values.extend(page.values)

    def finish(self) -> HistogramColumns:
        """The collected rows; the store accepts no more pages afterwards."""
        if self._done is None:
            columns: dict[str, Any] = {name: g.result() for name, g in self._numeric.items()}
            columns.update(self._strings)
            self._done = HistogramColumns(self.layout, columns, self._values.result())
        return self._done
