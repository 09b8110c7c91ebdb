"""Result containers: one page of a list route, or the pages of a ``list_all`` merged.

A result is a pydantic model with the fields of cmsdials 2.4.1 (``next``, ``previous``,
``results``, ``exc_type``, ``exc_formatted``) and two private, typed attributes set only
by its own constructors (``from_columns``, ``from_models``, ``from_json``):

* ``_decoded`` (:class:`DecodedRows`): for the histogram routes, the rows as columns
  (:class:`~cmsdials._columns.HistogramColumns`, decoded once from the page bytes).  The
  documented ``results`` list of row models is built from them on first access only, and
  every conversion (``to_pandas``, ``to_numpy``, ``to_arrow``, ``to_hist``, files) reads
  the columns directly, so a caller who never touches ``results`` never pays for a Python
  float per bin.
* ``_continuation`` (:class:`~cmsdials._resume.Continuation`): the query the result
  answers, for ``resume_from=``; other modules read it through :func:`continuation_of`.
"""

from __future__ import annotations

import operator
import os
import typing
from collections.abc import Callable, Generator, Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)

from cmsdials._layout import Layout, layout_of
from cmsdials._optional import require
from cmsdials._resume import Continuation

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from typing_extensions import Self

    from cmsdials._arrays import HistogramArray
    from cmsdials._columns import HistogramColumns
    from cmsdials._writers import Chunk
    from cmsdials.plot import Plots

__all__ = [
    "DataCells",
    "DecodedRows",
    "Paginated",
    "RowT",
    "continuation_of",
    "next_token_of",
    "page_url",
    "require_histograms",
    "rows_to_write",
]

RowT = TypeVar("RowT", bound=BaseModel)

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


class DecodedRows:
    """The rows of a th1/th2 result as the columns they were decoded into.

    This is where the laziness of results lives: the row models (a Python float per bin)
    are built from the columns once, when ``results`` is first read, and the columns keep
    serving every conversion for as long as ``results`` is still the list built from them
    with the same rows in it.  Once the caller changed that list (``del``, ``append``,
    ``sort``, an item replaced) or set ``results`` to another list, conversions read the
    models instead: they always convert what ``results`` shows.
    """

    __slots__ = ("_built", "_rows", "columns")

    def __init__(self, columns: HistogramColumns) -> None:
        self.columns = columns
        self._built: list[Any] | None = None
        # The rows of `_built` as built, to notice changes without wrapping the list.
        self._rows: tuple[Any, ...] = ()

    def models(self, row_model: type[BaseModel]) -> list[Any]:
        """The rows as ``row_model`` instances, in order (built on the first call)."""
        if self._built is None:
            self._built = self.columns.to_models(row_model)
            self._rows = tuple(self._built)
        return self._built

    def describe(self, results: list[Any] | None) -> bool:
        """Whether the columns hold exactly ``results`` (``None``: not built yet)."""
        if results is None:
            return True
        return (
            results is self._built
            and len(results) == len(self._rows)
            and all(map(operator.is_, results, self._rows))
        )


_F = TypeVar("_F", bound=Callable[..., Any])


def _keeping_the_model_schema(serializer: _F) -> _F:
    """``serializer`` without its return annotation, for ``model_serializer(mode="wrap")``.

    Pydantic describes a wrap serializer's output by its return annotation; without one it
    keeps the model's own schema (``model_json_schema(mode="serialization")`` stays the
    same as with no serializer), which is what a serializer that only prepares the fields
    produces.
    """
    serializer.__annotations__.pop("return", None)
    return serializer


@cache
def _layout_of_page(page_model: type[Paginated[Any]]) -> Layout | None:
    return layout_of(page_model.row_model())


def require_histograms(page_model: type[Paginated[Any]], feature: str) -> Layout:
    """The layout of ``page_model``'s rows; ``TypeError`` naming ``feature`` when its route
    is not th1/th2."""
    layout = page_model.histogram_layout()
    if layout is None:
        raise TypeError(
            f"{feature} is for th1/th2 results, not {page_model.__name__}; "
            "use to_pandas() or to_arrow()"
        )
    return layout


def continuation_of(result: Paginated[Any]) -> Continuation[Paginated[Any]] | None:
    """What ``list_all(resume_from=result)`` continues (``None``: a result made by hand)."""
    return result._continuation


