"""What a route handler gets (:class:`Call`) and how it fails (:class:`ErrorAnswer`)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from dials_local.api.turns import Turns
from dials_local.argtypes import positive_int_env
from dials_local.asgi import not_allowed_detail
from dials_local.auth import Identity
from dials_local.db.budget import DEFAULT_REQUEST_BUDGET_S, BudgetExceeded, bounded
from dials_local.db.engines import Database
from dials_local.listing.params import QueryParams


class ErrorAnswer(Exception):
    """A request refused with ``status`` and a JSON ``body`` (CONTRACT §2.3).

    Raised by handlers, turned into the response by :mod:`dials_local.api.dispatch`.  (Not
    to be confused with the client's ``cmsdials.errors.APIError``, which is what a client
    sees when it receives such an answer.)
    """

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def not_found(model_name: str) -> ErrorAnswer:
    """404 for an object that does not exist (standard or composite retrieve)."""
    return ErrorAnswer(404, {"detail": f"No {model_name} matches the given query."})


#: 404 of a standard retrieve whose id is not an integer (DRF's generic Http404).
NOT_FOUND = ErrorAnswer(404, {"detail": "Not found."})
INVALID_CURSOR = ErrorAnswer(404, {"detail": "Invalid cursor"})


def over_budget(budget: float, smaller: str = "smaller pages (page_size)") -> ErrorAnswer:
    """504 for a request whose work ran past its budget: the real service's proxy
    answers a query over 30 s with 502/504 (CONTRACT §2.3), here in JSON.  ``smaller``:
    what to ask for instead."""
    return ErrorAnswer(
        504,
        {
            "detail": f"The request took longer than the server's {budget:g} s budget and "
            f"was cancelled. Narrow the filters or ask for {smaller}."
        },
    )


def server_busy(budget: float) -> ErrorAnswer:
    """503 for a request that waited its whole budget for a turn (a handler slot, or the
    database)."""
    return ErrorAnswer(
        503,
        {"detail": f"The server is busy: no turn to serve this request within {budget:g} s."},
        {"Retry-After": "1"},
    )


def method_not_allowed(method: str) -> ErrorAnswer:
    """405, answered only after authentication succeeded (DRF's order)."""
    return ErrorAnswer(405, {"detail": not_allowed_detail(method)})


def workspace_not_found(name: str) -> ErrorAnswer:
    """404 for a ``Workspace`` header naming no configured workspace."""
    return ErrorAnswer(404, {"detail": f"Workspace '{name}' not found"})


@dataclass
class Call:
    """One request, after authentication and workspace routing."""

    request: Request
    params: QueryParams
    database: Database
    identity: Identity | None = None
    #: The resolved workspace (``None`` for routes that ignore workspaces).
    workspace: str | None = None
    #: Path parameters as matched (strings).
    path: dict[str, str] = field(default_factory=dict)
    #: The request body (read only for routes that accept POST).
    body: bytes = b""
    #: Seconds the request's database work may take (``--request-budget``).
    budget: float = DEFAULT_REQUEST_BUDGET_S
    #: When that budget runs out (:func:`time.monotonic`), counted from the handler's start.
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.budget

    @property
    def url(self) -> str:
        """The absolute URL of the request (``scheme://Host/path?query``), the base of
        ``next``/``previous`` links."""
        return str(self.request.url)

    @property
    def base_url(self) -> str:
        """``scheme://Host/`` of the request."""
        return str(self.request.base_url)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection to the workspace's tables, its statements bounded by the request's
        deadline (:mod:`dials_local.db.budget`).  Waits its turn (:data:`DB_WORK`), but
        not past the deadline: 503.  Work cancelled at the deadline: 504."""
        assert self.workspace is not None, "route declared without workspace"
        if not DB_WORK.acquire(timeout=max(0.0, self.deadline - time.monotonic())):
            raise server_busy(self.budget)
        try:
            with (
                self.database.engine(self.workspace).connect() as conn,
                bounded(conn, self.deadline, self.budget),
            ):
                yield conn
        except BudgetExceeded:
            raise over_budget(self.budget) from None
        finally:
            DB_WORK.release()


def db_work_limit() -> int:
    """Requests that may read tables at once: ``$DIALS_LOCAL_DB_WORK``, else 8."""
    return positive_int_env(DB_WORK_ENV, DEFAULT_DB_WORK)


#: Requests reading a workspace's tables at once (``$DIALS_LOCAL_DB_WORK``).  The others
#: wait their turn: on a small machine, 40 worker threads turning rows into Python objects
#: together only fight over the GIL (BENCHMARKS.md, server load: heavy SQLite pages at 64
#: clients ran at half the rate of the old, smaller pool), and get it in the order they
#: came (:class:`~dials_local.api.turns.Turns`).
DB_WORK_ENV = "DIALS_LOCAL_DB_WORK"
DEFAULT_DB_WORK = 8
DB_WORK = Turns(db_work_limit())


#: PostgreSQL SQLSTATE of "invalid regular expression".
_INVALID_REGEX = "2201B"


@contextmanager
def regex_errors_as_400(params: Sequence[str]) -> Iterator[None]:
    """Turn the database's rejection of a regular expression into a 400 naming the regex
    parameters in use (Python accepted the pattern, PostgreSQL did not)."""
    try:
        yield
    except DBAPIError as error:
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        message = str(getattr(error.orig, "args", [""])[0] or error.orig).splitlines()[0]
        if code == _INVALID_REGEX and params:
            raise ErrorAnswer(400, {name: [message] for name in params}) from None
        raise
