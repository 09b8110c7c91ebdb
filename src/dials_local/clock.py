"""The server's clock: the real time, plus an offset that tests can move.

Everything that expires on a dials-local server (access and refresh tokens, device codes,
approval-page sessions, sign-in lockouts and pending-grant limits) reads the time from one
:class:`ServerClock`, held by :class:`dials_local.auth.service.AuthService`.  With
``serve --testing`` the control route ``/_local/clock`` moves it
(:meth:`dials_local.testing.LocalServer.advance_clock`), so that a test of a 5-minute
token lifetime advances the clock by 301 s instead of sleeping.
"""

from __future__ import annotations

import math
import threading
import time


class ServerClock:
    """Wall-clock and monotonic readings, both shifted by the same :attr:`offset`.

    Token claims (``iat``, ``exp``) and stored expiries are wall-clock times
    (:meth:`time`); lockouts measure durations (:meth:`monotonic`), unaffected by changes
    of the machine's clock.  Moving the offset moves both, as if that much time had passed.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        # advance() reads and writes the offset: two control requests must not lose one.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ServerClock offset={self._offset:g}s>"

    @property
    def offset(self) -> float:
        """Seconds this clock is ahead of the real time (negative: behind)."""
        return self._offset

    def time(self) -> float:
        """Seconds since the epoch, as :func:`time.time`, shifted by the offset."""
        return time.time() + self._offset

    def monotonic(self) -> float:
        """:func:`time.monotonic`, shifted by the offset."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward (backward if negative)."""
        with self._lock:
            self._offset += _finite(seconds)

    def set_offset(self, seconds: float) -> None:
        """Put the clock ``seconds`` ahead of the real time (0: back to the real time)."""
        with self._lock:
            self._offset = _finite(seconds)

    def describe(self) -> dict[str, float]:
        """What ``GET /_local/clock`` answers: the clock's time and its offset."""
        return {"now": self.time(), "offset": self._offset}


def _finite(seconds: float) -> float:
    value = float(seconds)
    if not math.isfinite(value):
        raise ValueError(f"a clock offset must be a finite number of seconds, not {seconds!r}")
    return value