def rows_to_write(page: Paginated[Any], feature: str) -> Chunk:
    """The rows of ``page`` to write to a file: histogram columns (``to_parquet``), or for
    ``to_csv`` whatever holds them now (models when decoded without numpy: CSV needs no
    extra)."""
    if feature == "to_csv()":
        return page._source()
    if type(page).histogram_layout() is not None:
        return page._columns_for(feature), []
    return None, page.results


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

    # th1/th2: the rows as decoded columns, the source of `results` and of conversions.
    _decoded: DecodedRows | None = PrivateAttr(default=None)
    # The query this result answers (and for list_all its walk), for resume_from=.
    _continuation: Continuation[Paginated[Any]] | None = PrivateAttr(default=None)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_columns(
        cls,
        next: str | AnyUrl | None,
        previous: str | AnyUrl | None,
        columns: HistogramColumns,
        *,
        continuation: Continuation[Paginated[Any]] | None = None,
        **fields: Any,
    ) -> Self:
        """A th1/th2 result whose rows are ``columns`` (``results`` is built on first read)."""
        page = cls.model_construct(next=page_url(next), previous=page_url(previous), **fields)
        page._decoded = DecodedRows(columns)
        page._continuation = continuation
        return page

    @classmethod
    def from_models(
        cls,
        rows: list[RowT],
        *,
        next: str | AnyUrl | None,
        previous: str | AnyUrl | None,
        continuation: Continuation[Paginated[Any]] | None = None,
        **fields: Any,
    ) -> Self:
        """A result of ``rows``, validated already (page by page): not validated again."""
        page = cls.model_construct(
            next=page_url(next), previous=page_url(previous), results=rows, **fields
        )
        page._continuation = continuation
        return page

    @classmethod
    def from_json(
        cls, body: bytes, *, continuation: Continuation[Paginated[Any]] | None = None
    ) -> Self:
        """A page validated from the server's JSON ``body``."""
        page = cls.model_validate_json(body)
        page._continuation = continuation
        return page

    # -- results built on first use (see DecodedRows) -----------------------------------
    #
    # Pydantic keeps field values in the instance's __dict__.  A th1/th2 result starts
    # without `results` there, and every way of reading it builds it first: the attribute
    # (__getattr__ runs only when it is missing), serialization (model_dump,
    # model_dump_json, nested in another model), repr, iteration and == (field by field).
    # Copies and pickles carry `_decoded` along: one made before `results` was read
    # builds it on first use too.

    def _load_results(self) -> None:
        """Put the row models built from ``_decoded`` into ``results``, once."""
        decoded = self._decoded
        if decoded is not None and "results" not in self.__dict__:
            self.results = decoded.models(type(self).row_model())

    if not TYPE_CHECKING:  # for type checkers, only the declared attributes exist

        def __getattr__(self, name: str) -> Any:
            if name == "results" and self._decoded is not None:
                self._load_results()
                return self.__dict__["results"]
            return super().__getattr__(name)

    @model_serializer(mode="wrap")
    @_keeping_the_model_schema
    def _serialize_with_results(self, handler: SerializerFunctionWrapHandler) -> Any:
        self._load_results()
        return handler(self)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        self._load_results()
        return super().__repr_args__()

    def __iter__(self) -> Generator[tuple[str, Any], None, None]:
        self._load_results()
        yield from super().__iter__()

    def __eq__(self, other: object) -> bool:
        # Field by field (what the caller sees), not the private decode state.
        if not isinstance(other, Paginated):
            return NotImplemented
        if type(self).row_model() is not type(other).row_model():
            return False
        return all(getattr(self, name) == getattr(other, name) for name in type(self).model_fields)

    __hash__ = None  # type: ignore[assignment]

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

    # -- notebooks and plots ------------------------------------------------------------

    def _repr_html_(self) -> str:
        """A compact summary for notebooks (rows, MEs, runs, lumisections, binning)."""
        from cmsdials.plot._html import results_html

        return results_html(self)

    @property
    def plot(self) -> Plots:
        """The plots of a th1/th2 result (``result.plot.lumisection_map()``, ``.trend()``,
        ``.overlay()``, ``.map()``, ``.compare()``; see :class:`cmsdials.plot.Plots`).
        Needs the ``plot`` extra."""
        from cmsdials.plot import Plots

        require_histograms(type(self), "plot")
        return Plots(self)

    # -- conversions --------------------------------------------------------------------

    def _source(self) -> Chunk:
        """The decoded columns while they still hold ``results``, else the models."""
        decoded = self._decoded
        if decoded is not None and decoded.describe(self.__dict__.get("results")):
            return decoded.columns, []
        return None, self.results

    def histogram_columns(self) -> HistogramColumns:
        """The rows of a th1/th2 result as columns (see ``cmsdials._columns``; needs the
        ``numpy`` extra)."""
        return self._columns_for("histogram_columns()")

    def _columns_for(self, feature: str) -> HistogramColumns:
        """:meth:`histogram_columns` for ``feature``, the method a missing ``numpy``
        extra is reported for (rows decoded without numpy are models)."""
        layout = require_histograms(type(self), feature)
        columns, rows = self._source()
        if columns is None:
            require("numpy", "numpy", feature)
            from cmsdials._columns import HistogramColumns

            columns = HistogramColumns.from_models(layout, rows)
        return columns

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
        require_histograms(type(self), "to_numpy()")
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
        require_histograms(type(self), "to_hist()")
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

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the rows to a Parquet file, atomically (needs the ``arrow`` extra).

        ``data`` is a list column (list of lists for th2).  The file appears under
        ``path`` only once complete.  To write a large query without holding it in
        memory, use ``dials.<route>.stream(filters).to_parquet(path)``.
        """
        from cmsdials._writers import write_parquet

        layout = type(self).histogram_layout()
        return write_parquet(
            path,
            self.row_model(),
            layout.dims if layout else None,
            [rows_to_write(self, "to_parquet()")],
        )

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the rows to a CSV file with a header row, atomically.

        Histogram ``data`` is JSON text (``[[...], ...]`` for th2).  Needs no extra.
        """
        from cmsdials._writers import write_csv

        return write_csv(path, self.row_model(), [rows_to_write(self, "to_csv()")])
