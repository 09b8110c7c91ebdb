"""From an :class:`Endpoint` declaration to a Starlette endpoint, in DRF's order of checks:

authentication (403) -> method (405, OPTIONS) -> workspace (404) -> handler (filters 400,
cursor 404, objects 404).  Handlers are synchronous (SQLAlchemy Core); they run in the
thread pool so the event loop keeps serving other requests, a few at once
(:mod:`dials_local.api.slots`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from dials_local.api.context import (
    Call,
    ErrorAnswer,
    method_not_allowed,
    server_busy,
    workspace_not_found,
)
from dials_local.api.endpoint import Endpoint
from dials_local.api.slots import HandlerSlots, NoSlot
from dials_local.auth import Authenticator, AuthError, Identity
from dials_local.db.budget import DEFAULT_REQUEST_BUDGET_S
from dials_local.db.engines import Database
from dials_local.listing.params import QueryParams
from dials_local.render import SERVER_ERROR_HTML, html_response, json_response
from dials_local.workspaces import WORKSPACES, default_workspace_for

logger = logging.getLogger("dials_local.api")

#: Every method reaches the endpoint, which answers 405 itself after authentication.
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")

StarletteEndpoint = Callable[[Request], Awaitable[Response]]


def resolve_workspace(request: Request, identity: Identity | None) -> str:
    """The ``Workspace`` header (case-insensitive name, empty = absent) or the caller's
    default (CONTRACT §4.2, §4.3)."""
    requested = request.headers.get("workspace")
    if requested:
        if requested not in WORKSPACES:
            raise workspace_not_found(requested)
        return requested
    return default_workspace_for(identity.roles if identity is not None else ())


def _options(endpoint: Endpoint) -> Response:
    """DRF's metadata answer to OPTIONS."""
    return json_response(
        {
            "name": endpoint.view_name or endpoint.summary,
            "description": "",
            "renders": ["application/json", "text/html"],
            "parses": [
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ],
        }
    )


class Dispatcher:
    """Serves endpoints with one database and one authenticator."""

    def __init__(
        self,
        database: Database,
        authenticator: Authenticator,
        request_budget: float = DEFAULT_REQUEST_BUDGET_S,
    ) -> None:
        self.database = database
        self.authenticator = authenticator
        self.request_budget = request_budget
        self.slots = HandlerSlots()

    def starlette_endpoint(self, endpoint: Endpoint) -> StarletteEndpoint:
        """The Starlette endpoint serving ``endpoint``."""
        accepts_body = "POST" in endpoint.methods

        async def serve(request: Request) -> Response:
            deadline = time.monotonic() + self.request_budget
            body = await request.body() if accepts_body and request.method == "POST" else b""
            try:
                return await self.slots.run(
                    deadline, self.respond, endpoint, request, body, deadline
                )
            except NoSlot:
                busy = server_busy(self.request_budget)
                return json_response(busy.body, busy.status, busy.headers)

        serve.__name__ = f"endpoint_{endpoint.full_path}"
        return serve

    def respond(
        self, endpoint: Endpoint, request: Request, body: bytes, deadline: float = 0.0
    ) -> Response:
        """Run the checks and the handler; map failures to DIALS-shaped answers."""
        try:
            response = self._respond(endpoint, request, body, deadline)
        except AuthError as error:
            response = json_response(error.body(), 403)
        except ErrorAnswer as error:
            response = json_response(error.body, error.status, error.headers)
        except Exception:
            # The traceback goes to the server log; the client gets Django's 500 page.
            logger.exception("unhandled error on %s %s", request.method, request.url.path)
            return html_response(SERVER_ERROR_HTML, 500)
        response.headers.setdefault("Allow", ", ".join(endpoint.allowed_methods))
        response.headers.setdefault("Vary", "Accept")
        return response

    def _respond(
        self, endpoint: Endpoint, request: Request, body: bytes, deadline: float
    ) -> Response:
        """The checks in DRF order, then the handler."""
        identity = self.authenticator.authenticate(request.headers) if endpoint.auth else None
        method = request.method
        if method == "OPTIONS":
            return _options(endpoint)
        if method not in endpoint.methods and not (method == "HEAD" and "GET" in endpoint.methods):
            raise method_not_allowed(method)
        workspace = resolve_workspace(request, identity) if endpoint.workspace else None
        call = Call(
            request=request,
            params=QueryParams.parse(request.scope["query_string"].decode("utf-8", "replace")),
            database=self.database,
            identity=identity,
            workspace=workspace,
            path={k: str(v) for k, v in request.path_params.items()},
            body=body,
            budget=self.request_budget,
            deadline=deadline,
        )
        return endpoint.handler(call)
