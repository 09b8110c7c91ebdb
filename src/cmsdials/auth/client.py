"""Getting tokens: the device flow for people, client credentials for programs.

:class:`AuthClient` speaks to one of two kinds of identity provider:

* **Keycloak** (the default, and whenever ``keycloak_url``, ``realm``, ``client_id`` or
  ``audience`` is given): CERN's ``auth.cern.ch`` for the production DIALS, or any
  Keycloak-compatible realm such as the one dials-local serves under ``/auth/``.  The
  device flow runs on the public application and each access token is exchanged for one
  whose audience is DIALS (CONTRACT §3.6).
* **A DIALS instance's own** ``auth/*`` **routes** (whenever ``base_url``, ``route`` or
  ``version`` is given, as in the usage guide's ``AuthClient(base_url=DEV_URL)``):
  ``auth/new-device/``, ``auth/device-token/`` and ``auth/refresh-token/`` of that
  instance (CONTRACT §3.5).

::

    from cmsdials.auth.client import AuthClient
    from cmsdials.auth.bearer import Credentials

    auth = AuthClient()
    token = auth.device_auth_flow()   # prints a link; open it and approve
    creds = Credentials.from_authclient_token(token)
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

import requests

from cmsdials._closing import Closing
from cmsdials._transport import BASE_URL_ENV, WatchedAdapter, default_base_url, send
from cmsdials._version import __version__
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
    expiry,
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
DEFAULT_BASE_URL = "https://cmsdials-api.web.cern.ch/"

#: Seconds between polls when the server does not say (RFC 8628's default).
DEFAULT_POLL_INTERVAL = 5.0
#: ``(connect, read)`` seconds for each sign-in request.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
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

_GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
_GRANT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def _keycloak_key(keycloak_url: str, realm: str, client_id: str, audience: str) -> str:
    return f"{_slash(keycloak_url)}realms/{realm}/#client_id={client_id}&audience={audience}"


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


#: The cache key of the production DIALS (``AuthClient()``).
PRODUCTION_KEY = _keycloak_key(
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
    DEVICE_CODE_GRANT: ClassVar[str] = _GRANT_DEVICE
    TOKEN_EXCHANGE_GRANT: ClassVar[str] = _GRANT_EXCHANGE
    ACCESS_TOKEN_TYPE: ClassVar[str] = _ACCESS_TOKEN_TYPE
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
        if not dials_args and not keycloak_args and os.environ.get(BASE_URL_ENV, "").strip():
            # A script pointed at another DIALS by the environment signs in there too.
            base_url, dials_args = default_base_url(), True
        #: ``"dials"`` (the instance's ``auth/*`` routes) or ``"keycloak"``.
        self.mode = "dials" if dials_args else "keycloak"
        self.base_url = _slash(base_url or DEFAULT_BASE_URL)
        self.route = "api" if route is None else route
        self.version = "v1" if version is None else version
        self.keycloak_url = _slash(keycloak_url or DEFAULT_KEYCLOAK_URL)
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
        self.session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"cmsdials/{__version__} (python/{platform.python_version()}, "
                f"requests/{requests.__version__})",
            }
        )

    # -- identity ------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """``base_url/route/version/`` of the DIALS instance (mode ``"dials"``)."""
        parts = (self.base_url, self.route, self.version)
        return "/".join(part.strip("/") for part in parts if part.strip("/")) + "/"

    @property
    def realm_url(self) -> str:
        """``{keycloak_url}realms/{realm}/`` (mode ``"keycloak"``)."""
        return f"{self.keycloak_url}realms/{self.realm}/"

    @property
    def cache_key(self) -> str:
        """Names the issuer of this client's tokens in the credential cache: tokens of
        different servers (dev, local, production) are cached apart."""
        if self.mode == "dials":
            return self.api_url
        return _keycloak_key(self.keycloak_url, self.realm, self.client_id, self.audience)

    def __repr__(self) -> str:
        if self.mode == "dials":
            return f"AuthClient(base_url={self.base_url!r})"
        return (
            f"AuthClient(keycloak_url={self.keycloak_url!r}, realm={self.realm!r}, "
            f"client_id={self.client_id!r}, audience={self.audience!r})"
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    # -- the device flow -----------------------------------------------------------------

    def new_device(self) -> Device:
        """Start a device sign-in: the link to show and the code to poll with."""
        if self.mode == "dials":
            response = self._send("GET", self.api_url + "auth/new-device/")
        else:
            response = self._send(
                "POST",
                self.realm_url + "protocol/openid-connect/auth/device",
                data={"client_id": self.client_id},
            )
        return parse(Device, check(response))

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
        if self.mode == "dials":
            response = self._send(
                "POST", self.api_url + "auth/device-token/", json={"device_code": device_code}
            )
            return Token.issued(parse(DeviceToken, check(response)), requested_at, issuer=self)
        response = self._send(
            "POST",
            self._token_url,
            data={
                "client_id": self.client_id,
                "grant_type": _GRANT_DEVICE,
                "device_code": device_code,
            },
        )
        return self._exchanged(parse(DeviceToken, check(response)), requested_at)

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
        if self.mode == "dials":
            response = self._send(
                "POST", self.api_url + "auth/refresh-token/", json={"refresh_token": refresh_token}
            )
            return Token.issued(
                parse(RefreshToken, check(response, refresh=True)), requested_at, issuer=self
            )
        response = self._send(
            "POST",
            self._token_url,
            data={
                "client_id": self.client_id,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
        )
        answer = parse(RefreshToken, check(response, refresh=True))
        return self._exchanged(answer, requested_at)

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
        if self.mode == "dials":
            raise ValueError(
                "client credentials need a Keycloak endpoint: use "
                "AuthClient(keycloak_url=..., realm=..., audience=...) (for a dials-local: "
                f"keycloak_url='{self.base_url}auth/')"
            )
        requested_at = utcnow()
        response = self._send(
            "POST",
            self.realm_url + "api-access/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
                "audience": self.audience,
            },
        )
        return ApiToken.issued(parse(_ExchangedToken, check(response)), requested_at)

    # -- plumbing ------------------------------------------------------------------------

    @property
    def _token_url(self) -> str:
        return self.realm_url + "protocol/openid-connect/token"

    @property
    def token_url(self) -> str:
        """The Keycloak token endpoint (mode ``"keycloak"``)."""
        return self._token_url

    def _interval(self, device: Device) -> float:
        configured = DEFAULT_POLL_INTERVAL if self.poll_interval is None else self.poll_interval
        if device.interval is None:
            return configured
        return max(device.interval, self.poll_interval or 0.0)

    def _exchanged(self, answer: DeviceToken, requested_at: datetime) -> Token:
        """Exchange ``answer``'s access token for one with the DIALS audience (Keycloak
        issues device tokens to the public app); keep the device refresh token."""
        exchanged_at = utcnow()
        response = self._send(
            "POST",
            self._token_url,
            data={
                "client_id": self.client_id,
                "grant_type": _GRANT_EXCHANGE,
                "subject_token": answer.access_token,
                "subject_token_type": _ACCESS_TOKEN_TYPE,
                "audience": self.audience,
            },
        )
        exchanged = parse(_ExchangedToken, check(response))
        refresh = Token.issued(answer, requested_at, issuer=self)
        return refresh.model_copy(
            update={
                "access_token": exchanged.access_token,
                "expires_in": exchanged.expires_in,
                "token_type": exchanged.token_type,
                "expires_at": expiry(exchanged.access_token, exchanged.expires_in, exchanged_at),
            }
        )

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request, its body read (bounded) and cached, redirects within its origin."""
        response, _ = send(
            self.session,
            method,
            url,
            timeout=self.timeout,
            deadline=self.deadline,
            max_body=_MAX_BODY,
            **kwargs,
        )
        return response
