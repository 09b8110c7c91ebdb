"""A time budget for each request's database work, on SQLite and PostgreSQL alike.

The real service runs behind gunicorn (30 s worker timeout) and nginx (30 s proxy
timeouts): a query that runs longer is answered 502/504 by the proxy (CONTRACT §1,
§2.3).  dials-local gives every request the same kind of budget (``--request-budget``,
30 s by default) and enforces it inside the database, so that a long statement stops
instead of holding a connection, a worker thread and a turn at the database:

* PostgreSQL: ``statement_timeout``.  Each pooled connection gets the whole budget once,
  as its session setting, which bounds the first statement of a request at no cost (a
  ``SET LOCAL`` per request, one more round trip, took 17 % of the throughput of cheap
  pages).  A statement that starts later in the request, when less than the budget is
  left, first lowers it for the rest of the transaction (``SET LOCAL``, sent on the
  same cursor just before it).  No statement starts after the deadline.
* SQLite: a progress handler, called by the virtual machine every
  :data:`SQLITE_PROGRESS_STEPS` instructions, that interrupts the statement once the
  deadline has passed.  Cheap statements never reach that many steps, so they never
  call back into Python (the handler needs the GIL).

The deadline is also left in the connection's ``info`` (:func:`request_deadline`) so that
regular-expression matching, which has its own, shorter budget, never outlives it
(:func:`limit_statements`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError

#: The real service's timeout (gunicorn's worker timeout, nginx's proxy timeouts).
DEFAULT_REQUEST_BUDGET_S = 30.0
#: SQLite virtual-machine instructions between two checks of the deadline: about 10 ms
#: of work, so a cancelled statement ends within a few ms of its deadline while a cheap
#: page (a few thousand instructions) never calls into Python.
SQLITE_PROGRESS_STEPS = 200_000
#: A PostgreSQL statement's limit is lowered to the time left only when that is shorter
#: by more than this (ms): it saves the round trip for a statement that starts at once.
_SLACK_MS = 250

# Keys in ``Connection.info``, which belongs to the DBAPI connection and so outlives
# the request: the first two are removed again before the connection goes back to the pool.
#: The deadline of the request using the connection.
_DEADLINE_KEY = "dials_local.request_deadline"
#: PostgreSQL: the ``statement_timeout`` (ms) in force in the current transaction.
_LIMIT_KEY = "dials_local.statement_limit_ms"
#: PostgreSQL: the session's ``statement_timeout`` (ms), set once per connection.
_SESSION_KEY = "dials_local.session_limit_ms"
#: SQLSTATE of a statement cancelled by ``statement_timeout``.
QUERY_CANCELED = "57014"


class BudgetExceeded(Exception):
    """The request's database work ran past its deadline and was cancelled."""


def request_deadline(conn: Connection) -> float | None:
    """The :func:`time.monotonic` deadline of the request using ``conn``, if any."""
    deadline: float | None = conn.info.get(_DEADLINE_KEY)
    return deadline


def is_cancelled(error: DBAPIError) -> bool:
    """Whether the database stopped a statement because a time limit ran out
    (PostgreSQL's ``statement_timeout``, SQLite's progress handler)."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code == QUERY_CANCELED or str(error.orig) == "interrupted"


def past(deadline: float | None) -> bool:
    """Whether ``deadline`` (monotonic seconds) is set and has passed."""
    return deadline is not None and time.monotonic() >= deadline


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


@contextmanager
def bounded(conn: Connection, deadline: float, budget: float) -> Iterator[Connection]:
    """Run ``conn``'s statements under ``deadline`` (monotonic seconds) of a request whose
    whole budget is ``budget`` seconds.

    Raises :class:`BudgetExceeded` when a statement was cancelled because of it, or when
    the deadline had passed before a statement could start.
    """
    if past(deadline):
        raise BudgetExceeded
    sqlite = conn.dialect.name == "sqlite"
    raw = conn.connection.driver_connection if sqlite else None
    if raw is not None:
        raw.set_progress_handler(lambda: time.monotonic() >= deadline, SQLITE_PROGRESS_STEPS)
    else:
        session_limit = _milliseconds(budget)
        if conn.info.get(_SESSION_KEY) != session_limit:
            # A session setting made in a transaction that is rolled back is undone, and
            # the pool rolls back on return: commit it.
            conn.exec_driver_sql(f"SET statement_timeout = {session_limit}")
            conn.commit()
            conn.info[_SESSION_KEY] = session_limit
        conn.info[_LIMIT_KEY] = session_limit
    conn.info[_DEADLINE_KEY] = deadline
    try:
        yield conn
    except DBAPIError as error:
        if is_cancelled(error) and past(deadline):
            raise BudgetExceeded from None
        raise
    finally:
        conn.info.pop(_DEADLINE_KEY, None)
        conn.info.pop(_LIMIT_KEY, None)
        if raw is not None:
            raw.set_progress_handler(None, 0)


def limit_statements(conn: Connection, seconds: float) -> None:
    """Bound the rest of ``conn``'s transaction to ``seconds`` per statement on PostgreSQL
    (no-op on SQLite, and where the limit in force is already lower)."""
    if conn.dialect.name != "postgresql":
        return
    milliseconds = _milliseconds(seconds)
    if milliseconds < conn.info.get(_LIMIT_KEY, milliseconds + 1):
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
        conn.info[_LIMIT_KEY] = milliseconds


@event.listens_for(Engine, "before_cursor_execute")
def _before_statement(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    """No statement of a request starts after its deadline, and none may run past it on
    PostgreSQL (every engine: listened on the class)."""
    before_statement(conn, cursor)


def before_statement(conn: Connection, cursor: Any) -> None:
    """The budget check of a statement about to run on ``cursor``: also called by code
    that executes on the DBAPI cursor directly (``listing/query.py``), which SQLAlchemy's
    ``before_cursor_execute`` event never sees."""
    deadline = conn.info.get(_DEADLINE_KEY)
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise BudgetExceeded
    limit = conn.info.get(_LIMIT_KEY)
    if limit is not None and left * 1000 < limit - _SLACK_MS:
        milliseconds = _milliseconds(left)
        cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")
        conn.info[_LIMIT_KEY] = milliseconds
