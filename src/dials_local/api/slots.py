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
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
from starlette.concurrency import run_in_threadpool

from dials_local.argtypes import positive_int_env

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
    """The bound on handlers running at once, for one server (one event loop)."""

    def __init__(self, slots: int | None = None, grace: float = SLOT_GRACE_S) -> None:
        self.slots = handler_slots() if slots is None else slots
        self.grace = grace
        self._limiter: anyio.CapacityLimiter | None = None

    def __repr__(self) -> str:
        return f"<HandlerSlots slots={self.slots} grace={self.grace:g}s>"

    async def run(self, deadline: float, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread once a slot is free; :class:`NoSlot` if
        none is free before ``deadline`` (:func:`time.monotonic`)."""
        if self._limiter is None:  # an anyio limiter belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.slots)
        limiter = self._limiter
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as waiting:
            await limiter.acquire()
        if waiting.cancelled_caught:
            raise NoSlot
        work = asyncio.ensure_future(run_in_threadpool(function, *args))
        try:
            await asyncio.wait({work}, timeout=self.grace)
        finally:
            limiter.release()
        return await work
