"""API-client secret keys (``X-CLIENT-SECRET``), stored as SHA-256 hashes.

The real service maps secrets to Keycloak clients (CONTRACT §3.2); dials-local keeps the
hash of each secret in the service table ``local_api_clients``.  Secrets are 256-bit
random strings, so a plain SHA-256 is enough and lets a request look its key up by hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, select

from dials_local.db.schema import api_clients


def secret_hash(secret: str) -> str:
    """Hex SHA-256 of a secret (what the database stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh random secret key (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiClient:
    """A registered API client (its secret is not kept)."""

    id: int
    name: str


class ApiClientStore:
    """Create and look up API clients in the service database.

    Positive look-ups are cached: keys are never revoked, and a key created by another
    process (``dials-local create-api-client``) is found on its first use because misses
    are not cached.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: dict[str, ApiClient] = {}

    def __repr__(self) -> str:
        return f"<ApiClientStore {len(self._known)} cached>"

    def create(self, name: str, secret: str | None = None) -> str:
        """Register a client and return its secret (a new random one unless given).

        Registering an already known secret is a no-op, so ``serve --secret-key S`` can
        run any number of times.
        """
        secret = secret or new_secret()
        digest = secret_hash(secret)
        with self._engine.begin() as conn:
            exists = conn.execute(
                select(api_clients.c.id).where(api_clients.c.secret_sha256 == digest)
            ).first()
            if exists is None:
                conn.execute(
                    api_clients.insert().values(
                        name=name,
                        secret_sha256=digest,
                        created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                    )
                )
        return secret

    def lookup(self, secret: str) -> ApiClient | None:
        """The client owning ``secret``, or ``None``."""
        digest = secret_hash(secret)
        known = self._known.get(digest)
        if known is not None:
            return known
        with self._engine.connect() as conn:
            row = conn.execute(
                select(api_clients.c.id, api_clients.c.name).where(
                    api_clients.c.secret_sha256 == digest
                )
            ).first()
        if row is None:
            return None
        client = ApiClient(id=row.id, name=row.name)
        self._known[digest] = client
        return client

    def count(self) -> int:
        """Number of registered clients."""
        with self._engine.connect() as conn:
            return len(conn.execute(select(api_clients.c.id)).all())
