"""The test clock: ``/_local/clock`` (``serve --testing``) moves the time by which the
server judges every expiry, so that tests of lifetimes need not sleep.

The sign-in tests use it for codes, tokens, sessions and lockouts (``test_signin_*``);
here: the route itself, and tokens issued and checked by the moved clock.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dials_local.testing import ADMIN_HEADER, SECRET_HEADER, LocalServer

#: The name ``serve`` registers the ``LocalServer``'s secret key under, which is also its
#: client id at the Keycloak token endpoint.
KEY_CLIENT_ID = "serve --secret-key"


@pytest.fixture(scope="module")
def clocked(tiny_data_dir: Path) -> Iterator[LocalServer]:
    with LocalServer(tiny_data_dir, in_thread=True) as local:
        yield local


@pytest.fixture
def clock(clocked: LocalServer) -> Iterator[LocalServer]:
    """The module's server, its clock put back to the real time after each test."""
    yield clocked
    clocked.reset_clock()


def test_the_clock_starts_at_the_real_time_and_moves_as_told(clock: LocalServer) -> None:
    before = time.time()
    state = clock.clock()
    assert state["offset"] == 0
    assert before - 1 <= state["now"] <= time.time() + 1
    assert clock.advance_clock(90)["offset"] == 90
    moved = clock.advance_clock(-30.5)  # backwards too
    assert moved["offset"] == 59.5
    assert abs(moved["now"] - (time.time() + 59.5)) < 1
    assert clock.reset_clock()["offset"] == 0


def test_bad_clock_requests_are_refused_and_change_nothing(clock: LocalServer) -> None:
    url = clock.base_url + "_local/clock"
    admin = {ADMIN_HEADER: clock.admin_token}
    clock.advance_clock(10)
    for body in ({"advance": "10"}, {"advance": True}, {"offset": None}, {}, [1]):
        refused = requests.put(url, json=body, headers=admin, timeout=10)
        assert refused.status_code == 400, (body, refused.text)
        (field,) = refused.json()
        assert field in ("advance", "offset") and refused.json()[field][0]
    for raw in (b"{not json", b'{"advance": 1e999}'):  # unparsable; not a finite number
        refused = requests.put(url, data=raw, headers=admin, timeout=10)
        assert refused.status_code == 400 and list(refused.json()) == ["advance"]
    other = requests.post(url, json={"advance": 1}, headers=admin, timeout=10)
    assert other.status_code == 405
    assert other.json() == {"detail": 'Method "POST" not allowed.'}
    assert clock.clock()["offset"] == 10


def _claims(token: str) -> dict[str, int]:
    payload = token.split(".")[1]
    claims: dict[str, int] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return claims


def _bearer_get(server: LocalServer, token: str) -> requests.Response:
    return requests.get(
        server.api_url + "run/?page_size=1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_tokens_are_issued_and_checked_by_the_server_clock(clock: LocalServer) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": KEY_CLIENT_ID,
        "client_secret": clock.secret_key,
    }
    url = clock.base_url + "auth/realms/cern/api-access/token"
    clock.advance_clock(3600)
    answer = requests.post(url, data=form, timeout=10)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    lifetime = answer.json()["expires_in"]
    claims = _claims(token)
    assert abs(claims["iat"] - (time.time() + 3600)) < 5  # issued an hour from now
    assert claims["exp"] - claims["iat"] == lifetime
    assert _bearer_get(clock, token).ok
    # Past its lifetime and the 60 s leeway by the server's clock: refused ...
    clock.advance_clock(lifetime + 61)
    expired = _bearer_get(clock, token)
    assert expired.status_code == 403
    assert expired.json()["code"] == "access_token_expired"
    # ... and by the real time, which is before its nbf: not yet valid.
    clock.reset_clock()
    early = _bearer_get(clock, token)
    assert early.status_code == 403
    assert early.json()["code"] == "access_token_not_yet_valid"
    # Secret keys do not expire: the clock changes nothing for them.
    clock.advance_clock(10**8)
    plain = requests.get(
        clock.api_url + "run/?page_size=1", headers={SECRET_HEADER: clock.secret_key}, timeout=10
    )
    assert plain.status_code == 200
