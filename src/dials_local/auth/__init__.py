"""Authentication: credential schemes tried in order (CONTRACT §3).

``Authenticator(schemes).authenticate(headers)`` returns the caller's
:class:`~dials_local.auth.identity.Identity` or raises
:class:`~dials_local.auth.identity.AuthError` (answered with 403).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from dials_local.auth.api_clients import ApiClientStore
from dials_local.auth.identity import AUTHORIZATION_NOT_FOUND, AuthError, Identity
from dials_local.auth.schemes import AuthScheme, BearerScheme, SecretKeyScheme
from dials_local.db.engines import Database

__all__ = [
    "ApiClientStore",
    "AuthError",
    "AuthScheme",
    "Authenticator",
    "Identity",
    "default_authenticator",
]


class Authenticator:
    """Runs the schemes in order; the first identity wins, the first error stops."""

    def __init__(self, schemes: Sequence[AuthScheme]) -> None:
        self.schemes = tuple(schemes)

    def __repr__(self) -> str:
        return f"<Authenticator {[s.name for s in self.schemes]}>"

    def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """The caller's identity, or :class:`AuthError` (answered with 403)."""
        for scheme in self.schemes:
            identity = scheme.authenticate(headers)
            if identity is not None:
                return identity
        # Only reachable without a final "always answers" scheme such as Bearer.
        raise AuthError(*AUTHORIZATION_NOT_FOUND)

    def authorize(self, headers: Mapping[str, str]) -> bool:
        """Whether ``headers`` carry a valid credential (for the middleware's control
        routes)."""
        try:
            self.authenticate(headers)
        except AuthError:
            return False
        return True


def default_authenticator(
    database: Database, verify: Callable[[str], Identity] | None = None
) -> Authenticator:
    """The schemes of a dials-local server: secret keys, then Bearer tokens (checked by
    ``verify``, normally :meth:`dials_local.auth.tokens.TokenService.identity`)."""
    store = ApiClientStore(database.service_engine())
    return Authenticator([SecretKeyScheme(store), BearerScheme(verify)])
