"""Request log, body limit, simulated latency and fault injection, as plain ASGI
middleware, and the HTTP protocol's own error answers.

``instrument(app, settings=...)`` wraps the application:

    request log  ->  body limit  ->  latency  ->  faults (+ /_local/faults)  ->  app

The control route ``/_local/faults`` exists only when the server runs with testing
enabled (``serve --testing``), and then answers only the local admin credential
(:data:`ADMIN_HEADER`), never an API key: changing fault rules can stall every request.

Faults let client tests meet real failures over real sockets instead of patched clients.
A fault spec is a comma-separated list of rules ``KIND[:ARG]@K[xN]``:

=============  =========================================================================
KIND           effect on the request it fires on
=============  =========================================================================
500 502 503    answer that status with the HTML page the real service's stack sends
504            (Django for 500, nginx for 502/503/504)
429            answer 429 with ``Retry-After: ARG`` (seconds, default 1), DRF's body
reset          send the headers and half of the body, then drop the connection
truncate       send a complete HTTP response whose JSON body is cut in half
slow           wait ARG seconds (default 5) before answering normally
=============  =========================================================================

``@K`` fires on every K-th counted request; ``xN`` fires at most N times.  Counted
requests are those under ``/api/v1/`` except the API root itself (which readiness probes
use).  When several rules fire on the same request the first listed wins.
Example: ``--faults "503@3,reset@5x1"``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("dials_local.access")

API_PREFIX = "/api/v1/"
CONTROL_PATH = "/_local/faults"
#: Header carrying the local admin credential of the control routes (``--testing``).
ADMIN_HEADER = "X-DIALS-LOCAL-ADMIN"
_ADMIN_HEADER_KEY = ADMIN_HEADER.lower().encode("latin-1")
#: Default bound on request bodies (``serve --max-body-bytes``): no DIALS request needs more.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_STATUS_PAGES: dict[int, bytes] = {
    500: b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n'
    b"</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n",
    502: b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n",
    503: b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    b"<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    504: b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n",
}

FAULT_KINDS = ("500", "502", "503", "504", "429", "reset", "truncate", "slow")
_RULE = re.compile(
    r"^(?P<kind>[a-z0-9]+)(?::(?P<arg>[0-9.]+))?@(?P<every>[0-9]+)(?:x(?P<limit>[0-9]+))?$"
)


class FaultSpecError(ValueError):
    """A ``--faults`` spec that does not parse; the message says what is valid."""


@dataclass
class FaultRule:
    """One rule of a fault spec, with its own request counter."""

    kind: str
    every: int
    arg: float | None = None
    limit: int | None = None
    seen: int = 0
    fired: int = 0

    def __str__(self) -> str:
        arg = f":{self.arg:g}" if self.arg is not None else ""
        limit = f"x{self.limit}" if self.limit is not None else ""
        return f"{self.kind}{arg}@{self.every}{limit}"

    def fires(self) -> bool:
        """Count one request; True when this rule injects its fault into it."""
        self.seen += 1
        if self.seen % self.every or (self.limit is not None and self.fired >= self.limit):
            return False
        self.fired += 1
        return True


@dataclass
class FaultRules:
    """The parsed rules of a fault spec (empty: no faults)."""

    rules: list[FaultRule] = field(default_factory=list)

    @classmethod
    def parse(cls, spec: str | None) -> FaultRules:
        rules = []
        for text in (spec or "").split(","):
            text = text.strip()
            if not text:
                continue
            match = _RULE.match(text)
            if match is None or match["kind"] not in FAULT_KINDS:
                raise FaultSpecError(
                    f"invalid fault rule {text!r}: expected KIND[:ARG]@K[xN] with KIND one of "
                    f"{', '.join(FAULT_KINDS)} (e.g. '503@3', '429:2@4', 'reset@5x1')"
                )
            if int(match["every"]) < 1:
                raise FaultSpecError(f"invalid fault rule {text!r}: K in @K must be at least 1")
            rules.append(
                FaultRule(
                    kind=match["kind"],
                    every=int(match["every"]),
                    arg=float(match["arg"]) if match["arg"] else None,
                    limit=int(match["limit"]) if match["limit"] else None,
                )
            )
        return cls(rules)

    def __str__(self) -> str:
        return ",".join(str(rule) for rule in self.rules)

    def pick(self) -> FaultRule | None:
        """Count a request against every rule; the first rule that fires, if any."""
        chosen = None
        for rule in self.rules:
            if rule.fires() and chosen is None:
                chosen = rule
        return chosen

    def describe(self) -> dict[str, Any]:
        return {
            "spec": str(self),
            "rules": [
                {"rule": str(rule), "seen": rule.seen, "fired": rule.fired} for rule in self.rules
            ],
        }


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class _BufferedResponse:
    """Collects what the app sends, so a fault can replay part of it."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def headers_with_length(self, length: int) -> list[tuple[bytes, bytes]]:
        assert self.start is not None
        kept = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        return [*kept, (b"content-length", str(length).encode())]


