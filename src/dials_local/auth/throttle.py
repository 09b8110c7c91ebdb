"""Limits on unauthenticated work: sign-in attempts and password hashing.

:class:`SignInThrottle`
    counts sign-in attempts per user name and per client address in a sliding window;
    after too many failures the name (or address) is locked out for a while, and attempts
    are refused *before* the password is hashed, whatever the password.
:class:`HashPool`
    runs password hashes (scrypt: 32 MiB and tens of milliseconds each) on a few threads
    of its own, with a bounded queue, so that guessers can neither take the API's thread
    pool nor make the process allocate 32 MiB per concurrent request.

Both are per process: several server processes on one PostgreSQL database each keep
their own counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

Clock = Callable[[], float]

#: Most names (or addresses) remembered at once.  Beyond that the least recently seen is
#: forgotten, so a guesser spraying random user names cannot grow the process without
#: bound (the per-address limit still stops such a spray from one address).
MAX_TRACKED_KEYS = 10_000


class Throttled(Exception):
    """Refused without trying: too many recent attempts (429), or the hash pool is full
    (503: the server, not this client, is busy)."""

    def __init__(self, retry_after: float, message: str, status: int = 429) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message
        self.status = status

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after)))


@dataclass
class _Record:
    #: Times of failed (or still running) attempts within the window, oldest first.
    attempts: deque[float] = field(default_factory=deque)
    #: Until when attempts are refused (clock time); 0 when not locked.
    locked_until: float = 0.0


@dataclass
class Attempt:
    """One sign-in attempt admitted by :meth:`SignInThrottle.begin` (counted as a failure
    until :meth:`SignInThrottle.succeeded` or :meth:`SignInThrottle.abandoned` says
    otherwise, so that concurrent guesses cannot slip past the limit)."""

    user: str
    address: str
    stamp: float
    #: The ``locked_until`` each key got because of this attempt (to undo it).
    locked: dict[str, float] = field(default_factory=dict)


class _Table:
    """Records of one kind of key (user names or addresses), least recently used first."""

    def __init__(self, limit: int, max_keys: int) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.records: OrderedDict[str, _Record] = OrderedDict()

    def get(self, key: str) -> _Record | None:
        return self.records.get(key)

    def touch(self, key: str) -> _Record:
        record = self.records.get(key)
        if record is None:
            record = self.records[key] = _Record()
            while len(self.records) > self.max_keys:
                self.records.popitem(last=False)
        else:
            self.records.move_to_end(key)
        return record


class SignInThrottle:
    """Per-user and per-address failure counting with lockout.

    After ``user_limit`` failed attempts for one user name, or ``address_limit`` from one
    client address, within ``window`` seconds, further attempts for that name (or from
    that address) are refused for ``lockout`` seconds, with the right password too:
    otherwise guessing could simply go on.  Unknown names are counted like known ones (a
    lockout must not reveal which names exist).  A success clears the user's failures;
    it does not clear the address's, so an attacker who has an account of their own
    cannot reset their address's count by signing in with it.
    """

    def __init__(
        self,
        *,
        user_limit: int,
        address_limit: int,
        window: float,
        lockout: float,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.window = window
        self.lockout = lockout
        self._clock = clock
        self._lock = threading.Lock()
        self._tables = {
            "user": _Table(user_limit, max_keys),
            "address": _Table(address_limit, max_keys),
        }

    def __repr__(self) -> str:
        limits = {kind: table.limit for kind, table in self._tables.items()}
        return f"<SignInThrottle limits={limits} window={self.window} lockout={self.lockout}>"

    def _keys(self, user: str, address: str) -> tuple[tuple[str, str], ...]:
        return (("user", user), ("address", address))

    def begin(self, user: str, address: str) -> Attempt:
        """Admit an attempt (counted as failed until told otherwise), or raise
        :class:`Throttled` with the seconds until the lockout ends."""
        now = self._clock()
        with self._lock:
            wait = 0.0
            for kind, key in self._keys(user, address):
                record = self._tables[kind].get(key)
                if record is not None and record.locked_until > now:
                    wait = max(wait, record.locked_until - now)
            if wait:
                raise Throttled(
                    wait,
                    f"Too many failed sign-in attempts. Try again in "
                    f"{max(1, math.ceil(wait))} seconds.",
                )
            attempt = Attempt(user=user, address=address, stamp=now)
            for kind, key in self._keys(user, address):
                table = self._tables[kind]
                record = table.touch(key)
                if record.locked_until and record.locked_until <= now:
                    record.locked_until = 0.0  # a finished lockout starts a fresh count
                    record.attempts.clear()
                while record.attempts and record.attempts[0] <= now - self.window:
                    record.attempts.popleft()
                record.attempts.append(now)
                if len(record.attempts) >= table.limit:
                    # This attempt is still checked; the next ones are refused.
                    record.locked_until = now + self.lockout
                    record.attempts.clear()
                    attempt.locked[kind] = record.locked_until
            return attempt

    def _undo(self, attempt: Attempt, kind: str, key: str) -> None:
        record = self._tables[kind].get(key)
        if record is None:
            return
        # Gone already when it left the window or a lockout cleared the count.
        with contextlib.suppress(ValueError):
            record.attempts.remove(attempt.stamp)
        if kind in attempt.locked and record.locked_until == attempt.locked[kind]:
            record.locked_until = 0.0

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: not a failure, and the user's failures are forgiven."""
        with self._lock:
            self._undo(attempt, "address", attempt.address)
            self._tables["user"].records.pop(attempt.user, None)

    def abandoned(self, attempt: Attempt) -> None:
        """The password was never checked (the hash pool was full): not a failure."""
        with self._lock:
            for kind, key in self._keys(attempt.user, attempt.address):
                self._undo(attempt, kind, key)


class HashPool:
    """At most ``workers`` password hashes at once, at most ``queue`` more waiting.

    The threads are the pool's own, not the API's (Starlette's thread pool, shared by
    every route): a flood of sign-in attempts then slows sign-ins only.  Memory is bounded
    too, since each scrypt allocates 32 MiB while it runs.  An attempt finding the pool
    and its queue full is refused at once (:class:`Throttled`) instead of waiting.
    """

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.queue = queue
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="dials-local-password-hash"
        )
        self._slots = threading.BoundedSemaphore(workers + queue)

    def __repr__(self) -> str:
        return f"<HashPool workers={self.workers} queue={self.queue}>"

    def submit(self, function: Callable[..., T], *args: object) -> Future[T]:
        """Run ``function(*args)`` on the pool, or raise :class:`Throttled` when full."""
        if not self._slots.acquire(blocking=False):
            raise Throttled(
                1.0, "Too many sign-in attempts right now. Try again in a moment.", status=503
            )
        try:
            future = self._executor.submit(function, *args)
        except BaseException:
            self._slots.release()
            raise
        # Released when the hash ends, also if the waiting request was cancelled.
        future.add_done_callback(lambda _: self._slots.release())
        return future

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Await ``function(*args)`` from the event loop (no API worker thread waits)."""
        return await asyncio.wrap_future(self.submit(function, *args))

    def shutdown(self) -> None:
        """Stop the threads (queued hashes are cancelled)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
