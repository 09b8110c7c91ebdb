"""Every exception the client raises on its own, in one place.

::

    DialsError
    ├── UnknownArgumentError    (also TypeError)                 a misspelt keyword argument
    │   └── UnknownFilterError  (also ValueError)                a filter name the route lacks
    ├── UnknownMEError          (also ValueError)                an ME name the workspace lacks
    ├── MissingDependencyError  (also ImportError)               an optional extra is missing
    ├── ResponseDecodeError     (also ValueError)                a body that is not whole JSON
    ├── ResponseFormatError     (also ValueError)                whole JSON of an unexpected shape
    ├── MixedBinningError       (also ValueError)                to_numpy() over several binnings
    ├── GetManyError                                             some keys of get_many() failed
    ├── FetchQueryError         (also ValueError)                a fetch that cannot be planned
    ├── FetchIncompleteError                                     some pieces of a fetch failed
    ├── ManifestError           (also ValueError)                no readable data set manifest
    │   └── ManifestMismatchError                                a directory of another query
    ├── DatasetSelectionError   (also ValueError)                a data set selection it lacks
    ├── NotSignedInError                                         Dials.from_env(): no credentials
    ├── LumiMaskError           (also ValueError)                a malformed lumi mask or input
    │   └── LumiMaskTypeError   (also TypeError)                 a run or ls that is no integer
    ├── MissingLumisectionsError (also ValueError)               oms.join(how="strict") mismatch
    ├── DeadlineExceededError   (also requests.Timeout)          no whole answer within deadline=
    ├── ResponseTooLargeError   (also requests.RequestException) a body larger than max_body=
    └── APIError                (also requests.HTTPError)        a non-2xx answer
        ├── ClientError                                          4xx
        │   ├── BadRequestError                                  400 (bad filter value, ...)
        │   ├── AuthenticationError                              403 (DIALS never sends 401)
        │   └── NotFoundError                                    404 (unknown id or workspace)
        ├── CrossOriginRedirectError                             3xx to another origin, refused
        └── ServerError                                          5xx

Network failures that survive the retries are re-raised as the ``requests`` exception
that reported them (``requests.ConnectionError``, ``requests.Timeout``,
``requests.exceptions.ChunkedEncodingError``), so scripts written for the incumbent
client keep catching what they caught before.

Messages never contain credentials: URLs carry none, and headers are never printed.

Warnings: :class:`PerformanceWarning`, when a walk is about to make thousands of small
requests (it says which arguments make it faster); :class:`MissingLumisectionsWarning`,
when a join with OMS leaves lumisections of one side out.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from cmsdials.dataset._fetch import FetchReport

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientError",
    "CrossOriginRedirectError",
    "DatasetSelectionError",
    "DeadlineExceededError",
    "DialsError",
    "FetchIncompleteError",
    "FetchQueryError",
    "GetManyError",
    "LumiMaskError",
    "LumiMaskTypeError",
    "ManifestError",
    "ManifestMismatchError",
    "MissingDependencyError",
    "MissingLumisectionsError",
    "MissingLumisectionsWarning",
    "MixedBinningError",
    "NotFoundError",
    "NotSignedInError",
    "PerformanceWarning",
    "PlotSelectionError",
    "ResponseDecodeError",
    "ResponseFormatError",
    "ResponseTooLargeError",
    "ServerError",
    "UnknownArgumentError",
    "UnknownFilterError",
    "UnknownMEError",
]


class DialsError(Exception):
    """Base class of the exceptions raised by ``cmsdials`` itself."""


def did_you_mean(suggestions: Sequence[str]) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the closest valid names, ``""`` for none: the
    one wording of every "unknown name" message."""
    return f"; did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""


class UnknownArgumentError(DialsError, TypeError):
    """A keyword argument that the method does not take, with the closest valid names.

    A ``TypeError``, which is what Python raises for an unexpected keyword argument; unlike
    Python's (before 3.13) the message suggests the names that were probably meant.

    Attributes
    ----------
    name:
        The keyword as given.
    where:
        The method (``"LumisectionHistogram1DClient.list_all()"``) or filter model.
    suggestions:
        The closest valid names, best first (may be empty).
    """

    def __init__(
        self, name: str, where: str, suggestions: list[str], *, hint: str | None = None
    ) -> None:
        self.name = name
        self.where = where
        self.suggestions = suggestions
        message = f"{where} got an unexpected keyword argument {name!r}"
        message += did_you_mean(suggestions)
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class UnknownFilterError(UnknownArgumentError, ValueError):
    """A filter name that the route does not have.

    A ``TypeError`` because that is what Python raises for an unexpected keyword
    argument, and a ``ValueError`` because pydantic's validation errors are ones (code that
    catches either keeps working).  The incumbent client silently dropped such names, so a
    typo returned unfiltered data; here the message names the closest valid filters.
    """

    def __init__(self, name: str, filter_class: str, suggestions: list[str]) -> None:
        super().__init__(name, filter_class, suggestions)
        self.filter_class = filter_class
        # The filter model's own wording (it is not a method call).
        self.args = (f"{filter_class} has no filter {name!r}{did_you_mean(suggestions)}",)


