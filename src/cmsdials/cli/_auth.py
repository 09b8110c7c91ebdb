"""``login``, ``logout`` and ``whoami``.

``login`` runs the client's device flow (:class:`~cmsdials.auth.client.AuthClient`) for the
server of ``--base-url`` and caches the tokens where
:meth:`cmsdials.auth.bearer.Credentials.from_creds_file` finds them, so that Python code
and later commands use the same sign-in.  Tokens are never printed: ``whoami`` shows the
user name and the expiry times only.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import orjson

from cmsdials._env import auth_client_for
from cmsdials.auth._refreshing import token_state
from cmsdials.auth._store import CredentialStore
from cmsdials.auth.base import TokenState
from cmsdials.auth.client import PRODUCTION_KEY
from cmsdials.auth.models import Device, Token
from cmsdials.cli._app import State, cli
from cmsdials.cli._errors import CommandError
from cmsdials.cli._lists import SuggestingCommand

__all__ = ["login", "logout", "whoami"]


def _claims(access_token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (only shown to its owner), or ``{}``."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _user(token: Token) -> str:
    claims = _claims(token.access_token)
    for name in ("preferred_username", "email", "sub"):
        if claims.get(name):
            return str(claims[name])
    return "unknown user"


def _when(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _announce(device: Device) -> None:
    code = device.user_code
    if code is None:
        code = (
            parse_qs(urlsplit(device.verification_uri_complete).query).get("user_code") or [""]
        )[0]
    minutes, seconds = divmod(device.expires_in, 60)
    lifetime = f"{minutes} min" if minutes and not seconds else f"{device.expires_in} s"
    click.echo(
        "To sign in to DIALS, open this link in a browser and approve the request:\n\n"
        f"    {device.verification_uri_complete}\n\n"
        + (f"The page shows the code {code}: check that it is the same.\n" if code else "")
        + f"Waiting for approval (the link expires in {lifetime}; Ctrl-C cancels)...",
        file=sys.stderr,
    )


def _store() -> CredentialStore:
    return CredentialStore(None, legacy_key=PRODUCTION_KEY)


@cli.command(cls=SuggestingCommand)
@click.option("--force", is_flag=True, help="sign in again even when a sign-in is cached")
@click.option("--poll-interval", type=click.FloatRange(min=0), hidden=True)
@click.pass_obj
def login(state: State, force: bool, poll_interval: float | None) -> None:
    """Sign in with the device flow: prints a link to open and approve in a browser.

    The tokens are cached for this server (in your user cache directory, readable by you
    only) and renewed as they expire; later commands and
    `Credentials.from_creds_file()` use them.
    """
    from cmsdials.auth.device import Credentials

    auth = auth_client_for(state.base_url, poll_interval=poll_interval, announce=_announce)
    store = _store()
    if not force:
        cached = store.load(auth.cache_key)
        if cached is not None and token_state(cached) is not TokenState.INVALID:
            click.echo(
                f"already signed in to {state.base_url} as {_user(cached)} "
                "(`cmsdials login --force` signs in again)"
            )
            return
    token = auth.device_auth_flow()
    creds = Credentials.from_authclient_token(token, client=auth, interactive=False)
    creds.cache_credentials()  # raises if the cache cannot be written: say so now
    click.echo(
        f"signed in to {state.base_url} as {_user(token)}; tokens cached in {creds.cache_path}"
    )


@cli.command(cls=SuggestingCommand)
@click.pass_obj
def logout(state: State) -> None:
    """Forget the sign-in cached for this server (other servers' sign-ins stay)."""
    auth = auth_client_for(state.base_url)
    store = _store()
    if store.delete(auth.cache_key):
        click.echo(f"signed out of {state.base_url} (tokens removed from {store.path})")
    else:
        click.echo(f"not signed in to {state.base_url}: nothing to remove", err=True)


@cli.command(cls=SuggestingCommand)
@click.pass_obj
def whoami(state: State) -> None:
    """Show the server, who you are to it (user or secret key), the workspace, and when
    the sign-in expires.  Asks the server, so it also checks the credentials."""
    from cmsdials.auth.device import Credentials as Bearer

    dials = state.dials()
    creds = dials.run.creds
    default = dials.workspace.my_workspace().get("workspace")
    lines = [("server", state.base_url)]
    if isinstance(creds, Bearer):
        token = creds.as_token()
        lines.append(("user", f"{_user(token)} (signed in with `cmsdials login`)"))
    else:
        lines.append(("user", f"secret key (from {state.key_source})"))
    if state.workspace:
        known = dials.workspace.list().get("workspaces", [])
        if state.workspace not in known:
            from cmsdials._suggest import closest
            from cmsdials.errors import did_you_mean

            near = closest(state.workspace, known)
            hint = did_you_mean(near)
            raise CommandError(
                f"unknown workspace {state.workspace!r}{hint} (workspaces: {', '.join(known)})"
            )
        lines.append(("workspace", f"{state.workspace} (your default: {default})"))
    else:
        lines.append(("workspace", f"{default} (the server's default for you)"))
    if isinstance(creds, Bearer):
        token = creds.as_token()
        lines.append(("token expires", _when(token.expires_at)))
        lines.append(
            ("sign-in expires", f"{_when(token.refresh_expires_at)} (later when renewed before)")
        )
        lines.append(("cache", creds.cache_path))
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        click.echo(f"{name + ':':<{width + 1}} {value}")
