"""The only layer that does I/O: one ``requests.Session`` per :class:`~cmsdials.Dials`.

Responsibilities: URLs, headers (User-Agent, ``Workspace``, credentials), timeouts,
retries, mapping non-2xx answers to :mod:`cmsdials.errors`, and calling the decoder on the
response bytes *inside* the retry loop, so that a body cut short is retried like any other
read error.

Why retries are not left to ``HTTPAdapter(max_retries=...)``: urllib3 only sees what
happens until the headers arrive.  A connection reset while ``requests`` reads the body
(``ChunkedEncodingError``) or a truncated JSON body surface later, in ``requests``, where
the adapter's retries cannot see them.  So the adapter makes a single attempt and this
module runs the loop, with the caller's ``urllib3.util.Retry`` as the policy: which
methods and statuses are retried, how many times, the back-off, and ``Retry-After``.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import TypeAlias
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import InvalidHeader, MaxRetryError, ProtocolError
from urllib3.util import Retry

from cmsdials._version import __version__
from cmsdials.auth.base import BaseCredentials
from cmsdials.errors import ResponseDecodeError, api_error_from

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "Retries",
    "Timeout",
    "Transport",
    "retry_policy",
]

log = logging.getLogger("cmsdials")

#: Exceptions of ``requests`` that mean "the network failed", worth another attempt.
#: (Others, like ``InvalidURL``, would fail the same way again.)
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

T = TypeVar("T")

#: What ``retries=`` accepts: a count (the default policy with that total), a
#: ``urllib3.util.Retry`` (used as is), or ``None`` (the default policy).
Retries: TypeAlias = "int | Retry | None"

#: ``(connect, read)`` seconds, or one number for both, or ``None`` to wait forever.
Timeout: TypeAlias = "float | tuple[float | None, float | None] | None"

DEFAULT_BASE_URL = "https://cmsdials-api.web.cern.ch/"

#: Names the server that clients built without a ``base_url`` talk to (production when
#: unset), so that an unchanged script can be pointed at a dev DIALS or a dials-local.
BASE_URL_ENV = "DIALS_BASE_URL"


def default_base_url() -> str:
    """``$DIALS_BASE_URL`` if set, else production's URL."""
    return os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL


DEFAULT_ROUTE = "api"
DEFAULT_VERSION = "v1"

#: Connect within 5 s; allow 300 s for a page (large pages of 2-D histograms are slow to
#: produce, and the production proxies give up after 30 s anyway).
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 300.0)

#: The policy used when ``retries`` is ``None``: up to 3 retries on connection and read
#: errors and on 429/500/502/503/504, exponential back-off (0 s, 1 s, 2 s), honouring
#: ``Retry-After``.  POST is included because the only POSTs (cert/golden JSON) are reads.
DEFAULT_RETRY = Retry(
    total=3,
    backoff_factor=0.5,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET", "HEAD", "OPTIONS", "POST"}),
    respect_retry_after_header=True,
    raise_on_status=False,
)


def retry_policy(retries: Retries) -> Retry:
    """The ``Retry`` for a ``retries=`` argument (see :data:`Retries`)."""
    if retries is None:
        return DEFAULT_RETRY
    if isinstance(retries, Retry):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise TypeError(f"retries must be a non-negative int or a urllib3 Retry, not {retries!r}")
    return DEFAULT_RETRY.new(total=retries)


def user_agent() -> str:
    """``cmsdials/<version> (python/X.Y.Z, requests/A.B.C)``."""
    return (
        f"cmsdials/{__version__} "
        f"(python/{platform.python_version()}, requests/{requests.__version__})"
    )


def _urllib3_cause(exc: Exception) -> Exception:
    """The urllib3 error behind a ``requests`` exception, for ``Retry.increment``.

    ``Retry`` classifies errors by urllib3 type (connect vs read vs other); ``requests``
    wraps them, sometimes inside a ``MaxRetryError`` of its single-attempt adapter.
    Anything unrecognised counts as a read error, the conservative class: it is only
    retried for methods the policy allows.
    """
    cause: Any = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    if isinstance(cause, Urllib3Error):
        return cause
    return ProtocolError(str(exc))


#: Bytes per read of a response body.  requests reads 10 KB at a time, i.e. ~160 reads
#: (each one taking the GIL back) for a 1.6 MB page; while another thread decodes the
#: previous page in long C calls, each of those waits its turn.  A few large reads keep
#: the socket reads (which release the GIL) going instead.
_READ_CHUNK = 1 << 20


def _read_body(response: requests.Response) -> bytes:
    """The whole body of a streamed response, read as ``response.content`` would be.

    ``iter_content`` maps read errors to the same ``requests`` exceptions as
    ``response.content`` (``ChunkedEncodingError``, ``ConnectionError``, ...), releases
    the connection to the pool at the end, and the body stays available as
    ``response.content`` (error mapping, ``APIError.response``).
    """
    content = b"".join(response.iter_content(_READ_CHUNK))
    response._content = content  # what Response.content caches after reading
    _check_length(response, content)
    return content


