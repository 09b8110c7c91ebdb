"""Result containers: one page of a list route, or the pages of a ``list_all`` merged.

For the histogram routes a result holds its rows as columns
(:class:`~cmsdials._columns.HistogramColumns`, decoded once from the page bytes); the
documented ``results`` list of row models is built from them on first access only.  Every
conversion (``to_pandas``, ``to_numpy``, ``to_arrow``, ``to_hist``, files) reads the
columns directly, so a caller who never touches ``results`` never pays for a Python float
per bin.
"""

from __future__ import annotations

import os
import typing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, SupportsIndex, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import AnyUrl, BaseModel, ConfigDict, PrivateAttr, TypeAdapter

from cmsdials._layout import Layout, layout_of
from cmsdials._optional import require

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from typing_extensions import Self

    from cmsdials._arrays import HistogramArray
    from cmsdials._columns import HistogramColumns
    from cmsdials._filters import BaseFilters

__all__ = ["DataCells", "Paginated", "RowT", "next_token_of", "page_url"]

RowT = TypeVar("RowT", bound=BaseModel)
_T = TypeVar("_T")

#: How ``to_pandas`` holds each histogram's bins: ``"numpy"`` (views of the decoded
#: buffer) or ``"list"`` (Python lists of floats, as cmsdials 2.4.1).
DataCells = typing.Literal["numpy", "list"]


@cache
def _url_adapter() -> TypeAdapter[AnyUrl]:
    return TypeAdapter(AnyUrl)


def page_url(url: str | AnyUrl | None) -> AnyUrl | None:
    """``url`` as the ``AnyUrl`` that ``next``/``previous`` hold (``None`` stays ``None``).

    Pages built without validation (``model_construct``: histogram columns, ``list_all``
    results) get their links through here, so that every result holds the same type as
    a validated page - and as cmsdials 2.4.1 (``resp.next.query_params()``).
    """
    if url is None or isinstance(url, AnyUrl):
        return url
    return _url_adapter().validate_python(url)


def next_token_of(url: str | AnyUrl | None) -> str | None:
    """The ``next_token`` query parameter of a ``next`` URL (CONTRACT §5.4), if any.

    Clients never follow the URL itself: its host may be the server's internal name or
    use ``http://`` behind the production proxy; only the opaque cursor is reused.
    """
    if url is None:
        return None
    text = str(url)
    if not text:
        return None
    values = parse_qs(urlsplit(text).query, keep_blank_values=True).get("next_token")
    return values[-1] if values and values[-1] else None


class _RowList(list[_T]):
    """The ``results`` list built from columns; remembers whether it was modified.

    Conversions read the columns while the list is as built; once the caller changes
    the list (append, remove, sort, slice assignment, ...) they read the list instead.
    """

    dirty = False

    def _touch(self) -> None:
        self.dirty = True

    def append(self, value: _T) -> None:
        self._touch()
        super().append(value)

    def extend(self, values: typing.Iterable[_T]) -> None:
        self._touch()
        super().extend(values)

    def insert(self, index: SupportsIndex, value: _T) -> None:
        self._touch()
        super().insert(index, value)

    def remove(self, value: _T) -> None:
        self._touch()
        super().remove(value)

    def pop(self, index: SupportsIndex = -1) -> _T:
        self._touch()
        return super().pop(index)

    def clear(self) -> None:
        self._touch()
        super().clear()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._touch()
        super().sort(*args, **kwargs)

    def reverse(self) -> None:
        self._touch()
        super().reverse()

    def __setitem__(self, index: Any, value: Any) -> None:
        self._touch()
        super().__setitem__(index, value)

    def __delitem__(self, index: Any) -> None:
        self._touch()
        super().__delitem__(index)

    def __iadd__(self, values: typing.Iterable[_T]) -> Self:  # type: ignore[override,misc]
        self._touch()
        return super().__iadd__(values)

    def __imul__(self, times: SupportsIndex) -> Self:
        self._touch()
        return super().__imul__(times)


@cache
def _layout_of_page(page_model: type[Paginated[Any]]) -> Layout | None:
    return layout_of(page_model.row_model())


