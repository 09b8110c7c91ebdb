"""An application's credentials: a Keycloak client id and secret (client credentials).

::

    from cmsdials.auth.client_credentials import Credentials
    creds = Credentials(client_id="my-app", client_secret="...")

The token is requested from the Keycloak realm's ``api-access/token`` endpoint with the
DIALS audience (CONTRACT §3.6) and requested again as it expires; nothing is cached (the
secret itself is the lasting credential).  For another DIALS give the matching
:class:`~cmsdials.auth.client.AuthClient`, e.g. for a dials-local
``AuthClient(keycloak_url="http://localhost:8000/auth/")``.
"""

from __future__ import annotations

import logging

from cmsdials.auth._refreshing import RefreshingCredentials
from cmsdials.auth.base import BaseCredentials  # noqa: F401 - the 2.x re-export
from cmsdials.auth.client import AuthClient
from cmsdials.auth.models import ApiToken

__all__ = ["Credentials"]

log = logging.getLogger("cmsdials.auth")


class Credentials(RefreshingCredentials[ApiToken]):
    """Client-credentials sign-in of an application.

    The first token is requested at once, so a wrong id or secret fails here
    (:class:`~cmsdials.auth.exceptions.InvalidClientError`) rather than on the first
    request.

    Parameters
    ----------
    client_id, client_secret:
        The application's Keycloak client.
    client:
        The :class:`AuthClient` of the realm (default: production).
    """

    def __init__(
        self, client_id: str, client_secret: str, client: AuthClient | None = None
    ) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        super().__init__()
        self.client = client if client is not None else AuthClient()
        self.client_id = client_id
        self._client_secret = client_secret
        self._token = self.client.api_access_token(client_id, client_secret)

    def _renew(self, token: ApiToken, *, background: bool) -> ApiToken:
        new = self.client.api_access_token(self.client_id, self._client_secret)
        log.info("renewed the DIALS token of client %s", self.client_id)
        return new

    def refresh(self) -> None:
        """Get a new token now (it is otherwise renewed as it expires)."""
        with self._refresh_lock:
            self._token = self._renew(self._token, background=False)

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret=<hidden>)"