def _check_length(response: requests.Response, content: bytes) -> None:
    """Raise ``ChunkedEncodingError`` for a body shorter or longer than its Content-Length.

    urllib3 2 enforces the length itself; urllib3 1.26 (CMSSW, LCG) returns a body cut off
    by a connection reset as if it were whole.  Encoded bodies are measured after decoding,
    so only identity bodies can be checked.
    """
    declared = response.headers.get("Content-Length")
    if declared is None or response.headers.get("Content-Encoding", "identity") != "identity":
        return
    try:
        expected = int(declared)
    except ValueError:
        return
    if len(content) != expected:
        raise requests.exceptions.ChunkedEncodingError(
            ProtocolError(
                f"Connection broken: IncompleteRead({len(content)} bytes read, "
                f"{expected - len(content)} more expected)"
            )
        )


class Transport:
    """Sends requests for one :class:`~cmsdials.Dials`: one session, one pool, retries.

    Parameters
    ----------
    creds:
        Credentials; :meth:`BaseCredentials.before_request` runs before every attempt.
    base_url, route, version:
        URLs are ``base_url/route/version/path`` with single slashes.
    workspace:
        Sent as the ``Workspace`` header on workspace-scoped routes.
    timeout:
        Per-request timeout (see :data:`Timeout`).
    pool_maxsize:
        Connections kept open per host.
    """

    def __init__(
        self,
        creds: BaseCredentials,
        *,
        base_url: str | None = None,
        route: str | None = None,
        version: str | None = None,
        workspace: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        pool_maxsize: int = 10,
    ) -> None:
        if not isinstance(creds, BaseCredentials):
            raise TypeError(
                f"creds must be a cmsdials credentials object, not {type(creds).__name__}"
            )
        self.creds = creds
        self.base_url = base_url or default_base_url()
        self.route = DEFAULT_ROUTE if route is None else route
        self.version = DEFAULT_VERSION if version is None else version
        self.workspace = workspace or None
        self.timeout = timeout
        self.api_url = (
            "/".join(
                part.strip("/")
                for part in (self.base_url, self.route, self.version)
                if part.strip("/")
            )
            + "/"
        )
        self.session = requests.Session()
        self.pool_maxsize = 0
        self._pool_lock = threading.Lock()
        self.reserve_connections(pool_maxsize)
        self.session.headers.update({"Accept": "application/json", "User-Agent": user_agent()})

    def __repr__(self) -> str:
        return f"Transport({self.api_url!r}, workspace={self.workspace!r})"

    def url(self, path: str) -> str:
        """The absolute URL of an API ``path`` such as ``"th1/1/2/3/4/"``."""
        path = path.lstrip("/")
        return self.api_url + (path if path.endswith("/") or not path else path + "/")

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def reserve_connections(self, count: int) -> None:
        """Keep at least ``count`` connections per host open for concurrent requests.

        Parallel walks and ``get_many`` call this with their number of workers: a pool
        smaller than the number of threads would open and drop a connection per request.
        The pool only grows: a larger adapter replaces the current one (before the
        concurrent requests start); the old adapter's idle connections are dropped.
        """
        with self._pool_lock:
            if count <= self.pool_maxsize:
                return
            self.pool_maxsize = count
            # One attempt per adapter call: the retry loop below sees every failure.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=count, max_retries=0)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)

    def _headers(self, workspace_scoped: bool) -> dict[str, str]:
        headers: dict[str, str] = {}
        if workspace_scoped and self.workspace:
            headers["Workspace"] = self.workspace
        self.creds.before_request(headers)
        return headers

    def request(
        self,
        method: str,
        path: str,
        decode: Callable[[bytes], T],
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        retries: Retries = None,
        workspace_scoped: bool = True,
    ) -> T:
        """Send a request, retrying per ``retries``; return ``decode(body)`` of the 2xx.

        Raises
        ------
        cmsdials.errors.APIError
            A non-2xx answer that is not retried, or the last one when retries ran out.
        requests.RequestException
            A network error (connection, timeout, body broken off) when retries ran out.
        cmsdials.errors.ResponseDecodeError
            A 2xx body that is not complete JSON, when retries ran out.
        """
        method = method.upper()
        url = self.url(path)
        retry = retry_policy(retries)
        while True:
            failure: Exception
            cause: Exception
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=self._headers(workspace_scoped),
                    timeout=self.timeout,
                    stream=True,
                )
                content = _read_body(response)
                # Errors while reading the body were raised above and are handled below.
            except _NETWORK_ERRORS as exc:
                failure, cause = exc, _urllib3_cause(exc)
            else:
                if not response.ok:
                    if not retry.is_retry(
                        method, response.status_code, "Retry-After" in response.headers
                    ):
                        raise api_error_from(response)
                    try:
                        retry = retry.increment(method=method, url=url, response=response.raw)
                    except MaxRetryError:
                        raise api_error_from(response) from None
                    log.info("retrying %s %s after HTTP %d", method, url, response.status_code)
                    try:
                        retry.sleep(response.raw)
                    except InvalidHeader:  # an unparsable Retry-After: plain back-off
                        retry.sleep()
                    continue
                try:
                    return decode(content)
                except ResponseDecodeError as exc:
                    exc.response = response
                    failure, cause = exc, ProtocolError(str(exc))
            # A network or decode failure: retry if the policy allows it, else re-raise the
            # original exception (not urllib3's), which is what callers catch.
            try:
                retry = retry.increment(method=method, url=url, error=cause)
            except (MaxRetryError, Urllib3Error):
                exhausted = True
            else:
                exhausted = False
            if exhausted:
                raise failure
            log.info("retrying %s %s after %s", method, url, type(failure).__name__)
            retry.sleep()
