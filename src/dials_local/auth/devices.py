"""Device-authorization grants (RFC 8628; CONTRACT §3.5 and §3.6).

A client starts a grant and gets a secret *device code* (kept only as a SHA-256 hash) and
a short *user code* such as ``BCDF-GHJK`` that a person confirms on the approval page.
The client then polls with the device code; each poll gets one of the RFC's answers:

``authorization_pending``  nobody has approved or denied yet
``slow_down``              this poll came sooner than ``interval`` seconds after the last
``expired_token``          the grant is older than its lifetime
``access_denied``          the person denied it
``invalid_grant``          unknown device code, another client's, or already redeemed

An approved grant is redeemed once (state ``consumed``).  Unlike RFC 8628 §3.5, a
``slow_down`` does not lengthen the interval: clients such as cmsdials 2.4.1 poll at a
fixed period and would otherwise never be answered again.

Starting grants needs no credentials, so it is bounded: at most ``per_address`` pending,
unexpired grants per client address (counted in memory, per process), and rows expired
for longer than their own lifetime are deleted whenever a grant is started.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update

from dials_local.auth.identity import OAuthError
from dials_local.auth.throttle import MAX_TRACKED_KEYS, Throttled
from dials_local.db.schema import device_grants

Clock = Callable[[], float]

#: RFC 8628 §6.1's suggestion: consonants only (no words, no 0/O or 1/I confusion).
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8

PENDING, APPROVED, DENIED, CONSUMED = "pending", "approved", "denied", "consumed"

PENDING_TEXT = "The authorization request is still pending"  # CONTRACT §3.5, verbatim
SLOW_DOWN_TEXT = "Slow down: the client polls faster than the allowed interval"
EXPIRED_TEXT = "The device code has expired"
DENIED_TEXT = "The end user denied the authorization request"
INVALID_TEXT = "Device code not valid"

#: Default bound on pending grants per client address.
DEFAULT_GRANTS_PER_ADDRESS = 20


def _digest(device_code: str) -> str:
    return hashlib.sha256(device_code.encode("utf-8")).hexdigest()


def format_user_code(code: str) -> str:
    """``BCDFGHJK`` -> ``BCDF-GHJK`` (how people see it)."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_user_code(text: str) -> str:
    """What a person typed -> the stored form: upper case, without dashes and spaces."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


@dataclass(frozen=True)
class DeviceStart:
    """What a client gets when it starts a grant."""

    device_code: str
    user_code: str  # formatted, ``BCDF-GHJK``
    expires_in: int
    interval: float

    def __repr__(self) -> str:  # the device code is a secret until it is redeemed
        return f"<DeviceStart user_code={self.user_code} expires_in={self.expires_in}>"


@dataclass(frozen=True)
class DeviceGrant:
    """A grant as the approval page and the token endpoints see it."""

    user_code: str  # formatted
    client_id: str
    scope: str
    state: str
    expires_at: float
    user_name: str | None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


class DeviceStore:
    """Start, decide and poll device grants in the service database."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock = time.time,
        *,
        per_address: int = DEFAULT_GRANTS_PER_ADDRESS,
        max_addresses: int = MAX_TRACKED_KEYS,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.per_address = per_address
        self._max_addresses = max_addresses
        #: address -> {user code: expiry} of the grants it started that may be pending.
        self._by_address: OrderedDict[str, dict[str, float]] = OrderedDict()
        # One lock around count-then-insert, so concurrent starts cannot overshoot.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "<DeviceStore>"

    def _pending(self, address: str, now: float) -> dict[str, float]:
        """The grants ``address`` started that are still pending and unexpired (the
        database is asked only when the in-memory count reaches the limit)."""
        codes = self._by_address.get(address)
        if codes is None:
            codes = self._by_address[address] = {}
            while len(self._by_address) > self._max_addresses:
                self._by_address.popitem(last=False)
        else:
            self._by_address.move_to_end(address)
        for code in [c for c, expires in codes.items() if expires <= now]:
            del codes[code]
        if len(codes) >= self.per_address:  # some may have been approved or denied since
            with self._engine.connect() as conn:
                still = {
                    row.user_code
                    for row in conn.execute(
                        select(device_grants.c.user_code).where(
                            device_grants.c.user_code.in_(list(codes)),
                            device_grants.c.state == PENDING,
                        )
                    )
                }
            for code in [c for c in codes if c not in still]:
                del codes[code]
        return codes

    def start(
        self, client_id: str, *, ttl: int, interval: float, scope: str, address: str = ""
    ) -> DeviceStart:
        """A new pending grant for ``client_id``, started from ``address``; raises
        :class:`Throttled` when that address already has ``per_address`` pending grants."""
        with self._lock:
            now = self._clock()
            codes = self._pending(address, now)
            if len(codes) >= self.per_address:
                wait = min(codes.values()) - now  # until the oldest one expires
                raise Throttled(
                    wait,
                    f"Too many pending sign-in requests from this address (at most "
                    f"{self.per_address}). Finish or abandon one, or try again in "
                    f"{max(1, math.ceil(wait))} seconds.",
                )
            started = self._insert(client_id, now, ttl=ttl, interval=interval, scope=scope)
            codes[normalize_user_code(started.user_code)] = now + ttl
            return started

    def _insert(
        self, client_id: str, now: float, *, ttl: int, interval: float, scope: str
    ) -> DeviceStart:
        device_code = secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            # Expired grants are kept for one more lifetime (their polls get
            # expired_token, not invalid_grant), then dropped as new ones are written.
            conn.execute(delete(device_grants).where(device_grants.c.expires_at < now - ttl))
            while True:  # 20**8 codes: a collision is rare, but must not be an error
                user_code = "".join(
                    secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH)
                )
                taken = conn.execute(
                    select(device_grants.c.user_code).where(device_grants.c.user_code == user_code)
                ).first()
                if taken is None:
                    break
            conn.execute(
                device_grants.insert().values(
                    device_code_sha256=_digest(device_code),
                    user_code=user_code,
                    client_id=client_id,
                    scope=scope,
                    created_at=now,
                    expires_at=now + ttl,
                    interval=interval,
                    last_poll_at=None,
                    state=PENDING,
                    user_name=None,
                )
            )
        return DeviceStart(
            device_code=device_code,
            user_code=format_user_code(user_code),
            expires_in=ttl,
            interval=interval,
        )

    def find(self, user_code: str) -> DeviceGrant | None:
        """The grant a person's code names (any spelling: ``bcdf ghjk``), or ``None``."""
        code = normalize_user_code(user_code)
        if len(code) != USER_CODE_LENGTH:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(
                select(device_grants).where(device_grants.c.user_code == code)
            ).first()
        if row is None:
            return None
        return DeviceGrant(
            user_code=format_user_code(row.user_code),
            client_id=row.client_id,
            scope=row.scope,
            state=row.state,
            expires_at=row.expires_at,
            user_name=row.user_name,
        )

    def decide(self, user_code: str, user_name: str, *, approve: bool) -> bool:
        """Approve or deny a pending, unexpired grant for ``user_name``; False if the grant
        is unknown, expired or already decided."""
        code = normalize_user_code(user_code)
        with self._engine.begin() as conn:
            done = conn.execute(
                update(device_grants)
                .where(
                    device_grants.c.user_code == code,
                    device_grants.c.state == PENDING,
                    device_grants.c.expires_at > self._clock(),
                )
                .values(state=APPROVED if approve else DENIED, user_name=user_name)
            )
        return done.rowcount == 1

    def poll(self, device_code: str, client_id: str) -> DeviceGrant:
        """Redeem an approved grant (once), or raise the RFC 8628 answer as
        :class:`OAuthError`."""
        now = self._clock()
        digest = _digest(device_code)
        with self._engine.begin() as conn:
            row = conn.execute(
                select(device_grants).where(device_grants.c.device_code_sha256 == digest)
            ).first()
            if row is None or row.client_id != client_id or row.state == CONSUMED:
                raise OAuthError("invalid_grant", INVALID_TEXT)
            if now >= row.expires_at:
                raise OAuthError("expired_token", EXPIRED_TEXT)
            if row.state == DENIED:
                raise OAuthError("access_denied", DENIED_TEXT)
            if row.state == PENDING:
                conn.execute(
                    update(device_grants)
                    .where(device_grants.c.device_code_sha256 == digest)
                    .values(last_poll_at=now)
                )
        if row.state == PENDING:  # raised after the commit, which keeps last_poll_at
            if row.last_poll_at is not None and now - row.last_poll_at < row.interval:
                raise OAuthError("slow_down", SLOW_DOWN_TEXT)
            raise OAuthError("authorization_pending", PENDING_TEXT)
        with self._engine.begin() as conn:
            consumed = conn.execute(
                update(device_grants)
                .where(
                    device_grants.c.device_code_sha256 == digest, device_grants.c.state == APPROVED
                )
                .values(state=CONSUMED, last_poll_at=now)
            )
            if consumed.rowcount != 1:  # a concurrent poll redeemed it first
                raise OAuthError("invalid_grant", INVALID_TEXT)
        return DeviceGrant(
            user_code=format_user_code(row.user_code),
            client_id=row.client_id,
            scope=row.scope,
            state=CONSUMED,
            expires_at=row.expires_at,
            user_name=row.user_name,
        )
