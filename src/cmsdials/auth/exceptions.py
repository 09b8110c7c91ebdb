"""The exceptions of signing in, in one place.

::

    cmsdials.errors.DialsError
    ├── CredentialsCacheError                     the credential file cannot be used
    ├── ImpossibleToRefreshTokenError             the refresh token is gone; sign in again
    └── SignInError       (also requests.HTTPError) the identity provider said no
        ├── PendingAuthorizationError             device not approved yet (``device_token``)
        │   └── SlowDownError                     ... and poll less often
        ├── AccessDeniedError                     the person clicked "Deny"
        ├── DeviceCodeExpiredError                nobody approved before the code expired
        ├── InvalidGrantError                     a refresh token the provider refuses
        └── InvalidClientError                    wrong client id or client secret

:class:`SignInError` is also a ``requests.HTTPError`` because it is an HTTP answer: code
written for the 1.x client, which raised ``HTTPError`` for every failed sign-in, keeps
catching it.  Other failed answers of the sign-in endpoints (a 500, a 404 because the
server has no such route) are the usual :class:`cmsdials.errors.APIError` subclasses.

No message ever contains a token, a device code or a client secret.
"""

from __future__ import annotations

from pathlib import Path

import requests

from cmsdials.errors import DialsError

__all__ = [
    "AccessDeniedError",
    "CredentialsCacheError",
    "DeviceCodeExpiredError",
    "ImpossibleToRefreshTokenError",
    "InvalidClientError",
    "InvalidGrantError",
    "PendingAuthorizationError",
    "SignInError",
    "SlowDownError",
]


class SignInError(DialsError, requests.HTTPError):
    """The identity provider (DIALS' ``auth/*`` routes or Keycloak) refused a request.

    Attributes
    ----------
    code:
        The machine-readable reason: ``code`` of a DIALS error body or ``error`` of an
        OAuth 2 one (``access_denied``, ``expired_token``, ``invalid_grant``, ...).
    detail:
        The provider's explanation, when it gave one.
    response:
        The ``requests.Response`` (``None`` when the client itself decided, e.g. a device
        code whose lifetime ran out while the server still answered "pending").
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: str | None = None,
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(message, response=response)
        self.code = code
        self.detail = detail

    @property
    def status_code(self) -> int | None:
        """The HTTP status of the answer, if there was one."""
        return self.response.status_code if self.response is not None else None


class PendingAuthorizationError(SignInError):
    """The device is not approved yet (``authorization_pending``): ask again later.

    Only :meth:`AuthClient.device_token <cmsdials.auth.client.AuthClient.device_token>`
    raises it; :meth:`~cmsdials.auth.client.AuthClient.device_auth_flow` keeps polling.
    """


class SlowDownError(PendingAuthorizationError):
    """Still pending, and the server asks to poll less often (``slow_down``)."""

    def __init__(
        self,
        message: str,
        *,
        interval: float | None = None,
        code: str | None = None,
        detail: str | None = None,
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(message, code=code, detail=detail, response=response)
        #: The poll interval the server asked for, if it said so.
        self.interval = interval


class AccessDeniedError(SignInError):
    """The person who opened the sign-in page denied the request (``access_denied``)."""


class DeviceCodeExpiredError(SignInError):
    """The sign-in request expired before anybody approved it (``expired_token``)."""


class InvalidGrantError(SignInError):
    """The provider refused a refresh token (expired, revoked, or from another server)."""


class InvalidClientError(SignInError):
    """Client credentials were refused: wrong ``client_id`` or ``client_secret``."""


class ImpossibleToRefreshTokenError(DialsError):
    """The access token expired and so did the refresh token: someone must sign in again.

    Raised when no one can answer a sign-in prompt (not a terminal or notebook, and
    ``interactive`` not forced).  Sign in again with
    ``Credentials.from_creds_file(..., interactive=True)`` or
    ``AuthClient(...).device_auth_flow()``.
    """


class CredentialsCacheError(DialsError):
    """The credential file exists but cannot be used (corrupt, unreadable, not ours).

    Attributes
    ----------
    path:
        The file.
    """

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(
            f"cannot use the cached DIALS credentials in {path}: {problem}. "
            f"Delete the file to sign in again (it only holds cached tokens), or pass "
            f"another cache_dir."
        )
