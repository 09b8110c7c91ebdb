"""The ASGI application of dials-local: ``create_app(settings)``.

Routing follows Django's rules rather than Starlette's: every route ends with ``/``; a
request for a path without the slash is redirected with 301 only when the slashed path
exists (``APPEND_SLASH``); anything unmatched gets Django's HTML 404 page.  Every route
reaches its endpoint whatever the method, because DIALS authenticates before it answers
405 (see :mod:`dials_local.api.dispatch`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from dials_local.api.dispatch import ALL_METHODS, Dispatcher, StarletteEndpoint
from dials_local.api.keycloak import keycloak_routes
from dials_local.api.routes import build_endpoints
from dials_local.asgi import not_allowed_detail
from dials_local.auth import default_authenticator
from dials_local.auth.pages import page_routes
from dials_local.auth.service import AuthService
from dials_local.clock import ServerClock
from dials_local.db.engines import Database, analyze_sqlite, has_sqlite_statistics
from dials_local.middleware import instrument
from dials_local.render import NOT_FOUND_HTML, html_response, json_response
from dials_local.settings import Settings
from dials_local.workspaces import WORKSPACES


class DigitsConvertor(Convertor[str]):
    """Django's ``\\d+`` path parts, kept as text (large values must not overflow)."""

    regex = "[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


class LookupConvertor(Convertor[str]):
    """DRF's default lookup: one path segment without ``.``."""

    regex = "[^/.]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("digits", DigitsConvertor())
register_url_convertor("lookup", LookupConvertor())


class DjangoFallback:
    """What Django does with a path no route matches: 301 to ``path/`` if that exists,
    else the HTML 404 page."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def _exists(self, scope: Scope, path: str) -> bool:
        """Whether some route matches ``path`` (any method, like Django's resolver)."""
        probe = {**scope, "path": path, "method": "GET"}
        return any(route.matches(probe)[0] != Match.NONE for route in self.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        path: str = scope["path"]
        if scope["type"] == "http" and not path.endswith("/") and self._exists(scope, path + "/"):
            raw = scope.get("raw_path")
            location = (raw.decode("latin-1") if raw else path) + "/"
            if location.startswith("//"):  # never a scheme-relative URL (Django does the same)
                location = "/%2F" + location[2:]
            query = scope.get("query_string", b"").decode("latin-1")
            if query:
                location += "?" + query
            response = Response(
                b"",
                status_code=301,
                headers={"Location": location},
                media_type="text/html; charset=utf-8",
            )
        else:
            response = html_response(NOT_FOUND_HTML, 404)
        await response(scope, receive, send)


class DirectRoutes:
    """The API routes without path parameters (the lists and counts, the API root, the
    sign-in and workspace routes...), answered straight from a dictionary on GET and
    HEAD, ahead of Starlette's router.

    Starlette matches a request against every route's regular expression in turn, then
    passes it through its two exception middlewares; on a run page that was about a
    tenth of the server's CPU (issue #16).  These routes answer exactly as through
    Starlette (the same endpoint function: the dispatcher's checks, its 500 page for a
    handler that fails).  Every other request (other methods, routes with path
    parameters, unknown paths) goes to ``app``.
    """

    def __init__(self, app: Starlette, routes: dict[str, StarletteEndpoint]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        serve = None
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            serve = self.routes.get(scope["path"])
        if serve is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # what Starlette sets: handlers reach app.state through it
        scope["path_params"] = {}
        response = await serve(Request(scope, receive))
        await response(scope, receive, send)


def any_method_route(path: str, endpoint: StarletteEndpoint) -> Route:
    """A route whose endpoint receives every method, known to Starlette or not.

    Starlette answers a method outside ``methods`` itself, in plain text and before
    authentication; DIALS authenticates first and answers 405 in JSON, whatever the
    method (``QUERY`` included), so the endpoint must see them all.
    """
    route = Route(path, endpoint, methods=ALL_METHODS)
    route.methods = None  # match any method (Starlette's default for functions is GET)
    return route


async def http_exception_json(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors (405 on the Keycloak and approval-page routes) in the
    contract's error shape instead of Starlette's plain text."""
    assert isinstance(exc, HTTPException)
    detail = not_allowed_detail(request.method) if exc.status_code == 405 else str(exc.detail)
    return json_response({"detail": detail}, exc.status_code, exc.headers)


def ensure_sqlite_statistics(database: Database) -> None:
    """Run a bounded ``ANALYZE`` on workspace files that have no planner statistics.

    Without ``sqlite_stat1`` SQLite guesses that any secondary index is selective: a
    filtered page such as ``th1/?me__regex=PXBarrel&run_number__gte=...`` then sorts
    every match instead of walking the primary key, about 6x slower on the tiny set.
    ``analysis_limit`` keeps this to milliseconds even on large files.
    """
    if database.data_dir is None:
        return  # PostgreSQL's autovacuum keeps its statistics
    for workspace in WORKSPACES:
        if not (database.data_dir / f"{workspace}.sqlite3").exists():
            continue
        with database.engine(workspace).begin() as conn:
            if not has_sqlite_statistics(conn):
                analyze_sqlite(conn)


def create_app(settings: Settings, clock: ServerClock | None = None) -> ASGIApp:
    """The dials-local ASGI app for ``settings``, wrapped in the request log, latency
    and fault-injection middleware.

    The token signing key is loaded (or created on first start) here, see
    :mod:`dials_local.auth.keys`.  ``clock`` is the time every expiry is judged by (a new
    :class:`ServerClock` when not given); with ``settings.testing`` the control route
    ``/_local/clock`` moves it.  The sign-in service's threads stop with the app
    (lifespan shutdown), so that a server run inside another process leaves none behind.
    """
    database = settings.database
    if settings.create_tables:
        database.create_all()
    ensure_sqlite_statistics(database)
    clock = clock or ServerClock()
    auth = AuthService(database, settings.auth, clock=clock)
    authenticator = default_authenticator(database, auth.tokens.identity)
    dispatcher = Dispatcher(database, authenticator, settings.request_budget)
    endpoints = build_endpoints()
    served = [(endpoint, dispatcher.starlette_endpoint(endpoint)) for endpoint in endpoints]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            auth.close()
            dispatcher.slots.close()

    app = Starlette(
        routes=[
            *(any_method_route(endpoint.starlette_path, serve) for endpoint, serve in served),
            # Not DIALS routes (no trailing slash, no DRF checks): the approval page behind
            # verification_uri_complete and the Keycloak endpoints of CONTRACT §3.6.
            *page_routes(),
            *keycloak_routes(),
        ],
        exception_handlers={HTTPException: http_exception_json},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.router.default = DjangoFallback(app.router)
    app.state.settings = settings
    app.state.endpoints = endpoints
    app.state.auth = auth
    direct = {endpoint.full_path: serve for endpoint, serve in served if not endpoint.path_params}
    return instrument(DirectRoutes(app, direct), settings=settings, clock=clock)


__all__ = ["create_app"]
