"""Run-time settings of one dials-local server (what ``dials-local serve`` was asked for)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dials_local import argtypes
from dials_local.db.budget import DEFAULT_REQUEST_BUDGET_S
from dials_local.db.engines import Database
from dials_local.middleware import DEFAULT_MAX_BODY_BYTES
from dials_local.options import OptionGroup, setting

#: Production identifiers (CONTRACT §3.6), so that unmodified clients work unchanged.
DEFAULT_REALM = "cern"
DEFAULT_PUBLIC_CLIENT_ID = "cms-dials-prod-public-app"
DEFAULT_AUDIENCE = "cms-dials-prod-confidential-app"


#: The two groups of sign-in options in ``dials-local serve --help``.
SIGN_IN = OptionGroup(
    "sign-in",
    "Tokens are RS256 JWTs signed with a key kept in the data directory "
    "(jwt-signing-key.pem, created on first start) or, with --database-url, in the "
    "database. See docs/signin.md.",
)
SIGN_IN_LIMITS = OptionGroup(
    "sign-in limits", "Bounds on what clients without credentials can make the server do."
)


def _seconds(
    default: float,
    help: str,
    group: OptionGroup = SIGN_IN,
    parse: Callable[[str], float] = argtypes.positive,
) -> Any:
    """A lifetime or a window, in seconds (whole ones unless ``parse`` allows fractions)."""
    return setting(default, help, group, type=parse, metavar="SECONDS")


def _count(default: int, help: str) -> Any:
    """A positive bound of the sign-in limits."""
    return setting(default, help, SIGN_IN_LIMITS, type=argtypes.positive, metavar="N")


@dataclass
class AuthSettings:
    """How dials-local issues and checks tokens.

    Each field with an option is ``dials-local serve --<field-name>`` (its help text is
    its documentation; :mod:`dials_local.options`).  Holds no secret: the signing key is
    read from ``key_file``, the data directory or the service database when the app is
    built (:mod:`dials_local.auth.keys`).  Lifetimes and windows are in seconds.
    """

    access_ttl: int = _seconds(300, "access-token lifetime (default: %(default)s)")
    refresh_ttl: int = _seconds(
        36000, "refresh-token lifetime; each refresh issues a new one (default: %(default)s)"
    )
    #: Keycloak's default.
    device_ttl: int = _seconds(
        600, "how long a device sign-in code stays valid (default: %(default)s)"
    )
    device_interval: float = _seconds(
        5.0,
        "minimum time between two polls of one device code, else slow_down; "
        "fractions allowed (default: %(default)s)",
        parse=argtypes.positive_float,
    )
    #: Applied to ``exp``/``nbf``: jwcrypto's default, as DIALS.
    leeway: int = _seconds(
        60,
        "clock skew tolerated when checking token expiry (default: %(default)s, as DIALS)",
        parse=argtypes.non_negative,
    )
    #: Also the token ``iss`` (``<base_url>auth/realms/<realm>``).
    realm: str = setting(
        DEFAULT_REALM,
        "Keycloak realm served under /auth/realms/REALM/ (default: %(default)s)",
        SIGN_IN,
    )
    #: The DIALS confidential client id.
    audience: str = setting(
        DEFAULT_AUDIENCE, "the aud claim Bearer tokens must carry (default: %(default)s)", SIGN_IN
    )
    #: C241's ``client_id``.
    public_client_id: str = setting(
        DEFAULT_PUBLIC_CLIENT_ID,
        "client id of device sign-ins through the Keycloak endpoints (default: %(default)s)",
        SIGN_IN,
        metavar="ID",
    )
    #: Default: in the data directory, or the database.
    key_file: Path | None = setting(  # noqa: RUF009 (a dataclasses.field, as for the others)
        None,
        "PEM file of the token signing key (created if missing, mode 0600)",
        SIGN_IN,
        type=Path,
        metavar="PATH",
    )
    #: Counted within ``login_window``.
    login_max_failures: int = _count(
        5, "failed sign-ins for one user name before a lockout (default: %(default)s)"
    )
    login_max_failures_per_address: int = _count(
        20, "failed sign-ins from one client address before a lockout (default: %(default)s)"
    )
    login_window: float = _seconds(
        900.0,
        "the window failed sign-ins are counted in (default: %(default)s)",
        SIGN_IN_LIMITS,
        argtypes.positive_float,
    )
    #: The right password is refused too during a lockout.
    login_lockout: float = _seconds(
        300.0,
        "how long a locked-out name or address is refused (default: %(default)s)",
        SIGN_IN_LIMITS,
        argtypes.positive_float,
    )
    #: Password hashes are scrypt, on threads of their own.
    password_hash_workers: int = _count(
        2, "password hashes run at once, 32 MiB each (default: %(default)s)"
    )
    #: Sign-ins that may wait for a hashing thread; more are refused with 503 at once.
    #: (No option: a bound that only tests change.)
    password_hash_queue: int = 16
    #: More get 429.
    device_grants_per_address: int = _count(
        20, "pending device sign-ins one client address may have (default: %(default)s)"
    )


@dataclass
class Settings:
    """Everything :func:`dials_local.app.create_app` needs to build the ASGI application.

    API-client keys are deliberately absent: they live hashed in the service database
    (``dials-local serve --secret-key`` registers one there before the app is built).  The
    one secret held, ``admin_token``, is left out of ``repr``, so a ``Settings`` object can
    still be printed or logged safely.
    """

    #: Where the workspaces' tables and the service tables live.
    database: Database
    #: Extra delay added to every response, in milliseconds (``--latency-ms``).
    latency_ms: int = 0
    #: Fault-injection rules (``--faults``), interpreted by :mod:`dials_local.middleware`.
    faults: str | None = None
    #: Write one log line per request (the middleware's access log).
    log_requests: bool = True
    #: Create missing tables when the app is built, so that every workspace answers
    #: (an unseeded workspace is simply empty instead of failing with "no such table").
    create_tables: bool = True
    #: Token issuing and checking (device flow, Keycloak endpoints, Bearer validation).
    auth: AuthSettings = field(default_factory=AuthSettings)
    #: Largest request body accepted, in bytes (``--max-body-bytes``); larger gets 413.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Seconds each request's database work may take (``--request-budget``): cancelled
    #: after that, with a 504 (:mod:`dials_local.db.budget`).
    request_budget: float = DEFAULT_REQUEST_BUDGET_S
    #: Enable the control routes ``/_local/*`` (``--testing``); off, they answer 404.
    testing: bool = False
    #: The local admin credential the control routes require (header
    #: ``X-DIALS-LOCAL-ADMIN``); required when ``testing`` is on.  Not an API key.
    admin_token: str | None = field(default=None, repr=False)
