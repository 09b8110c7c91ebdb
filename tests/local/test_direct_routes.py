"""The API routes without path parameters are answered ahead of Starlette's router
(issue #16, :class:`dials_local.app.DirectRoutes`): they must answer exactly as through
Starlette, byte for byte, for every such route, method and failure, and leave every
other request to Starlette.

The app is driven in process over ASGI, once through the whole stack (which takes the
direct routes) and once through the Starlette app behind them, on a copy of the tiny
SQLite data set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dials_local.api.routes import build_endpoints
from dials_local.app import DirectRoutes, create_app
from dials_local.asgi import ASGIApp, Message
from dials_local.auth.api_clients import ApiClientStore
from dials_local.db.engines import Database
from dials_local.settings import Settings
from dials_local.testing import SECRET_HEADER

SECRET = "direct-routes-test-secret-0123456789"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_data_dir: Path) -> Iterator[ASGIApp]:
    """The whole app of a server over a copy of the tiny data set, with a known key."""
    data_dir = tmp_path_factory.mktemp("direct") / "data"
    shutil.copytree(tiny_data_dir, data_dir)
    database = Database(data_dir=data_dir)
    ApiClientStore(database.service_engine()).create("direct-routes test", SECRET)
    yield create_app(Settings(database=database, create_tables=False, log_requests=False))
    database.dispose()


def direct_routes(app: Any) -> DirectRoutes:
    """The :class:`DirectRoutes` layer inside the middleware around it."""
    while not isinstance(app, DirectRoutes):
        app = app.app
    return app


def call(
    app: ASGIApp, method: str, path: str, query: str = "", headers: dict[str, str] | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request through ``app``: status, headers, body."""
    sent: list[Message] = []
    head = [(b"host", b"testserver")]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": head,
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    # In a thread of its own: another test (Playwright's sync API) may have left an event
    # loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
    start = sent[0]
    return start["status"], list(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


AUTH = {SECRET_HEADER: SECRET}

#: Requests to direct routes: pages, filters, cursors, workspaces, failures of each check.
REQUESTS = [
    ("GET", "/api/v1/run/", "page_size=2", AUTH, 200),
    ("GET", "/api/v1/lumisection/", "page_size=3&run_number=367112", AUTH, 200),
    ("GET", "/api/v1/th1/", "page_size=2&me__regex=PXBarrel", AUTH, 200),
    ("GET", "/api/v1/lumisection/count/", "run_number=367112", AUTH, 200),
    ("GET", "/api/v1/run/", "page_size=2", {**AUTH, "Workspace": "jetmet"}, 200),
    ("HEAD", "/api/v1/run/", "page_size=2", AUTH, 200),
    ("GET", "/api/v1/run/", "", {}, 403),  # no credentials
    ("GET", "/api/v1/run/", "run_number__gte=abc", AUTH, 400),  # a bad filter
    ("GET", "/api/v1/run/", "next_token=not-a-cursor", AUTH, 404),  # Invalid cursor
    ("GET", "/api/v1/run/", "", {**AUTH, "Workspace": "nowhere"}, 404),  # no such workspace
    ("GET", "/api/v1/", "", {}, 200),  # the API root, no credentials needed
    ("GET", "/api/v1/ml-bad-lumisection/golden-json/", "model_id__in=1", AUTH, 400),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "status"), REQUESTS)
def test_direct_routes_answer_as_starlette_does(
    stack: ASGIApp, method: str, path: str, query: str, headers: dict[str, str], status: int
) -> None:
    assert path in direct_routes(stack).routes
    through_stack = call(stack, method, path, query, headers)
    assert through_stack[0] == status, through_stack[2][:300]
    assert through_stack == call(direct_routes(stack).app, method, path, query, headers)


def test_direct_routes_are_the_routes_without_path_parameters(stack: ASGIApp) -> None:
    endpoints = build_endpoints()
    expected = {e.full_path for e in endpoints if not e.path_params}
    assert set(direct_routes(stack).routes) == expected
    assert "/api/v1/run/" in expected and "/api/v1/run/count/" in expected
    assert not any("{" in path for path in expected)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/v1/run/", 405),  # other methods: Starlette's route, DRF's 405
        ("OPTIONS", "/api/v1/run/", 200),
        ("GET", "/api/v1/run", 301),  # no slash: Django's redirect
        ("GET", "/api/v1/run/367112/", 404),  # path parameters: Starlette's router
        ("GET", "/api/v1/nothing-here/", 404),
    ],
)
def test_other_requests_go_to_starlette(
    stack: ASGIApp, method: str, path: str, status: int
) -> None:
    answer = call(stack, method, path, "", AUTH)
    assert answer[0] == status
    assert answer == call(direct_routes(stack).app, method, path, "", AUTH)
