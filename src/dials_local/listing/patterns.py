"""Regular expressions that cannot stall the server (CONTRACT §6 ``__regex``).

Patterns come from the network, and a backtracking engine needs exponential time for
some of them (``(.+)+#``).  Python's :mod:`re` also holds the GIL while it matches, so one
such request used to freeze every route.  Matching in Python (SQLite's ``REGEXP``, the
ML-model signature filter on both databases) therefore goes through the :mod:`regex`
package, which

* releases the GIL while it matches (``concurrent=True``), so other requests are served;
* gives up after a timeout, here the time left of a per-request budget
  (:data:`REGEX_BUDGET_S`), so the whole request, however many rows it tests, ends soon
  with a 400 (:class:`PatternTooSlow`).

On PostgreSQL the ``~`` operator runs in the database, in its own process: the server
only waits on a socket, and ``statement_timeout`` bounds the wait (:func:`limit_statement`).
"""

from __future__ import annotations

import importlib
import re
import time
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import regex
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from dials_local.db.budget import is_cancelled, limit_statements, request_deadline

#: Seconds a request may spend on matching regular expressions (SQLite, Python side) or
#: on a statement with a regex filter (PostgreSQL) before it is answered with a 400.
REGEX_BUDGET_S = 1.0

#: The 400 message for a pattern that exceeded the budget.
TOO_SLOW = (
    "Regular expression too expensive to evaluate: matching took longer than "
    f"{REGEX_BUDGET_S:g} s (avoid nested quantifiers such as (a+)+)."
)

#: What :mod:`sqlite3` reports when a user-defined function raised.
_SQLITE_FUNCTION_RAISED = "user-defined function raised exception"


class PatternTooSlow(Exception):
    """Matching a request's regular expressions exceeded :data:`REGEX_BUDGET_S`;
    ``param`` names the filter when known."""

    def __init__(self, param: str | None = None) -> None:
        super().__init__(param)
        self.param = param


# The parser behind re.compile (stable since Python 3.6), renamed in 3.11.
_sre_parse: Any
_sre_constants: Any
try:
    _sre_parse = importlib.import_module("re._parser")
    _sre_constants = importlib.import_module("re._constants")
except ImportError:  # Python < 3.11
    _sre_parse = importlib.import_module("sre_parse")
    _sre_constants = importlib.import_module("sre_constants")

_REPEATS = tuple(
    getattr(_sre_constants, name)
    for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
    if hasattr(_sre_constants, name)
)
#: PostgreSQL's largest repetition count (``DUPMAX``): ``a{256}`` is invalid there.
MAX_REPEAT_COUNT = 255
#: :mod:`regex` unrolls counted repetitions when it compiles, with the GIL held:
#: ``((a{255}){255}){255}`` takes minutes.  Patterns whose unrolled size exceeds this
#: (about 30 ms of compiling) are refused.
MAX_UNROLLED_SIZE = 50_000
#: Longer patterns are refused before parsing (the parser is pure Python: ~3 us a char).
MAX_PATTERN_LENGTH = 10_000


def _children(value: Any) -> Iterator[Any]:
    """The sub-patterns inside one parsed item's argument."""
    if isinstance(value, _sre_parse.SubPattern):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _children(item)


def _unrolled_size(pattern: Any) -> int:
    """Items of the parsed ``pattern`` once every counted repetition is unrolled; raises
    ``regex.error`` for a count PostgreSQL refuses."""
    total = 0
    for op, value in pattern:
        if op in _REPEATS:
            low, high, body = value
            for count in (low, high):
                if count != _sre_constants.MAXREPEAT and count > MAX_REPEAT_COUNT:
                    raise regex.error("invalid repetition count(s)")
            copies = low + 1 if high == _sre_constants.MAXREPEAT else high
            total += max(copies, 1) * _unrolled_size(body)
        else:
            total += 1 + sum(_unrolled_size(child) for child in _children(value))
        if total > MAX_UNROLLED_SIZE:
            raise regex.error("regular expression is too large")
    return total


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """``pattern`` compiled with :mod:`regex` (``re``-compatible syntax, plus POSIX
    classes such as ``[[:alpha:]]`` as PostgreSQL has them).  Raises ``regex.error``.

    The pattern is first parsed by :mod:`re`'s parser, which does not unroll anything,
    to bound the size :mod:`regex` would build (:data:`MAX_UNROLLED_SIZE`).
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise regex.error("regular expression is too long")
    with warnings.catch_warnings():
        # e.g. "Possible nested set" warnings: not worth a log line per request
        warnings.simplefilter("ignore")
        try:
            parsed = _sre_parse.parse(pattern)
        except (re.error, OverflowError, RecursionError) as error:
            raise regex.error(str(error)) from None
        _unrolled_size(parsed)
        return regex.compile(pattern)


def deadline(conn: Connection | None = None) -> float:
    """The :func:`time.monotonic` time at which matching that starts now runs out of
    budget: :data:`REGEX_BUDGET_S` from now, or the deadline of the request using ``conn``
    if that comes first (:mod:`dials_local.db.budget`)."""
    until = time.monotonic() + REGEX_BUDGET_S
    request = request_deadline(conn) if conn is not None else None
    return until if request is None else min(until, request)


def search(pattern: str, value: str, until: float) -> bool:
    """Whether ``pattern`` matches anywhere in ``value``; :class:`PatternTooSlow` once
    the monotonic time ``until`` has passed."""
    remaining = until - time.monotonic()
    if remaining <= 0:
        raise PatternTooSlow
    try:
        found = compile_pattern(pattern).search(value, timeout=remaining, concurrent=True)
    except TimeoutError:
        raise PatternTooSlow from None
    return found is not None


def sqlite_regexp(value: object, pattern: str, until: float) -> int | None:
    """SQLite function ``dials_regexp(value, pattern, deadline)`` (NULL stays NULL)."""
    if value is None or pattern is None:
        return None
    return int(search(pattern, value if isinstance(value, str) else str(value), until))


def sqlite_regexp_operator(pattern: str, value: object) -> int | None:
    """SQLite's ``value REGEXP pattern`` (SQLAlchemy's ``regexp_match``) with one budget
    per call: a safety net, the filters use :func:`sqlite_regexp` with a request budget."""
    if value is None or pattern is None:
        return None
    return sqlite_regexp(value, pattern, deadline())


def limit_statement(conn: Connection) -> None:
    """Bound the statements of this transaction on PostgreSQL by the regex budget (the
    request's own bound still applies when it ends first; no-op on SQLite)."""
    limit_statements(conn, REGEX_BUDGET_S)


def is_too_slow(error: DBAPIError) -> bool:
    """Whether the database aborted a statement because a regex exceeded the budget."""
    return is_cancelled(error) or _SQLITE_FUNCTION_RAISED in str(error.orig)
