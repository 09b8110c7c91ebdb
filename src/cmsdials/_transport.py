"""The only layer that does I/O: one ``requests.Session`` per :class:`~cmsdials.Dials`.

Responsibilities: URLs, headers (User-Agent, ``Workspace``, credentials), timeouts,
retries, mapping non-2xx answers to :mod:`cmsdials.errors`, and calling the decoder on the
response bytes *inside* the retry loop, so that a body cut short is retried like any other
read error.

The session is ours (with a :class:`WatchedAdapter`, or the caller's adapter mounted:
``Dials(transport=...)``) or the caller's, used as it is (``Dials(session=...)``); either
way the adapter that carries the requests is never replaced - ``_pool`` grows its pool in
place for concurrent walks.

Why retries are not left to ``HTTPAdapter(max_retries=...)``: urllib3 only sees what
happens until the headers arrive.  A connection reset while ``requests`` reads the body
(``ChunkedEncodingError``) or a truncated JSON body surface later, in ``requests``, where
the adapter's retries cannot see them.  So the adapter makes a single attempt and this
module runs the loop, with the caller's ``urllib3.util.Retry`` as the policy: which
methods and statuses are retried, how many times, the back-off, and ``Retry-After``
(capped by ``max_retry_after``).

Bounds against a hostile or broken server (:func:`send`, shared with ``AuthClient``):

* redirects are followed by hand, only to the origin the request was sent to (a bounded
  number of hops); one to another origin raises
  :class:`~cmsdials.errors.CrossOriginRedirectError`, so credentials never leave it;
* each attempt has a deadline for its connection, headers and whole body: a watchdog
  thread shuts the socket down when it passes, even in the middle of a blocked read
  (:class:`~cmsdials.errors.DeadlineExceededError`, a ``requests.Timeout``);
* bodies longer than ``max_body`` are refused, by Content-Length before reading and by
  the bytes actually read (:class:`~cmsdials.errors.ResponseTooLargeError`).

A :class:`Cancellation` ends the requests of a bulk read at once (Ctrl-C while worker
threads wait for the server): their sockets are shut down like a passed deadline, and
they neither retry nor sleep before a retry.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from typing_extensions import TypeAlias
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    DecodeError,
    InvalidHeader,
    MaxRetryError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.response import HTTPResponse as Urllib3Response
from urllib3.util import Retry

# Re-exported: the defaults both clients share live in cmsdials._defaults.
from cmsdials._defaults import (
    BASE_URL_ENV,
    CONNECT_TIMEOUT,
    DEFAULT_BASE_URL,
    DEFAULT_ROUTE,
    DEFAULT_VERSION,
    api_url,
    default_base_url,
    user_agent,
)
from cmsdials._pool import grow_pool, pool_size
from cmsdials._session import ClientSession
from cmsdials.auth.base import BaseCredentials
from cmsdials.errors import (
    CrossOriginRedirectError,
    DeadlineExceededError,
    ResponseDecodeError,
    ResponseTooLargeError,
    api_error_from,
)

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "Cancellation",
    "Cancelled",
    "Retries",
    "Timeout",
    "Transport",
    "WatchedAdapter",
    "origin_of",
    "retry_policy",
    "send",
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

#: Connect within 5 s; allow 300 s for a page (large pages of 2-D histograms are slow to
#: produce, and the production proxies give up after 30 s anyway).
DEFAULT_TIMEOUT: tuple[float, float] = (CONNECT_TIMEOUT, 300.0)

#: Seconds for one attempt: connection, headers and the whole body.  The read timeout only
#: bounds each socket read, so a server trickling a byte at a time would hold the client
#: forever without it.  Generous for the slowest legitimate page (production's proxies
#: give up after 30 s; a 1 GiB page at 10 MB/s takes under 2 min).
DEFAULT_DEADLINE = 600.0

#: Bytes of one body at most: well above the largest legal page (page_size 500 of 2-D
#: histograms is a few hundred MB of JSON) and far below what would exhaust the memory.
DEFAULT_MAX_BODY = 1 << 30

#: Seconds a ``Retry-After`` may make the client sleep before a retry: a server asking for
#: hours (or a hostile one) must not park a script for that long.
DEFAULT_MAX_RETRY_AFTER = 120.0

#: Same-origin redirects followed for one request (``requests`` allows 30).
MAX_REDIRECTS = 5

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


def _declared_length(response: requests.Response) -> int | None:
    """The Content-Length header as a number, ``None`` when absent or unparsable."""
    declared = response.headers.get("Content-Length")
    if declared is None:
        return None
    try:
        return int(declared)
    except ValueError:
        return None


def _read_body(response: requests.Response, max_body: int | None = None) -> bytes:
    """The whole body of a streamed response, read as ``response.content`` would be.

    A body of declared length is read in one piece, other bodies through
    ``iter_content``; both map read errors to the same ``requests`` exceptions as
    ``response.content`` (``ChunkedEncodingError``, ``ConnectionError``, ...), release
    the connection to the pool at the end, and the body stays available as
    ``response.content`` (error mapping, ``APIError.response``).

    Raises :class:`ResponseTooLargeError` for a body over ``max_body`` bytes: declared
    (before reading any of it) or read (counting decoded bytes, so a compressed bomb
    counts at its real size).
    """
    if max_body is not None:
        declared = _declared_length(response)
        if declared is not None and declared > max_body:
            response.close()
            raise ResponseTooLargeError(origin_of(response.url), max_body, declared, declared=True)
    if _declared_identity_body(response):
        # The length is known and bounded by max_body: one read of exactly that many
        # bytes, into one buffer.  ``iter_content`` would zero-fill a fresh 1 MiB buffer
        # per read and copy out of it (page faults, 0.5 ms of a 350 KB page's 1.4 ms).
        content = _read_whole(response)
    else:
        content = _read_chunks(response, max_body)
    response._content = content  # what Response.content caches after reading
    _check_length(response, content)
    return content


def _declared_identity_body(response: requests.Response) -> bool:
    """True when ``response`` is an unread urllib3 body of a declared, unencoded length.

    Only then is reading it whole bounded (by the Content-Length, checked against
    ``max_body`` before): a chunked or compressed body is read piece by piece instead.
    """
    return (
        isinstance(response.raw, Urllib3Response)
        and not response._content_consumed  # type: ignore[attr-defined]
        # http.client reads a negative length as "until the connection closes"
        and (_declared_length(response) or 0) >= 0
        and _declared_length(response) is not None
        and response.headers.get("Content-Encoding", "identity") == "identity"
    )


def _read_whole(response: requests.Response) -> bytes:
    """The rest of the body in one read, with the errors ``iter_content`` would raise."""
    try:
        content: bytes = response.raw.read(decode_content=True)
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except Urllib3SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    finally:
        response._content_consumed = True  # type: ignore[attr-defined]
    return content


def _read_chunks(response: requests.Response, max_body: int | None) -> bytes:
    """The body read in :data:`_READ_CHUNK` pieces, counted against ``max_body``."""
    chunks = []
    size = 0
    # One length check per 1 MiB read: nothing measurable next to the read itself.
    for chunk in response.iter_content(_READ_CHUNK):
        size += len(chunk)
        if max_body is not None and size > max_body:
            response.close()
            raise ResponseTooLargeError(origin_of(response.url), max_body, size, declared=False)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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


# ---------------------------------------------------------------------------------------
# Origins and redirects
# ---------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default port made explicit; no user info)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a non-numeric port: compare it as text
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}" if port is not None else f"{scheme}://{host}"


def _redirect_method(method: str, status: int) -> str:
    """The method of the request that follows a ``status`` redirect (as browsers and
    ``requests`` do it): 303 becomes GET, and so do a 302 and a POST's 301."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status == 302 and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


