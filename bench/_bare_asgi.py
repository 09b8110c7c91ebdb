"""The cheapest ASGI app uvicorn can serve: one constant JSON body for every request.

``bench/server_pages.py`` runs it under uvicorn with dials-local's own HTTP settings to
measure what any request costs before dials-local does anything (the floor of its
per-request CPU).  The body is read once from the file named by ``BENCH_BARE_BODY``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BODY = Path(os.environ["BENCH_BARE_BODY"]).read_bytes()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
