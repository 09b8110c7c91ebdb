"""Streaming reads: a query walked page by page, with memory bounded by a few pages.

``dials.h2d.stream(filters, workers=...)`` returns a :class:`Stream`; nothing is requested
until one of its methods runs.  Pages are fetched ahead of the consumer by at most two per
partition in flight, so memory does not grow with the size of the result:

* :meth:`Stream.pages` / :meth:`Stream.rows` (also ``iter(stream)``) yield as they come;
* :meth:`Stream.to_parquet` / :meth:`Stream.to_csv` write each page as it arrives, to a
  temporary file renamed at the end;
* :meth:`Stream.to_numpy` (and ``to_pandas``, ``to_arrow``, ``to_hist``) grow the final
  columns page by page: peak memory is the final array plus a few pages.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from cmsdials._collect import collect, fetcher, walk_feedback
from cmsdials._decode import columnar_modules
from cmsdials._filters import PaginatedFilters
from cmsdials._mes import check_me_name
from cmsdials._optional import require
from cmsdials._partition import partition_query
from cmsdials._results import DataCells, Paginated, require_histograms, rows_to_write
from cmsdials._route import RouteBinding
from cmsdials._transport import Cancellation, Retries
from cmsdials._walk import Walk
from cmsdials._warmup import warm_up

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from cmsdials._arrays import HistogramArray
    from cmsdials._writers import Chunk

__all__ = ["Stream"]

RowT = TypeVar("RowT")
PageT = TypeVar("PageT", bound=Paginated[Any])

#: Pages a partition may fetch ahead of the consumer: the one being decoded and the one
#: whose request is in flight.
READ_AHEAD = 2


class Stream(Generic[RowT, PageT]):
    """A query to read page by page (see the module documentation).

    Built by ``dials.<route>.stream(filters, max_pages=None, workers=1, retries=None,
    enable_progress=None)``.  Each method runs a new walk of the query.

    With ``workers > 1`` the query is cut into partitions (by dataset and run range)
    walked concurrently; pages still come in the server's order (pages of a partition
    are smaller than ``page_size`` at its end), and at most ``2 x workers`` pages are in
    memory at once.
    """

    def __init__(
        self,
        binding: RouteBinding,
        filters: PaginatedFilters,
        *,
        max_pages: int | None = None,
        workers: int = 1,
        retries: Retries = None,
        enable_progress: bool | None = None,
    ) -> None:
        if max_pages is not None and max_pages < 0:
            raise ValueError("max_pages must be >= 0 or None")
        if workers < 1:
            raise ValueError("workers must be >= 1")
        #: The route and the transport its requests go through.
        self.binding = binding
        self.filters = filters
        self.max_pages = max_pages
        self.workers = workers
        self.retries = retries
        self.enable_progress = enable_progress

    def __repr__(self) -> str:
        return (
            f"<Stream {self.binding.path} {self.filters.to_params()} "
            f"workers={self.workers} max_pages={self.max_pages}>"
        )

    # -- iteration ----------------------------------------------------------------------

    def pages(self) -> Generator[PageT, None, None]:
        """The pages, in the server's order; each is a ``Paginated...List``.

        Rows of th1/th2 pages are columns until you read ``page.results``, so
        ``page.to_numpy()`` and friends cost no Python float per bin.
        """
        binding = self.binding
        transport = binding.transport
        warm_up(*columnar_modules())  # needed by the first page, imported while it is fetched
        check_me_name(binding.path, transport, self.filters, self.retries)
        transport.reserve_connections(self.workers + 2)
        cancel = Cancellation()
        partitions = partition_query(transport, self.filters, self.workers, self.retries, cancel)
        progress, hint = walk_feedback(
            binding,
            self.filters,
            enable_progress=self.enable_progress,
            max_pages=self.max_pages,
            retries=self.retries,
            workers=self.workers,
        )
        walk = Walk(
            fetcher(binding, self.retries, cancel),
            partitions,
            workers=self.workers,
            max_pages=self.max_pages,
            window=READ_AHEAD,
            cancel=cancel,
        )
        completed = False
        try:
            # Ctrl-C, or the consumer stopped reading (GeneratorExit): the pages in flight
            # are of no use, their requests are ended instead of waited for.
            with cancel:
                for step in walk:
                    if step.error is not None:
                        raise step.error
                    if step.page is None:  # a partition stopped early
                        if walk.failure is not None:
                            raise walk.failure
                        completed = True
                        return  # max_pages used up: later partitions would leave a gap
                    progress.page(step.page.num_rows, more=not all(p.done for p in partitions))
                    hint.page()
                    yield cast(PageT, step.page)
            completed = True
        finally:
            walk.close()
            progress.close(complete=completed)

    def rows(self) -> Generator[RowT, None, None]:
        """The rows (models), one by one; only one page's models exist at a time."""
        for page in self.pages():
            yield from page.results

    def __iter__(self) -> Iterator[RowT]:
        return self.rows()

    # -- whole results, assembled page by page ----------------------------------------

    def collect(self) -> PageT:
        """All rows in one ``Paginated...List`` (like ``list_all``), assembled with
        bounded read-ahead; raises on failure."""
        return cast(
            PageT,
            collect(
                self.binding,
                self.filters,
                max_pages=self.max_pages,
                enable_progress=self.enable_progress,
                retries=self.retries,
                keep_failed=False,
                resume_from=None,
                workers=self.workers,
                window=READ_AHEAD,
            ),
        )

    def _needs(self, feature: str, *extras: tuple[str, str]) -> None:
        """Raise for a missing extra *before* the walk (not after reading everything)."""
        histograms = self.binding.page_model.histogram_layout() is not None
        for module, extra in extras:
            if module != "numpy" or histograms:
                require(module, extra, feature)

    def to_numpy(self, by_me: bool | None = None) -> HistogramArray | dict[str, HistogramArray]:
        """th1/th2 rows stacked (see ``Paginated.to_numpy``); peak memory is the final
        array plus a few pages."""
        require_histograms(self.binding.page_model, "to_numpy()")
        self._needs("to_numpy()", ("numpy", "numpy"))
        return self.collect().to_numpy(by_me=by_me)

    def to_pandas(self, data_as: DataCells = "numpy") -> pd.DataFrame:
        """All rows as a DataFrame (see ``Paginated.to_pandas``)."""
        self._needs("to_pandas()", ("pandas", "pandas"), ("numpy", "numpy"))
        return self.collect().to_pandas(data_as)

    def to_arrow(self) -> pa.Table:
        """All rows as a ``pyarrow.Table`` (see ``Paginated.to_arrow``)."""
        self._needs("to_arrow()", ("pyarrow", "arrow"), ("numpy", "numpy"))
        return self.collect().to_arrow()

    def to_hist(self) -> list[Any]:
        """One ``hist.Hist`` per row (see ``Paginated.to_hist``)."""
        require_histograms(self.binding.page_model, "to_hist()")
        self._needs("to_hist()", ("hist", "hist"), ("numpy", "numpy"))
        return self.collect().to_hist()

    # -- files, written as pages arrive ----------------------------------------------

    def _chunks(self, feature: str) -> Iterator[Chunk]:
        for page in self.pages():
            yield rows_to_write(page, feature)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write every row to a Parquet file, one row group per page, as pages arrive.

        The file appears under ``path`` only once complete (atomic rename); on an error or
        an interrupt nothing is left under that name.  Needs the ``arrow`` extra.
        """
        from cmsdials._writers import write_parquet

        page_model = self.binding.page_model
        layout = page_model.histogram_layout()
        return write_parquet(
            path,
            page_model.row_model(),
            layout.dims if layout else None,
            self._chunks("to_parquet()"),
        )

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write every row to a CSV file as pages arrive (atomic, like :meth:`to_parquet`)."""
        from cmsdials._writers import write_csv

        return write_csv(path, self.binding.page_model.row_model(), self._chunks("to_csv()"))
