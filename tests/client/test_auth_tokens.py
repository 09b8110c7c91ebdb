"""The life of a token, without a server: expiry estimates, states, and the refresh rules
(one background refresh when stale, one blocking refresh however many threads wait, a
new sign-in or a clear error when the refresh token is gone).

The identity provider is a stand-in :class:`AuthClient` that counts its calls; the same
rules are checked against a real dials-local in ``test_auth_server.py``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cmsdials.auth._refreshing import token_state
from cmsdials.auth.base import TokenState
from cmsdials.auth.client import AuthClient
from cmsdials.auth.device import Credentials, is_interactive
from cmsdials.auth.exceptions import (
    CredentialsCacheError,
    ImpossibleToRefreshTokenError,
    InvalidGrantError,
    PendingAuthorizationError,
    SlowDownError,
)
from cmsdials.auth.models import Device, Token, expiry


def jwt_with_exp(exp: float) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': exp, 'sub': 'x'})}.sig"


def token(lifetime: float, *, age: float = 0.0, refresh: float = 3600, name: str = "t") -> Token:
    issued = datetime.now(timezone.utc) - timedelta(seconds=age)
    return Token(
        access_token=f"{name}.access.x",
        expires_in=int(lifetime),
        refresh_expires_in=int(refresh),
        refresh_token=f"{name}.refresh",
        expires_at=issued + timedelta(seconds=lifetime),
        refresh_expires_at=issued + timedelta(seconds=refresh),
    )


class CountingAuth(AuthClient):
    """A stand-in identity provider: issues numbered tokens, counts refreshes."""

    def __init__(
        self,
        lifetime: int = 300,
        delay: float = 0.0,
        refuse: bool = False,
        gate: threading.Event | None = None,
    ) -> None:
        super().__init__(base_url="http://127.0.0.1:9/")
        self.lifetime = lifetime
        self.delay = delay
        self.refuse = refuse
        # When given, a refresh waits for it: the test decides when a refresh ends.
        self.gate = gate
        self.started = 0  # refreshes begun (``refreshes`` counts those that ended)
        self.refreshes = 0
        self.sign_ins = 0
        self._lock = threading.Lock()

    def refresh_token(
        self,
        token_type: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
    ) -> Token:
        with self._lock:
            self.started += 1
        if self.gate is not None:
            self.gate.wait()
        time.sleep(self.delay)
        with self._lock:
            self.refreshes += 1
            number = self.refreshes
        if self.refuse:
            raise InvalidGrantError("refused", code="invalid_grant")
        return token(self.lifetime, name=f"refreshed{number}")

    def device_auth_flow(self, announce: object = None) -> Token:
        self.sign_ins += 1
        return token(self.lifetime, name=f"signin{self.sign_ins}")


def creds_of(tok: Token, auth: AuthClient, cache: Path, **kwargs: object) -> Credentials:
    return Credentials.from_authclient_token(tok, cache_dir=cache, client=auth, **kwargs)  # type: ignore[arg-type]


def header(creds: Credentials) -> str:
    headers: dict[str, str] = {}
    creds.before_request(headers)
    return headers["Authorization"]


# -- estimates and states ------------------------------------------------------------------


def test_expiry_uses_an_earlier_exp_claim_within_tolerance() -> None:
    sent = datetime(2025, 1, 1, 12, 0, 0, 900000, tzinfo=timezone.utc)
    whole_second = sent.replace(microsecond=0).timestamp() + 3
    assert expiry(jwt_with_exp(whole_second), 3, sent).timestamp() == whole_second
    # A claim far earlier means another clock: trust ours, never refresh in a loop.
    assert expiry(jwt_with_exp(sent.timestamp() - 600), 3, sent) == sent + timedelta(seconds=3)
    # A later claim, an opaque token, garbage: the local estimate.
    assert expiry(jwt_with_exp(sent.timestamp() + 60), 3, sent) == sent + timedelta(seconds=3)
    for opaque in ("opaque", "a.b.c", "a..c", jwt_with_exp(True)):  # exp: a bool, no number
        assert expiry(opaque, 3, sent) == sent + timedelta(seconds=3)


def test_states() -> None:
    assert token_state(token(100, age=10)) is TokenState.FRESH
    assert token_state(token(100, age=91)) is TokenState.STALE
    assert token_state(token(100, age=101)) is TokenState.EXPIRED
    # Within the travel margin (5 % of the life): a request sent now could arrive expired.
    assert token_state(token(100, age=96)) is TokenState.EXPIRED
    assert token_state(token(100, age=101, refresh=100.5)) is TokenState.INVALID


def test_header_is_always_capitalised_bearer(tmp_path: Path) -> None:
    tok = token(300).model_copy(update={"token_type": "bearer"})
    creds = creds_of(tok, CountingAuth(), tmp_path)
    assert header(creds) == "Bearer t.access.x"


def test_interactive_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMSDIALS_INTERACTIVE", "1")
    assert is_interactive() and not is_interactive(False)
    monkeypatch.setenv("CMSDIALS_INTERACTIVE", "0")
    assert not is_interactive() and is_interactive(True)


# -- refresh rules ---------------------------------------------------------------------------


def test_stale_token_is_refreshed_once_in_the_background(tmp_path: Path) -> None:
    gate = threading.Event()
    auth = CountingAuth(gate=gate)
    # Stale for another 75 s (not 3 s), so that a stalled machine cannot make it expire.
    creds = creds_of(token(1000, age=920), auth, tmp_path)
    seen: list[str] = []
    asking = threading.Thread(
        target=lambda: seen.extend(header(creds) for _ in range(50)), daemon=True
    )
    try:
        asking.start()
        # The refresh cannot end before gate.set(): the 50 requests ending proves they did
        # not wait for it (the timeout only turns a regression into a failure, not a hang).
        asking.join(timeout=10)
        assert not asking.is_alive(), "requests waited for the background refresh"
        # ... and they went on with the current token.
        assert seen == ["Bearer t.access.x"] * 50
        deadline = time.monotonic() + 10
        while auth.started == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert auth.started == 1 and auth.refreshes == 0
        assert header(creds) == "Bearer t.access.x"  # still, while the refresh runs
    finally:
        gate.set()  # never leave the refresh (nor a blocked request) waiting
    deadline = time.monotonic() + 10
    while header(creds) == "Bearer t.access.x" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert header(creds) == "Bearer refreshed1.access.x"
    assert auth.started == 1 and auth.refreshes == 1


def test_expired_token_refreshed_once_for_sixteen_threads(tmp_path: Path) -> None:
    auth = CountingAuth(delay=0.2)
    creds = creds_of(token(10, age=11), auth, tmp_path)
    barrier = threading.Barrier(16)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(header(creds))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert auth.refreshes == 1
    assert results == ["Bearer refreshed1.access.x"] * 16
    # The refreshed token was cached.
    again = Credentials.from_creds_file(cache_dir=tmp_path, client=auth)
    assert again.token == "refreshed1.access.x"


def test_failed_background_refresh_is_not_retried_until_expiry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    auth = CountingAuth(refuse=True)
    # Stale for another 75 s (not 3 s), so that a stalled machine cannot make it expire.
    creds = creds_of(token(1000, age=920), auth, tmp_path, interactive=False)
    for _ in range(20):
        assert header(creds) == "Bearer t.access.x"
        time.sleep(0.01)
    # The refresh runs in a thread of its own: wait until it has failed (logged last).
    deadline = time.monotonic() + 10
    while "background refresh of the DIALS token failed" not in caplog.text:
        assert time.monotonic() < deadline, "the background refresh did not fail in 10 s"
        time.sleep(0.01)
    assert auth.refreshes == 1
    # Not retried: requests after the failure start no refresh.  Any thread they start is
    # joined before counting, so that a retry is counted however slowly it runs.
    before = set(threading.enumerate())
    for _ in range(20):
        assert header(creds) == "Bearer t.access.x"
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=10)
    assert auth.refreshes == 1
    assert "t.access" not in caplog.text and "t.refresh" not in caplog.text


def test_refresh_token_expired_non_interactive(tmp_path: Path) -> None:
    auth = CountingAuth()
    creds = creds_of(token(10, age=20, refresh=15), auth, tmp_path, interactive=False)
    with pytest.raises(ImpossibleToRefreshTokenError, match="interactive=True"):
        header(creds)
    assert auth.refreshes == 0 and auth.sign_ins == 0
    # from_creds_file says so at once rather than at the first request.
    with pytest.raises(ImpossibleToRefreshTokenError):
        Credentials.from_creds_file(cache_dir=tmp_path, client=auth, interactive=False)


def test_refresh_refused_non_interactive(tmp_path: Path) -> None:
    auth = CountingAuth(refuse=True)
    creds = creds_of(token(10, age=20), auth, tmp_path, interactive=False)
    with pytest.raises(ImpossibleToRefreshTokenError) as info:
        header(creds)
    assert isinstance(info.value.__cause__, InvalidGrantError)


def test_refresh_token_expired_interactive_signs_in_again(tmp_path: Path) -> None:
    auth = CountingAuth()
    creds = creds_of(token(10, age=20, refresh=15), auth, tmp_path, interactive=True)
    assert header(creds) == "Bearer signin1.access.x"
    assert auth.sign_ins == 1 and auth.refreshes == 0
    assert Credentials.from_creds_file(cache_dir=tmp_path, client=auth).token == (
        "signin1.access.x"
    )


def test_token_refreshed_by_another_process_is_adopted(tmp_path: Path) -> None:
    auth = CountingAuth()
    mine = creds_of(token(10, age=11), auth, tmp_path)
    # "Another process" refreshed and cached first.
    other = Credentials.from_creds_file(cache_dir=tmp_path, client=auth)
    other._token = token(300, name="other")
    other.cache_credentials()
    assert header(mine) == "Bearer other.access.x"
    assert auth.refreshes == 0


def test_explicit_refresh(tmp_path: Path) -> None:
    auth = CountingAuth()
    creds = creds_of(token(300), auth, tmp_path)
    creds.refresh()
    assert creds.token == "refreshed1.access.x" and auth.refreshes == 1
    assert creds.token_state is TokenState.FRESH and not creds.expired and not creds.stale


def test_unwritable_cache_never_loses_a_sign_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("")
    cache = tmp_path / "a-file" / "cache"  # cannot be created
    auth = CountingAuth()
    creds = creds_of(token(10, age=11), auth, cache)
    assert "cannot create its directory" in caplog.text
    assert header(creds) == "Bearer refreshed1.access.x"  # renewed all the same
    with pytest.raises(CredentialsCacheError):
        creds.cache_credentials()  # asked for explicitly: an error


def test_slow_down_polls_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("cmsdials.auth.client.time.sleep", sleeps.append)
    answers: list[Exception | Token] = [
        PendingAuthorizationError("pending"),
        SlowDownError("slow down"),
        PendingAuthorizationError("pending"),
        SlowDownError("slow down", interval=30),
        token(60),
    ]

    class Polled(AuthClient):
        def device_token(self, device_code: str) -> Token:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    device = Device(device_code="d", verification_uri_complete="http://x/", expires_in=600)
    Polled(base_url="http://127.0.0.1:9/", poll_interval=1).wait_for_device(device)
    # RFC 8628: +5 s per slow_down, or what the server asks for.
    assert sleeps == [1, 1, 6, 6, 30]
    device = device.model_copy(update={"interval": 2.0})
    answers[:] = [SlowDownError("slow down"), token(60)]
    sleeps.clear()
    Polled(base_url="http://127.0.0.1:9/", poll_interval=1).wait_for_device(device)
    assert sleeps == [2, 4]  # the server's interval, then + its interval
