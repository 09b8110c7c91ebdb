"""The RSA key pair that signs dials-local's tokens (RS256, like the real identity provider).

Where the private key lives, in order of preference:

* ``--key-file PATH`` - a PEM file (created if missing);
* ``<data-dir>/jwt-signing-key.pem`` with SQLite data directories;
* the service table ``local_signing_keys`` with ``--database-url`` (every server process
  of that database then signs with the same key).

A new key is generated on first use.  Files are created with mode 0600 and published
atomically (written under a temporary name, then hard-linked into place), so two servers
starting at once on one data directory end up with the same key and never read half a
file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from dials_local.db.schema import signing_keys

KEY_FILE_NAME = "jwt-signing-key.pem"
_KEY_ROW_ID = 1


@dataclass(frozen=True)
class SigningKey:
    """The server's private key, its public half and a key id.

    ``repr`` shows the key id only, so a ``SigningKey`` can end up in a log or a traceback
    without leaking anything.
    """

    private_key: rsa.RSAPrivateKey = field(repr=False)
    #: Key id (``kid`` header): the first 16 hex digits of the public key's SHA-256.
    kid: str

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """Load a PEM private key (PKCS#8 or traditional RSA)."""
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA private key")
        return cls(private_key=key, kid=_kid(key.public_key()))

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh 2048-bit key (what Keycloak realms use by default)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(private_key=key, kid=_kid(key.public_key()))

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def derived_secret(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose`` (e.g. the approval pages' cookie MAC), derived
        from the private key so that there is one secret to keep, not several."""
        return hashlib.sha256(
            b"dials-local derived secret\0" + purpose.encode() + b"\0" + self.private_pem()
        ).digest()


def _kid(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def load_or_create_key_file(path: Path) -> SigningKey:
    """The key in ``path``; a new one is written there (mode 0600) if the file is missing."""
    if path.exists():
        return SigningKey.from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key.private_pem())
        try:
            os.link(temporary, path)  # atomic, and fails if another process won the race
        except FileExistsError:
            return SigningKey.from_pem(path.read_bytes())
    finally:
        temporary.unlink(missing_ok=True)
    return key


def load_or_create_key_row(engine: Engine) -> SigningKey:
    """The key stored in the service table; a new one is inserted if there is none."""
    with engine.connect() as conn:
        pem = conn.execute(
            select(signing_keys.c.private_pem).where(signing_keys.c.id == _KEY_ROW_ID)
        ).scalar()
    if pem is not None:
        return SigningKey.from_pem(pem.encode())
    key = SigningKey.generate()
    try:
        with engine.begin() as conn:
            conn.execute(
                signing_keys.insert().values(
                    id=_KEY_ROW_ID,
                    private_pem=key.private_pem().decode(),
                    created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                )
            )
    except IntegrityError:  # another server inserted one first: use that one
        return load_or_create_key_row(engine)
    return key


def load_signing_key(
    *, key_file: Path | None, data_dir: Path | None, service_engine: Engine
) -> SigningKey:
    """The server's signing key from the place the settings name (module docstring)."""
    if key_file is not None:
        return load_or_create_key_file(key_file)
    if data_dir is not None:
        return load_or_create_key_file(data_dir / KEY_FILE_NAME)
    return load_or_create_key_row(service_engine)
