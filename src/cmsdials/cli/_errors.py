"""Every error a user can cause, as one line: ``cmsdials: error: ...`` and exit code 1.

The command never shows a traceback for these (``CMSDIALS_DEBUG=1`` shows it, for bug
reports).  Messages never contain a secret: the client's messages carry none (URLs hold
no credentials), and the secret key file is named by its path only.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import IO, Any

import click
import requests
from pydantic import ValidationError

from cmsdials._suggest import closest
from cmsdials.auth.exceptions import ImpossibleToRefreshTokenError
from cmsdials.errors import APIError, AuthenticationError, DialsError, NotFoundError, did_you_mean

__all__ = ["DEBUG_ENV", "CommandError", "Interrupted", "describe"]

#: Set to 1 to print the traceback of an error after its one line.
DEBUG_ENV = "CMSDIALS_DEBUG"


class CommandError(click.ClickException):
    """An error of the command: one line on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"cmsdials: error: {self.format_message()}", file=file or sys.stderr)
        if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0") and self.__cause__ is not None:
            traceback.print_exception(
                type(self.__cause__), self.__cause__, self.__cause__.__traceback__
            )


class Interrupted(click.ClickException):
    """Ctrl-C: one line, exit code 130 (128 + SIGINT, what shells report)."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo("cmsdials: interrupted", file=file or sys.stderr)


def _connection_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words (the urllib3 chain is long)."""
    seen: BaseException | None = exc
    text = str(exc)
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return "connection refused"
        seen = seen.__cause__ or seen.__context__
    lowered = text.lower()
    for marker, reason in (
        ("connection refused", "connection refused"),
        ("name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("temporary failure in name resolution", "host name not resolved"),
        ("timed out", "timed out"),
        ("certificate verify failed", "TLS certificate not trusted"),
    ):
        if marker in lowered:
            return reason
    return type(exc).__name__


def _workspace_hint(state: Any, exc: NotFoundError) -> str | None:
    """For a 404 about an unknown workspace: the message, with the valid workspaces."""
    detail = exc.detail or ""
    if not detail.startswith("Workspace "):
        return None
    name = state.workspace if state is not None else None
    known: list[str] = []
    try:
        answer = state.dials().workspace.list(retries=0)
        if isinstance(answer, dict) and isinstance(answer.get("workspaces"), list):
            known = [str(item) for item in answer["workspaces"]]
    except Exception:  # the hint is a courtesy: the error itself is what matters
        known = []
    message = f"unknown workspace {name!r}" if name else detail
    message += did_you_mean(closest(name, known) if name else [])
    if known:
        message += f" (workspaces: {', '.join(known)})"
    return message


def describe(exc: BaseException, state: Any = None) -> str:
    """The one-line message of ``exc`` (an exception a user can cause)."""
    server = state.base_url if state is not None else "the server"
    if isinstance(exc, ImpossibleToRefreshTokenError):
        return f"the sign-in cached for {server} has expired: sign in again with `cmsdials login`"
    if isinstance(exc, AuthenticationError):
        return (
            f"{server} refused the credentials ({exc.detail or '403 Forbidden'}): check the "
            "secret key (DIALS_SECRET_KEY or --secret-key-file) or sign in again with "
            "`cmsdials login`"
        )
    if isinstance(exc, NotFoundError):
        hint = _workspace_hint(state, exc)
        if hint is not None:
            return hint
        return str(exc)
    if isinstance(exc, APIError):
        return str(exc)
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
        return (
            f"cannot connect to {server} ({_connection_reason(exc)}): is the server running "
            "and the URL right? (--base-url or DIALS_BASE_URL)"
        )
    if isinstance(exc, requests.Timeout):
        return f"{server} did not answer in time ({exc})"
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            where = ".".join(str(item) for item in error["loc"]) or "value"
            parts.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
        return "invalid filter value - " + "; ".join(parts)
    if isinstance(exc, (DialsError, ValueError)):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot write{where}: {exc.strerror or exc}"
    if isinstance(exc, requests.RequestException):
        return f"request to {server} failed: {exc}"
    return f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)"
