"""The plain-ASGI vocabulary the middleware, the fault injector and the control routes
share: type aliases, and how to answer or read a body without a framework."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a whole response: ``status``, ``body`` and its length, ``extra`` headers."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    """The whole request body (the control routes' small JSON documents)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def json_error(detail: str, **extra: str) -> bytes:
    """The contract's error body (CONTRACT §2.3): ``{"detail": ..., ...}``."""
    return orjson.dumps({"detail": detail, **extra})


def not_allowed_detail(method: str) -> str:
    """DRF's text for a 405 (every 405 of the server says it, whoever answers)."""
    return f'Method "{method}" not allowed.'


def method_not_allowed(method: str) -> bytes:
    """DRF's 405 body."""
    return json_error(not_allowed_detail(method))
