"""The Keycloak endpoints cmsdials 2.4 signs in through (CONTRACT §3.6), under
``/auth/realms/<realm>/``, so that ``AuthClient(keycloak_url="<dials-local>/auth/")`` works.

==========================================  ===============================================
``POST protocol/openid-connect/auth/device``  start a device flow (public client)
``POST protocol/openid-connect/token``        ``grant_type`` = device code, token exchange,
                                              ``refresh_token`` or ``client_credentials``
``POST api-access/token``                     CERN's client-credentials endpoint
``GET  protocol/openid-connect/certs``        the realm's public key (JWKS)
``GET  .well-known/openid-configuration``     where the endpoints are
``GET  device``                               redirects to dials-local's approval page
==========================================  ===============================================

Bodies are form-encoded; answers use OAuth2's error format ``{"error",
"error_description"}``: 400 for refused grants, 401 ``invalid_client`` for a wrong client
or secret, 404 for another realm, 429 ``slow_down`` (with ``Retry-After``) for a client
address with too many pending device flows.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

import orjson
from jwt.algorithms import RSAAlgorithm
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dials_local.auth.bodies import form_fields
from dials_local.auth.identity import OAuthError
from dials_local.auth.service import AuthService, invalid_client
from dials_local.auth.throttle import Throttled
from dials_local.render import json_response

logger = logging.getLogger("dials_local.keycloak")

REALM_PREFIX = "/auth/realms/{realm}"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

Handler = Callable[[Request, dict[str, str], AuthService], Response]


class _UnknownRealm(Exception):
    pass


def _service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth
    if request.path_params.get("realm") != service.settings.realm:
        raise _UnknownRealm
    return service


def _oauth_error(error: OAuthError) -> Response:
    return json_response(error.oauth_body(), error.status, NO_STORE)


def _endpoint(
    handler: Handler, *, reads_body: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """An ASGI endpoint running ``handler`` in the thread pool (it hits the database and,
    for some grants, hashes), with Keycloak-shaped errors."""

    def run(request: Request, body: bytes) -> Response:
        try:
            service = _service(request)
            fields = form_fields(request.headers.get("content-type"), body)
            return handler(request, fields, service)
        except _UnknownRealm:
            return json_response(
                {"error": "Realm does not exist", "error_description": "Realm does not exist"},
                404,
            )
        except OAuthError as error:
            return _oauth_error(error)
        except Exception:
            logger.exception("unhandled error on %s %s", request.method, request.url.path)
            return json_response({"error": "server_error", "error_description": ""}, 500)

    async def endpoint(request: Request) -> Response:
        body = await request.body() if reads_body else b""
        return await run_in_threadpool(run, request, body)

    endpoint.__name__ = f"keycloak_{handler.__name__}"
    return endpoint


def _base_url(request: Request) -> str:
    return str(request.base_url)


def _require(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"Missing parameter: {name}")
    return value


def _public_client(fields: dict[str, str], service: AuthService) -> str:
    """The ``client_id`` of a device/refresh/exchange request: the public client only."""
    client_id = _require(fields, "client_id")
    if client_id != service.settings.public_client_id:
        raise invalid_client()
    return client_id


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """``client_id``/``client_secret`` from HTTP Basic authentication (RFC 6749 §2.3.1)."""
    value = request.headers.get("authorization", "")
    if not value.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


def device_authorization(
    request: Request, fields: dict[str, str], service: AuthService
) -> Response:
    """RFC 8628 §3.2 answer, with the approval page of dials-local as verification URI."""
    client_id = _public_client(fields, service)
    address = request.client.host if request.client else ""
    try:
        started = service.start_device(client_id, address)
    except Throttled as refused:
        # RFC 8628's "poll less often" code fits best; OAuth clients read error first.
        body = OAuthError("slow_down", refused.message, refused.status).oauth_body()
        headers = {**NO_STORE, "Retry-After": refused.retry_after_header}
        return json_response(body, refused.status, headers)
    page = f"{_base_url(request)}device"
    return json_response(
        {
            "device_code": started.device_code,
            "user_code": started.user_code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?user_code={started.user_code}",
            "expires_in": started.expires_in,
            # RFC 8628 wants whole seconds; fractional test intervals round up.
            "interval": max(1, int(-(-started.interval // 1))),
        },
        headers=NO_STORE,
    )


def token(request: Request, fields: dict[str, str], service: AuthService) -> Response:
    """The token endpoint: one grant per ``grant_type``."""
    grant_type = _require(fields, "grant_type")
    base_url = _base_url(request)
    public = service.settings.public_client_id
    result: dict[str, Any]
    if grant_type == DEVICE_CODE_GRANT:
        client_id = _public_client(fields, service)
        result = service.redeem_device(
            _require(fields, "device_code"), client_id=client_id, base_url=base_url, audience=public
        )
        result.update({"not-before-policy": 0})
    elif grant_type == "refresh_token":
        client_id = _public_client(fields, service)
        result = service.refresh(
            _require(fields, "refresh_token"),
            client_id=client_id,
            base_url=base_url,
            audience=public,
        )
        result.update({"not-before-policy": 0})
    elif grant_type == TOKEN_EXCHANGE_GRANT:
        client_id = _public_client(fields, service)
        result = service.exchange(
            _require(fields, "subject_token"),
            client_id=client_id,
            audience=fields.get("audience"),
            base_url=base_url,
        )
    elif grant_type == "client_credentials":
        return api_access_token(request, fields, service)
    else:
        raise OAuthError("unsupported_grant_type", "Unsupported grant_type")
    return json_response(result, headers=NO_STORE)


def api_access_token(request: Request, fields: dict[str, str], service: AuthService) -> Response:
    """Client credentials of an API client (``dials-local create-api-client --name N``):
    ``client_id`` = its name, ``client_secret`` = its secret."""
    if fields.get("grant_type", "client_credentials") != "client_credentials":
        raise OAuthError("unsupported_grant_type", "Unsupported grant_type")
    basic = _basic_credentials(request)
    client_id, secret = basic or (fields.get("client_id", ""), fields.get("client_secret", ""))
    if not client_id:
        raise OAuthError("invalid_request", "Missing parameter: client_id")
    result = service.client_credentials(
        client_id, secret, audience=fields.get("audience"), base_url=_base_url(request)
    )
    return json_response(result, headers=NO_STORE)


def certs(request: Request, fields: dict[str, str], service: AuthService) -> Response:
    """The realm's JSON Web Key Set (for clients that check signatures themselves)."""
    jwk = orjson.loads(RSAAlgorithm.to_jwk(service.key.public_key))
    jwk.update({"kid": service.key.kid, "use": "sig", "alg": "RS256"})
    return json_response({"keys": [jwk]})


