"""``list_all``: run a walk and assemble its pages into one result, resumable.

``keep_failed=True`` returns the rows so far after a network or server failure
(:data:`RECOVERABLE`); other exceptions, and Ctrl-C, propagate (the requests in flight
are ended at once, ``_walk``).

Rows go into the result in partition order.  When a partition stops early (``max_pages``,
or a failure with ``keep_failed=True``), the rows of the partitions after it would leave
a gap, so they are *held* in the result's walk state instead of shown: ``results`` is
always a prefix of the complete answer, and ``resume_from=`` continues the unfinished
partitions, adds the held pages in their place and skips the finished ones - no page is
fetched twice.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import urlencode

import requests
from pydantic import ValidationError
from urllib3.exceptions import HTTPError as Urllib3Error

from cmsdials._decode import ReusableParser, columnar_available, columnar_modules, page_decoder
from cmsdials._filters import PaginatedFilters
from cmsdials._mes import check_me_name
from cmsdials._partition import partition_query
from cmsdials._progress import Progress, make_progress, progress_mode
from cmsdials._results import Paginated, continuation_of
from cmsdials._resume import Continuation, Partition, WalkState
from cmsdials._route import RouteBinding
from cmsdials._totals import SpeedHint, exact_total, page_size
from cmsdials._transport import Cancellation, Retries
from cmsdials._walk import FetchPage, OnNext, Walk
from cmsdials._warmup import warm_up
from cmsdials.errors import APIError, ResponseDecodeError, ResponseFormatError

if TYPE_CHECKING:
    from cmsdials._columns import HistogramStore
    from cmsdials._layout import Layout

__all__ = ["RECOVERABLE", "collect", "exc_type_name", "fetcher", "walk_feedback"]

#: Pages a partition of ``list_all`` may fetch ahead of the assembly.  Partitions are
#: small (a few pages each: ``_partition.PARTS_PER_WORKER``), so most finish within it;
#: it bounds the pages waiting for an earlier, slower partition to ``workers x 4``.
LIST_ALL_READ_AHEAD = 4

#: The failures after which ``keep_failed=True`` returns the rows so far: the network and
#: the server (HTTP errors, broken or malformed bodies).  Anything else - a bug, a
#: missing extra, memory, Ctrl-C - is raised: a partial result would hide it.
RECOVERABLE: tuple[type[BaseException], ...] = (
    requests.RequestException,  # APIError, network errors, deadlines, oversized bodies
    Urllib3Error,
    ResponseDecodeError,
    ResponseFormatError,
    ValidationError,
)


def fetcher(
    binding: RouteBinding, retries: Retries, cancel: Cancellation | None = None
) -> FetchPage:
    """Request and decode one page of the route (runs in the walk's worker threads)."""
    # One parser for the walk's pages, freed with the walk: its tape, several times the
    # size of a page, is not kept once the rows are collected.
    parser = ReusableParser()
    transport, path, page_model = binding.transport, binding.path, binding.page_model

    def fetch(filters: PaginatedFilters, on_next: OnNext) -> Paginated[Any]:
        return transport.request(
            "GET",
            path,
            page_decoder(page_model, on_next, parser),
            params=filters.to_params(),
            retries=retries,
            cancel=cancel,
        )

    return fetch


def walk_feedback(
    binding: RouteBinding,
    filters: PaginatedFilters,
    *,
    enable_progress: bool | None,
    max_pages: int | None,
    retries: Retries,
    workers: int,
    initial_rows: int = 0,
) -> tuple[Progress, SpeedHint]:
    """The progress display of a walk and its speed hint (see ``_progress``, ``_totals``).

    The exact total is only asked for when progress is shown: a walk nobody watches
    costs no extra request (its speed hint then comes after ``HINT_REQUESTS`` pages).
    """
    mode = progress_mode(enable_progress)
    label = binding.path
    hint = SpeedHint(label, filters, workers=workers, max_pages=max_pages)
    total = exact_total(binding, filters, retries) if mode is not None else None
    if total is not None:
        hint.expect(max(0, total - initial_rows))
        if max_pages is not None:
            total = min(total, initial_rows + max_pages * page_size(filters))
    return make_progress(mode, label=label, total=total, initial=initial_rows), hint


#: What a ``list_all`` result carries for ``resume_from=``, and its walk's state (the
#: pages its partitions hold are result pages).
_Continuation = Continuation[Paginated[Any]]
_WalkState = WalkState[Paginated[Any]]


class _ColumnSink:
    """Rows of a histogram route, collected as columns (no row models built)."""

    def __init__(self, layout: Layout) -> None:
        from cmsdials._columns import HistogramStore

        self.store: HistogramStore = HistogramStore(layout)

    @property
    def rows(self) -> int:
        return len(self.store)

    def add(self, page: Paginated[Any]) -> None:
        self.store.extend(page.histogram_columns())

    def result(
        self, page_model: type[Paginated[Any]], continuation: _Continuation, **fields: Any
    ) -> Paginated[Any]:
        return page_model.from_columns(
            columns=self.store.finish(), continuation=continuation, **fields
        )


class _ModelSink:
    """Rows of any other route, collected as the pages' row models."""

    def __init__(self) -> None:
        self.models: list[Any] = []

    @property
    def rows(self) -> int:
        return len(self.models)

    def add(self, page: Paginated[Any]) -> None:
        self.models.extend(page.results)

    def result(
        self, page_model: type[Paginated[Any]], continuation: _Continuation, **fields: Any
    ) -> Paginated[Any]:
        return page_model.from_models(self.models, continuation=continuation, **fields)


_Sink = Union[_ColumnSink, _ModelSink]


def _resumed(
    filters: PaginatedFilters, resume_from: Paginated[Any]
) -> tuple[_WalkState | None, PaginatedFilters]:
    """The walk state to continue, or ``None`` (with the filters) for a fresh walk.

    Results of ``list_all`` carry their walk.  Others (a page from ``list()``, a result
    built by hand) are continued from their ``next`` link, as the incumbent client did.
    """
    earlier = continuation_of(resume_from)
    if earlier is not None and earlier.walk is not None:
        return earlier.walk.copy(), earlier.walk.filters
    if resume_from.next is None and not resume_from.failed:
        done: Partition[Paginated[Any]] = Partition(filters, started=True, done=True)
        return WalkState(filters, [done]), filters
    if resume_from.next is not None:
        part: Partition[Paginated[Any]] = Partition(
            filters,
            started=True,
            next_token=resume_from.next_token,
            next_url=str(resume_from.next),
        )
        return WalkState(filters, [part]), filters
    # It failed before its first page: start where it started.
    start = earlier.filters.next_token if earlier is not None else filters.next_token
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


def _next_url(state: _WalkState, binding: RouteBinding, *, failed: bool) -> str | None:
    """The ``next`` of a result: where the first unfinished partition continues.

    A partition not started yet continues at its first page, whose URL is given - also
    for ``max_pages=0``, whatever the number of workers: a non-null ``next`` always means
    "incomplete".  The one exception is cmsdials 2.4.1's: a plain walk whose first request
    failed has ``next=None`` (with ``exc_type`` set).
    """
    for part in state.partitions:
        if part.done:
            continue
        if part.started:
            return part.next_url
        if failed and len(state.partitions) == 1:
            return None
        return f"{binding.transport.url(binding.path)}?{urlencode(part.filters.to_params())}"
    return None


def collect(
    binding: RouteBinding,
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
    page_model = binding.page_model
    transport = binding.transport
    warm_up(*columnar_modules())  # needed by the first page, imported while it is fetched
    layout = page_model.histogram_layout() if columnar_available() else None
    sink: _Sink = _ColumnSink(layout) if layout is not None else _ModelSink()

    state: _WalkState | None = None
    if resume_from is not None:
        state, filters = _resumed(filters, resume_from)
        sink.add(resume_from)  # its rows come first
    # A misspelt ME name is the caller's mistake, raised whatever keep_failed says.
    check_me_name(binding.path, transport, filters, retries)

    progress = Progress()
    failure: BaseException | None = None
    walk: Walk | None = None
    cancel = Cancellation()
    completed = False
    try:
        with cancel:  # Ctrl-C (or SystemExit) in here ends the requests in flight at once
            transport.reserve_connections(workers + 2)
            if state is None:
                parts = partition_query(transport, filters, workers, retries, cancel)
                state = WalkState(filters, parts)
            progress, hint = walk_feedback(
                binding,
                filters,
                enable_progress=enable_progress,
                max_pages=max_pages,
                retries=retries,
                workers=workers,
                initial_rows=sink.rows,
            )
            parts = state.partitions
            walk = Walk(
                fetcher(binding, retries, cancel),
                parts,
                workers=workers,
                max_pages=max_pages,
                window=window,
                cancel=cancel,
            )
            finished = 0  # partitions before this index are all done: their pages are shown
            for step in walk:
                if step.error is not None:
                    if not keep_failed or not isinstance(step.error, RECOVERABLE):
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
                if not step.held:
                    hint.page()
        completed = failure is None
    except RECOVERABLE as exc:
        if not keep_failed:
            raise
        failure = failure or exc
    finally:
        if walk is not None:
            walk.close()
        progress.close(complete=completed)

    result = sink.result(
        page_model,
        Continuation(state.filters if state is not None else filters, state),
        next=_next_url(state, binding, failed=failure is not None) if state is not None else None,
        previous=None,
        exc_type=exc_type_name(failure) if failure is not None else None,
        exc_formatted=(
            "".join(traceback.format_exception(type(failure), failure, failure.__traceback__))
            if failure is not None
            else None
        ),
    )
    return result
