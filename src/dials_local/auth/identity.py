"""Who is calling, and the authentication failures of CONTRACT §3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """An authenticated caller.

    ``roles`` are the caller's CERN roles (the ``cern_roles`` claim of a token); they route
    a request without ``Workspace`` header (CONTRACT §4.3).  API-client secret keys have no
    roles.  No credential is ever stored here, so the repr is safe to log.
    """

    name: str
    roles: tuple[str, ...] = ()
    #: Which scheme authenticated the caller (``"secret_key"``, ``"bearer"``, ...).
    scheme: str = ""


class AuthError(Exception):
    """Authentication failed: DIALS answers 403 ``{"detail": ..., "code": ...}``.

    Never 401 and never a ``WWW-Authenticate`` header (CONTRACT §3.4).  The message must
    not contain the credential that failed.
    """

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code

    def body(self) -> dict[str, str]:
        """The 403 response body."""
        return {"detail": self.detail, "code": self.code}


#: CONTRACT §3.2 / §3.3 texts.
TOKEN_NOT_VALID = ("Token is invalid or expired", "token_not_valid")
AUTHORIZATION_NOT_FOUND = ("Authorization header not found.", "authorization_not_found")
UNEXPECTED_TOKEN_ERROR = ("Unexpected error validating token.", "access_token_unexpected_error")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in any mapping (HTTP header names are
    case-insensitive; Starlette's ``Headers`` already is, a plain dict may not be)."""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return candidate
    return value


#: CONTRACT §3.3 step 5 texts (the typo "and" is verbatim).
INVALID_JWS_SIGNATURE = (
    "Found and invalid jws signature while decoding the access token.",
    "access_token_invalid_jws_signature",
)
ACCESS_TOKEN_EXPIRED = ("Access token has expired.", "access_token_expired")
ACCESS_TOKEN_NOT_YET_VALID = ("Access token not yet valid.", "access_token_not_yet_valid")


class OAuthError(Exception):
    """A refused grant of the device flow or a token endpoint (RFC 6749 §5.2, RFC 8628 §3.5).

    The DIALS routes answer ``{"detail": description, "code": error}`` (CONTRACT §3.5), the
    Keycloak routes ``{"error": error, "error_description": description}`` (§3.6).
    ``status`` is 400, or 401 for ``invalid_client``.
    """

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def dials_body(self) -> dict[str, str]:
        """The body DIALS' ``auth/*`` routes give (Keycloak's error, re-labelled)."""
        return {"detail": self.description, "code": self.error}

    def oauth_body(self) -> dict[str, str]:
        """The body Keycloak gives."""
        return {"error": self.error, "error_description": self.description}
