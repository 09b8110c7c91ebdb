"""Request log, body limit and simulated latency as plain ASGI middleware, the HTTP
protocol's own error answers, and :func:`instrument`, which wraps the application:

    request log  ->  body limit  ->  latency  ->  control routes  ->  faults  ->  app

The control routes (``/_local/*``, :mod:`dials_local.control`) exist only when the server
runs with testing enabled (``serve --testing``); fault injection is
:mod:`dials_local.faults`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from dials_local.asgi import ASGIApp, Message, Receive, Scope, Send, json_error, respond
from dials_local.clock import ServerClock
from dials_local.control import ControlRoutes
from dials_local.faults import FaultInjector, FaultRules

access_log = logging.getLogger("dials_local.access")

#: Default bound on request bodies (``serve --max-body-bytes``): no DIALS request needs more.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """Answers 413 to request bodies over ``max_bytes``, before anything buffers them.

    A declared ``Content-Length`` over the limit is refused from the headers alone, the
    body unread.  A chunked body (no length up front) is read here, counting bytes, and
    refused as soon as it passes the limit; one within the limit is replayed to the app,
    so at most ``max_bytes`` are ever held.  A GET costs one pass over its header list.
    The 413 closes the connection: the rest of the body is never read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:  # ASGI servers give lower-case names
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None:
            # The HTTP parser has already checked that the length is a number.
            if int(length) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
        elif chunked:
            await self._chunked(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _chunked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read a chunked body up to the limit, then hand it to the app unchanged."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            messages.append(message)
            if not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json_error(f"Request body too large: at most {self.max_bytes} bytes are accepted.")
        await respond(send, 413, body, extra=[(b"connection", b"close")])


class LatencyMiddleware:
    """Delays every HTTP response by a fixed time: a simulated WAN round trip."""

    def __init__(self, app: ASGIApp, latency_ms: float) -> None:
        self.app = app
        self.delay = latency_ms / 1000.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


class RequestLogMiddleware:
    """One log line per request: method, path, status, bytes, milliseconds.

    Only the path and query string are logged: credentials travel in headers, which are
    never written anywhere.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        size = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + (f"?{query}" if query else "")
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %dB %.1fms", scope["method"], target, status, size, elapsed)


class _Settings(Protocol):
    latency_ms: int
    faults: str | None
    log_requests: bool
    max_body_bytes: int
    testing: bool
    admin_token: str | None


def instrument(app: ASGIApp, *, settings: _Settings, clock: ServerClock) -> ASGIApp:
    """Wrap ``app`` with fault injection, the control routes, latency, the body limit and
    the request log, as configured.  The control routes (which move the fault rules and
    ``clock``) need both ``testing`` and an ``admin_token``."""
    admin_token = settings.admin_token if settings.testing else None
    if settings.testing and not admin_token:
        raise ValueError("testing is enabled but no admin credential is set")
    injector = FaultInjector(app, FaultRules.parse(settings.faults))
    wrapped: ASGIApp = injector
    if admin_token:
        wrapped = ControlRoutes(wrapped, admin_token=admin_token, faults=injector, clock=clock)
    if settings.latency_ms:
        wrapped = LatencyMiddleware(wrapped, settings.latency_ms)
    wrapped = BodyLimitMiddleware(wrapped, settings.max_body_bytes)
    if settings.log_requests:
        wrapped = RequestLogMiddleware(wrapped)
    return wrapped


#: Longest request target httptools parses (``httptools.parse_url`` refuses more).
MAX_URL_BYTES = (1 << 16) - 1


def json_error_protocol() -> type[Any]:
    """uvicorn's HTTP protocol class, with its own error answers in the contract's shape.

    Some requests never reach the app: uvicorn answers them itself with a plain-text 400
    ("Invalid HTTP request received.") when the parser fails, for instance on a request
    target over :data:`MAX_URL_BYTES` (httptools cannot parse it, and no option raises
    that limit) or on a method the parser does not know.  This subclass of the protocol
    uvicorn would pick (httptools when installed, else h11) answers those with
    ``{"detail": ...}`` JSON instead: 414 for a too-long URL, 400 otherwise.
    """
    base: type[Any]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's own fallback
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class JsonErrorProtocol(base):  # type: ignore[misc]  # uvicorn's protocols are untyped
        def send_400_response(self, msg: str) -> None:
            url = getattr(self, "url", b"")  # the httptools protocol collects it here
            if isinstance(url, bytes) and len(url) > MAX_URL_BYTES:
                status_line = b"HTTP/1.1 414 URI Too Long\r\n"
                body = json_error(f"Request URL too long: at most {MAX_URL_BYTES} bytes.")
            else:
                status_line = b"HTTP/1.1 400 Bad Request\r\n"
                body = json_error(msg)
            content = [status_line]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
            self.transport.close()

    return JsonErrorProtocol