# ---------------------------------------------------------------------------------------
# Deadlines: a watchdog that shuts a socket down when its request is late
# ---------------------------------------------------------------------------------------


class _Watch:
    """One attempt under a deadline: the connection it uses, and whether it fired."""

    __slots__ = ("conn", "deadline", "done", "fired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        #: The urllib3 connection the attempt is using (set by the watched pools).
        self.conn: Any = None
        self.done = False
        self.fired = False


class _Watchdog:
    """One daemon thread for the whole process, sleeping until the next deadline.

    Starting and stopping a watch is a heap push and a flag under a lock, so the bulk
    reads are untouched: they are interrupted from the outside (``socket.shutdown`` makes
    a blocked ``recv`` return), not by reading in small pieces against a clock.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Watch]] = []
        self._active = 0
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self, seconds: float) -> _Watch:
        watch = _Watch(time.monotonic() + seconds)
        with self._cond:
            heapq.heappush(self._heap, (watch.deadline, next(self._seq), watch))
            self._active += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="cmsdials-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._cond.notify()
        return watch

    def stop(self, watch: _Watch) -> bool:
        """End ``watch``; whether its deadline had fired (then the socket is shut)."""
        with self._cond:
            if not watch.done:
                watch.done = True
                self._active -= 1
                # Finished watches stay in the heap until their deadline; drop them in
                # bulk when they outnumber the live ones (many short requests).
                if len(self._heap) > 64 and len(self._heap) > 2 * self._active:
                    self._heap = [item for item in self._heap if not item[2].done]
                    heapq.heapify(self._heap)
            return watch.fired

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                _, _, watch = heapq.heappop(self._heap)
                watch.fired = True
                watch.done = True
                self._active -= 1
                _shut(watch.conn)


def _shut(conn: Any) -> None:
    """Shut ``conn``'s socket down: a read blocked on it returns at once."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed, or never connected
        sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    # A forked child has no watchdog thread, and its lock may have been held at the fork.
    os.register_at_fork(after_in_child=_WATCHDOG._reset)

#: The watch (and cancellation) of the attempt running in this thread, for the watched
#: pools to fill in.
_current = threading.local()


class Cancelled(Exception):
    """A request ended because its :class:`Cancellation` was cancelled (never seen by
    callers: the main thread is propagating the interrupt that cancelled it)."""


class Cancellation:
    """Ends the requests of one bulk read, from another thread, at once.

    Worker threads pass it to :meth:`Transport.request`; the connection each one is using
    is registered here.  :meth:`cancel` (called by the main thread on Ctrl-C) shuts those
    sockets down - a blocked read returns at once, as for a deadline - and the requests
    raise :class:`Cancelled` instead of retrying or sleeping before a retry.

    As a context manager it cancels when its block is left by an interrupt rather than
    an error - ``KeyboardInterrupt``, ``SystemExit``, a generator closed by its consumer
    (any ``BaseException`` that is not an ``Exception``) - and lets it propagate::

        with cancel:  # Ctrl-C in here ends the requests in flight at once
            ...
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: dict[int, Any] = {}
        self._event = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Stop every request of this read now (idempotent)."""
        with self._lock:
            self._event.set()
            conns = list(self._conns.values())
        for conn in conns:
            _shut(conn)

    def __enter__(self) -> Cancellation:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is not None and not isinstance(exc, Exception):
            self.cancel()

    def check(self) -> None:
        """Raise :class:`Cancelled` once cancelled."""
        if self._event.is_set():
            raise Cancelled()

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (a back-off), or less if cancelled meanwhile."""
        if seconds > 0 and self._event.wait(seconds):
            raise Cancelled()

    def attach(self, conn: Any) -> None:
        """``conn`` carries this thread's request now."""
        with self._lock:
            self._conns[threading.get_ident()] = conn
            cancelled = self._event.is_set()
        if cancelled:
            _shut(conn)

    def detach(self) -> None:
        """This thread's request is over."""
        with self._lock:
            self._conns.pop(threading.get_ident(), None)


def _watch_connection(conn: Any) -> None:
    cancel: Cancellation | None = getattr(_current, "cancel", None)
    if cancel is not None:
        cancel.attach(conn)
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.conn = conn
        if watch.fired:  # the deadline passed while the pool handed the connection out
            _shut(conn)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    """Tells the thread's watch which connection carries the request, before the request
    is sent: the deadline then covers the headers too, not only the body."""

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch_connection(conn)
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    """:class:`_WatchedHTTPConnectionPool` for HTTPS."""

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch_connection(conn)
        return super()._make_request(conn, *args, **kwargs)


class WatchedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections can be shut down at a deadline (see
    :func:`send`).  Through a proxy the pools are urllib3's own: the deadline then still
    bounds connecting and each read, via the timeouts, and the body via the response's
    connection."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPConnectionPool,
            "https": _WatchedHTTPSConnectionPool,
        }


