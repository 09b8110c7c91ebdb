"""RS256 JWTs: issuing access and refresh tokens, checking Bearer tokens (CONTRACT §3.3, §3.7).

Access tokens carry the claims of a Keycloak access token for the DIALS audience: ``iss``
(``<base_url>auth/realms/<realm>``), ``sub``, ``aud`` (a plain string), ``azp``, ``typ``
``"Bearer"``, ``iat``, ``nbf``, ``exp``, ``jti``, ``sid``/``session_state``,
``preferred_username``, ``cern_roles`` and ``resource_access``.  Refresh tokens are JWTs
too (``typ`` ``"Refresh"``, ``aud`` = the issuer, as Keycloak's), and each is recorded in
the service table ``local_refresh_tokens`` so that it can be used once: redeeming one
marks it used and issues a successor (rotation); presenting a used one again revokes the
whole sign-in session (a stolen token and its legitimate twin cannot both go on).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import Engine, delete, select, update
from typing_extensions import TypeGuard

from dials_local.auth.identity import (
    ACCESS_TOKEN_EXPIRED,
    ACCESS_TOKEN_NOT_YET_VALID,
    INVALID_JWS_SIGNATURE,
    TOKEN_NOT_VALID,
    UNEXPECTED_TOKEN_ERROR,
    AuthError,
    Identity,
    OAuthError,
)
from dials_local.auth.keys import SigningKey
from dials_local.auth.schemes import unverified_claims
from dials_local.db.schema import refresh_tokens
from dials_local.settings import AuthSettings

Clock = Callable[[], float]

ACCESS_TYPE = "Bearer"
REFRESH_TYPE = "Refresh"
DEFAULT_SCOPE = "profile email"

#: Namespace of the stable ``sub`` of local users (Keycloak subjects are UUIDs too).
_SUBJECT_NAMESPACE = uuid.UUID("5a0f3f7e-6b1c-4c55-9a64-0d1a1c0de5a1")


def _is_number(value: object) -> TypeGuard[int | float]:
    """Whether a time claim is a number (JSON ``true`` is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def subject_id(name: str) -> str:
    """The ``sub`` claim of user ``name``: a UUID that never changes for that name."""
    return str(uuid.uuid5(_SUBJECT_NAMESPACE, name))


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for: a person, or an API client's service account."""

    name: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Session:
    """One sign-in: the client that obtained it and the session id its tokens share."""

    client_id: str
    session_id: str
    scope: str = DEFAULT_SCOPE


@dataclass(frozen=True)
class RedeemedRefresh:
    """What a valid refresh token stood for (its successor is issued by the caller)."""

    user_name: str
    session: Session


class TokenService:
    """Signs and checks the tokens of one dials-local server."""

    def __init__(
        self,
        key: SigningKey,
        settings: AuthSettings,
        engine: Engine,
        clock: Clock = time.time,
    ) -> None:
        self.key = key
        self.settings = settings
        self._engine = engine
        self._clock = clock

    def __repr__(self) -> str:
        return f"<TokenService kid={self.key.kid} audience={self.settings.audience!r}>"

    # -- issuing ---------------------------------------------------------------------

    def issuer(self, base_url: str) -> str:
        """``iss`` of tokens issued to a request on ``base_url`` (ends with ``/``)."""
        return f"{base_url}auth/realms/{self.settings.realm}"

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.key.private_key, algorithm="RS256", headers={"kid": self.key.kid}
        )

    def access_token(
        self,
        principal: Principal,
        session: Session,
        *,
        base_url: str,
        audience: str | None = None,
    ) -> str:
        """A signed access token for ``principal`` (``aud`` = the DIALS audience unless
        another is given, e.g. the public client's own tokens before the exchange)."""
        now = int(self._clock())
        aud = audience or self.settings.audience
        claims: dict[str, Any] = {
            "exp": now + self.settings.access_ttl,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            "iss": self.issuer(base_url),
            "aud": aud,
            "sub": subject_id(principal.name),
            "typ": ACCESS_TYPE,
            "azp": session.client_id,
            "sid": session.session_id,
            "session_state": session.session_id,
            "scope": session.scope,
            "preferred_username": principal.name,
            "resource_access": {aud: {"roles": ["default-roles"]}},
        }
        if principal.roles:
            # Service accounts carry no cern_roles (CONTRACT §3.2: default workspace).
            claims["cern_roles"] = list(principal.roles)
        return self._sign(claims)

    def refresh_token(self, user_name: str, session: Session, *, base_url: str) -> str:
        """A signed refresh token, recorded as active in the service table."""
        now = self._clock()
        jti = uuid.uuid4().hex
        expires_at = int(now) + self.settings.refresh_ttl
        issuer = self.issuer(base_url)
        token = self._sign(
            {
                "exp": expires_at,
                "iat": int(now),
                "jti": jti,
                "iss": issuer,
                "aud": issuer,
                "sub": subject_id(user_name),
                "typ": REFRESH_TYPE,
                "azp": session.client_id,
                "sid": session.session_id,
                "session_state": session.session_id,
                "scope": session.scope,
            }
        )
        with self._engine.begin() as conn:
            # Rows long past their expiry are useless; drop them as we go.
            conn.execute(delete(refresh_tokens).where(refresh_tokens.c.expires_at < now - 86400))
            conn.execute(
                refresh_tokens.insert().values(
                    jti=jti,
                    user_name=user_name,
                    client_id=session.client_id,
                    session_id=session.session_id,
                    expires_at=expires_at,
                    state="active",
                    created_at=now,
                )
            )
        return token

    def grant(
        self, principal: Principal, session: Session, *, base_url: str, audience: str | None = None
    ) -> dict[str, Any]:
        """The seven fields of a successful device-token or refresh answer (CONTRACT §3.5),
        with a new refresh token."""
        return {
            "access_token": self.access_token(
                principal, session, base_url=base_url, audience=audience
            ),
            "expires_in": self.settings.access_ttl,
            "refresh_expires_in": self.settings.refresh_ttl,
            "refresh_token": self.refresh_token(principal.name, session, base_url=base_url),
            "token_type": "Bearer",
            "session_state": session.session_id,
            "scope": session.scope,
        }

    # -- reading tokens this server signed ------------------------------------------

    def decode_own(self, token: str, *, require: Sequence[str] = ("exp",)) -> dict[str, Any]:
        """The claims of a token signed with this server's key, any audience, with ``exp``
        and ``nbf`` checked as PyJWT checks them (with the leeway), but against the
        server's clock: PyJWT reads the real time, which the test clock does not move.

        Raises :class:`jwt.ExpiredSignatureError` for an expired token, another
        :class:`jwt.PyJWTError` for anything else wrong with it.
        """
        claims: dict[str, Any] = jwt.decode(
            token,
            self.key.public_key,
            algorithms=["RS256"],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": list(require),
            },
        )
        now, leeway = self._clock(), self.settings.leeway
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if exp is not None:
            if not _is_number(exp):
                raise jwt.DecodeError("Expiration Time claim (exp) must be an integer.")
            if exp <= now - leeway:
                raise jwt.ExpiredSignatureError("Signature has expired")
        if nbf is not None:
            if not _is_number(nbf):
                raise jwt.DecodeError("Not Before claim (nbf) must be an integer.")
            if nbf > now + leeway:
                raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
        return claims

    # -- refresh tokens --------------------------------------------------------------

    def redeem_refresh(self, token: str, *, client_id: str) -> RedeemedRefresh:
        """Use up a refresh token issued to ``client_id``, or :class:`OAuthError`
        ``invalid_grant`` (invalid, expired, used, revoked, or another client's)."""
        try:
            claims = self.decode_own(token, require=("exp", "jti"))
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "Token is not active") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "Invalid refresh token") from None
        if claims.get("typ") != REFRESH_TYPE:
            raise OAuthError("invalid_grant", "Invalid refresh token")
        with self._engine.begin() as conn:
            row = conn.execute(
                select(refresh_tokens).where(refresh_tokens.c.jti == str(claims["jti"]))
            ).first()
            if row is None:
                raise OAuthError("invalid_grant", "Invalid refresh token")
            if row.client_id != client_id:
                raise OAuthError(
                    "invalid_grant",
                    "Invalid refresh token. Token client and authorized client don't match",
                )
            if row.state == "revoked":
                raise OAuthError("invalid_grant", "Session not active")
            used = conn.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.jti == row.jti, refresh_tokens.c.state == "active")
                .values(state="used")
            ).rowcount
        if row.state == "used" or used != 1:
            # Presented twice: one of the two holders is not the user. Stop them both.
            self.revoke_session(row.session_id)
            raise OAuthError("invalid_grant", "Maximum allowed refresh token reuse exceeded")
        return RedeemedRefresh(
            user_name=row.user_name,
            session=Session(
                client_id=row.client_id,
                session_id=row.session_id,
                scope=str(claims.get("scope") or DEFAULT_SCOPE),
            ),
        )

    def revoke_session(self, session_id: str) -> None:
        """Refuse every refresh token of a sign-in session from now on."""
        with self._engine.begin() as conn:
            conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.session_id == session_id, refresh_tokens.c.state == "active"
                )
                .values(state="revoked")
            )

    # -- access tokens ---------------------------------------------------------------

    def verify_access(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """The claims of a valid access token, checked in the order of CONTRACT §3.3;
        every failure is an :class:`AuthError` with the contract's body."""
        claims = unverified_claims(token)
        if claims is None:
            raise AuthError(*TOKEN_NOT_VALID)
        expected = audience or self.settings.audience
        aud = claims.get("aud")
        # A list-valued aud fails even if it names us, as in DIALS.
        if not isinstance(aud, str) or aud != expected or token.count(".") != 2:
            raise AuthError(*UNEXPECTED_TOKEN_ERROR)
        try:
            verified = jwt.decode(
                token,
                self.key.public_key,
                algorithms=["RS256"],
                audience=expected,
                # exp and nbf are checked below, in jwcrypto's order and with our leeway;
                # iat is not checked by DIALS.
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            raise AuthError(*INVALID_JWS_SIGNATURE) from None
        except jwt.PyJWTError:
            raise AuthError(*UNEXPECTED_TOKEN_ERROR) from None
        now = self._clock()
        leeway = self.settings.leeway
        exp, nbf = verified.get("exp"), verified.get("nbf")
        if not _is_number(exp):
            raise AuthError(*UNEXPECTED_TOKEN_ERROR)  # a token that never expires: no
        if exp < now - leeway:
            raise AuthError(*ACCESS_TOKEN_EXPIRED)
        if nbf is not None:
            if not _is_number(nbf):
                raise AuthError(*UNEXPECTED_TOKEN_ERROR)
            if nbf > now + leeway:
                raise AuthError(*ACCESS_TOKEN_NOT_YET_VALID)
        if verified.get("typ", ACCESS_TYPE) != ACCESS_TYPE:
            raise AuthError(*UNEXPECTED_TOKEN_ERROR)
        return verified

    def identity(self, token: str) -> Identity:
        """The caller a valid DIALS access token speaks for (roles = ``cern_roles``)."""
        claims = self.verify_access(token)
        roles = claims.get("cern_roles")
        held = tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else ()
        name = claims.get("preferred_username") or claims.get("sub") or ""
        return Identity(name=str(name), roles=held, scheme="bearer")
