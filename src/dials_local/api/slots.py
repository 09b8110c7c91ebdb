"""How many request handlers run at once: a few, plus the slow ones.

Handlers are synchronous Python (parsing, SQLAlchemy Core, rendering) run in worker
threads.  On a small machine, more of them at once only contend for the GIL: on 2 cores,
8 handler threads served heavy SQLite pages at half the rate of 1 thread, with twice the
CPU per request (BENCHMARKS.md, "server-load").  So at most :func:`handler_slots` handlers
(default: one per CPU) run at once, and the other requests wait their turn on the event
loop, where waiting costs nothing.

A handler that still runs after :data:`SLOT_GRACE_S` gives its slot back and finishes
outside the count: one slow request (a costly regex, a huge page) must not hold a turn
that cheap requests are waiting for.  Its work stays bounded by the request budget
(:mod:`dials_local.db.budget`) and the number of requests reading tables at once
(:data:`dials_local.api.context.DB_WORK`).

The hop to a worker thread is the event loop's own (``run_in_executor`` on a pool of
:data:`~dials_local.db.engines.SERVER_THREADS` threads), not anyio's ``to_thread``: on
Python before 3.12 every ``asyncio.get_running_loop()`` is a ``getpid`` system call, and
anyio's hop asked for the loop about 30 times per request, with two extra turns of the
loop (issue #16: a run page went from 0.78 to 0.60 ms of server CPU with this module and
the direct routes of :mod:`dials_local.app`).  anyio's limiter still does the waiting
when every slot is taken, where its careful cancellation matters and its cost does not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import time
from collections.abc import Callable
from typing import TypeVar

import anyio

from dials_local.argtypes import positive_int_env
from dials_local.db.engines import SERVER_THREADS

T = TypeVar("T")

#: Environment variable overriding :func:`handler_slots` (the benchmark compares sizes).
HANDLER_SLOTS_ENV = "DIALS_LOCAL_HANDLER_SLOTS"
#: Seconds a handler keeps its slot; then it counts as slow and gives the slot back.
#: Pages of a few hundred rows take well under this (about 1-10 ms).
SLOT_GRACE_S = 0.2


def handler_slots() -> int:
    """Handlers that run at once: ``$DIALS_LOCAL_HANDLER_SLOTS``, else one per CPU."""
    return positive_int_env(HANDLER_SLOTS_ENV, os.cpu_count() or 1)


class NoSlot(Exception):
    """The request waited until its deadline without getting a turn."""


class HandlerSlots:
    """The bound on handlers running at once, for one server (one event loop), and the
    threads that run them (at most ``threads``, started as needed)."""

    def __init__(
        self, slots: int | None = None, grace: float = SLOT_GRACE_S, threads: int = SERVER_THREADS
    ) -> None:
        self.slots = handler_slots() if slots is None else slots
        self.grace = grace
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="dials-local-handler"
        )

    def __repr__(self) -> str:
        return f"<HandlerSlots slots={self.slots} grace={self.grace:g}s threads={self.threads}>"

    async def run(self, deadline: float, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread once a slot is free; :class:`NoSlot` if
        none is free before ``deadline`` (:func:`time.monotonic`).  The thread sees the
        caller's context variables (the in-thread server's log attribution needs them)."""
        if self._limiter is None:  # an anyio limiter belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.slots)
        limiter = self._limiter
        turn = object()  # borrows the slot: it is given back from a callback, not a task
        try:
            limiter.acquire_on_behalf_of_nowait(turn)
        except anyio.WouldBlock:
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as waiting:
                await limiter.acquire_on_behalf_of(turn)
            if waiting.cancelled_caught:
                raise NoSlot from None
        held = True

        def give_back(*_: object) -> None:
            nonlocal held
            if held:
                held = False
                limiter.release_on_behalf_of(turn)
                grace_over.cancel()

        loop = asyncio.get_running_loop()
        try:
            work = loop.run_in_executor(self._pool, contextvars.copy_context().run, function, *args)
        except BaseException:
            limiter.release_on_behalf_of(turn)
            raise
        # Whichever comes first gives the slot back: the end of the work, or the grace time.
        grace_over = loop.call_later(self.grace, give_back)
        work.add_done_callback(give_back)
        return await work

    def close(self) -> None:
        """Stop the idle threads (the server is shutting down); running handlers finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