def _bounded_timeout(timeout: Timeout, remaining: float) -> Timeout:
    """``timeout`` with no part longer than ``remaining`` seconds."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return (
            remaining if connect is None else min(connect, remaining),
            remaining if read is None else min(read, remaining),
        )
    return remaining if timeout is None else min(timeout, remaining)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: Timeout,
    deadline: float | None,
    max_body: int | None,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    cancel: Cancellation | None = None,
    **kwargs: Any,
) -> tuple[requests.Response, bytes]:
    """One attempt at ``method url``: the final response and its whole body.

    Redirects are followed here, not by ``requests`` (which strips only
    ``Authorization`` when the host changes and re-posts bodies on 307/308): to the same
    origin, with the same headers, at most ``max_redirects`` times; to another origin,
    never.  ``deadline`` seconds bound the whole attempt, redirects included.
    ``cancel`` can end the attempt from another thread (:class:`Cancellation`).

    Raises
    ------
    cmsdials.errors.CrossOriginRedirectError
        A redirect to another origin.
    requests.TooManyRedirects
        More than ``max_redirects`` same-origin redirects.
    cmsdials.errors.DeadlineExceededError
        The attempt was not over after ``deadline`` seconds.
    cmsdials.errors.ResponseTooLargeError
        A body over ``max_body`` bytes.
    requests.RequestException
        Network errors, as ``requests`` raises them.
    """
    origin = origin_of(url)
    if cancel is not None:
        cancel.check()
    watch = _WATCHDOG.start(deadline) if deadline is not None else None
    _current.watch = watch
    _current.cancel = cancel
    try:
        response, content = _follow(
            session, method, url, origin, watch, timeout, deadline, max_body, headers,
            max_redirects, kwargs,
        )  # fmt: skip
    except (OSError, Urllib3Error):  # requests' exceptions are OSErrors too
        # A read broken by the watchdog surfaces as a connection or chunked-encoding error
        # (or a short body): report what happened instead, a timeout, retried as one.
        if watch is not None and _WATCHDOG.stop(watch):
            raise DeadlineExceededError(origin, deadline or 0.0) from None
        if cancel is not None and cancel.cancelled:
            raise Cancelled() from None  # the socket was shut by the cancellation
        raise
    finally:
        _current.watch = None
        _current.cancel = None
        if cancel is not None:
            cancel.detach()
        if watch is not None:
            _WATCHDOG.stop(watch)
    if watch is not None and watch.fired:
        # The deadline fired as the body ended: a close-delimited body cut by the shutdown
        # would look whole, so the answer is not trusted.
        response.close()
        raise DeadlineExceededError(origin, deadline or 0.0)
    return response, content


def _follow(
    session: requests.Session,
    method: str,
    url: str,
    origin: str,
    watch: _Watch | None,
    timeout: Timeout,
    deadline: float | None,
    max_body: int | None,
    headers: Mapping[str, str] | None,
    max_redirects: int,
    kwargs: dict[str, Any],
) -> tuple[requests.Response, bytes]:
    """The request and its same-origin redirects (see :func:`send`)."""
    hops = 0
    while True:
        request_timeout = timeout
        if watch is not None:
            remaining = watch.deadline - time.monotonic()
            if remaining <= 0 or watch.fired:
                raise DeadlineExceededError(origin, deadline or 0.0)
            # Connecting cannot be interrupted by shutting a socket down (there is none
            # yet): the connect timeout must end by the deadline too.
            request_timeout = _bounded_timeout(timeout, remaining)
            watch.conn = None
        response = session.request(
            method,
            url,
            headers=headers,
            timeout=request_timeout,
            stream=True,
            allow_redirects=False,
            **kwargs,
        )
        if watch is not None and watch.conn is None:
            # Not through the watched pools (a proxy): watch the body's connection.
            watch.conn = getattr(response.raw, "_connection", None)
        cancel: Cancellation | None = getattr(_current, "cancel", None)
        body_conn = getattr(response.raw, "_connection", None)
        if cancel is not None and body_conn is not None:
            cancel.attach(body_conn)  # through a proxy the pools do not report it
        target = session.get_redirect_target(response) if response.is_redirect else None
        if target is None:
            return response, _read_body(response, max_body)
        response.close()  # the redirect's body is of no use
        next_url = urljoin(response.url, target)
        if origin_of(next_url) != origin:
            raise CrossOriginRedirectError(
                response=response, origin=origin, target_origin=origin_of(next_url)
            )
        hops += 1
        if hops > max_redirects:
            raise requests.TooManyRedirects(
                f"more than {max_redirects} redirects within {origin}", response=response
            )
        new_method = _redirect_method(method, response.status_code)
        if new_method != method:
            for key in ("json", "data", "files"):
                kwargs.pop(key, None)
            method = new_method
        kwargs.pop("params", None)  # the Location carries its own query string
        url = next_url
        log.info("following a %d redirect within %s", response.status_code, origin)


def _pause(seconds: float, cancel: Cancellation | None) -> None:
    """Sleep ``seconds`` before a retry; a cancellation cuts the sleep short."""
    if cancel is not None:
        cancel.pause(seconds)
    elif seconds > 0:
        time.sleep(seconds)


def _sleep_before_retry(
    retry: Retry, response: requests.Response | None, cap: float, cancel: Cancellation | None
) -> None:
    """Sleep as ``retry.sleep(response.raw)`` would (``Retry-After``, else the back-off),
    but at most ``cap`` seconds for a ``Retry-After``."""
    after = None
    if response is not None and retry.respect_retry_after_header:
        try:
            after = retry.get_retry_after(response.raw)
        except InvalidHeader:  # an unparsable Retry-After: plain back-off
            after = None
    if after is None:
        _pause(retry.get_backoff_time(), cancel)
        return
    if after > cap:
        log.info("Retry-After of %g s capped to %g s (max_retry_after)", after, cap)
    _pause(max(0.0, min(after, cap)), cancel)


def _check_bounds(deadline: float | None, max_body: int | None, max_retry_after: float) -> None:
    """Refuse bounds that would make every request fail or never end."""
    if deadline is not None and not deadline > 0:
        raise ValueError(f"deadline must be > 0 seconds or None, not {deadline!r}")
    if max_body is not None and (isinstance(max_body, bool) or max_body < 0):
        raise ValueError(f"max_body must be >= 0 bytes or None, not {max_body!r}")
    if not max_retry_after >= 0:
        raise ValueError(f"max_retry_after must be >= 0 seconds, not {max_retry_after!r}")


#: Who is asking and what it reads: on our own session once, on the caller's per request.
_IDENTITY_HEADERS = {"Accept": "application/json", "User-Agent": user_agent()}
#: What a ``requests.Session`` sends unless told otherwise.
_REQUESTS_DEFAULTS = requests.utils.default_headers()


def _identity_for(session: requests.Session) -> dict[str, str]:
    """Our ``Accept`` and ``User-Agent`` for a request through the caller's ``session``,
    each unless the session sets one of its own (not requests' default)."""
    return {
        name: value
        for name, value in _IDENTITY_HEADERS.items()
        if session.headers.get(name) in (None, _REQUESTS_DEFAULTS.get(name))
    }


def _check_seam(session: object, adapter: object) -> None:
    """Refuse a ``session``/``adapter`` of the wrong type, or both at once."""
    if session is not None and not isinstance(session, requests.Session):
        raise TypeError(f"session must be a requests.Session, not {type(session).__name__}")
    if adapter is not None and not isinstance(adapter, BaseAdapter):
        raise TypeError(
            "transport must be a requests adapter (requests.adapters.BaseAdapter, e.g. an "
            f"HTTPAdapter), not {type(adapter).__name__}"
        )
    if session is not None and adapter is not None:
        raise TypeError(
            "give either session= or transport=, not both (mount the adapter on your "
            "session: session.mount('https://', adapter))"
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
    deadline:
        Seconds for one attempt, connection to last body byte (``None``: no deadline);
        raises :class:`~cmsdials.errors.DeadlineExceededError` (a ``requests.Timeout``).
    max_body:
        Bytes of one response body at most (``None``: no limit); raises
        :class:`~cmsdials.errors.ResponseTooLargeError`, not retried.
    max_retry_after:
        Seconds a ``Retry-After`` may make a retry wait, at most.
    session:
        The caller's ``requests.Session`` to send through, as it is (its adapters,
        proxies, certificates, headers); left open by :meth:`close`.  Default: a session
        of our own, closed by :meth:`close`.
    adapter:
        A ``requests`` transport adapter to mount on our own session for ``http://`` and
        ``https://`` (instead of a :class:`WatchedAdapter`); not with ``session``.

    Whatever adapter carries the requests, :meth:`reserve_connections` grows its pool
    in place (``_pool``) rather than replacing it.
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
        deadline: float | None = DEFAULT_DEADLINE,
        max_body: int | None = DEFAULT_MAX_BODY,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        session: requests.Session | None = None,
        adapter: BaseAdapter | None = None,
    ) -> None:
        _check_bounds(deadline, max_body, max_retry_after)
        if not isinstance(creds, BaseCredentials):
            raise TypeError(
                f"creds must be a cmsdials credentials object, not {type(creds).__name__}"
            )
        _check_seam(session, adapter)
        self.creds = creds
        self.base_url = base_url or default_base_url()
        self.route = DEFAULT_ROUTE if route is None else route
        self.version = DEFAULT_VERSION if version is None else version
        self.workspace = workspace or None
        self.timeout = timeout
        self.deadline = deadline
        self.max_body = max_body
        self.max_retry_after = max_retry_after
        self.api_url = api_url(self.base_url, self.route, self.version)
        #: Whether the session is ours to set up and to close (not the caller's).
        self.owns_session = session is None
        if session is None:
            session = ClientSession()
            # One attempt per adapter call: the retry loop below sees every failure.
            mounted = (
                adapter
                if adapter is not None
                else WatchedAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
            )
            session.mount("https://", mounted)
            session.mount("http://", mounted)
            session.headers.update(_IDENTITY_HEADERS)
        self.session = session
        self._pool_lock = threading.Lock()
        self.reserve_connections(pool_maxsize)

    def __repr__(self) -> str:
        return f"Transport({self.api_url!r}, workspace={self.workspace!r})"

    def url(self, path: str) -> str:
        """The absolute URL of an API ``path`` such as ``"th1/1/2/3/4/"``."""
        path = path.lstrip("/")
        return self.api_url + (path if path.endswith("/") or not path else path + "/")

    def close(self) -> None:
        """Close the pooled connections (of our own session: the caller's stays open)."""
        if self.owns_session:
            self.session.close()

    @property
    def adapter(self) -> BaseAdapter | None:
        """The ``requests`` adapter that carries the requests to :attr:`api_url` now
        (``None`` when none is mounted for its scheme: the requests will say so)."""
        try:
            return self.session.get_adapter(self.api_url)
        except requests.exceptions.InvalidSchema:
            return None

    @property
    def pool_maxsize(self) -> int | None:
        """Connections per host that :attr:`adapter` keeps (``None``: it has no urllib3
        pool)."""
        adapter = self.adapter
        return pool_size(adapter) if adapter is not None else None

    def reserve_connections(self, count: int) -> None:
        """Keep at least ``count`` connections per host open for concurrent requests.

        Parallel walks and ``get_many`` call this with their number of workers: a pool
        smaller than the number of threads would open and drop a connection per request.
        The pool only grows, and in place: the adapter mounted for :attr:`api_url` -
        ours, or one the caller gave or mounted since - stays, with all its settings
        (see ``_pool``).
        """
        with self._pool_lock:
            adapter = self.adapter
            if adapter is not None:
                grow_pool(adapter, count)

    def _headers(self, workspace_scoped: bool) -> dict[str, str]:
        headers: dict[str, str] = {} if self.owns_session else _identity_for(self.session)
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
        cancel: Cancellation | None = None,
    ) -> T:
        """Send a request, retrying per ``retries``; return ``decode(body)`` of the 2xx.

        ``cancel``: a :class:`Cancellation` that may end the request (and its retries)
        from another thread; it then raises :class:`Cancelled`.

        Raises
        ------
        cmsdials.errors.APIError
            A non-2xx answer that is not retried, or the last one when retries ran out.
        requests.RequestException
            A network error (connection, timeout, body broken off) when retries ran out.
        cmsdials.errors.ResponseDecodeError
            A 2xx body that is not complete JSON, when retries ran out.
        cmsdials.errors.DeadlineExceededError
            No whole answer within :attr:`deadline` (a ``requests.Timeout``), when
            retries ran out.
        cmsdials.errors.CrossOriginRedirectError, cmsdials.errors.ResponseTooLargeError
            A redirect to another origin, a body over :attr:`max_body`: not retried.
        """
        method = method.upper()
        url = self.url(path)
        retry = retry_policy(retries)
        while True:
            failure: Exception
            cause: Exception
            try:
                response, content = send(
                    self.session,
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=self._headers(workspace_scoped),
                    timeout=self.timeout,
                    deadline=self.deadline,
                    max_body=self.max_body,
                    cancel=cancel,
                )
                # Errors while reading the body were raised above and are handled below;
                # refused redirects and oversized bodies are not retried.
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
                    _sleep_before_retry(retry, response, self.max_retry_after, cancel)
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
            _sleep_before_retry(retry, None, self.max_retry_after, cancel)
