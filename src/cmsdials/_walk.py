"""Cursor walks: pipelined page requests, several partitions at once, merged in order.

A *partition* (:class:`~cmsdials._resume.Partition`) is a slice of a query that has its
own cursor walk (``_partition`` cuts a query by dataset and run range).  Partitions are
ordered so that concatenating their rows gives exactly the rows, in the order, of one walk
over the whole query (CONTRACT §5.3); a plain walk is a single partition.

Within a partition, pages come one after the other - page k+1's cursor is in page k - but
decoding does not hold the next request up: the decoder reports page k's ``next`` link
from the first bytes of the body (``_decode.page_decoder``'s ``on_next``) and the request
for page k+1 leaves at once, while page k is decoded.  The body of page k has been read by
then, so its connection is back in the pool: one connection serves the whole walk.

Up to ``workers`` partitions are walked at the same time over the transport's shared
connection pool.  :class:`Walk` hands the pages to its consumer in partition order,
page order within a partition; the consumer decides what an unfinished partition means
(``_collect``).

Failures of a page (``Exception``) are handed to the consumer as steps.  Anything else -
Ctrl-C (``KeyboardInterrupt``) while the consumer waits for a page, ``SystemExit`` - is
not a failure of the walk: it propagates, and the walk's
:class:`~cmsdials._transport.Cancellation` ends the requests in flight at once (their
sockets are shut down) instead of waiting for the server.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from cmsdials._filters import PaginatedFilters
from cmsdials._results import Paginated, next_token_of
from cmsdials._resume import Partition
from cmsdials._transport import Cancellation

__all__ = ["FetchPage", "OnNext", "Step", "Walk"]

#: ``on_next(next_url)``: the ``next`` link of the page being decoded, as soon as known.
OnNext = Callable[[Optional[str]], None]

#: ``fetch(filters, on_next) -> page``: request the page that ``filters`` (with its
#: ``next_token``) selects; call ``on_next(next_url)`` as soon as the page's ``next``
#: link is known (possibly more than once, when the request is retried).
FetchPage = Callable[[PaginatedFilters, OnNext], Paginated[Any]]

#: A partition of a walk: its pages are result pages.
_Part = Partition[Paginated[Any]]


@dataclass
class Step:
    """What the walk hands its consumer: a page, a failure, or an unfinished partition.

    ``held`` marks a page replayed from :attr:`Partition.held`; ``incomplete`` marks the
    end of a partition that stopped before its last page (page budget, or a failure).
    """

    index: int
    page: Paginated[Any] | None = None
    error: BaseException | None = None
    held: bool = False
    incomplete: bool = False


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: End of a chain: no further page was requested (last page, budget, cancellation).
_END = _Marker("END")
#: The partition was never started (budget used up, or the walk was cancelled).
_NOT_STARTED = _Marker("NOT_STARTED")

#: Seconds a decoder waits for the request it started to be under way.
_HANDOFF = 0.005


class _Chain:
    """The page requests of one partition; each one started by its predecessor."""

    def __init__(self, walk: Walk, index: int, part: _Part) -> None:
        self.walk = walk
        self.index = index
        self.part = part
        self.queue: queue.SimpleQueue[Future[Paginated[Any] | None] | _Marker] = queue.SimpleQueue()
        self.window = threading.Semaphore(walk.window) if walk.window else None

    def submit(self, cursor: str | None) -> threading.Event:
        """Queue the request of the page at ``cursor`` (caller holds the walk's lock).

        The page's future is queued *before* the task runs, so that anything the task
        queues (its successor, the end marker) comes after it.  The returned event is set
        when the task starts running.
        """
        future: Future[Paginated[Any] | None] = Future()
        started = threading.Event()
        self.queue.put(future)
        self.walk.executor.submit(self._run, future, cursor, started)
        return started

    def _run(
        self, future: Future[Paginated[Any] | None], cursor: str | None, started: threading.Event
    ) -> None:
        started.set()
        walk = self.walk
        if self.window is not None:
            self.window.acquire()  # bounded read-ahead: released when the page is consumed
        successor = False

        def on_next(next_url: str | None) -> None:
            nonlocal successor
            token = next_token_of(next_url)
            if successor or token is None:
                return
            with walk.lock:
                if not walk.take_page():
                    return
                successor = True
                launched = self.submit(token)
            # Let the new request get going before decoding this page: the decoder holds
            # the GIL for milliseconds at a time (parsing), which would otherwise keep the
            # request from being sent until it is done.
            launched.wait(_HANDOFF)

        try:
            page = (
                None
                if walk.cancelled
                else walk.fetch(self.part.filters.with_token(cursor), on_next)
            )
        except BaseException as exc:
            walk.fail(exc)
            future.set_exception(exc)
        else:
            future.set_result(page)
        finally:
            if not successor:
                self.queue.put(_END)
                walk.chain_ended()


class Walk:
    """Walk ``partitions`` with up to ``workers`` of them in flight; iterate the steps.

    Parameters
    ----------
    fetch:
        Requests and decodes one page (see :data:`FetchPage`); runs in worker threads.
    partitions:
        The walks, in result order; updated in place as pages are consumed.
    workers:
        Partitions walked at the same time (each has at most one request in flight).
    max_pages:
        Pages to request in total (``None``: no limit).
    window:
        Pages a partition may fetch ahead of the consumer (``None``: no limit, for
        callers that keep every page anyway).
    cancel:
        The cancellation ``fetch`` passes to its requests: an interrupt while the
        consumer waits for a page cancels it.
    """

    def __init__(
        self,
        fetch: FetchPage,
        partitions: list[_Part],
        *,
        workers: int = 1,
        max_pages: int | None = None,
        window: int | None = None,
        cancel: Cancellation | None = None,
    ) -> None:
        self.fetch = fetch
        self.cancellation = cancel if cancel is not None else Cancellation()
        self.partitions = partitions
        self.workers = max(1, workers)
        self.window = window
        self.lock = threading.Lock()
        self.cancelled = False
        self.failure: BaseException | None = None
        self._budget = max_pages
        self._active = 0
        self._chains = [_Chain(self, i, part) for i, part in enumerate(partitions)]
        self._pending = deque(chain for chain in self._chains if not chain.part.done)
        # Each partition in flight needs two threads: one for the page being decoded and
        # one for the request its decoding started.
        self.executor = ThreadPoolExecutor(
            max_workers=2 * self.workers + 1, thread_name_prefix="cmsdials-walk"
        )

    # -- called with the lock held ------------------------------------------------------

    def take_page(self) -> bool:
        """Take one page from the budget; ``False`` once cancelled or used up."""
        if self.cancelled:
            return False
        if self._budget is not None:
            if self._budget <= 0:
                self._forget_pending()
                return False
            self._budget -= 1
        return True

    def _forget_pending(self) -> None:
        while self._pending:
            self._pending.popleft().queue.put(_NOT_STARTED)

    def _start_more(self) -> None:
        while self._active < self.workers and self._pending:
            if not self.take_page():
                self._forget_pending()
                return
            chain = self._pending.popleft()
            self._active += 1
            chain.submit(chain.part.cursor())  # not waited for: this thread does not decode

    def _cancel(self) -> None:
        self.cancelled = True
        self._forget_pending()
        for chain in self._chains:
            if chain.window is not None:
                chain.window.release(2)  # wake requests waiting for a window slot

    # -- called from worker threads -----------------------------------------------------

    def chain_ended(self) -> None:
        with self.lock:
            self._active -= 1
            self._start_more()

    def fail(self, exc: BaseException) -> None:
        """Record the first failure and stop requesting pages everywhere."""
        with self.lock:
            if self.failure is None:
                self.failure = exc
            self._cancel()

    # -- the consumer's side ------------------------------------------------------------

    def __iter__(self) -> Iterator[Step]:
        with self.lock:
            self._start_more()
        try:
            # Ctrl-C while waiting for a page, or the consumer gone (GeneratorExit):
            # nobody will read the pages in flight, their requests are ended.
            with self.cancellation:
                for chain in self._chains:
                    yield from self._steps_of(chain)
        finally:
            self.close()

    def _steps_of(self, chain: _Chain) -> Iterator[Step]:
        part = chain.part
        held, part.held = part.held, []
        for kept in held:
            yield Step(chain.index, kept, held=True)
        if part.done:
            return
        while True:
            item = chain.queue.get()
            if isinstance(item, _Marker):
                break
            try:
                page = item.result()
            except Exception as exc:  # the page failed; Ctrl-C in this wait propagates
                yield Step(chain.index, error=exc)
                return
            finally:
                if chain.window is not None:
                    chain.window.release()
            if page is None:  # cancelled before it was requested
                continue
            part.started = True
            part.next_url = None if page.next is None else str(page.next)
            part.next_token = page.next_token
            part.done = part.next_token is None
            yield Step(chain.index, page)
        if not part.done:
            yield Step(chain.index, incomplete=True)

    def close(self) -> None:
        """Stop requesting pages; wait for the requests in flight (at most one per
        partition) so that none outlives the walk."""
        with self.lock:
            self._cancel()
        self.executor.shutdown(wait=True, cancel_futures=True)
