"""Configuration from the environment: ``Dials.from_env()`` and the ``cmsdials`` command.

``DIALS_BASE_URL`` names the server (production when unset), ``DIALS_WORKSPACE`` the
workspace (the server's default routing when unset), ``DIALS_SECRET_KEY`` an API-client
secret key.  Without a secret key the person's device-flow tokens cached for that server
(``cmsdials login``, or :meth:`cmsdials.auth.bearer.Credentials.from_creds_file`) are
used.  Secrets are read from the environment or a file, never from a command line: the
argument list of a process is visible to every user of the machine (``ps``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmsdials._defaults import BASE_URL_ENV, DEFAULT_BASE_URL, base_url_from_env
from cmsdials.errors import NotSignedInError

if TYPE_CHECKING:
    from cmsdials._dials import Dials
    from cmsdials.auth.base import BaseCredentials
    from cmsdials.auth.client import AuthClient

__all__ = [
    "BASE_URL_ENV",
    "SECRET_KEY_ENV",
    "WORKSPACE_ENV",
    "NotSignedInError",
    "auth_client_for",
    "credentials_from_env",
    "dials_from_env",
    "env_value",
    "read_secret_file",
    "resolve_base_url",
]

#: The workspace to read (``Workspace`` header).
WORKSPACE_ENV = "DIALS_WORKSPACE"
#: An API-client secret key (``X-CLIENT-SECRET``).
SECRET_KEY_ENV = "DIALS_SECRET_KEY"


def env_value(name: str) -> str | None:
    """``$name`` stripped, or ``None`` when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def resolve_base_url(base_url: str | None = None) -> str:
    """``base_url``, else ``$DIALS_BASE_URL``, else production's URL; with a final slash."""
    chosen = (base_url or "").strip() or base_url_from_env() or DEFAULT_BASE_URL
    return chosen if chosen.endswith("/") else chosen + "/"


def read_secret_file(path: str | os.PathLike[str]) -> str:
    """The secret key stored in ``path`` (surrounding whitespace removed).

    Raises
    ------
    ValueError
        The file cannot be read or holds no key; the message names the file, never its
        content.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot read the secret key file {os.fspath(path)!r}: {reason}") from None
    key = text.strip()
    if not key:
        raise ValueError(f"the secret key file {os.fspath(path)!r} is empty")
    return key


def auth_client_for(base_url: str, **options: Any) -> AuthClient:
    """The :class:`~cmsdials.auth.client.AuthClient` that signs people in for ``base_url``.

    The production DIALS signs in at CERN's Keycloak; any other instance (a dev DIALS, a
    dials-local) through its own ``auth/*`` routes, as the usage guide does.  The choice is
    made from ``base_url`` alone, so that ``$DIALS_BASE_URL`` cannot send a sign-in for
    one server to another.
    """
    from cmsdials.auth.client import DEFAULT_KEYCLOAK_URL, AuthClient

    if resolve_base_url(base_url) == DEFAULT_BASE_URL:
        return AuthClient(keycloak_url=DEFAULT_KEYCLOAK_URL, **options)
    return AuthClient(base_url=resolve_base_url(base_url), **options)


def credentials_from_env(
    base_url: str | None = None,
    *,
    secret_key: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    interactive: bool | None = None,
) -> BaseCredentials:
    """The credentials for ``base_url``: a secret key, or the cached sign-in.

    ``secret_key``, else ``$DIALS_SECRET_KEY``; else the device-flow tokens cached for the
    server.  With nothing cached the device flow starts only when someone can answer it
    (``interactive``, default :func:`cmsdials.auth.device.is_interactive`).

    Raises
    ------
    NotSignedInError
        No secret key, nothing cached, and nobody to sign in.
    """
    key = secret_key if secret_key is not None else env_value(SECRET_KEY_ENV)
    if key is not None:
        from cmsdials.auth.secret_key import Credentials as SecretKey

        return SecretKey(token=key)
    from cmsdials.auth._store import CredentialStore
    from cmsdials.auth.client import PRODUCTION_KEY
    from cmsdials.auth.device import Credentials as Bearer
    from cmsdials.auth.device import is_interactive

    client = auth_client_for(resolve_base_url(base_url))
    store = CredentialStore(cache_dir, legacy_key=PRODUCTION_KEY)
    if not is_interactive(interactive) and store.load(client.cache_key) is None:
        # from_creds_file would start the device flow and wait for nobody.
        raise NotSignedInError(resolve_base_url(base_url), str(store.path))
    return Bearer.from_creds_file(cache_dir=cache_dir, client=client, interactive=interactive)


def dials_from_env(
    cls: type[Dials],
    *,
    workspace: str | None = None,
    base_url: str | None = None,
    secret_key: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    interactive: bool | None = None,
    **options: Any,
) -> Dials:
    """The body of :meth:`cmsdials.Dials.from_env`."""
    server = resolve_base_url(base_url)
    creds = credentials_from_env(
        server, secret_key=secret_key, cache_dir=cache_dir, interactive=interactive
    )
    chosen_workspace = workspace if workspace is not None else env_value(WORKSPACE_ENV)
    return cls(creds, workspace=chosen_workspace, base_url=server, **options)
