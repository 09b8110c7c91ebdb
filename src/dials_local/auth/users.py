"""People who sign in on the approval page: names, scrypt password hashes, CERN roles.

Roles are the e-group strings of the real identity provider's ``cern_roles`` claim; they
route a user to a workspace (CONTRACT §4.3).  ``dials-local create-user NAME --role jetmet``
accepts a workspace name as shorthand for that workspace's role.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, select

from dials_local.db.schema import users
from dials_local.workspaces import WORKSPACE_ROLES

#: scrypt cost: n = 2**15, r = 8 (32 MiB, tens of milliseconds): slow for a guesser, quick
#: enough for one sign-in.  Stored with each hash, so raising it later keeps old hashes valid.
SCRYPT_LOG2_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 128 * 1024 * 1024

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=32
    )


def hash_password(password: str) -> str:
    """``scrypt$15$8$1$<salt>$<hash>`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison)."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, _unb64(salt), int(log2_n), int(r), int(p))
        return hmac.compare_digest(computed, _unb64(digest))
    except ValueError:
        return False


@functools.cache
def _dummy_hash() -> str:
    """Checked when the user does not exist, so that an unknown name costs the same time
    as a wrong password (no user enumeration by timing)."""
    return hash_password(secrets.token_urlsafe(16))


def resolve_role(value: str) -> str:
    """A role string, with a workspace name standing for its role (``jetmet`` ->
    ``cms-dqm-runregistry-offline-jme-certifiers``); anything else is kept as given."""
    return WORKSPACE_ROLES.get(value, value)


def validate_name(name: str) -> str:
    """``name`` if it is a valid user name, else :class:`ValueError`."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"invalid user name {name!r}: 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class User:
    """A user as the token issuer needs it (the password hash stays in the database)."""

    name: str
    roles: tuple[str, ...]


class UserStore:
    """Create, look up and authenticate users in the service database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return "<UserStore>"

    def save(self, name: str, password: str, roles: Iterable[str] = ()) -> bool:
        """Create the user, or replace an existing user's password and roles.

        Returns True when the user is new.
        """
        validate_name(name)
        if not password:
            raise ValueError("the password must not be empty")
        values = {
            "password_hash": hash_password(password),
            "roles": orjson.dumps(list(dict.fromkeys(resolve_role(r) for r in roles))).decode(),
        }
        with self._engine.begin() as conn:
            exists = conn.execute(select(users.c.id).where(users.c.name == name)).first()
            if exists is None:
                conn.execute(
                    users.insert().values(
                        name=name,
                        created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                        **values,
                    )
                )
                return True
            conn.execute(users.update().where(users.c.name == name).values(**values))
            return False

    def exists(self, name: str) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None

    def get(self, name: str) -> User | None:
        """The user called ``name`` (current roles), or ``None``."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(users.c.name, users.c.roles).where(users.c.name == name)
            ).first()
        if row is None:
            return None
        return User(name=row.name, roles=tuple(orjson.loads(row.roles)))

    def credentials(self, name: str) -> tuple[User | None, str | None]:
        """The user called ``name`` and their stored hash, or ``(None, None)``: the
        database half of :meth:`authenticate`, so that the hashing half can run elsewhere
        (:func:`check_password`)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(users.c.name, users.c.roles, users.c.password_hash).where(
                    users.c.name == name
                )
            ).first()
        if row is None:
            return None, None
        return User(name=row.name, roles=tuple(orjson.loads(row.roles))), row.password_hash

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else ``None`` (same cost either way)."""
        user, stored = self.credentials(name)
        return user if check_password(password, stored) else None


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; with no stored hash (unknown user), a dummy
    hash is checked so that the answer takes as long as for a wrong password."""
    if stored is None:
        verify_password(password, _dummy_hash())
        return False
    return verify_password(password, stored)