class UnknownMEError(DialsError, ValueError):
    """An exact ME name (``me=`` filter) that no monitoring element of the workspace has.

    Such a query would return no rows, indistinguishable from "no data".  The names are
    checked against the ``mes/`` route (fetched once per client and workspace); skip the
    check with ``Dials(..., check_me_names=False)`` (or filter by ``me_id``).

    Attributes
    ----------
    name:
        The ME name as given.
    workspace:
        The workspace whose MEs were searched (``None``: the caller's default one).
    suggestions:
        The closest existing ME names, best first (may be empty).
    dim:
        For a name that exists with the other dimension (a 2-D ME asked of ``th1/``),
        the ME's dimension; else ``None``.
    """

    def __init__(
        self,
        name: str,
        *,
        route: str,
        workspace: str | None,
        suggestions: list[str],
        dim: int | None = None,
    ) -> None:
        self.name = name
        self.workspace = workspace
        self.suggestions = suggestions
        self.dim = dim
        where = f"workspace {workspace!r}" if workspace else "the default workspace"
        if dim is not None:
            other = "h2d (th2/)" if dim == 2 else "h1d (th1/)"
            message = (
                f"ME {name!r} is a {dim}-D monitoring element: {route} has no rows of it; "
                f"read it with dials.{other}"
            )
        else:
            message = (
                f"no monitoring element named {name!r} in {where}, so {route} would return "
                f"no rows{did_you_mean(suggestions)} (dials.mes.list() lists the MEs; "
                "Dials(..., check_me_names=False) skips this check)"
            )
        super().__init__(message)


