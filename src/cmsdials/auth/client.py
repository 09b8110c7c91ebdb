"""Getting tokens: the device flow for people, client credentials for programs.

:class:`AuthClient` speaks to one of two kinds of identity provider:

* **Keycloak** (the default, and whenever ``keycloak_url``, ``realm``, ``client_id`` or
  ``audience`` is given): CERN's ``auth.cern.ch`` for the production DIALS, or any
  Keycloak-compatible realm such as the one dials-local serves under ``/auth/``.  The
  device flow runs on the public application and each access token is exchanged for one
  whose audience is DIALS (CONTRACT §3.6).
* **A DIALS instance's own** ``auth/*`` **routes** (whenever ``base_url``, ``route`` or
  ``version`` is given, as in the usage guide's ``AuthClient(base_url=DEV_URL)``, or
  ``$DIALS_BASE_URL`` is set): ``auth/new-device/``, ``auth/device-token/`` and
  ``auth/refresh-token/`` of that instance (CONTRACT §3.5).

Each kind is a :class:`~cmsdials.auth._providers.SignInProvider` that says where each
step goes; this client sends the steps, reads the answers and keeps the tokens, the same
way for both.

::

    from cmsdials.auth.client import AuthClient
    from cmsdials.auth.bearer import Credentials

    auth = AuthClient()
    token = auth.device_auth_flow()   # prints a link; open it and approve
    creds = Credentials.from_authclient_token(token)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

import requests

from cmsdials._closing import Closing
from cmsdials._defaults import (
    CONNECT_TIMEOUT,
    DEFAULT_BASE_URL,
    DEFAULT_ROUTE,
    DEFAULT_VERSION,
    api_url,
    base_url_from_env,
    identity_headers,
)
from cmsdials._transport import WatchedAdapter, send
from cmsdials.auth._providers import (
    ACCESS_TOKEN_TYPE,
    DEVICE_CODE_GRANT,
    TOKEN_EXCHANGE_GRANT,
    DialsRoutes,
    KeycloakRealm,
    SignInProvider,
    SignInRequest,
    keycloak_cache_key,
    realm_url,
    token_url,
    with_slash,
)
from cmsdials.auth._responses import check, parse
from cmsdials.auth.exceptions import (
    DeviceCodeExpiredError,
    PendingAuthorizationError,
    SlowDownError,
)
from cmsdials.auth.models import (
    ApiToken,
    Device,
    DeviceToken,
    RefreshToken,
    Token,
    _ExchangedToken,
    utcnow,
)
from cmsdials.errors import APIError
from cmsdials.utils._base_client import BaseAPIClient
from cmsdials.utils.logger import logger  # noqa: F401 - the 2.x name, re-exported

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_DEADLINE",
    "DEFAULT_KEYCLOAK_URL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_REALM",
    "PRODUCTION_KEY",
    "AuthClient",
]

DEFAULT_KEYCLOAK_URL = "https://auth.cern.ch/auth/"
DEFAULT_REALM = "cern"
DEFAULT_CLIENT_ID = "cms-dials-prod-public-app"
DEFAULT_AUDIENCE = "cms-dials-prod-confidential-app"

#: Seconds between polls when the server does not say (RFC 8628's default).
DEFAULT_POLL_INTERVAL = 5.0
#: ``(connect, read)`` seconds for each sign-in request.
DEFAULT_TIMEOUT: tuple[float, float] = (CONNECT_TIMEOUT, 30.0)
#: Seconds for the whole of one sign-in request (connection, headers, body): token
#: answers are a few kB, so a server still sending after a minute is broken or hostile.
DEFAULT_DEADLINE = 60.0
#: Bytes of one answer of the identity provider at most (tokens and errors are small).
_MAX_BODY = 16 << 20

#: Errors of one poll that say nothing about the sign-in (a restarted server, a dropped
#: keep-alive connection, a proxy's 502): the next poll may well succeed.
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_TRANSIENT_STATUSES = frozenset({502, 503, 504})

log = logging.getLogger("cmsdials")

#: The cache key of the production DIALS (``AuthClient()``).
PRODUCTION_KEY = keycloak_cache_key(
    DEFAULT_KEYCLOAK_URL, DEFAULT_REALM, DEFAULT_CLIENT_ID, DEFAULT_AUDIENCE
)


def _print_device(device: Device) -> None:
    minutes, seconds = divmod(device.expires_in, 60)
    lifetime = f"{minutes} min" if minutes and not seconds else f"{device.expires_in} s"
    print(
        "To sign in to DIALS, open this link in a browser and approve the request:\n\n"
        f"    {device.verification_uri_complete}\n\n"
        f"Waiting for approval (the link expires in {lifetime})...",
        flush=True,
    )


class AuthClient(Closing, BaseAPIClient):
    """Client of the identity provider that issues DIALS tokens.

    Parameters
    ----------
    base_url, route, version:
        Use the ``auth/*`` routes of this DIALS instance (``route``/``version`` default to
        ``api``/``v1``), e.g. ``AuthClient(base_url="http://localhost:8000/")``.
    keycloak_url, realm, client_id, audience:
        Use this Keycloak realm (defaults: ``https://auth.cern.ch/auth/``, ``cern``,
        ``cms-dials-prod-public-app``, ``cms-dials-prod-confidential-app``: the production
        DIALS).  For the dev DIALS: ``client_id="cms-dials-dev-public-app",
        audience="cms-dials-dev-confidential-app"``; for a dials-local's Keycloak
        endpoints: ``keycloak_url="http://localhost:8000/auth/"``.
    timeout:
        ``(connect, read)`` seconds per request.
    deadline:
        Seconds for the whole of one request (default 60; ``None``: no deadline), then
        :class:`~cmsdials.errors.DeadlineExceededError`.  Redirects are followed only
        within the origin of the request; one to another origin raises
        :class:`~cmsdials.errors.CrossOriginRedirectError` (a client secret or a token
        never leaves the identity provider it was meant for).
    poll_interval:
        Seconds between polls of the device flow when the server does not say (default
        5); when it does, the longer of the two is used.
    announce:
        How :meth:`device_auth_flow` shows the sign-in link: called with the
        :class:`~cmsdials.auth.models.Device` (default: print it).  Also used when
        credentials sign in again by themselves.

    Raises
    ------
    ValueError
        Arguments of both kinds were given.
    """

    # The 2.x names of the defaults and of the OAuth grant types.
    PRODUCTION_KEYCLOAK_URL: ClassVar[str] = DEFAULT_KEYCLOAK_URL
    PRODUCTION_KEYCLOAK_REALM: ClassVar[str] = DEFAULT_REALM
    PRODUCTION_CLIENT_ID: ClassVar[str] = DEFAULT_CLIENT_ID
    PRODUCTION_AUDIENCE: ClassVar[str] = DEFAULT_AUDIENCE
    DEVICE_CODE_GRANT: ClassVar[str] = DEVICE_CODE_GRANT
    TOKEN_EXCHANGE_GRANT: ClassVar[str] = TOKEN_EXCHANGE_GRANT
    ACCESS_TOKEN_TYPE: ClassVar[str] = ACCESS_TOKEN_TYPE
    #: Default ``(connect, read)`` seconds of each sign-in request (``timeout=``).
    default_timeout: ClassVar[tuple[float, float]] = DEFAULT_TIMEOUT

    def __init__(
        self,
        base_url: str | None = None,
        route: str | None = None,
        version: str | None = None,
        *,
        keycloak_url: str | None = None,
        realm: str | None = None,
        client_id: str | None = None,
        audience: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        poll_interval: float | None = None,
        announce: Callable[[Device], None] | None = None,
        deadline: float | None = DEFAULT_DEADLINE,
    ) -> None:
        dials_args = any(arg is not None for arg in (base_url, route, version))
        keycloak_args = any(arg is not None for arg in (keycloak_url, realm, client_id, audience))
        if dials_args and keycloak_args:
            raise ValueError(
                "give either base_url/route/version (the DIALS auth routes) or "
                "keycloak_url/realm/client_id/audience (a Keycloak realm), not both"
            )
        if poll_interval is not None and poll_interval < 0:
            raise ValueError("poll_interval must be >= 0")
        if deadline is not None and not deadline > 0:
            raise ValueError("deadline must be > 0 seconds or None")
        env_url = base_url_from_env()
        if not dials_args and not keycloak_args and env_url:
            # A script pointed at another DIALS by the environment signs in there too.
            base_url, dials_args = env_url, True
        # The one place the kind of provider is decided; everything after asks it.
        self._provider: SignInProvider = DialsRoutes() if dials_args else KeycloakRealm()
        self.base_url = with_slash(base_url or DEFAULT_BASE_URL)
        self.route = DEFAULT_ROUTE if route is None else route
        self.version = DEFAULT_VERSION if version is None else version
        self.keycloak_url = with_slash(keycloak_url or DEFAULT_KEYCLOAK_URL)
        self.realm = realm or DEFAULT_REALM
        self.client_id = client_id or DEFAULT_CLIENT_ID
        self.audience = audience or DEFAULT_AUDIENCE
        self.timeout = timeout
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.announce = announce
        self.session = requests.Session()
        # Connections the deadline's watchdog can shut down (see cmsdials._transport.send).
        self.session.mount("https://", WatchedAdapter(max_retries=0))
        self.session.mount("http://", WatchedAdapter(max_retries=0))
        self.session.headers.update(identity_headers())

    # -- identity ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``"dials"`` (the instance's ``auth/*`` routes) or ``"keycloak"``."""
        return self._provider.mode

    @property
    def api_url(self) -> str:
        """``base_url/route/version/`` of the DIALS instance (mode ``"dials"``)."""
        return api_url(self.base_url, self.route, self.version)

    @property
    def realm_url(self) -> str:
        """``{keycloak_url}realms/{realm}/`` (mode ``"keycloak"``)."""
        return realm_url(self.keycloak_url, self.realm)

    @property
    def token_url(self) -> str:
        """The Keycloak token endpoint (mode ``"keycloak"``)."""
        return token_url(self.keycloak_url, self.realm)

    @property
    def cache_key(self) -> str:
        """Names the issuer of this client's tokens in the credential cache: tokens of
        different servers (dev, local, production) are cached apart."""
        return self._provider.cache_key(self)

    def __repr__(self) -> str:
        return f"AuthClient({self._provider.describe(self)})"

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    # -- the device flow -----------------------------------------------------------------

    def new_device(self) -> Device:
        """Start a device sign-in: the link to show and the code to poll with."""
        return parse(Device, check(self._request(self._provider.new_device(self))))

    def device_token(self, device_code: str) -> Token:
        """Ask once whether the device was approved; its tokens if it was.

        Raises
        ------
        PendingAuthorizationError
            Not approved yet (:class:`SlowDownError`: and poll less often).
        AccessDeniedError, DeviceCodeExpiredError
            Denied, or expired before approval.
        """
        requested_at = utcnow()
        response = self._request(self._provider.poll_device(self, device_code))
        return self._for_dials(parse(DeviceToken, check(response)), requested_at)

    def wait_for_device(self, device: Device) -> Token:
        """Poll until ``device`` is approved, denied or expired.

        Polls every ``device.interval`` seconds (:attr:`poll_interval` or 5 s when the
        server gives none), and less often when the server says ``slow_down``.  A poll
        that fails on the network (connection refused or reset, timeout) or with a
        502/503/504 is tried again at the next interval: the grant outlives a restarted
        server or a dropped connection.

        Raises
        ------
        AccessDeniedError
            The request was denied.
        DeviceCodeExpiredError
            Nobody approved it within ``device.expires_in`` seconds.
        """
        interval = self._interval(device)
        deadline = time.monotonic() + device.expires_in
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceCodeExpiredError(
                    f"the sign-in request expired after {device.expires_in} s without "
                    "approval; start a new one",
                    code="expired_token",
                )
            time.sleep(min(interval, remaining))
            try:
                return self.device_token(device.device_code)
            except SlowDownError as exc:
                # RFC 8628: poll 5 s less often from now on, unless the server says more.
                step = device.interval or DEFAULT_POLL_INTERVAL
                interval = max(exc.interval or 0.0, interval + step)
            except PendingAuthorizationError:
                continue
            except _TRANSIENT_ERRORS as exc:
                log.info("sign-in poll failed (%s); polling again", type(exc).__name__)
            except APIError as exc:
                if exc.status_code not in _TRANSIENT_STATUSES:
                    raise
                log.info("sign-in poll answered HTTP %d; polling again", exc.status_code)

    def device_auth_flow(self, announce: Callable[[Device], None] | None = None) -> Token:
        """Sign a person in: print the link to approve, wait for the approval.

        Parameters
        ----------
        announce:
            Called with the :class:`~cmsdials.auth.models.Device` instead of printing the
            link (e.g. to show it in a GUI or open a browser); default: the client's
            ``announce``, else print.

        Raises
        ------
        AccessDeniedError, DeviceCodeExpiredError
            Denied, or not approved before the link expired.
        """
        device = self.new_device()
        (announce or self.announce or _print_device)(device)
        return self.wait_for_device(device)

    # -- refreshing ----------------------------------------------------------------------

    def refresh_token(
        self,
        token_type: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
    ) -> Token:
        """New tokens for a ``refresh_token`` (``token_type`` and ``access_token`` are
        accepted for compatibility and not sent).

        Raises
        ------
        InvalidGrantError
            The refresh token is expired, revoked or not this server's.
        """
        if not refresh_token:
            raise TypeError("refresh_token() needs the refresh_token")
        requested_at = utcnow()
        response = self._request(self._provider.refresh(self, refresh_token))
        return self._for_dials(parse(RefreshToken, check(response, refresh=True)), requested_at)

    # -- client credentials --------------------------------------------------------------

    def api_access_token(self, client_id: str, client_secret: str) -> ApiToken:
        """A token for an application, from its Keycloak client credentials.

        Raises
        ------
        InvalidClientError
            Wrong ``client_id`` or ``client_secret``.
        ValueError
            This client speaks to DIALS' ``auth/*`` routes, which have no such grant: use
            ``AuthClient(keycloak_url=...)``.
        """
        return self._access_token(self._provider.client_credentials(self, client_id, client_secret))

    # -- plumbing ------------------------------------------------------------------------

    def _interval(self, device: Device) -> float:
        configured = DEFAULT_POLL_INTERVAL if self.poll_interval is None else self.poll_interval
        if device.interval is None:
            return configured
        return max(device.interval, self.poll_interval or 0.0)

    def _for_dials(self, answer: DeviceToken, requested_at: datetime) -> Token:
        """The token of a person's ``answer``, its access token exchanged for one with the
        DIALS audience when the provider asks for that (Keycloak issues device tokens to
        the public app); the refresh token is the answer's either way."""
        issued = Token.issued(answer, requested_at, issuer=self)
        exchange = self._provider.audience_exchange(self, answer.access_token)
        if exchange is None:
            return issued
        # The exchanged access token, its type and expiry; the answer's refresh token.
        return issued.model_copy(update=self._access_token(exchange).model_dump())

    def _access_token(self, request: SignInRequest) -> ApiToken:
        """The access token (no refresh token) that ``request`` is answered with: client
        credentials, or a token exchange; its expiry counted from when it was asked for."""
        requested_at = utcnow()
        response = self._request(request)
        return ApiToken.issued(parse(_ExchangedToken, check(response)), requested_at)

    def _request(self, request: SignInRequest) -> requests.Response:
        """Send one step of signing in; its body read (bounded) and cached, redirects
        followed within its origin."""
        response, _ = send(
            self.session,
            request.method,
            request.url,
            timeout=self.timeout,
            deadline=self.deadline,
            max_body=_MAX_BODY,
            json=request.json,
            data=request.form,
        )
        return response
