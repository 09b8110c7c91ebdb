"""The two kinds of identity provider :class:`~cmsdials.auth.client.AuthClient` signs in
with, behind one interface.

A provider says *where* each step of signing in is sent and with which fields (a
:class:`SignInRequest`); the client sends it, reads the answer and turns it into a token,
the same way for both.  Providers do no I/O and hold no settings: they read them from the
client at each step (:class:`SignInSettings`), so that an attribute changed after the
client was built (``auth.client_id = ...``) takes effect, as it did in cmsdials 2.x.

* :class:`DialsRoutes`: a DIALS instance's own ``auth/new-device/``,
  ``auth/device-token/`` and ``auth/refresh-token/`` (CONTRACT §3.5).  Their tokens are
  DIALS tokens already; there is no client-credentials grant.
* :class:`KeycloakRealm`: a Keycloak realm (CERN's, or the one dials-local serves under
  ``/auth/``).  Device tokens are issued to the public application, so each access token
  is exchanged for one whose audience is DIALS (CONTRACT §3.6).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "DEVICE_CODE_GRANT",
    "TOKEN_EXCHANGE_GRANT",
    "DialsRoutes",
    "KeycloakRealm",
    "SignInProvider",
    "SignInRequest",
    "SignInSettings",
    "keycloak_cache_key",
    "realm_url",
    "token_url",
    "with_slash",
]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def with_slash(url: str) -> str:
    """``url`` ending in one ``/`` (URLs below it are appended, not joined)."""
    return url if url.endswith("/") else url + "/"


def realm_url(keycloak_url: str, realm: str) -> str:
    """``{keycloak_url}realms/{realm}/``: the root of a realm's endpoints."""
    return f"{with_slash(keycloak_url)}realms/{realm}/"


def token_url(keycloak_url: str, realm: str) -> str:
    """The realm's OpenID Connect token endpoint."""
    return realm_url(keycloak_url, realm) + "protocol/openid-connect/token"


def keycloak_cache_key(keycloak_url: str, realm: str, client_id: str, audience: str) -> str:
    """Names a realm's tokens for one application and audience in the credential cache."""
    return f"{realm_url(keycloak_url, realm)}#client_id={client_id}&audience={audience}"


class SignInSettings(Protocol):
    """What a provider reads of its :class:`~cmsdials.auth.client.AuthClient`."""

    base_url: str
    keycloak_url: str
    realm: str
    client_id: str
    audience: str

    @property
    def api_url(self) -> str:
        """``base_url/route/version/``."""


@dataclass(frozen=True)
class SignInRequest:
    """One request of a sign-in step: a JSON body (DIALS) or a form (OAuth 2)."""

    method: str
    url: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None


class SignInProvider(ABC):
    """Where the steps of signing in go, for one kind of identity provider."""

    #: What :attr:`AuthClient.mode <cmsdials.auth.client.AuthClient.mode>` says.
    mode: ClassVar[str]

    @abstractmethod
    def cache_key(self, settings: SignInSettings) -> str:
        """Names the issuer of the tokens in the credential cache: tokens of different
        servers (dev, local, production) are cached apart."""

    @abstractmethod
    def describe(self, settings: SignInSettings) -> str:
        """The constructor arguments that select this issuer (for ``repr``)."""

    @abstractmethod
    def new_device(self, settings: SignInSettings) -> SignInRequest:
        """Start a device sign-in."""

    @abstractmethod
    def poll_device(self, settings: SignInSettings, device_code: str) -> SignInRequest:
        """Ask whether the device was approved."""

    @abstractmethod
    def refresh(self, settings: SignInSettings, refresh_token: str) -> SignInRequest:
        """New tokens for a refresh token."""

    @abstractmethod
    def client_credentials(
        self, settings: SignInSettings, client_id: str, client_secret: str
    ) -> SignInRequest:
        """An application's token for its client id and secret.

        Raises
        ------
        ValueError
            This provider has no such grant.
        """

    def audience_exchange(
        self, settings: SignInSettings, access_token: str
    ) -> SignInRequest | None:
        """The request that exchanges a person's ``access_token`` for one DIALS accepts,
        or ``None`` when it is one already."""
        return None