class MissingDependencyError(DialsError, ImportError):
    """An optional feature was used without its extra installed."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional package {package!r}: pip install 'cmsdials[{extra}]'"
        )


class PerformanceWarning(UserWarning):
    """A walk is about to make thousands of small requests; the message says how to make
    it faster (``page_size=`` in the filters, ``workers=``).

    Shown once per call site (Python's default warning filter).  Silence it with
    ``warnings.filterwarnings("ignore", category=cmsdials.errors.PerformanceWarning)``.
    """


class ResponseDecodeError(DialsError, ValueError):
    """The body of a 2xx answer is not complete JSON (e.g. cut short by a proxy).

    Treated as a read error: it is retried like a connection broken mid-body.
    """

    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        self.response = response
        super().__init__(message)


class ResponseFormatError(DialsError, ValueError):
    """The body of a 2xx answer is valid JSON but not what the route returns.

    A missing field, a value of the wrong type, or histogram contents whose length does
    not match ``x_bin`` (x ``y_bin``).  Not retried: asking again would give the same body.
    """


class MixedBinningError(DialsError, ValueError):
    """``to_numpy()`` was asked for one array but the rows have several binnings.

    Attributes
    ----------
    binnings:
        ME name -> the distinct binnings of its rows, each ``(x_min, x_max, x_bin)`` or
        ``(x_min, x_max, x_bin, y_min, y_max, y_bin)``.
    """

    def __init__(self, binnings: dict[str, list[tuple[float, ...]]], hint: str) -> None:
        self.binnings = binnings
        shown = _first_few(
            (f"{me!r}: {', '.join(map(_binning_text, values))}" for me, values in binnings.items()),
            len(binnings),
            5,
            " (and {} more MEs)",
        )
        super().__init__(f"the rows have several binnings - {shown}. {hint}")


def _first_few(texts: Iterable[str], total: int, limit: int, more: str) -> str:
    """The first ``limit`` of ``total`` ``texts`` joined with ``"; "``, then ``more``
    (formatted with how many were left out) if any were: a message that names a few
    failures says how many it does not name."""
    shown = "; ".join(itertools.islice(texts, limit))
    return shown + (more.format(total - limit) if total > limit else "")


def _binning_text(binning: tuple[float, ...]) -> str:
    parts = [f"{int(binning[2])} bins [{binning[0]:g}, {binning[1]:g})"]
    if len(binning) == 6:
        parts.append(f"{int(binning[5])} bins [{binning[3]:g}, {binning[4]:g})")
    return " x ".join(parts)


class GetManyError(DialsError):
    """Some keys of ``get_many()`` failed; the others succeeded.

    Attributes
    ----------
    results:
        One entry per key, in input order: the row, or ``None`` where the key failed.
    errors:
        Index of each failed key -> the exception it raised (``NotFoundError`` for a
        missing object, ...).
    keys:
        The keys as given.
    """

    def __init__(self, keys: list[Any], results: list[Any], errors: dict[int, BaseException]):
        self.keys = keys
        self.results = results
        self.errors = errors
        shown = _first_few(
            (f"{keys[index]!r}: {type(exc).__name__}: {exc}" for index, exc in errors.items()),
            len(errors),
            3,
            "; and {} more",
        )
        super().__init__(f"{len(errors)} of {len(keys)} keys failed - {shown}")


class APIError(DialsError, requests.HTTPError):
    """A non-2xx answer from DIALS.

    The message starts exactly as ``requests.Response.raise_for_status`` writes it
    (``403 Client Error: Forbidden for url: ...``) and continues with the server's
    ``detail`` and ``code`` when the body is JSON.

    Attributes
    ----------
    response:
        The ``requests.Response`` (inherited from ``requests.HTTPError``).
    status_code:
        The HTTP status.
    detail:
        The server's explanation (``detail`` of a DRF error body, or the validation
        messages of a 400), ``None`` when the body is not JSON (HTML error pages).
    code:
        The machine-readable ``code`` of DRF authentication errors (e.g.
        ``token_not_valid``), else ``None``.
    """

    status_code: int
    detail: str | None
    code: str | None

    def __init__(
        self,
        message: str,
        *,
        response: requests.Response,
        status_code: int,
        detail: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, response=response)
        self.status_code = status_code
        self.detail = detail
        self.code = code


class ClientError(APIError):
    """A 4xx answer."""


class BadRequestError(ClientError):
    """400: a filter value the server cannot parse, or bad cert/golden JSON inputs."""


class AuthenticationError(ClientError):
    """403: missing, invalid or expired credentials (DIALS never answers 401)."""


class NotFoundError(ClientError):
    """404: no object with these ids, an unknown workspace, or an invalid cursor."""


class ServerError(APIError):
    """A 5xx answer (after the retries, if any, were used up)."""


class CrossOriginRedirectError(APIError):
    """A redirect to another origin (scheme, host, port), refused: not retried.

    Credentials (``X-CLIENT-SECRET``, ``Authorization``, a client secret in a form) are
    only sent to the origin they were configured for, so the client does not follow a
    redirect that would carry them elsewhere.  The message names both origins, never a
    path, a query or a header.

    Attributes
    ----------
    origin:
        ``scheme://host:port`` the request was sent to.
    target_origin:
        ``scheme://host:port`` of the refused ``Location``.
    """

    origin: str
    target_origin: str

    def __init__(self, *, response: requests.Response, origin: str, target_origin: str) -> None:
        status = response.status_code
        super().__init__(
            f"{status} redirect from {origin} to another origin {target_origin} refused: "
            "credentials are only sent to the origin they were configured for "
            "(use the final URL as base_url if the move is legitimate)",
            response=response,
            status_code=status,
        )
        self.origin = origin
        self.target_origin = target_origin


class DeadlineExceededError(DialsError, requests.Timeout):
    """No whole answer (connection, headers and body) within the request's deadline.

    A ``requests.Timeout``: retried like one, and caught by code that catches timeouts.
    The deadline bounds each attempt, however slowly the server trickles its bytes
    (the ``(connect, read)`` timeout only bounds each socket read).
    """

    def __init__(self, origin: str, deadline: float) -> None:
        self.origin = origin
        self.deadline = deadline
        super().__init__(f"no complete answer from {origin} within the {deadline:g} s deadline")


class ResponseTooLargeError(DialsError, requests.RequestException):
    """A body longer than the client's ``max_body`` (declared or actually sent).

    Not retried: the server would send the same body again.  Raise ``max_body`` if a
    legitimate answer is that large (or ask for smaller pages).
    """

    def __init__(self, origin: str, limit: int, size: int, *, declared: bool) -> None:
        self.origin = origin
        self.limit = limit
        self.size = size
        what = "declares" if declared else "sent more than"
        super().__init__(
            f"the answer from {origin} {what} {size} bytes, over the client's "
            f"max_body of {limit} bytes"
        )


def _error_class(status: int) -> type[APIError]:
    by_status: dict[int, type[APIError]] = {
        400: BadRequestError,
        403: AuthenticationError,
        404: NotFoundError,
    }
    if status in by_status:
        return by_status[status]
    return ClientError if status < 500 else ServerError


def _detail_of(body: Any) -> tuple[str | None, str | None]:
    """``(detail, code)`` from the JSON error bodies of CONTRACT §2.3."""
    if isinstance(body, dict):
        if "detail" in body:
            code = body.get("code")
            return str(body["detail"]), str(code) if code is not None else None
        # A filter-validation 400: one key per bad parameter, a list of messages each.
        parts = []
        for key, messages in body.items():
            text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
            parts.append(f"{key}: {text}")
        return ("; ".join(parts) or None), None
    if isinstance(body, list):  # ValidationError("text") raised in a view: ["text"]
        return ("; ".join(map(str, body)) or None), None
    if isinstance(body, str):
        return body, None
    return None, None


def api_error_from(response: requests.Response) -> APIError:
    """Build the :class:`APIError` subclass for a non-2xx ``response``."""
    import orjson

    try:
        response.raise_for_status()
        base = f"{response.status_code} Error for url: {response.url}"  # a 1xx/3xx, unlikely
    except requests.HTTPError as exc:
        base = str(exc)
    detail: str | None = None
    code: str | None = None
    if "json" in response.headers.get("Content-Type", ""):
        with contextlib.suppress(orjson.JSONDecodeError):
            detail, code = _detail_of(orjson.loads(response.content))
    message = base
    if detail:
        message += f" — {detail}"
        if code:
            message += f" ({code})"
    return _error_class(response.status_code)(
        message, response=response, status_code=response.status_code, detail=detail, code=code
    )


class NotSignedInError(DialsError):
    """No secret key is configured and no sign-in is cached for the server, and nobody
    can sign in now (not interactive)."""

    def __init__(self, server: str, cache: str) -> None:
        self.server = server
        super().__init__(
            f"no DIALS credentials for {server}: set DIALS_SECRET_KEY (an API-client secret "
            f"key), or sign in once with `cmsdials login` (tokens are cached in {cache})"
        )


# -- data sets on disk (cmsdials.dataset) -------------------------------------------


class FetchQueryError(DialsError, ValueError):
    """A fetch query (or a shard) that cannot be planned: bad values, no ME matched, an
    unknown dataset.  The message names what was wrong and what is valid."""


class ManifestError(DialsError, ValueError):
    """A data set directory without a readable manifest, or one of another format."""


class ManifestMismatchError(ManifestError):
    """A fetch into a directory that holds another query's data set (or another server's,
    or another workspace's).  ``differences`` maps each differing field to
    ``(in the directory, asked for)``."""

    def __init__(self, root: Path, differences: dict[str, tuple[Any, Any]]) -> None:
        self.root = root
        self.differences = differences
        lines = "; ".join(
            f"{name}: {stored!r} there, {asked!r} asked for"
            for name, (stored, asked) in differences.items()
        )
        super().__init__(
            f"{str(root)!r} holds a data set of another query ({lines}); fetch into a new "
            "directory, or repeat the stored query to resume it"
        )


class FetchIncompleteError(DialsError):
    """Some pieces of a fetch failed (the others were fetched).  ``report`` is the
    :class:`FetchReport`; running the same fetch again retries the failed pieces."""

    def __init__(self, report: FetchReport) -> None:
        self.report = report
        shown = "; ".join(f"{piece}: {error}" for piece, error in report.pieces_failed[:3])
        more = len(report.pieces_failed) - 3
        shown += f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"{len(report.pieces_failed)} of the pieces failed ({shown}); the others are "
            f"complete: run the same fetch again to retry the failed ones ({report})"
        )


class DatasetSelectionError(DialsError, ValueError):
    """A selection (``me=``, ``datasets=``, ``runs=``, ``kind=``) that the data set cannot
    answer: a name or id it does not hold, a malformed run range, or several kinds where
    one is needed.

    Attributes
    ----------
    suggestions:
        The closest valid names, best first (may be empty).
    """

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = list(suggestions)
        super().__init__(message)


class PlotSelectionError(DialsError, ValueError):
    """A plot asked of data it cannot be drawn from: several MEs, runs or datasets where
    one is needed (the message lists them), a lumisection or row that is not there, a th1
    plot of th2 data or the reverse.

    Attributes
    ----------
    suggestions:
        The valid choices, or the closest ones (may be empty).
    """

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = list(suggestions)
        super().__init__(message)


# -- lumi masks and OMS (cmsdials.lumi, cmsdials.oms) -----------------------------------


class LumiMaskError(DialsError, ValueError):
    """A lumi mask, or an input to one, is not valid: the message names the run and range."""


class LumiMaskTypeError(LumiMaskError, TypeError):
    """A run or lumisection number is not an integer (a float, a string, a bool...)."""


class MissingLumisectionsError(DialsError, ValueError):
    """``cmsdials.oms.join(..., how="strict")``: some lumisections are on one side of the
    join only."""


class MissingLumisectionsWarning(UserWarning):
    """Lumisections on one side only were left out of a join (``how="left"``/``"inner"``)."""
