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
