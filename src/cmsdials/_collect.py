"""``list_all``: run a walk and assemble its pages into one result, resumable.

Rows go into the result in partition order.  When a partition stops early (``max_pages``,
or a failure with ``keep_failed=True``), the rows of the partitions after it would leave
a gap, so they are *held* in the result's walk state instead of shown: ``results`` is
always a prefix of the complete answer, and ``resume_from=`` continues the unfinished
partitions, adds the held pages in their place and skips the finished ones - no page is
fetched twice.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from cmsdials._decode import ReusableParser, columnar_available, decode_json, page_decoder
from cmsdials._filters import PaginatedFilters
from cmsdials._partition import partition_query
from cmsdials._progress import PageProgress, Progress, RowProgress, progress_wanted
from cmsdials._results import Paginated, page_url
from cmsdials._transport import Retries, Transport
from cmsdials._walk import FetchPage, Partition, Walk, WalkState
from cmsdials._warmup import warm_up
from cmsdials.errors import APIError, ResponseDecodeError, ResponseFormatError

if TYPE_CHECKING:
    from cmsdials._layout import Layout
    from cmsdials._resources import PaginatedResource

__all__ = ["collect", "exc_type_name", "fetcher", "walk_progress"]

#: The server's default and largest page sizes (CONTRACT §5.1).
_DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE = 10, 500

#: Pages a partition of ``list_all`` may fetch ahead of the assembly.  Partitions are
#: small (a few pages each: ``_partition.PARTS_PER_WORKER``), so most finish within it;
#: it bounds the pages waiting for an earlier, slower partition to ``workers x 4``.
LIST_ALL_READ_AHEAD = 4


def fetcher(
    transport: Transport, path: str, page_model: type[Paginated[Any]], retries: Retries
) -> FetchPage:
    """Request and decode one page of ``path`` (runs in the walk's worker threads)."""
    # One parser for the walk's pages, freed with the walk: its tape, several times the
    # size of a page, is not kept once the rows are collected.
    parser = ReusableParser()

    def fetch(filters: PaginatedFilters, on_next: Any) -> Paginated[Any]:
        return transport.request(
            "GET",
            path,
            page_decoder(page_model, on_next, parser),
            params=filters.to_params(),
            retries=retries,
        )

    return fetch


def _page_size(filters: PaginatedFilters) -> int:
    size = filters.page_size
    if size is None or size <= 0:
        return _DEFAULT_PAGE_SIZE
    return min(size, _MAX_PAGE_SIZE)


def _count(
    transport: Transport, path: str, filters: PaginatedFilters, retries: Retries
) -> int | None:
    """Rows matching ``filters`` from the route's count route; ``None`` if it fails."""
    params = filters.to_params()
    params.pop("next_token", None)
    params.pop("page_size", None)
    try:
        answer = transport.request("GET", path, decode_json, params=params, retries=retries)
        return int(answer["count"])
    except Exception:  # progress is a nicety: never fail a walk because of it
        return None


def walk_progress(
    resource: PaginatedResource[Any, Any, Any],
    filters: PaginatedFilters,
    enable_progress: bool | None,
    max_pages: int | None,
    retries: Retries,
    initial_rows: int = 0,
) -> Progress:
    """The progress bar of a walk: rows with a total where a count route exists, else
    pages; a silent one when progress is off."""
    if not progress_wanted(enable_progress):
        return Progress()
    count_path = resource.route.count_path
    if count_path is not None and filters.next_token is None:
        total = _count(resource.transport, count_path, filters, retries)
        if total is not None:
            if max_pages is not None:
                total = min(total, initial_rows + max_pages * _page_size(filters))
            return RowProgress(True, total, initial_rows)
    return PageProgress(True, max_pages)


class _ColumnSink:
    """Rows of a histogram route, collected as columns (no row models built)."""

    def __init__(self, layout: Layout) -> None:
        from cmsdials._columns import HistogramStore

        self.store = HistogramStore(layout)

    @property
    def rows(self) -> int:
        return len(self.store)

    def add(self, page: Paginated[Any]) -> None:
        self.store.extend(page.histogram_columns())

    def result(self, page_model: type[Paginated[Any]], **fields: Any) -> Paginated[Any]:
        return page_model.from_columns(columns=self.store.finish(), **fields)


class _ModelSink:
    """Rows of any other route, collected as the pages' row models."""

    def __init__(self) -> None:
        self.models: list[Any] = []

    @property
    def rows(self) -> int:
        return len(self.models)

    def add(self, page: Paginated[Any]) -> None:
        self.models.extend(page.results)

    def result(self, page_model: type[Paginated[Any]], **fields: Any) -> Paginated[Any]:
        # Rows were validated page by page: build the container without re-validating.
        fields["next"] = page_url(fields["next"])
        return page_model.model_construct(results=self.models, **fields)


def _resumed(
    filters: PaginatedFilters, resume_from: Paginated[Any]
) -> tuple[WalkState | None, PaginatedFilters]:
    """The walk state to continue, or ``None`` (with the filters) for a fresh walk.

    Results of this client carry their state.  Others (a page from ``list()``, a result
    built by hand) are continued from their ``next`` link, as the incumbent client did.
    """
    state = resume_from._walk
    if isinstance(state, WalkState):
        return state.copy(), state.filters
    started = resume_from._filters
    if resume_from.next is None and not resume_from.failed:
        done = Partition(filters, started=True, done=True)
        return WalkState(filters, [done]), filters
    if resume_from.next is not None:
        part = Partition(
            filters,
            started=True,
            next_token=resume_from.next_token,
            next_url=str(resume_from.next),
        )
        return WalkState(filters, [part]), filters
    # It failed before its first page: start where it started.
    start = started.next_token if isinstance(started, PaginatedFilters) else filters.next_token
    return None, filters.with_token(start)


#: The names cmsdials 2.4.1 reports in ``exc_type`` for what it raised where this client
#: raises its own subclasses: scripts compare ``exc_type`` with these strings.
_INCUMBENT_EXC_NAMES = (
    (APIError, "HTTPError"),  # 2.4.1: requests' raise_for_status()
    (ResponseDecodeError, "JSONDecodeError"),  # 2.4.1: requests' Response.json()
    (ResponseFormatError, "ValidationError"),  # 2.4.1: pydantic validation of the page
)


def exc_type_name(exc: BaseException) -> str:
    """``exc_type`` of an interrupted walk: the class name 2.4.1 reports for it.

    Our API errors subclass ``requests.HTTPError`` (``NotFoundError``, ``ServerError``,
    ...); 2.4.1 reports the ``requests`` class itself, so that is the name given here.
    Network errors are the ``requests`` exceptions in both clients.
    """
    for kind, name in _INCUMBENT_EXC_NAMES:
        if isinstance(exc, kind):
            return name
    return type(exc).__name__


def _next_url(state: WalkState, transport: Transport, path: str) -> str | None:
    """The ``next`` of a result: where the first unfinished partition continues."""
    for part in state.partitions:
        if part.done:
            continue
        if part.started:
            return part.next_url
        if len(state.partitions) == 1:
            return None  # a plain walk that never got a page, as before partitions
        return f"{transport.url(path)}?{urlencode(part.filters.to_params())}"
    return None


def collect(
    resource: PaginatedResource[Any, Any, Any],
    filters: PaginatedFilters,
    *,
    max_pages: int | None,
    enable_progress: bool | None,
    retries: Retries,
    keep_failed: bool,
    resume_from: Paginated[Any] | None,
    workers: int,
    window: int = LIST_ALL_READ_AHEAD,
) -> Paginated[Any]:
    """Walk ``filters``' query (or continue ``resume_from``) into one result.

    ``window`` bounds the pages each partition fetches ahead of the assembly.
    """
    if max_pages is not None and max_pages < 0:
        raise ValueError("max_pages must be >= 0 or None")
    if workers < 1:
        raise ValueError("workers must be >= 1")
    page_model = resource.page_model()
    transport = resource.transport
    path = resource.route.path
    warm_up("numpy", "simdjson")  # needed by the first page, imported while it is fetched
    layout = page_model.histogram_layout() if columnar_available() else None
    sink: _ColumnSink | _ModelSink = _ColumnSink(layout) if layout is not None else _ModelSink()

    state: WalkState | None = None
    if resume_from is not None:
        state, filters = _resumed(filters, resume_from)
        if layout is not None:
            sink.store.extend(resume_from.histogram_columns())  # type: ignore[union-attr]
        else:
            sink.models.extend(resume_from.results)  # type: ignore[union-attr]

    progress = Progress()
    failure: BaseException | None = None
    walk: Walk | None = None
    try:
        transport.reserve_connections(workers + 2)
        if state is None:
            state = WalkState(filters, partition_query(transport, filters, workers, retries))
        progress = walk_progress(resource, filters, enable_progress, max_pages, retries, sink.rows)
        parts = state.partitions
        walk = Walk(
            fetcher(transport, path, page_model, retries),
            parts,
            workers=workers,
            max_pages=max_pages,
            window=window,
        )
        finished = 0  # partitions before this index are all done: their pages are shown
        for step in walk:
            if step.error is not None:
                if not keep_failed:
                    raise step.error
                failure = failure or step.error
                continue
            if step.page is None:
                continue  # a partition that stopped early: the ones after it are held
            while finished < len(parts) and parts[finished].done:
                finished += 1
            if step.index <= finished:
                sink.add(step.page)
            else:
                parts[step.index].held.append(step.page)
            progress.page(step.page.num_rows, more=not state.complete)
    except Exception as exc:
        if not keep_failed:
            raise
        failure = failure or exc
    finally:
        if walk is not None:
            walk.close()
        progress.close()

    result = sink.result(
        page_model,
        next=_next_url(state, transport, path) if state is not None else None,
        previous=None,
        exc_type=exc_type_name(failure) if failure is not None else None,
        exc_formatted=(
            "".join(traceback.format_exception(type(failure), failure, failure.__traceback__))
            if failure is not None
            else None
        ),
    )
    result._filters = state.filters if state is not None else filters
    result._walk = state
    return result
