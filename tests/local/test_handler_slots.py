"""Handler slots (issue #10, throughput): at most a few request handlers run at once, the
others wait on the event loop; a slow handler gives its slot back after the grace time,
so that one costly request never holds the turn of cheap ones.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
import requests
from routes_truth import session
from test_hostile_input import TRACKER
from test_request_budget import HEAVY_REGEX

from dials_local.api.slots import (
    HANDLER_SLOTS_ENV,
    SLOT_GRACE_S,
    HandlerSlots,
    NoSlot,
    handler_slots,
)
from dials_local.listing.patterns import REGEX_BUDGET_S, TOO_SLOW
from dials_local.testing import LocalServer

T = TypeVar("T")


def test_slots_default_to_one_per_cpu_and_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(HANDLER_SLOTS_ENV, raising=False)
    assert handler_slots() == (os.cpu_count() or 1)
    monkeypatch.setenv(HANDLER_SLOTS_ENV, "3")
    assert handler_slots() == 3
    for bad in ("0", "-1", "a few"):
        monkeypatch.setenv(HANDLER_SLOTS_ENV, bad)
        with pytest.raises(ValueError, match=HANDLER_SLOTS_ENV):
            handler_slots()


def _run(main: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(main)`` in a thread of its own: another test (Playwright's sync API)
    may have left an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, main).result()


class _Gauge:
    """Counts the functions running at once in worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def work(self, seconds: float) -> float:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1
        return seconds


def test_at_most_slots_handlers_run_at_once() -> None:
    gauge = _Gauge()
    slots = HandlerSlots(slots=2, grace=10.0)

    async def main() -> list[float]:
        results: list[float] = []

        async def one() -> None:
            results.append(await slots.run(time.monotonic() + 10, gauge.work, 0.05))

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(one)
        return results

    assert _run(main) == [0.05] * 8
    assert gauge.most == 2


def test_a_slow_handler_gives_its_slot_back_after_the_grace_time() -> None:
    slots = HandlerSlots(slots=1, grace=0.05)

    async def main() -> tuple[float, float]:
        waited: list[float] = []

        async def quick() -> None:
            await anyio.sleep(0.02)  # the slow one holds the only slot first
            started = time.monotonic()
            await slots.run(time.monotonic() + 10, time.sleep, 0)
            waited.append(time.monotonic() - started)

        async with anyio.create_task_group() as group:
            group.start_soon(slots.run, time.monotonic() + 10, time.sleep, 1.0)
            group.start_soon(quick)
        return waited[0], slots.grace

    waited, grace = _run(main)
    assert waited < grace + 0.5, f"the quick handler waited {waited:.2f} s for the slow one"


def test_no_slot_before_the_deadline_raises() -> None:
    slots = HandlerSlots(slots=1, grace=10.0)

    async def main() -> float:
        async with anyio.create_task_group() as group:
            group.start_soon(slots.run, time.monotonic() + 10, time.sleep, 0.5)
            await anyio.sleep(0.02)
            started = time.monotonic()
            with pytest.raises(NoSlot):
                await slots.run(time.monotonic() + 0.1, time.sleep, 0)
            waited = time.monotonic() - started
        return waited

    assert _run(main) < 0.4


def test_handler_threads_are_bounded() -> None:
    """Slots given back after the grace time let more handlers start, but never more
    threads than the bound: the others queue for a thread."""
    gauge = _Gauge()
    slots = HandlerSlots(slots=8, grace=0.0, threads=3)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(slots.run, time.monotonic() + 10, gauge.work, 0.05)

    try:
        _run(main)
    finally:
        slots.close()
    assert gauge.most == 3


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def test_handlers_see_the_callers_context_variables() -> None:
    """The in-thread server tells its log records apart by a context variable set in the
    request's task: the handler thread must see it."""
    slots = HandlerSlots(slots=2)

    async def main() -> list[str]:
        async def one(name: str) -> str:
            REQUEST_ID.set(name)
            return await slots.run(time.monotonic() + 10, REQUEST_ID.get)

        return [await one("first"), await one("second")]

    try:
        assert _run(main) == ["first", "second"]
    finally:
        slots.close()


def test_a_failing_or_abandoned_handler_gives_its_slot_back() -> None:
    """With one slot: a handler that raises, then one whose caller is cancelled, each
    leave the slot free for the next request at once (not after the grace time)."""
    slots = HandlerSlots(slots=1, grace=30.0)

    def fail() -> None:
        raise LookupError("boom")

    async def main() -> float:
        with pytest.raises(LookupError, match="boom"):
            await slots.run(time.monotonic() + 10, fail)
        with anyio.move_on_after(0.05):
            await slots.run(time.monotonic() + 10, time.sleep, 0.5)
        started = time.monotonic()
        await slots.run(time.monotonic() + 1, time.sleep, 0)
        return time.monotonic() - started

    try:
        assert _run(main) < 0.3
    finally:
        slots.close()


@pytest.fixture(scope="module")
def one_slot_server(tiny_data_dir: Path) -> Iterator[LocalServer]:
    """A server with a single handler slot: only the grace time lets a second request in
    while a slow one runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HANDLER_SLOTS_ENV, "1")
        with LocalServer(tiny_data_dir) as server:
            yield server


def test_a_costly_regex_does_not_hold_the_only_slot(one_slot_server: LocalServer) -> None:
    """The regex runs for its whole 1 s budget, far past the grace time; a second client
    is answered before it ends (with the slot held, it would be answered after)."""
    assert SLOT_GRACE_S < REGEX_BUDGET_S / 2
    finished: dict[str, float] = {}
    answers: dict[str, requests.Response] = {}

    def hostile() -> None:
        answers["hostile"] = session(one_slot_server, TRACKER).get(
            one_slot_server.api_url + HEAVY_REGEX, timeout=60
        )
        finished["hostile"] = time.monotonic()

    thread = threading.Thread(target=hostile)
    thread.start()
    time.sleep(SLOT_GRACE_S + 0.2)  # the hostile request holds the slot, then gives it back
    answers["bystander"] = session(one_slot_server, TRACKER).get(
        one_slot_server.api_url + "run/", params={"page_size": 1}, timeout=30
    )
    finished["bystander"] = time.monotonic()
    thread.join(60)
    assert answers["bystander"].status_code == 200
    assert answers["hostile"].status_code == 400, answers["hostile"].text
    assert answers["hostile"].json() == {"me__regex": [TOO_SLOW]}
    assert finished["bystander"] < finished["hostile"]