class DialsRoutes(SignInProvider):
    """A DIALS instance's own ``auth/*`` routes (CONTRACT §3.5)."""

    mode: ClassVar[str] = "dials"

    def cache_key(self, settings: SignInSettings) -> str:
        return settings.api_url

    def describe(self, settings: SignInSettings) -> str:
        return f"base_url={settings.base_url!r}"

    def new_device(self, settings: SignInSettings) -> SignInRequest:
        return SignInRequest("GET", settings.api_url + "auth/new-device/")

    def poll_device(self, settings: SignInSettings, device_code: str) -> SignInRequest:
        return SignInRequest(
            "POST", settings.api_url + "auth/device-token/", json={"device_code": device_code}
        )

    def refresh(self, settings: SignInSettings, refresh_token: str) -> SignInRequest:
        return SignInRequest(
            "POST", settings.api_url + "auth/refresh-token/", json={"refresh_token": refresh_token}
        )

    def client_credentials(
        self, settings: SignInSettings, client_id: str, client_secret: str
    ) -> SignInRequest:
        raise ValueError(
            "client credentials need a Keycloak endpoint: use "
            "AuthClient(keycloak_url=..., realm=..., audience=...) (for a dials-local: "
            f"keycloak_url='{settings.base_url}auth/')"
        )


class KeycloakRealm(SignInProvider):
    """A Keycloak realm: OAuth 2 forms, device tokens exchanged for the DIALS audience
    (CONTRACT §3.6)."""

    mode: ClassVar[str] = "keycloak"

    def cache_key(self, settings: SignInSettings) -> str:
        return keycloak_cache_key(
            settings.keycloak_url, settings.realm, settings.client_id, settings.audience
        )

    def describe(self, settings: SignInSettings) -> str:
        return (
            f"keycloak_url={settings.keycloak_url!r}, realm={settings.realm!r}, "
            f"client_id={settings.client_id!r}, audience={settings.audience!r}"
        )

    def new_device(self, settings: SignInSettings) -> SignInRequest:
        url = (
            realm_url(settings.keycloak_url, settings.realm) + "protocol/openid-connect/auth/device"
        )
        return SignInRequest("POST", url, form={"client_id": settings.client_id})

    def poll_device(self, settings: SignInSettings, device_code: str) -> SignInRequest:
        return self._token_request(settings, grant_type=DEVICE_CODE_GRANT, device_code=device_code)

    def refresh(self, settings: SignInSettings, refresh_token: str) -> SignInRequest:
        return self._token_request(
            settings, grant_type="refresh_token", refresh_token=refresh_token
        )

    def client_credentials(
        self, settings: SignInSettings, client_id: str, client_secret: str
    ) -> SignInRequest:
        # CERN's endpoint for applications: their own client, the DIALS audience.
        return SignInRequest(
            "POST",
            realm_url(settings.keycloak_url, settings.realm) + "api-access/token",
            form={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
                "audience": settings.audience,
            },
        )

    def audience_exchange(self, settings: SignInSettings, access_token: str) -> SignInRequest:
        return self._token_request(
            settings,
            grant_type=TOKEN_EXCHANGE_GRANT,
            subject_token=access_token,
            subject_token_type=ACCESS_TOKEN_TYPE,
            audience=settings.audience,
        )

    @staticmethod
    def _token_request(settings: SignInSettings, **fields: str) -> SignInRequest:
        """A form to the token endpoint, on behalf of the public application."""
        return SignInRequest(
            "POST",
            token_url(settings.keycloak_url, settings.realm),
            form={"client_id": settings.client_id, **fields},
        )
