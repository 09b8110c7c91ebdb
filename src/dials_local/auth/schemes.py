"""Credential schemes, tried in order (CONTRACT §3.1): the first that yields an identity
wins, a scheme that does not apply returns ``None``, a scheme that rejects the request
raises :class:`~dials_local.auth.identity.AuthError`.

The schemes: API-client secret keys, then Bearer JWTs (checked by
:class:`dials_local.auth.tokens.TokenService` in the order of CONTRACT §3.3).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Protocol

import orjson

from dials_local.auth.api_clients import ApiClientStore
from dials_local.auth.identity import (
    AUTHORIZATION_NOT_FOUND,
    TOKEN_NOT_VALID,
    UNEXPECTED_TOKEN_ERROR,
    AuthError,
    Identity,
    header,
)

SECRET_HEADER = "X-CLIENT-SECRET"
AUTHORIZATION_HEADER = "Authorization"


class AuthScheme(Protocol):
    """One way of presenting credentials."""

    name: str

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        """The caller's identity, ``None`` if the scheme does not apply, or raise
        :class:`AuthError`."""
        ...


class SecretKeyScheme:
    """``X-CLIENT-SECRET: <secret>`` (CONTRACT §3.2); skipped when the header is absent.

    Such callers have no roles, so they are routed to the default workspace.
    """

    name = "secret_key"

    def __init__(self, store: ApiClientStore) -> None:
        self._store = store

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        secret = header(headers, SECRET_HEADER)
        if not secret:  # absent or empty: let the next scheme answer
            return None
        client = self._store.lookup(secret)
        if client is None:
            raise AuthError(*TOKEN_NOT_VALID)
        return Identity(name=client.name, roles=(), scheme=self.name)


def bearer_token(value: str) -> str:
    """The token of an ``Authorization`` value: the text after the last ``"Bearer "``
    (so a value without the prefix is taken whole, CONTRACT §3.3 step 2)."""
    return value.split("Bearer ")[-1]


def unverified_claims(token: str) -> dict[str, object] | None:
    """The payload of a compact JWS/JWE-shaped token without checking anything, or
    ``None`` if the value is not a 3- or 5-part token with a JSON object payload."""
    parts = token.split(".")
    if len(parts) not in (3, 5):
        return None
    payload = parts[1]
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = orjson.loads(decoded)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


class BearerScheme:
    """``Authorization: Bearer <JWT>`` (CONTRACT §3.3); the last scheme, so it answers
    for requests that carry no credential at all.

    ``verify`` maps a token to the caller's identity or raises :class:`AuthError`; the
    server passes :meth:`dials_local.auth.tokens.TokenService.identity`.  Without it
    (tests of the scheme list) every well-formed token is refused as a token for another
    audience.
    """

    name = "bearer"

    def __init__(self, verify: Callable[[str], Identity] | None = None) -> None:
        self._verify = verify

    def __repr__(self) -> str:
        return f"<BearerScheme verifying={self._verify is not None}>"

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        value = header(headers, AUTHORIZATION_HEADER)
        if value is None:
            raise AuthError(*AUTHORIZATION_NOT_FOUND)
        token = bearer_token(value)
        if unverified_claims(token) is None:
            raise AuthError(*TOKEN_NOT_VALID)
        if self._verify is None:
            raise AuthError(*UNEXPECTED_TOKEN_ERROR)
        return self._verify(token)