def _json_error(detail: str, **extra: str) -> bytes:
    """The contract's error body (CONTRACT §2.3): ``{"detail": ..., ...}``."""
    return orjson.dumps({"detail": detail, **extra})


class FaultInjector:
    """Injects the faults of a spec and serves the ``/_local/faults`` control route.

    ``admin_token`` is ``None`` unless testing is enabled: the control route then does not
    exist (the request reaches the app, which answers its 404 page like any unknown path).
    """

    def __init__(self, app: ASGIApp, rules: FaultRules, admin_token: str | None) -> None:
        self.app = app
        self.rules = rules
        self.admin_token = admin_token.encode("utf-8") if admin_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == CONTROL_PATH and self.admin_token is not None:
            await self._control(scope, receive, send)
            return
        rule = self.rules.pick() if path.startswith(API_PREFIX) and path != API_PREFIX else None
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind in ("500", "502", "503", "504"):
            status = int(rule.kind)
            await _respond(send, status, _STATUS_PAGES[status], b"text/html")
        elif rule.kind == "429":
            wait = rule.arg if rule.arg is not None else 1
            seconds = f"{wait:g}"
            body = orjson.dumps(
                {"detail": f"Request was throttled. Expected available in {seconds} seconds."}
            )
            await _respond(send, 429, body, extra=[(b"retry-after", seconds.encode())])
        elif rule.kind == "slow":
            await asyncio.sleep(rule.arg if rule.arg is not None else 5.0)
            await self.app(scope, receive, send)
        else:
            await self._broken_body(rule.kind, scope, receive, send)

    async def _broken_body(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        buffered = _BufferedResponse()
        await self.app(scope, receive, buffered.send)
        assert buffered.start is not None
        half = bytes(buffered.body[: len(buffered.body) // 2])
        announced = len(buffered.body) if kind == "reset" else len(half)
        await send(
            {
                "type": "http.response.start",
                "status": buffered.start["status"],
                "headers": buffered.headers_with_length(announced),
            }
        )
        # For "reset" the announced length is the full body: returning with the response
        # incomplete makes the server close the connection mid-body, which the client
        # sees as a connection broken while reading.
        await send({"type": "http.response.body", "body": half, "more_body": kind == "reset"})

    def _is_admin(self, scope: Scope) -> bool:
        """Whether the request carries the admin credential (compared in constant time)."""
        assert self.admin_token is not None
        for name, value in scope["headers"]:
            if name == _ADMIN_HEADER_KEY:
                return hmac.compare_digest(value, self.admin_token)
        return False

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._is_admin(scope):
            body = _json_error(
                f"The dials-local admin credential ({ADMIN_HEADER}) is required.",
                code="not_allowed",
            )
            await _respond(send, 403, body)
            return
        if scope["method"] == "PUT":
            try:
                spec = orjson.loads(await _read_body(receive) or b"{}").get("spec") or ""
                self.rules = FaultRules.parse(str(spec))
            except (orjson.JSONDecodeError, AttributeError, FaultSpecError) as exc:
                await _respond(send, 400, orjson.dumps({"spec": [str(exc)]}))
                return
            access_log.info("fault rules set to %r", str(self.rules) or "(none)")
        elif scope["method"] != "GET":
            await _respond(
                send, 405, orjson.dumps({"detail": f'Method "{scope["method"]}" not allowed.'})
            )
            return
        await _respond(send, 200, orjson.dumps(self.rules.describe()))


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
        body = _json_error(f"Request body too large: at most {self.max_bytes} bytes are accepted.")
        await _respond(send, 413, body, extra=[(b"connection", b"close")])


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


def instrument(app: ASGIApp, *, settings: _Settings) -> ASGIApp:
    """Wrap ``app`` with fault injection, latency, the body limit and the request log, as
    configured.  The control route needs both ``testing`` and an ``admin_token``."""
    admin_token = settings.admin_token if settings.testing else None
    if settings.testing and not admin_token:
        raise ValueError("testing is enabled but no admin credential is set")
    wrapped: ASGIApp = FaultInjector(app, FaultRules.parse(settings.faults), admin_token)
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

    class JsonErrorProtocol(base):
        def send_400_response(self, msg: str) -> None:
            url = getattr(self, "url", b"")  # the httptools protocol collects it here
            if isinstance(url, bytes) and len(url) > MAX_URL_BYTES:
                status_line = b"HTTP/1.1 414 URI Too Long\r\n"
                body = _json_error(f"Request URL too long: at most {MAX_URL_BYTES} bytes.")
            else:
                status_line = b"HTTP/1.1 400 Bad Request\r\n"
                body = _json_error(msg)
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
