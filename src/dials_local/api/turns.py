"""A counting semaphore that serves its waiters in the order they came: :class:`Turns`.

``threading.Semaphore`` only wakes a waiter when a permit is released: a thread that
asks in the meantime (often the one that just released it) takes the permit first, and
the woken waiter finds none and waits again, at the back.  Under load some requests then
waited seconds for a turn at the database while later ones went ahead: with 40 handler
threads and 8 turns, 3 % of heavy pages took more than a second (issue #16,
BENCHMARKS.md "server-load").  Here a released permit goes straight to the longest
waiter, so no request waits longer than those before it.
"""

from __future__ import annotations

import threading
from collections import deque


class Turns:
    """At most ``count`` holders at once; waiters get a turn first come, first served."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"Turns needs at least one turn, not {count}")
        self.count = count
        self._free = count
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()

    def __repr__(self) -> str:
        return f"<Turns {self._free} of {self.count} free, {len(self._waiting)} waiting>"

    def acquire(self, timeout: float) -> bool:
        """Take a turn, waiting at most ``timeout`` seconds; whether one was taken."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            granted = threading.Event()
            self._waiting.append(granted)
        if granted.wait(timeout):
            return True
        with self._lock:
            if granted.is_set():  # handed over between the timeout and the lock
                return True
            self._waiting.remove(granted)
            return False

    def release(self) -> None:
        """Give a turn back: to the longest waiter if there is one."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            elif self._free < self.count:
                self._free += 1
            else:
                raise ValueError("Turns released more often than acquired")
