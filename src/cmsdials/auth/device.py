"""A person's credentials: device-flow tokens, refreshed and cached.

::

    from cmsdials.auth.bearer import Credentials   # or cmsdials.auth.device
    from cmsdials import Dials

    creds = Credentials.from_creds_file()   # cached tokens, or sign in (prints a link)
    dials = Dials(creds)

For another DIALS instance give the matching :class:`~cmsdials.auth.client.AuthClient`::

    auth = AuthClient(base_url="http://localhost:8000/")
    creds = Credentials.from_creds_file(cache_dir=".cache-dev", client=auth)
    dials = Dials(creds, base_url="http://localhost:8000/")

Tokens are cached per server in ``<cache_dir>/creds`` (default: the user's cache
directory, see :mod:`cmsdials.auth._store`).  A token in the last tenth of its life is
refreshed in the background; an expired one before the next request; when the refresh
token has expired too, the device flow starts again if someone can answer it (a
terminal, a notebook, or ``interactive=True``), otherwise
:class:`~cmsdials.auth.exceptions.ImpossibleToRefreshTokenError` is raised.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from typing import Union

from cmsdials.auth._refreshing import RefreshingCredentials, token_state
from cmsdials.auth._store import FILENAME as DEFAULT_CACHE_FILENAME
from cmsdials.auth._store import CredentialStore, default_cache_dir
from cmsdials.auth.base import BaseCredentials, TokenState
from cmsdials.auth.client import PRODUCTION_KEY, AuthClient
from cmsdials.auth.exceptions import (
    CredentialsCacheError,
    ImpossibleToRefreshTokenError,
    InvalidGrantError,
)
from cmsdials.auth.models import Token, aware
from cmsdials.utils._json import TokenDecoder, TokenEncoder
from cmsdials.utils.logger import logger

# With the names 2.x also exported from here (AuthClient, Token, TokenEncoder, ...).
__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_CACHE_FILENAME",
    "AuthClient",
    "BaseCredentials",
    "Credentials",
    "Token",
    "TokenDecoder",
    "TokenEncoder",
    "TokenState",
    "is_interactive",
    "logger",
]

#: Where tokens are cached by default: the user's private cache directory (2.x used
#: ``.cache`` of the working directory).
DEFAULT_CACHE_DIR = str(default_cache_dir())

log = logging.getLogger("cmsdials.auth")

#: Set to 1 / 0 to say whether someone can answer a sign-in prompt (overrides detection).
INTERACTIVE_ENV = "CMSDIALS_INTERACTIVE"

PathLike = Union[str, "os.PathLike[str]"]


def is_interactive(explicit: bool | None = None) -> bool:
    """Whether a person can answer a sign-in prompt now.

    ``explicit`` when given; else ``$CMSDIALS_INTERACTIVE`` (``1``/``0``) when set; else
    true in a Jupyter kernel or when standard input is a terminal.
    """
    if explicit is not None:
        return explicit
    env = os.environ.get(INTERACTIVE_ENV, "").strip().lower()
    if env:
        return env not in ("0", "false", "no", "off")
    if "ipykernel" in sys.modules:  # a notebook: the person reads the cell's output
        return True
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):  # closed or replaced stdin
        return False


class Credentials(RefreshingCredentials[Token]):
    """Device-flow (bearer) credentials of a person, refreshed and cached.

    Usually built with :meth:`from_creds_file` or :meth:`from_authclient_token`; the
    constructor takes the fields of a :class:`~cmsdials.auth.models.Token`.

    Parameters
    ----------
    token:
        The access token.
    expires_at, expires_in, refresh_expires_at, refresh_expires_in, refresh_token, token_type:
        The rest of the token (naive datetimes are taken as local time).
    cache_dir:
        Directory of the credential cache (default: the user's cache directory).
    client:
        The :class:`AuthClient` that issued the token and refreshes it (default:
        production).
    interactive:
        Whether to start the device flow when the refresh token has expired too
        (default: :func:`is_interactive`); if not,
        :class:`~cmsdials.auth.exceptions.ImpossibleToRefreshTokenError` is raised.
    """

    def __init__(
        self,
        token: str,
        expires_at: datetime,
        expires_in: int,
        refresh_expires_at: datetime,
        refresh_expires_in: int,
        refresh_token: str,
        token_type: str,
        cache_dir: PathLike | None = None,
        client: AuthClient | None = None,
        *,
        interactive: bool | None = None,
    ) -> None:
        super().__init__()
        self.client = client if client is not None else AuthClient()
        self.interactive = interactive
        self._store = CredentialStore(cache_dir, legacy_key=PRODUCTION_KEY)
        self._token = Token(
            access_token=token,
            expires_at=aware(expires_at),
            expires_in=expires_in,
            refresh_expires_at=aware(refresh_expires_at),
            refresh_expires_in=refresh_expires_in,
            refresh_token=refresh_token,
            token_type=token_type,
        )

    # -- construction --------------------------------------------------------------------

    @classmethod
    def _of(
        cls,
        token: Token,
        cache_dir: PathLike | None,
        client: AuthClient | None,
        interactive: bool | None,
    ) -> Credentials:
        return cls(
            token=token.access_token,
            expires_at=token.expires_at,
            expires_in=token.expires_in,
            refresh_expires_at=token.refresh_expires_at,
            refresh_expires_in=token.refresh_expires_in,
            refresh_token=token.refresh_token,
            token_type=token.token_type,
            cache_dir=cache_dir,
            client=client,
            interactive=interactive,
        )

    @classmethod
    def from_authclient_token(
        cls,
        token: Token,
        cache_dir: PathLike | None = None,
        client: AuthClient | None = None,
        *,
        interactive: bool | None = None,
    ) -> Credentials:
        """Credentials from a token of :meth:`AuthClient.device_auth_flow`; cached at once
        (a cache that cannot be written is logged as a warning).

        The token is refreshed by, and cached under the server of, ``client``; by default
        the client that issued it (``token.issuer``), production when that is unknown.
        """
        if client is None:
            client = token.issuer
        creds = cls._of(token, cache_dir, client, interactive)
        # The token is good even if the cache is not: say so, but do not lose the sign-in.
        creds._save_quietly(token)
        return creds

    @classmethod
    def from_creds_file(
        cls,
        cache_dir: PathLike | None = None,
        client: AuthClient | None = None,
        *,
        interactive: bool | None = None,
    ) -> Credentials:
        """The cached credentials of ``client``'s server; signs in when there are none.

        With nothing cached, the device flow starts (it prints a link to approve).  When
        the cached refresh token has expired, it starts again if someone can answer it
        (see ``interactive``), else :class:`ImpossibleToRefreshTokenError` is raised.

        Raises
        ------
        CredentialsCacheError
            The cache file is unusable and nobody can sign in now (when someone can, the
            file is moved aside to ``creds.corrupt`` and the device flow starts).
        ImpossibleToRefreshTokenError
            The cached tokens have expired and nobody can sign in now.
        """
        client = client if client is not None else AuthClient()
        store = CredentialStore(cache_dir, legacy_key=PRODUCTION_KEY)
        prompt = is_interactive(interactive)
        try:
            token = store.load(client.cache_key)
        except CredentialsCacheError as exc:
            if not prompt:
                raise
            log.warning("%s - signing in again", exc)
            store.discard_corrupt()
            token = None
        if token is not None and token_state(token) is TokenState.INVALID:
            if not prompt:
                raise ImpossibleToRefreshTokenError(_sign_in_again(client, store, token))
            log.info("the cached DIALS tokens have expired; signing in again")
            token = None
        if token is None:
            token = client.device_auth_flow()
            return cls.from_authclient_token(token, cache_dir, client, interactive=interactive)
        return cls._of(token, cache_dir, client, interactive)

    # -- public operations ---------------------------------------------------------------

    def refresh(self) -> None:
        """Get a new access token now (it is otherwise renewed as it expires)."""
        with self._refresh_lock:
            self._token = self._renew(self._token, background=False, adopt=False)

    def cache_credentials(self) -> None:
        """Write the current token to the cache (done after every sign-in and refresh).

        Raises
        ------
        CredentialsCacheError
            The cache cannot be written.
        """
        self._store.save(self.client.cache_key, self._token)

    def as_token(self) -> Token:
        """The current token (a copy; its secrets are hidden from ``repr``)."""
        return self._token.model_copy()

    @property
    def cache_path(self) -> str:
        """The credential file."""
        return str(self._store.path)

    def __repr__(self) -> str:
        return (
            f"Credentials(server={self.client.cache_key!r}, "
            f"expires_at={self._token.expires_at.isoformat(timespec='seconds')!r}, "
            f"state={self.token_state.name})"
        )

    # -- refreshing ----------------------------------------------------------------------

    def _renew(self, token: Token, *, background: bool, adopt: bool = True) -> Token:
        """A new token for ``token``: another process's, a refreshed one, or a new sign-in.

        The file lock is held from reading the cache until the new token is written, so
        of two processes whose tokens expire together only the first refreshes; the
        second finds its token in the file (a refresh token may be single-use).
        """
        key = self.client.cache_key
        refusal: InvalidGrantError | None = None
        with self._store.lock(required=False):
            if adopt:
                cached = self._load_quietly()
                if (
                    cached is not None
                    and cached.access_token != token.access_token
                    and cached.expires_at > token.expires_at
                    and token_state(cached) in (TokenState.FRESH, TokenState.STALE)
                ):
                    log.info("using the DIALS token another process refreshed")
                    return cached
            if token_state(token) is not TokenState.INVALID:
                try:
                    new = self.client.refresh_token(
                        token.token_type, token.access_token, token.refresh_token
                    )
                except InvalidGrantError as exc:
                    refusal = exc
                else:
                    log.info("refreshed the DIALS access token of %s", key)
                    self._save_quietly(new)
                    return new
        # The refresh token is gone: only a new sign-in helps (without the file lock:
        # it may take minutes, and other processes have their own choice to make).
        if background or not is_interactive(self.interactive):
            raise ImpossibleToRefreshTokenError(
                _sign_in_again(self.client, self._store, token)
            ) from refusal
        log.info("the DIALS refresh token has expired; signing in again")
        new = self.client.device_auth_flow()
        self._save_quietly(new)
        return new

    def _load_quietly(self) -> Token | None:
        try:
            return self._store.load(self.client.cache_key)
        except CredentialsCacheError as exc:
            log.warning("%s", exc)
            return None

    def _save_quietly(self, token: Token) -> None:
        # A cache that cannot be written must not fail the request that refreshed.
        try:
            self._store.save(self.client.cache_key, token)
        except CredentialsCacheError as exc:
            log.warning("%s", exc)


def _sign_in_again(client: AuthClient, store: CredentialStore, token: Token) -> str:
    when = token.refresh_expires_at.isoformat(timespec="seconds")
    return (
        f"the DIALS tokens of {client.cache_key} cached in {store.path} have expired "
        f"(refresh token expired or refused; it was valid until {when}) and nobody can "
        "sign in here; sign in again with "
        "Credentials.from_creds_file(cache_dir=..., client=..., interactive=True) "
        f"(or set {INTERACTIVE_ENV}=1)"
    )
