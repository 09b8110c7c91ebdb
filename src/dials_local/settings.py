"""Run-time settings of one dials-local server (what ``dials-local serve`` was asked for)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dials_local.db.budget import DEFAULT_REQUEST_BUDGET_S
from dials_local.db.engines import Database
from dials_local.middleware import DEFAULT_MAX_BODY_BYTES

#: Production identifiers (CONTRACT §3.6), so that unmodified clients work unchanged.
DEFAULT_REALM = "cern"
DEFAULT_PUBLIC_CLIENT_ID = "cms-dials-prod-public-app"
DEFAULT_AUDIENCE = "cms-dials-prod-confidential-app"


@dataclass
class AuthSettings:
    """How dials-local issues and checks tokens (``serve --realm/--audience/--*-ttl/...``).

    Holds no secret: the signing key is read from ``key_file``, the data directory or the
    service database when the app is built (:mod:`dials_local.auth.keys`).
    """

    #: Keycloak realm served under ``/auth/realms/<realm>/`` (token ``iss``).
    realm: str = DEFAULT_REALM
    #: The public client that runs device flows (C241's ``client_id``).
    public_client_id: str = DEFAULT_PUBLIC_CLIENT_ID
    #: The DIALS confidential client id: the ``aud`` every Bearer token must carry.
    audience: str = DEFAULT_AUDIENCE
    #: Access-token lifetime, seconds.
    access_ttl: int = 300
    #: Refresh-token lifetime, seconds (each refresh issues a new one).
    refresh_ttl: int = 36000
    #: Device-code lifetime, seconds (Keycloak's default).
    device_ttl: int = 600
    #: Minimum seconds between two polls of one device code (else ``slow_down``).
    device_interval: float = 5.0
    #: Clock skew tolerated on ``exp``/``nbf``, seconds (jwcrypto's default, as DIALS).
    leeway: int = 60
    #: PEM file of the signing key (default: in the data directory or the database).
    key_file: Path | None = None
    #: Failed sign-ins for one user name, within ``login_window``, before a lockout.
    login_max_failures: int = 5
    #: Failed sign-ins from one client address, within ``login_window``, before a lockout.
    login_max_failures_per_address: int = 20
    #: The window failed sign-ins are counted in, seconds.
    login_window: float = 900.0
    #: How long a locked-out name or address is refused (right password too), seconds.
    login_lockout: float = 300.0
    #: Password hashes (scrypt, 32 MiB each) run at once, on threads of their own.
    password_hash_workers: int = 2
    #: Sign-ins that may wait for a hashing thread; more are refused with 503 at once.
    password_hash_queue: int = 16
    #: Pending device grants one client address may have; more get 429.
    device_grants_per_address: int = 20


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