class Paginated(BaseModel, Generic[RowT]):
    """A page of a list route, or the merged pages returned by ``list_all``.

    Attributes
    ----------
    next:
        URL of the following page (a ``pydantic.AnyUrl``, as in cmsdials 2.4.1:
        ``next.query_params()``, ``str(next)``); for ``list_all`` the ``next`` of the last
        page fetched, non-null when the walk stopped early (``max_pages`` or a failure
        with ``keep_failed=True``) - pass the result as ``resume_from=`` to continue.
    previous:
        URL of the preceding page, an ``AnyUrl`` (always ``None`` for ``list_all``).
    results:
        The rows, in the server's order (for th1/th2: built on first access).
    exc_type, exc_formatted:
        Name and formatted traceback of the exception that interrupted a
        ``list_all(keep_failed=True)`` walk, else ``None``.

    Conversions: :meth:`to_pandas`, :meth:`to_arrow`, :meth:`to_parquet`, :meth:`to_csv`
    for every route; :meth:`to_numpy` and :meth:`to_hist` for th1/th2.
    """

    # Schemas are built on first use, not at import (most scripts touch one route).
    model_config = ConfigDict(defer_build=True)

    next: AnyUrl | None
    previous: AnyUrl | None
    results: list[RowT]
    exc_type: str | None = None
    exc_formatted: str | None = None

    # The filters of the walk that produced this result, so that resume_from= can
    # continue it even when the caller does not pass them again.
    _filters: BaseFilters | None = PrivateAttr(default=None)
    # th1/th2: the rows as columns, the source of `results` and of every conversion.
    _columns: Any = PrivateAttr(default=None)
    # list_all: the state of its cursor walks (partitions), for resume_from=.
    _walk: Any = PrivateAttr(default=None)

    # -- lazy results -------------------------------------------------------------------

    def __getattribute__(self, name: str) -> Any:
        # `results` is left out of __dict__ until first needed; pydantic reads fields
        # through __dict__ (dump, repr, copy, pickle, ==), so both names build it.
        if name == "results" or name == "__dict__":
            values = object.__getattribute__(self, "__dict__")
            if "results" not in values:
                object.__getattribute__(self, "_build_results")(values)
        return object.__getattribute__(self, name)

    def _build_results(self, values: dict[str, Any]) -> None:
        private = object.__getattribute__(self, "__pydantic_private__") or {}
        columns = private.get("_columns")
        rows: list[Any] = []
        if columns is not None:
            rows = _RowList(columns.to_models(type(self).row_model()))
        values["results"] = rows
        object.__getattribute__(self, "__pydantic_fields_set__").add("results")

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "results":
            self._columns = None  # the caller's rows replace the decoded ones

    def __eq__(self, other: object) -> bool:
        # Field by field (what the caller sees), not the private decode state.
        if not isinstance(other, Paginated):
            return NotImplemented
        if type(self).row_model() is not type(other).row_model():
            return False
        return all(getattr(self, name) == getattr(other, name) for name in type(self).model_fields)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_columns(
        cls,
        next: str | AnyUrl | None,
        previous: str | AnyUrl | None,
        columns: HistogramColumns,
        **fields: Any,
    ) -> Self:
        """A result whose rows are ``columns`` (``results`` is built on first access)."""
        page = cls.model_construct(next=page_url(next), previous=page_url(previous), **fields)
        page._columns = columns
        return page

    # -- description --------------------------------------------------------------------

    @property
    def next_token(self) -> str | None:
        """The cursor to continue from (taken from :attr:`next`), or ``None`` at the end."""
        return next_token_of(self.next)

    @property
    def failed(self) -> bool:
        """True when a ``keep_failed=True`` walk was interrupted by an exception."""
        return self.exc_type is not None

    @classmethod
    def row_model(cls) -> type[BaseModel]:
        """The pydantic model of one row."""
        annotation = cls.model_fields["results"].annotation
        (row,) = typing.get_args(annotation)
        return typing.cast(type[BaseModel], row)

    @classmethod
    def histogram_layout(cls) -> Layout | None:
        """The fields of a th1/th2 row, or ``None`` for the other routes."""
        return _layout_of_page(cls)

    @property
    def num_rows(self) -> int:
        """The number of rows, without building the row models of ``results``."""
        columns, rows = self._source()
        return len(columns) if columns is not None else len(rows)

    # -- conversions --------------------------------------------------------------------

    def _source(self) -> tuple[HistogramColumns | None, list[Any]]:
        """The decoded columns while they still describe ``results``, else the models."""
        columns = self._columns
        if columns is not None:
            rows = object.__getattribute__(self, "__dict__").get("results")
            if rows is None or (isinstance(rows, _RowList) and not rows.dirty):
                return columns, []
        return None, self.results

    def histogram_columns(self) -> HistogramColumns:
        """The rows of a th1/th2 result as columns (see ``cmsdials._columns``; needs the
        ``numpy`` extra)."""
        return self._columns_for("histogram_columns()")

    def _columns_for(self, feature: str) -> HistogramColumns:
        """:meth:`histogram_columns` for ``feature``, the method a missing ``numpy``
        extra is reported for (rows decoded without numpy are models)."""
        layout = self._require_histograms(feature)
        columns, rows = self._source()
        if columns is None:
            require("numpy", "numpy", feature)
            from cmsdials._columns import HistogramColumns

            columns = HistogramColumns.from_models(layout, rows)
        return columns

    @classmethod
    def _require_histograms(cls, feature: str) -> Layout:
        layout = cls.histogram_layout()
        if layout is None:
            raise TypeError(
                f"{feature} is for th1/th2 results, not {cls.__name__}; "
                "use to_pandas() or to_arrow()"
            )
        return layout

    def to_pandas(self, data_as: DataCells = "numpy") -> pd.DataFrame:
        """The rows as a ``pandas.DataFrame``, one column per model field.

        Columns come in the order of cmsdials 2.4.1's models (for th1/th2: ``dataset``,
        ``me``, ``dataset_id``, ...), fields 2.4.1 does not have after them; ``x_bin``
        and ``y_bin`` are float64 as there.

        For th1/th2, ``data_as`` chooses the ``data`` cells:

        * ``"numpy"`` (default): th1 cells are float64 arrays ``(x_bin,)``; th2 cells are
          lists of ``y_bin`` float64 arrays (lines ``data[iy]``).  All are views of one
          buffer: no Python float per bin (docs/bulk.md has the measurements).
          ``np.stack(df.data)``, ``np.array(df.data.tolist())``, ``df.data[k][iy][ix]``,
          ``len``, iteration, ``df.to_parquet``, ``df.to_json`` give what 2.4.1's lists give.
        * ``"list"``: Python lists of floats (th2: lists of lists), exactly 2.4.1's cells.

        Needs the ``pandas`` extra (``pip install 'cmsdials[pandas]'``).
        """
        from cmsdials._tables import histogram_frame, model_frame

        if data_as not in ("numpy", "list"):
            raise ValueError(f"data_as must be 'numpy' or 'list', not {data_as!r}")
        require("pandas", "pandas", "to_pandas()")
        if type(self).histogram_layout() is not None:
            return histogram_frame(self._columns_for("to_pandas()"), data_as)
        return model_frame(self.row_model(), self.results)

    def to_numpy(self, by_me: bool | None = None) -> HistogramArray | dict[str, HistogramArray]:
        """th1/th2 rows stacked into one array, with index columns and bin edges.

        Returns a :class:`~cmsdials.HistogramArray`: ``data`` of shape ``(n, x_bin)`` or
        ``(n, y_bin, x_bin)`` (``data[k, iy, ix]``, CONTRACT §7.6), ``dataset_id``,
        ``run_number``, ``ls_number``, ``me_id``, ``entries``, ``file_id``, ``x_edges``,
        ``y_edges``.  The bin contents are not copied.

        Rows with different binnings (several MEs) cannot share an array: that raises
        :class:`~cmsdials.errors.MixedBinningError` naming them, unless ``by_me=True``,
        which returns ``{me name: HistogramArray}`` (MEs in order of first appearance).
        Needs the ``numpy`` extra.
        """
        self._require_histograms("to_numpy()")
        require("numpy", "numpy", "to_numpy()")
        from cmsdials._arrays import histogram_arrays

        return histogram_arrays(self._columns_for("to_numpy()"), by_me=by_me)

    def to_hist(self) -> list[Any]:
        """One ``hist.Hist`` per row, in order (needs the ``hist`` extra).

        Regular axes ``x`` (and ``y``) from ``x_min``, ``x_max``, ``x_bin`` without
        under/overflow bins; 2-D contents transposed so that ``h.values()[ix, iy]`` is
        ``data[iy][ix]``.  ``name``/``label`` are the ME name, ``metadata`` a dict of the
        row's keys (``dataset_id``, ``run_number``, ``ls_number``, ``me_id``, ``entries``,
        ...).
        """
        self._require_histograms("to_hist()")
        require("hist", "hist", "to_hist()")
        from cmsdials._arrays import histograms

        return histograms(self._columns_for("to_hist()"))

    def to_arrow(self) -> pa.Table:
        """The rows as a ``pyarrow.Table`` (needs the ``arrow`` extra).

        For th1/th2, ``data`` is a ``fixed_size_list<double>[x_bin]`` column (th2: a
        fixed-size list of ``y_bin`` such lists) when every row has the same shape, else a
        variable ``list`` column.
        """
        require("pyarrow", "arrow", "to_arrow()")
        from cmsdials._tables import histogram_table, model_table

        if type(self).histogram_layout() is not None:
            return histogram_table(self._columns_for("to_arrow()"))
        return model_table(self.row_model(), self.results)

    def _chunk(self, feature: str) -> tuple[HistogramColumns | None, list[Any]]:
        """The rows to write to a file: histogram columns (``to_parquet``), or for
        ``to_csv`` whatever holds them (models when decoded without numpy: CSV needs no
        extra)."""
        if feature == "to_csv()":
            return self._source()
        if type(self).histogram_layout() is not None:
            return self._columns_for(feature), []
        return None, self.results

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the rows to a Parquet file, atomically (needs the ``arrow`` extra).

        ``data`` is a list column (list of lists for th2).  The file appears under
        ``path`` only once complete.  To write a large query without holding it in
        memory, use ``dials.<route>.stream(filters).to_parquet(path)``.
        """
        from cmsdials._writers import write_parquet

        layout = type(self).histogram_layout()
        return write_parquet(
            path, self.row_model(), layout.dims if layout else None, [self._chunk("to_parquet()")]
        )

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the rows to a CSV file with a header row, atomically.

        Histogram ``data`` is JSON text (``[[...], ...]`` for th2).  Needs no extra.
        """
        from cmsdials._writers import write_csv

        return write_csv(path, self.row_model(), [self._chunk("to_csv()")])
