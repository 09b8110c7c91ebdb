"""Everything about signing in, as one object the routes share (``app.state.auth``).

:class:`AuthService` holds the signing key, the token service and the stores of users,
device grants and API clients, and implements the grants both sets of routes offer:

* DIALS' own ``auth/*`` routes (CONTRACT §3.5, for cmsdials 1.5): device flow and refresh,
  tokens issued directly for the DIALS audience;
* the Keycloak endpoints (§3.6, for cmsdials 2.4): device flow and refresh for the public
  client, token exchange to the DIALS audience, client credentials for API clients.

It also holds what bounds unauthenticated work (:mod:`dials_local.auth.throttle`): the
sign-in throttle, the password-hash pool, and the per-address limit of device grants; and
the server's clock (:class:`~dials_local.clock.ServerClock`), which every one of them
reads, so that the test clock moves every expiry at once.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from starlette.concurrency import run_in_threadpool

from dials_local.auth.api_clients import ApiClientStore
from dials_local.auth.devices import DeviceGrant, DeviceStart, DeviceStore
from dials_local.auth.identity import OAuthError
from dials_local.auth.keys import SigningKey, load_signing_key
from dials_local.auth.sessions import SessionCodec
from dials_local.auth.throttle import HashPool, SignInThrottle, Throttled
from dials_local.auth.tokens import DEFAULT_SCOPE, Principal, Session, TokenService
from dials_local.auth.users import User, UserStore, check_password
from dials_local.clock import ServerClock
from dials_local.db.engines import Database
from dials_local.settings import AuthSettings

#: Prefix of the user name of an API client's tokens (Keycloak's service accounts).
SERVICE_ACCOUNT_PREFIX = "service-account-"


def invalid_client() -> OAuthError:
    """Keycloak's answer to an unknown client or a wrong client secret (401)."""
    return OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)


