"""The interface between credentials and the transport.

The transport knows nothing about how a credential works: before every HTTP attempt
(retries included) it calls :meth:`BaseCredentials.before_request` with the headers it is
about to send.  A static secret just adds its header there; a token credential can first
refresh an expired token, which is why the hook runs per attempt and not once per
:class:`~cmsdials.Dials`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum

__all__ = ["BaseCredentials", "TokenState"]


class BaseCredentials(ABC):
    """Base class of every DIALS credential.

    Subclasses implement :meth:`apply`; those whose secret can expire also override
    :meth:`before_request` (refresh first, then apply).  Implementations must keep
    secrets out of ``repr``/``str``: objects get printed in notebooks and logs.
    """

    @abstractmethod
    def apply(self, headers: dict[str, str]) -> None:
        """Add the authentication header(s) to ``headers`` (in place)."""

    def before_request(self, headers: dict[str, str]) -> None:
        """Called by the transport before each request attempt; applies the credential.

        Override to refresh a token that is about to expire before applying it.
        """
        self.apply(headers)

    # The token-state interface of the 2.x credentials.  These defaults describe a
    # credential that never expires (a secret key); token credentials override them.

    @property
    def token_state(self) -> TokenState:
        """Where the credential is in its life; always fresh unless it can expire."""
        return TokenState.FRESH

    @property
    def stale(self) -> bool:
        """True in the last part of the token's life (renewed in the background)."""
        return self.token_state is TokenState.STALE

    @property
    def expired(self) -> bool:
        """True once the token is no longer accepted."""
        return self.token_state in (TokenState.EXPIRED, TokenState.INVALID)

    @property
    def refresh_expired(self) -> bool:
        """True once the token can no longer be renewed (someone must sign in again)."""
        return self.token_state is TokenState.INVALID

    def refresh(self) -> None:  # noqa: B027 - a default, not a hook to implement
        """Renew the token now; nothing to do for a credential that never expires."""

    def headers(self) -> dict[str, str]:
        """The authentication headers as a new dict (convenience for other HTTP clients)."""
        headers: dict[str, str] = {}
        self.before_request(headers)
        return headers

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__}>"


class TokenState(Enum):
    """Where a token is in its life (CONTRACT §3.5)."""

    #: Good for a while.
    FRESH = 1
    #: In the last tenth of its life: refreshed in the background, still used meanwhile.
    STALE = 2
    #: Past its expiry: refreshed before the next request.
    EXPIRED = 3
    #: Expired, and so is the refresh token: someone must sign in again.
    INVALID = 4
