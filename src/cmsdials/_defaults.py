"""What both clients assume when not told otherwise: which server, which API prefix, who
is asking, how long to wait for a connection.

:class:`~cmsdials.Dials` (through :mod:`cmsdials._transport`) and
:class:`~cmsdials.auth.client.AuthClient` read these from here, so that a script pointed
at another server by ``$DIALS_BASE_URL`` reads its data and signs in at the same place,
and both introduce themselves the same way in the server's logs.
"""

from __future__ import annotations

import os
import platform

import requests

from cmsdials._version import __version__

__all__ = [
    "BASE_URL_ENV",
    "CONNECT_TIMEOUT",
    "DEFAULT_BASE_URL",
    "DEFAULT_ROUTE",
    "DEFAULT_VERSION",
    "api_url",
    "base_url_from_env",
    "default_base_url",
    "identity_headers",
    "user_agent",
]

#: The production DIALS.
DEFAULT_BASE_URL = "https://cmsdials-api.web.cern.ch/"

#: Names the server that clients built without a ``base_url`` talk to (production when
#: unset), so that an unchanged script can be pointed at a dev DIALS or a dials-local.
BASE_URL_ENV = "DIALS_BASE_URL"

#: The API prefix parts after the base URL: ``<base_url>/api/v1/``.
DEFAULT_ROUTE = "api"
DEFAULT_VERSION = "v1"

#: Seconds to open a connection.  Shared because it says how far the server is, not how
#: much work a request asks for: the read timeouts differ (a page of 2-D histograms may
#: take minutes to produce, a token answer is instant).
CONNECT_TIMEOUT = 5.0


def base_url_from_env() -> str | None:
    """``$DIALS_BASE_URL``, or ``None`` when it is unset or blank."""
    return os.environ.get(BASE_URL_ENV, "").strip() or None


def default_base_url() -> str:
    """``$DIALS_BASE_URL`` if set, else production's URL."""
    return base_url_from_env() or DEFAULT_BASE_URL


def api_url(base_url: str, route: str, version: str) -> str:
    """``base_url/route/version/`` with single slashes: the prefix of every API route.

    Empty parts are left out rather than doubling a slash (a server whose API is at its
    root: ``route=""``).
    """
    parts = (base_url, route, version)
    return "/".join(part.strip("/") for part in parts if part.strip("/")) + "/"


def user_agent() -> str:
    """``cmsdials/<version> (python/X.Y.Z, requests/A.B.C)``."""
    return (
        f"cmsdials/{__version__} "
        f"(python/{platform.python_version()}, requests/{requests.__version__})"
    )


def identity_headers() -> dict[str, str]:
    """Who is asking (``User-Agent``) and what it reads (JSON): sent with every request."""
    return {"Accept": "application/json", "User-Agent": user_agent()}
