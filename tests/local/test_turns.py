"""The turns at the database (:class:`dials_local.api.turns.Turns`, issue #16): first come,
first served, never more holders than turns, every turn given back, waits bounded."""

from __future__ import annotations

import random
import threading
import time

import pytest

from dials_local.api.context import DB_WORK
from dials_local.api.turns import Turns


def _wait_until_waiting(turns: Turns, count: int) -> None:
    """Until ``count`` threads wait for a turn (they start asynchronously)."""
    deadline = time.monotonic() + 10
    while f", {count} waiting>" not in repr(turns):
        assert time.monotonic() < deadline, repr(turns)
        time.sleep(0.001)


def test_a_released_turn_goes_to_the_waiter_not_to_a_newcomer() -> None:
    """With ``threading.Semaphore`` the releasing thread takes the turn straight back
    (the waiter is only woken); here it is the waiter's."""
    turns = Turns(1)
    assert turns.acquire(timeout=0)
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(turns.acquire(timeout=10)))
    waiter.start()
    _wait_until_waiting(turns, 1)
    turns.release()
    assert not turns.acquire(timeout=0)  # a newcomer: the turn is already the waiter's
    waiter.join(10)
    assert results == [True]
    turns.release()
    assert repr(turns) == "<Turns 1 of 1 free, 0 waiting>"


def test_waiters_get_their_turns_in_the_order_they_came() -> None:
    turns = Turns(1)
    assert turns.acquire(timeout=0)
    order: list[int] = []

    def wait_then_pass_on(index: int) -> None:
        assert turns.acquire(timeout=10)
        order.append(index)
        turns.release()

    threads = []
    for index in range(6):
        thread = threading.Thread(target=wait_then_pass_on, args=(index,))
        thread.start()
        _wait_until_waiting(turns, index + 1)
        threads.append(thread)
    turns.release()
    for thread in threads:
        thread.join(10)
    assert order == list(range(6))


def test_a_wait_ends_at_its_timeout_and_leaves_no_trace() -> None:
    turns = Turns(1)
    assert turns.acquire(timeout=0)
    started = time.monotonic()
    assert not turns.acquire(timeout=0.05)
    assert 0.04 <= time.monotonic() - started < 2
    assert repr(turns) == "<Turns 0 of 1 free, 0 waiting>"
    turns.release()
    assert turns.acquire(timeout=0)


def test_never_more_holders_than_turns_and_every_turn_comes_back() -> None:
    """Many threads with tiny timeouts: some give up just as a turn is handed to them,
    the race the hand-over check covers.  At the end every turn is free again."""
    turns = Turns(2)
    lock = threading.Lock()
    holders = [0, 0]  # now, most
    failures: list[BaseException] = []

    def worker(seed: int) -> None:
        chance = random.Random(seed)
        try:
            for _ in range(300):
                if not turns.acquire(timeout=chance.choice([0.0, 0.0001, 0.001])):
                    continue
                with lock:
                    holders[0] += 1
                    holders[1] = max(holders[1], holders[0])
                time.sleep(chance.choice([0.0, 0.0001]))
                with lock:
                    holders[0] -= 1
                turns.release()
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert holders == [0, 2]
    assert repr(turns) == "<Turns 2 of 2 free, 0 waiting>"


def test_bad_counts_and_extra_releases_are_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Turns(0)
    turns = Turns(1)
    with pytest.raises(ValueError, match="released more often"):
        turns.release()


def test_the_database_turns_are_first_come_first_served() -> None:
    assert isinstance(DB_WORK, Turns)
