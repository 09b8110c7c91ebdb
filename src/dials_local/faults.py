"""Fault injection: real failures over real sockets, for tests of clients.

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
Example: ``--faults "503@3,reset@5x1"``.  With ``serve --testing`` the rules are replaced
at run time through ``/_local/faults`` (:mod:`dials_local.control`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from dials_local.asgi import ASGIApp, Message, Receive, Scope, Send, respond
from dials_local.paths import API_PREFIX

#: The error pages of the real service's stack (Django for 500, nginx for 502/503/504).
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


class FaultInjector:
    """Injects the faults of :attr:`rules` into the requests it counts.

    :attr:`rules` is replaced at run time by the control route ``/_local/faults``
    (:mod:`dials_local.control`).
    """

    def __init__(self, app: ASGIApp, rules: FaultRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        rule = self.rules.pick() if path.startswith(API_PREFIX) and path != API_PREFIX else None
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind in ("500", "502", "503", "504"):
            status = int(rule.kind)
            await respond(send, status, _STATUS_PAGES[status], b"text/html")
        elif rule.kind == "429":
            wait = rule.arg if rule.arg is not None else 1
            seconds = f"{wait:g}"
            body = orjson.dumps(
                {"detail": f"Request was throttled. Expected available in {seconds} seconds."}
            )
            await respond(send, 429, body, extra=[(b"retry-after", seconds.encode())])
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