class AuthService:
    """The signing key, stores and grants of one dials-local server."""

    def __init__(
        self,
        database: Database,
        settings: AuthSettings,
        key: SigningKey | None = None,
        clock: ServerClock | None = None,
    ) -> None:
        engine = database.service_engine()
        self.settings = settings
        self.clock = clock or ServerClock()
        self.key = key or load_signing_key(
            key_file=settings.key_file, data_dir=database.data_dir, service_engine=engine
        )
        self.tokens = TokenService(self.key, settings, engine, clock=self.clock.time)
        self.devices = DeviceStore(
            engine, self.clock.time, per_address=settings.device_grants_per_address
        )
        self.throttle = SignInThrottle(
            user_limit=settings.login_max_failures,
            address_limit=settings.login_max_failures_per_address,
            window=settings.login_window,
            lockout=settings.login_lockout,
            clock=self.clock.monotonic,
        )
        self.hashes = HashPool(settings.password_hash_workers, settings.password_hash_queue)
        self.users = UserStore(engine)
        self.api_clients = ApiClientStore(engine)
        self.sessions = SessionCodec(
            self.key.derived_secret("approval-page-session"), clock=self.clock.time
        )

    def __repr__(self) -> str:
        return f"<AuthService realm={self.settings.realm!r} kid={self.key.kid}>"

    # -- device flow -------------------------------------------------------------------

    def start_device(self, client_id: str, address: str = "") -> DeviceStart:
        """A new device grant for ``client_id`` with the configured lifetime and interval;
        :class:`Throttled` when ``address`` has too many pending grants already."""
        return self.devices.start(
            client_id,
            ttl=self.settings.device_ttl,
            interval=self.settings.device_interval,
            scope=DEFAULT_SCOPE,
            address=address,
        )

    # -- the approval page's sign-in ---------------------------------------------------

    async def sign_in(self, username: str, password: str, address: str) -> User | None:
        """The user if ``password`` is theirs, else ``None``; :class:`Throttled` when the
        name or the address is locked out, or every hashing thread is taken.

        Awaited on the event loop: the database lookup runs in the API's thread pool (a
        quick query), the hash on :attr:`hashes`' own threads, so that guessers never
        hold the API's workers for the duration of a hash.
        """
        attempt = self.throttle.begin(username, address)  # refused here: no hash at all
        try:
            user, stored = await run_in_threadpool(self.users.credentials, username)
            matches = await self.hashes.run(check_password, password, stored)
        except Throttled:
            self.throttle.abandoned(attempt)
            raise
        # Any other failure (a cancelled request) leaves the attempt counted as failed.
        if matches and user is not None:
            self.throttle.succeeded(attempt)
            return user
        return None

    def close(self) -> None:
        """Stop the hashing threads."""
        self.hashes.shutdown()

    def redeem_device(
        self, device_code: str, *, client_id: str, base_url: str, audience: str
    ) -> dict[str, Any]:
        """Poll a device grant: the seven token fields once approved, else
        :class:`OAuthError` (``authorization_pending``, ``slow_down``, ...)."""
        grant = self.devices.poll(device_code, client_id)
        principal = self._principal(grant)
        session = Session(client_id=client_id, session_id=str(uuid.uuid4()), scope=grant.scope)
        return self.tokens.grant(principal, session, base_url=base_url, audience=audience)

    def _principal(self, grant: DeviceGrant) -> Principal:
        user = self.users.get(grant.user_name or "")
        if user is None:  # deleted between approval and redemption
            raise OAuthError("invalid_grant", "User not found")
        return Principal(name=user.name, roles=user.roles)

    # -- refresh -----------------------------------------------------------------------

    def refresh(
        self, refresh_token: str, *, client_id: str, base_url: str, audience: str
    ) -> dict[str, Any]:
        """Rotate a refresh token: new access and refresh tokens with the user's current
        roles, or :class:`OAuthError` ``invalid_grant``."""
        redeemed = self.tokens.redeem_refresh(refresh_token, client_id=client_id)
        user = self.users.get(redeemed.user_name)
        if user is None:
            raise OAuthError("invalid_grant", "User not found")
        return self.tokens.grant(
            Principal(name=user.name, roles=user.roles),
            redeemed.session,
            base_url=base_url,
            audience=audience,
        )

    # -- Keycloak-only grants ----------------------------------------------------------

    def check_audience(self, audience: str | None) -> str:
        """The audience a client asked for, which must be the DIALS one (or absent)."""
        if audience and audience != self.settings.audience:
            raise OAuthError("invalid_client", "Audience not found", 400)
        return self.settings.audience

    def exchange(
        self, subject_token: str, *, client_id: str, audience: str | None, base_url: str
    ) -> dict[str, Any]:
        """Token exchange: an access token of ``client_id`` -> one for the DIALS audience,
        for the same user, roles and session (RFC 8693 as Keycloak implements it)."""
        target = self.check_audience(audience)
        try:
            claims = self.tokens.decode_own(subject_token, require=("exp",))
        except jwt.PyJWTError:
            raise OAuthError("invalid_token", "Invalid token") from None
        if claims.get("typ") != "Bearer" or claims.get("azp") != client_id:
            raise OAuthError("invalid_token", "Invalid token")
        roles = claims.get("cern_roles")
        principal = Principal(
            name=str(claims.get("preferred_username") or ""),
            roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        )
        session = Session(
            client_id=client_id,
            session_id=str(claims.get("sid") or uuid.uuid4()),
            scope=str(claims.get("scope") or DEFAULT_SCOPE),
        )
        return self._access_only(
            principal,
            session,
            base_url=base_url,
            audience=target,
            session_state=session.session_id,
            scope=session.scope,
            issued_token_type="urn:ietf:params:oauth:token-type:access_token",
        )

    def client_credentials(
        self, client_id: str, client_secret: str, *, audience: str | None, base_url: str
    ) -> dict[str, Any]:
        """An API client's own token (no refresh token, no roles: default workspace)."""
        client = self.api_clients.lookup(client_secret) if client_secret else None
        if client is None or client.name != client_id:
            raise invalid_client()
        target = self.check_audience(audience)
        session = Session(client_id=client_id, session_id=str(uuid.uuid4()))
        principal = Principal(name=SERVICE_ACCOUNT_PREFIX + client_id)
        return self._access_only(
            principal, session, base_url=base_url, audience=target, scope=session.scope
        )

    def _access_only(
        self,
        principal: Principal,
        session: Session,
        *,
        base_url: str,
        audience: str,
        **fields: str,
    ) -> dict[str, Any]:
        """Keycloak's answer with an access token and no refresh token, then ``fields``."""
        return {
            "access_token": self.tokens.access_token(
                principal, session, base_url=base_url, audience=audience
            ),
            "expires_in": self.settings.access_ttl,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            **fields,
        }

    def now(self) -> float:
        """The clock grants are judged by (pages show whether a code has expired)."""
        return self.clock.time()
