"""What the sign-in endpoints answer: tokens, or refusals turned into exceptions.

Both kinds of provider are read here: DIALS' ``auth/*`` routes refuse with
``{"detail", "code"}`` and Keycloak with OAuth 2's ``{"error", "error_description"}``.
"""

from __future__ import annotations

from typing import TypeVar

import orjson
import requests
from pydantic import BaseModel, ValidationError

from cmsdials.auth.exceptions import (
    AccessDeniedError,
    DeviceCodeExpiredError,
    InvalidClientError,
    InvalidGrantError,
    PendingAuthorizationError,
    SignInError,
    SlowDownError,
)
from cmsdials.errors import ResponseFormatError, api_error_from

__all__ = ["check", "parse"]

M = TypeVar("M", bound=BaseModel)

#: The refusals that have their own exception (DIALS ``code`` or OAuth 2 ``error``).
_REFUSALS: dict[str, tuple[type[SignInError], str]] = {
    "authorization_pending": (
        PendingAuthorizationError,
        "the sign-in request is not approved yet",
    ),
    "slow_down": (SlowDownError, "the sign-in request is not approved yet (poll less often)"),
    "access_denied": (AccessDeniedError, "the sign-in request was denied in the browser"),
    "expired_token": (
        DeviceCodeExpiredError,
        "the sign-in request expired before it was approved; start a new one",
    ),
    "invalid_grant": (
        InvalidGrantError,
        "the refresh token was refused (expired or revoked); sign in again",
    ),
    "invalid_client": (
        InvalidClientError,
        "the client credentials were refused (check client_id and client_secret)",
    ),
    "unauthorized_client": (
        InvalidClientError,
        "the client is not allowed to sign in this way (check client_id)",
    ),
}


def check(response: requests.Response, *, refresh: bool = False) -> requests.Response:
    """``response`` if it is a 2xx, else raise the exception that says why not.

    ``refresh``: the answer to a refresh, where any 4xx means the token was refused.
    """
    if response.ok:
        return response
    code, detail = _refusal(response)
    known = _REFUSALS.get(code or "")
    if refresh and known is None and response.status_code in (400, 401, 403):
        # DIALS' refresh route has no documented refusal code: any 4xx refuses the token.
        known = _REFUSALS["invalid_grant"]
    if known is None or response.status_code >= 500:
        raise api_error_from(response)
    cls, message = known
    if detail:
        message += f" (server: {detail})"
    if cls is SlowDownError:
        raise SlowDownError(
            message, interval=_number(response, "interval"), code=code, detail=detail,
            response=response,
        )  # fmt: skip
    raise cls(message, code=code, detail=detail, response=response)


def parse(model: type[M], response: requests.Response) -> M:
    """The ``model`` in a 2xx ``response``, or :class:`~cmsdials.errors.ResponseFormatError`."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        # Name the fields only: the input holds tokens.
        problems = ", ".join(
            f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['type']}" for err in exc.errors()[:5]
        )
        raise ResponseFormatError(f"unexpected answer from {response.url} ({problems})") from None


def _refusal(response: requests.Response) -> tuple[str | None, str | None]:
    """``(code, detail)`` of a DIALS (``code``/``detail``) or OAuth 2
    (``error``/``error_description``) error body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("code") or body.get("error")
    detail = body.get("detail") or body.get("error_description")
    return (
        str(code) if code is not None else None,
        str(detail) if detail is not None else None,
    )


def _number(response: requests.Response, key: str) -> float | None:
    try:
        value = orjson.loads(response.content).get(key)
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
