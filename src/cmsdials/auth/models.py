"""What the sign-in endpoints answer, and the token the credentials keep.

Times are timezone-aware UTC datetimes.  Secrets (``access_token``, ``refresh_token``,
``device_code``) are left out of ``repr`` so that printing a token in a notebook does not
leak it; they are still in :meth:`~pydantic.BaseModel.model_dump`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

if TYPE_CHECKING:
    from cmsdials.auth.client import AuthClient

__all__ = ["ApiToken", "Device", "DeviceToken", "RefreshToken", "Token", "aware", "utcnow"]

#: A refresh token that never expires (Keycloak's ``refresh_expires_in: 0``, offline tokens).
NEVER = datetime(9999, 1, 1, tzinfo=timezone.utc)

#: How much earlier than ``now + expires_in`` the ``exp`` claim of a JWT may be and still be
#: believed.  Servers write ``exp`` in whole seconds (so it can be up to a second before the
#: client's estimate); a larger gap means the two clocks disagree, and then the local clock
#: wins, or a client whose clock runs ahead would refresh before every request.
_EXP_CLAIM_TOLERANCE = timedelta(seconds=5)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class _Answer(BaseModel):
    # Servers add fields over time (Keycloak's session_state, scope, ...): ignore them.
    model_config = ConfigDict(extra="ignore")


class Device(_Answer):
    """A started device sign-in: show ``verification_uri_complete`` to the person."""

    device_code: str = Field(repr=False)
    verification_uri_complete: str
    #: Seconds until the request expires.
    expires_in: int
    user_code: str | None = None
    verification_uri: str | None = None
    #: Seconds between polls, when the server says (Keycloak does, DIALS' routes do not).
    interval: float | None = None


class DeviceToken(_Answer):
    """Tokens issued for an approved device (and by a refresh: :class:`RefreshToken`)."""

    access_token: str = Field(repr=False)
    expires_in: int
    refresh_expires_in: int
    refresh_token: str = Field(repr=False)
    token_type: str = "Bearer"


class RefreshToken(DeviceToken):
    """Tokens issued in exchange for a refresh token."""


class _ExchangedToken(_Answer):
    """A Keycloak token-exchange or client-credentials answer (no refresh token)."""

    access_token: str = Field(repr=False)
    expires_in: int
    token_type: str = "Bearer"


class Token(DeviceToken):
    """A person's tokens with their absolute expiry times (what the cache stores).

    A :class:`DeviceToken` (as in 2.x) with the expiry times added.
    """

    access_token: str = Field(repr=False)
    expires_in: int
    refresh_expires_in: int
    refresh_token: str = Field(repr=False)
    token_type: str = "Bearer"
    #: When the access token stops being accepted.
    expires_at: datetime
    #: When the refresh token stops being accepted.
    refresh_expires_at: datetime
    # The AuthClient that issued the token (not cached): credentials made from the token
    # without a `client=` refresh against, and cache under, the server that issued it.
    _issuer: Any = PrivateAttr(default=None)

    @property
    def issuer(self) -> AuthClient | None:
        """The :class:`~cmsdials.auth.client.AuthClient` that issued this token, if known."""
        issuer: AuthClient | None = self._issuer
        return issuer

    @field_validator("expires_at", "refresh_expires_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return aware(value)

    @classmethod
    def issued(
        cls, answer: DeviceToken, requested_at: datetime, issuer: AuthClient | None = None
    ) -> Token:
        """The token of ``answer``, to a request sent at ``requested_at`` by ``issuer``.

        Expiry is counted from when the request was *sent*, not received: the server
        issued the token after that, so the estimate errs on the early side.
        """
        refresh_at = (
            requested_at + timedelta(seconds=answer.refresh_expires_in)
            if answer.refresh_expires_in > 0
            else NEVER
        )
        token = cls(
            access_token=answer.access_token,
            expires_in=answer.expires_in,
            refresh_expires_in=answer.refresh_expires_in,
            refresh_token=answer.refresh_token,
            token_type=answer.token_type,
            expires_at=expiry(answer.access_token, answer.expires_in, requested_at),
            refresh_expires_at=refresh_at,
        )
        token._issuer = issuer
        return token


class ApiToken(_Answer):
    """An application's token from client credentials (no refresh token)."""

    access_token: str = Field(repr=False)
    expires_in: int
    token_type: str = "Bearer"
    expires_at: datetime

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return aware(value)

    @classmethod
    def issued(cls, answer: _ExchangedToken, requested_at: datetime) -> ApiToken:
        """The token of ``answer``, to a request sent at ``requested_at``."""
        return cls(
            access_token=answer.access_token,
            expires_in=answer.expires_in,
            token_type=answer.token_type,
            expires_at=expiry(answer.access_token, answer.expires_in, requested_at),
        )


def aware(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is taken as local time (the 2.x
    client cached ``datetime.now()`` values)."""
    if value.tzinfo is None:
        value = value.astimezone()  # naive = local time
    return value.astimezone(timezone.utc)


def expiry(access_token: str, expires_in: int, requested_at: datetime) -> datetime:
    """When ``access_token`` expires: ``requested_at + expires_in``, or the token's own
    ``exp`` claim when that is (a little) earlier.

    The claim matters for short-lived tokens: a server that issues a 3 s token at
    ``12.9`` s writes ``exp = 15``, while ``requested_at + expires_in`` says ``15.9``.
    The token is only read, never verified: the server does that.
    """
    estimate = requested_at + timedelta(seconds=expires_in)
    claim = _exp_claim(access_token)
    if claim is not None and estimate - _EXP_CLAIM_TOLERANCE <= claim < estimate:
        return claim
    return estimate


def _exp_claim(access_token: str) -> datetime | None:
    """The ``exp`` claim of a JWT, or ``None`` for anything else (tokens may be opaque)."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
        exp = claims["exp"] if isinstance(claims, dict) else None
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            return None
        return datetime.fromtimestamp(exp, timezone.utc)
    except (binascii.Error, ValueError, OverflowError, OSError, KeyError, orjson.JSONDecodeError):
        return None
