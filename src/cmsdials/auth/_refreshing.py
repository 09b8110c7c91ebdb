"""Credentials whose token expires: when and how it is renewed, thread-safely.

The life of a token (CONTRACT §3.5)::

    FRESH ──(last tenth of its life)──> STALE ──(expires_at)──> EXPIRED
                                                   └─(refresh token expired too)─> INVALID

* STALE: the first request that notices starts **one** background refresh and goes on
  with the current token, as do all requests until the new token arrives.
* EXPIRED / INVALID: the request waits for a refresh.  However many threads notice at
  once, one refreshes and the others wait for it and use its token.

A token object is replaced, never modified, so "is it still the token I saw?" is an
identity check; that is what keeps two threads from refreshing the same token twice.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from cmsdials.auth.base import BaseCredentials, TokenState
from cmsdials.auth.models import ApiToken, Token, utcnow

__all__ = ["RefreshingCredentials", "token_state"]

log = logging.getLogger("cmsdials.auth")

#: The last fraction of a token's life in which it is refreshed in the background.
STALE_FRACTION = 0.1

T = TypeVar("T", Token, ApiToken)


#: A token counts as expired this long before its expiry, so that a request sent with it
#: still arrives in time: a fraction of its life, at most MAX_TRAVEL_MARGIN seconds.
TRAVEL_MARGIN_FRACTION = 0.05
MAX_TRAVEL_MARGIN = 5.0


def token_state(token: Token | ApiToken, now: datetime | None = None) -> TokenState:
    """Where ``token`` is in its life at ``now`` (default: now)."""
    now = now or utcnow()
    margin = min(MAX_TRAVEL_MARGIN, TRAVEL_MARGIN_FRACTION * token.expires_in)
    if now >= token.expires_at - timedelta(seconds=margin):
        refresh_at = token.refresh_expires_at if isinstance(token, Token) else None
        if refresh_at is not None and now >= refresh_at:
            return TokenState.INVALID
        return TokenState.EXPIRED
    if now >= token.expires_at - timedelta(seconds=STALE_FRACTION * token.expires_in):
        return TokenState.STALE
    return TokenState.FRESH


def authorization(token: Token | ApiToken) -> str:
    """The ``Authorization`` header value.

    DIALS strips only the literal prefix ``"Bearer "`` (CONTRACT §3.3), so a provider's
    lowercase ``token_type: "bearer"`` must still be sent capitalised.
    """
    kind = "Bearer" if token.token_type.lower() == "bearer" else token.token_type
    return f"{kind} {token.access_token}"


class RefreshingCredentials(BaseCredentials, Generic[T]):
    """Base of credentials holding a token of type ``T`` that they renew themselves.

    Subclasses set ``self._token`` and implement :meth:`_renew`.
    """

    _token: T

    def __init__(self) -> None:
        # One refresh at a time; re-entrant so that _renew may call back into the class.
        self._refresh_lock = threading.RLock()
        # Guards _background_for, the token whose background refresh was started.
        self._guard = threading.Lock()
        self._background_for: T | None = None

    # -- pickling (a Dask task or a process pool carries the credentials to workers) -------

    def __getstate__(self) -> dict[str, Any]:
        # Locks do not pickle and belong to this process: the copy gets fresh ones.
        state = dict(self.__dict__)
        for name in ("_refresh_lock", "_guard", "_background_for"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        RefreshingCredentials.__init__(self)

    # -- state ---------------------------------------------------------------------------

    @property
    def token_state(self) -> TokenState:
        """:class:`~cmsdials.auth.base.TokenState` of the current token."""
        return token_state(self._token)

    # stale / expired / refresh_expired follow token_state (BaseCredentials).

    @property
    def token(self) -> str:
        """The current access token (never shown by ``repr``)."""
        return self._token.access_token

    @property
    def expires_at(self) -> datetime:
        """When the current access token expires (UTC)."""
        return self._token.expires_at

    # -- the transport's hooks -----------------------------------------------------------

    def apply(self, headers: dict[str, str]) -> None:
        """Set ``Authorization: Bearer <access token>`` (whatever the token's state)."""
        headers["Authorization"] = authorization(self._token)

    def before_request(self, headers: dict[str, str]) -> None:
        """Refresh as the token's state requires, then set the header."""
        token = self._token
        state = token_state(token)
        if state is TokenState.STALE:
            self._refresh_in_background(token)
        elif state is not TokenState.FRESH:
            token = self._refresh_blocking(token)
        headers["Authorization"] = authorization(token)

    # -- refreshing ----------------------------------------------------------------------

    @abstractmethod
    def _renew(self, token: T, *, background: bool) -> T:
        """A new token to replace ``token``; called with the refresh lock held.

        ``background`` is true in the background refresh of a stale token: no prompt
        may be shown then (the current token still works; a failure is only logged).
        """

    def _refresh_blocking(self, seen: T) -> T:
        """Replace the expired token ``seen`` and return the new one: refresh it, unless
        another thread did while this one waited for the lock."""
        with self._refresh_lock:
            current = self._token
            if current is not seen and token_state(current) in (
                TokenState.FRESH,
                TokenState.STALE,
            ):
                return current
            self._token = self._renew(current, background=False)
            return self._token

    def _refresh_in_background(self, seen: T) -> None:
        with self._guard:
            if self._token is not seen or self._background_for is seen:
                return  # already replaced, or its refresh already started (or failed)
            self._background_for = seen
        thread = threading.Thread(
            target=self._background_refresh,
            args=(seen,),
            name="cmsdials-token-refresh",
            daemon=True,  # never keeps the interpreter alive
        )
        thread.start()

    def _background_refresh(self, seen: T) -> None:
        try:
            with self._refresh_lock:
                if self._token is not seen:
                    return
                self._token = self._renew(seen, background=True)
        except Exception as exc:  # the token still works: log, retry when it expires
            log.warning(
                "background refresh of the DIALS token failed (%s: %s); "
                "it is retried when the token expires",
                type(exc).__name__,
                exc,
            )
