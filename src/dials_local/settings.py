"""Run-time settings of one dials-local server (what ``dials-local serve`` was asked for)."""

from __future__ import annotations

from dataclasses import dataclass

from dials_local.db.engines import Database


@dataclass
class Settings:
    """Everything :func:`dials_local.app.create_app` needs to build the ASGI application.

    Secrets are deliberately absent: API-client keys live hashed in the service database
    (``dials-local serve --secret-key`` registers one there before the app is built), so a
    ``Settings`` object can be printed or logged safely.
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
