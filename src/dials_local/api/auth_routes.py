"""DIALS' own sign-in routes (CONTRACT §3.5), used by cmsdials 1.5: no credentials needed.

``GET auth/new-device/`` starts a device flow, ``POST auth/device-token/`` polls it and
``POST auth/refresh-token/`` rotates a refresh token.  Tokens are issued for the DIALS
audience directly (DIALS proxies Keycloak's confidential client here).  Refused grants
answer 400 ``{"detail": <description>, "code": <OAuth error>}``; a missing body field
answers DRF's plain-text 400.  An invalid refresh token is a 400 ``invalid_grant`` where
DIALS answers 500.  A client address with too many pending device flows gets 429
``{"detail": ...}`` with ``Retry-After`` (a dials-local limit; DIALS has none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from dials_local.api.context import Call
from dials_local.api.endpoint import Endpoint
from dials_local.auth.bodies import form_fields
from dials_local.auth.identity import OAuthError
from dials_local.auth.service import AuthService
from dials_local.auth.throttle import Throttled
from dials_local.render import html_response, json_response

#: Token answers must not be stored by caches (RFC 6749 §5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def auth_service(call: Call) -> AuthService:
    """The server's :class:`AuthService` (built by :func:`dials_local.app.create_app`)."""
    service: AuthService = call.request.app.state.auth
    return service


def _missing(name: str) -> Response:
    """DRF's answer to a body without ``name`` (plain text, CONTRACT §2.3)."""
    return html_response(f"Attribute '{name}' not found in request body.".encode(), 400)


def _field(call: Call, name: str) -> str:
    return form_fields(call.request.headers.get("content-type"), call.body).get(name, "")


def new_device(call: Call) -> Response:
    """Start a device flow: exactly ``device_code``, ``verification_uri_complete``,
    ``expires_in``."""
    service = auth_service(call)
    client = call.request.client
    try:
        started = service.start_device(service.settings.audience, client.host if client else "")
    except Throttled as refused:
        headers = {**NO_STORE, "Retry-After": refused.retry_after_header}
        return json_response({"detail": refused.message}, refused.status, headers)
    return json_response(
        {
            "device_code": started.device_code,
            "verification_uri_complete": f"{call.base_url}device?user_code={started.user_code}",
            "expires_in": started.expires_in,
        },
        headers=NO_STORE,
    )


def _grant(call: Call, field: str, redeem: Callable[..., dict[str, Any]]) -> Response:
    """Answer a token request made with ``field``: the seven token fields, or the error."""
    value = _field(call, field)
    if not value:
        return _missing(field)
    service = auth_service(call)
    try:
        tokens = redeem(
            value,
            client_id=service.settings.audience,
            base_url=call.base_url,
            audience=service.settings.audience,
        )
    except OAuthError as error:
        return json_response(error.dials_body(), error.status, NO_STORE)
    return json_response(tokens, headers=NO_STORE)


def device_token(call: Call) -> Response:
    """Poll a device flow with ``device_code``: the seven token fields, or the OAuth error."""
    return _grant(call, "device_code", auth_service(call).redeem_device)


def refresh_token(call: Call) -> Response:
    """Rotate ``refresh_token``: the seven token fields with a new refresh token."""
    return _grant(call, "refresh_token", auth_service(call).refresh)


def auth_endpoints() -> list[Endpoint]:
    """The three device-flow routes of the route table."""
    return [
        Endpoint(
            "auth/new-device/",
            new_device,
            auth=False,
            workspace=False,
            summary="Start a device sign-in: device_code, verification_uri_complete, expires_in",
        ),
        Endpoint(
            "auth/device-token/",
            device_token,
            methods=("POST",),
            auth=False,
            workspace=False,
            body_params=("device_code",),
            summary="Poll a device sign-in (400 authorization_pending until approved)",
        ),
        Endpoint(
            "auth/refresh-token/",
            refresh_token,
            methods=("POST",),
            auth=False,
            workspace=False,
            body_params=("refresh_token",),
            summary="Exchange a refresh token for new tokens (the old one is used up)",
        ),
    ]
