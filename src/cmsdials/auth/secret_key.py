"""API-client secret keys (the ``X-CLIENT-SECRET`` header, CONTRACT §3.2).

::

    from cmsdials.auth.secret_key import Credentials
    creds = Credentials(token="...")

Any API client whose secret is registered in DIALS works.  The server cannot tell users
apart with it, so use it for automation and the device flow for people.

With ``client_id`` the secret is a Keycloak client secret instead, and the credentials
sign in with client credentials (the same as
:class:`cmsdials.auth.client_credentials.Credentials`).
"""

from __future__ import annotations

from cmsdials.auth import client_credentials
from cmsdials.auth.base import BaseCredentials, TokenState
from cmsdials.auth.client import AuthClient

# 2.x exported the client-credentials class from here under this name.
from cmsdials.auth.client_credentials import Credentials as ClientCredentials

__all__ = ["ClientCredentials", "Credentials"]

#: Header that carries the secret (read case-insensitively by the server).
HEADER = "X-CLIENT-SECRET"


class Credentials(BaseCredentials):
    """A DIALS API-client secret key.

    Parameters
    ----------
    token:
        The secret.  An empty or missing secret is refused here rather than turning into
        a 403 on the first request.
    client_id:
        If given, ``token`` is this Keycloak client's secret: sign in with client
        credentials and send a Bearer token instead of ``X-CLIENT-SECRET``.
    client:
        The :class:`AuthClient` for client credentials (default: production).
    """

    def __init__(
        self, token: str, client_id: str | None = None, client: AuthClient | None = None
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token must be a non-empty client secret key string")
        self._token = token
        self.client_id = client_id
        self._delegate = (
            client_credentials.Credentials(client_id, token, client)
            if client_id is not None
            else None
        )

    @property
    def token(self) -> str:
        """The secret itself (never shown by ``repr``)."""
        return self._token

    @property
    def token_state(self) -> TokenState:
        """Always fresh for a secret key (it does not expire).

        ``stale``, ``expired`` and ``refresh_expired`` follow from it: all ``False`` for a
        secret key, those of the Bearer token in client-credentials mode.
        """
        return self._delegate.token_state if self._delegate is not None else TokenState.FRESH

    def refresh(self) -> None:
        """Renew the client-credentials token now; nothing to do for a secret key."""
        if self._delegate is not None:
            self._delegate.refresh()

    def apply(self, headers: dict[str, str]) -> None:
        """Set ``X-CLIENT-SECRET`` (or the Bearer token in client-credentials mode)."""
        if self._delegate is not None:
            self._delegate.apply(headers)
        else:
            headers[HEADER] = self._token

    def before_request(self, headers: dict[str, str]) -> None:
        """Apply the secret (renewing the client-credentials token when due)."""
        if self._delegate is not None:
            self._delegate.before_request(headers)
        else:
            headers[HEADER] = self._token

    def __repr__(self) -> str:
        if self.client_id is not None:
            return f"Credentials(token=<hidden>, client_id={self.client_id!r})"
        return "Credentials(token=<hidden>)"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Credentials)
            and other._token == self._token
            and other.client_id == self.client_id
        )

    def __hash__(self) -> int:
        return hash((Credentials, self._token, self.client_id))
