"""API-client secret keys (the ``X-CLIENT-SECRET`` header, CONTRACT §3.2).

::

    from cmsdials.auth.secret_key import Credentials
    creds = Credentials(token="...")

Any API client whose secret is registered in DIALS works.  The server cannot tell users
apart with it, so use it for automation and the device flow for people.
"""

from __future__ import annotations

from cmsdials.auth.base import BaseCredentials

__all__ = ["Credentials"]

#: Header that carries the secret (read case-insensitively by the server).
HEADER = "X-CLIENT-SECRET"


class Credentials(BaseCredentials):
    """A DIALS API-client secret key.

    Parameters
    ----------
    token:
        The secret.  An empty or missing secret is refused here rather than turning into
        a 403 on the first request.
    """

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token must be a non-empty client secret key string")
        self._token = token

    @property
    def token(self) -> str:
        """The secret itself (never shown by ``repr``)."""
        return self._token

    def apply(self, headers: dict[str, str]) -> None:
        """Set ``X-CLIENT-SECRET``."""
        headers[HEADER] = self._token

    def __repr__(self) -> str:
        return "Credentials(token=<hidden>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and other._token == self._token

    def __hash__(self) -> int:
        return hash((Credentials, self._token))
