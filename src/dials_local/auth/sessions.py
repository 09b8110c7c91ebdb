"""Browser sessions of the approval page: an HMAC-signed cookie and the CSRF tokens tied to it.

The cookie holds a random nonce, the signed-in user's name (or nothing) and an expiry,
signed with a key derived from the server's signing key, so the server keeps no session
table.  Every form carries ``csrf_token`` = HMAC(nonce): a page on another site can make
the browser send the cookie (``SameSite=Lax`` already stops cross-site POSTs in current
browsers) but cannot read the page to learn the token.  Signing in replaces the nonce, so
a nonce planted before sign-in (session fixation) is worthless afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

COOKIE_NAME = "dials_local_session"
COOKIE_PATH = "/device"
#: How long a browser stays signed in on the approval page.
SESSION_TTL = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class BrowserSession:
    """One browser's state: anonymous (``user is None``) or signed in."""

    nonce: str
    user: str | None
    expires_at: int

    def __repr__(self) -> str:  # the nonce is what the CSRF token is derived from
        return f"<BrowserSession user={self.user!r}>"


class SessionCodec:
    """Creates, signs and checks :class:`BrowserSession` cookies and CSRF tokens."""

    def __init__(
        self, secret: bytes, ttl: int = SESSION_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self.ttl = ttl
        self._clock = clock

    def __repr__(self) -> str:
        return f"<SessionCodec ttl={self.ttl}>"

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._secret, purpose + b"\0" + data, hashlib.sha256).digest()

    def new(self, user: str | None = None) -> BrowserSession:
        """A fresh session (new nonce), signed in as ``user`` if given."""
        return BrowserSession(
            nonce=secrets.token_urlsafe(16),
            user=user,
            expires_at=int(self._clock()) + self.ttl,
        )

    def encode(self, session: BrowserSession) -> str:
        """The cookie value."""
        payload = orjson.dumps([session.nonce, session.user, session.expires_at])
        return f"{_b64(payload)}.{_b64(self._mac(b'session', payload))}"

    def decode(self, value: str | None) -> BrowserSession | None:
        """The session in a cookie value, or ``None`` if absent, forged or expired."""
        if not value or value.count(".") != 1:
            return None
        encoded, mac = value.split(".")
        try:
            payload = _unb64(encoded)
            if not hmac.compare_digest(_unb64(mac), self._mac(b"session", payload)):
                return None
            nonce, user, expires_at = orjson.loads(payload)
        except (ValueError, TypeError):
            return None
        if not isinstance(nonce, str) or not isinstance(expires_at, int):
            return None
        if expires_at <= self._clock():
            return None
        return BrowserSession(
            nonce=nonce, user=user if isinstance(user, str) else None, expires_at=expires_at
        )

    def csrf_token(self, session: BrowserSession) -> str:
        """The token the forms of ``session``'s pages carry."""
        return _b64(self._mac(b"csrf", session.nonce.encode()))

    def check_csrf(self, session: BrowserSession | None, token: str | None) -> bool:
        """Whether a submitted form's token belongs to the browser's session."""
        if session is None or not token:
            return False
        return hmac.compare_digest(token.encode(), self.csrf_token(session).encode())