def openid_configuration(
    request: Request, fields: dict[str, str], service: AuthService
) -> Response:
    """The discovery document: where each endpoint of the realm is."""
    issuer = service.tokens.issuer(_base_url(request))
    connect = f"{issuer}/protocol/openid-connect"
    return json_response(
        {
            "issuer": issuer,
            "token_endpoint": f"{connect}/token",
            "device_authorization_endpoint": f"{connect}/auth/device",
            "jwks_uri": f"{connect}/certs",
            "grant_types_supported": [
                DEVICE_CODE_GRANT,
                TOKEN_EXCHANGE_GRANT,
                "refresh_token",
                "client_credentials",
            ],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }
    )


def device_page(request: Request, fields: dict[str, str], service: AuthService) -> Response:
    """Keycloak's device page address, sent on to dials-local's approval page."""
    code = request.query_params.get("user_code", "")
    target = "/device" + (f"?user_code={quote(code)}" if code else "")
    return RedirectResponse(target, status_code=302)


def keycloak_routes() -> list[Route]:
    """The Starlette routes of the Keycloak endpoints."""
    connect = f"{REALM_PREFIX}/protocol/openid-connect"
    return [
        Route(f"{connect}/auth/device", _endpoint(device_authorization), methods=["POST"]),
        Route(f"{connect}/token", _endpoint(token), methods=["POST"]),
        Route(f"{REALM_PREFIX}/api-access/token", _endpoint(api_access_token), methods=["POST"]),
        Route(f"{connect}/certs", _endpoint(certs, reads_body=False), methods=["GET"]),
        Route(
            f"{REALM_PREFIX}/.well-known/openid-configuration",
            _endpoint(openid_configuration, reads_body=False),
            methods=["GET"],
        ),
        Route(f"{REALM_PREFIX}/device", _endpoint(device_page, reads_body=False), methods=["GET"]),
    ]
