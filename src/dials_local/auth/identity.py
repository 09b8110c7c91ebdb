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
