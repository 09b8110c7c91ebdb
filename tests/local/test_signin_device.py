"""The device flow of DIALS' own routes (CONTRACT §3.5) end to end over HTTP: start, poll,
approve on the page, read data with the token, refresh with rotation; and every refusal
with its exact body."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from routes_truth import rows
from test_signin_browser import (
    JETMET_ROLE,
    Browser,
    add_user,
    poll,
    signin_server,
    start_device,
)

from dials_local.testing import LocalServer

SEVEN = {
    "access_token",
    "expires_in",
    "refresh_expires_in",
    "refresh_token",
    "token_type",
    "session_state",
    "scope",
}
AUDIENCE = "cms-dials-prod-confidential-app"
PENDING = {"detail": "The authorization request is still pending", "code": "authorization_pending"}


@pytest.fixture(scope="module")
def device_server(tiny_data_dir: Path) -> Iterator[LocalServer]:
    local = signin_server(tiny_data_dir)
    add_user(local, "jet", (JETMET_ROLE,))
    add_user(local, "plain")
    try:
        yield local
    finally:
        local.stop()


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


def sign_in(server: LocalServer, user: str) -> dict[str, object]:
    """The whole flow for ``user``: the seven token fields."""
    started = start_device(server)
    Browser(server.base_url).sign_in_and_decide(str(started["verification_uri_complete"]), user)
    answer = poll(server, started["device_code"])
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_device_flow_end_to_end(device_server: LocalServer) -> None:
    server = device_server
    started = start_device(server)
    assert set(started) == {"device_code", "verification_uri_complete", "expires_in"}
    assert started["expires_in"] == 600
    url = str(started["verification_uri_complete"])
    assert url.startswith(server.base_url + "device?user_code=")

    pending = poll(server, started["device_code"])
    assert (pending.status_code, pending.json()) == (400, PENDING)
    # At once: faster than 0.3 s, whatever the machine - the clock is a minute back.
    server.advance_clock(-60)
    try:
        fast = poll(server, started["device_code"])
    finally:
        server.reset_clock()
    assert fast.status_code == 400
    assert fast.json()["code"] == "slow_down" and fast.json()["detail"]

    Browser(server.base_url).sign_in_and_decide(url, "jet")
    server.advance_clock(0.35)  # past the poll interval
    answer = poll(server, started["device_code"])
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    tokens = answer.json()
    assert set(tokens) == SEVEN
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "profile email"
    assert tokens["expires_in"] == 300 and tokens["refresh_expires_in"] == 36000

    claims = claims_of(str(tokens["access_token"]))
    assert claims["aud"] == AUDIENCE and claims["azp"] == AUDIENCE
    assert claims["typ"] == "Bearer" and claims["preferred_username"] == "jet"
    assert claims["iss"] == server.base_url + "auth/realms/cern"
    assert claims["cern_roles"] == [JETMET_ROLE]
    assert claims["sid"] == claims["session_state"] == tokens["session_state"]
    assert {"sub", "iat", "nbf", "exp", "resource_access"} <= set(claims)
    assert jwt.get_unverified_header(str(tokens["access_token"]))["alg"] == "RS256"

    # The code is used up.
    assert poll(server, started["device_code"]).json()["code"] == "invalid_grant"

    # Read data: the jetmet role routes to jetmet without a Workspace header.
    headers = bearer(tokens["access_token"])
    default = requests.get(server.api_url + "workspaces/my-default/", headers=headers, timeout=10)
    assert default.json() == {"workspace": "jetmet"}
    runs = requests.get(server.api_url + "run/?page_size=500", headers=headers, timeout=10)
    assert runs.status_code == 200
    expected = [(r["dataset_id"], r["run_number"]) for r in rows(server, "jetmet", "fact_run")]
    assert [(r["dataset_id"], r["run_number"]) for r in runs.json()["results"]] == expected

    # Refresh rotates: a new pair, the old refresh token is refused afterwards.
    refreshed = requests.post(
        server.api_url + "auth/refresh-token/",
        json={"refresh_token": tokens["refresh_token"]},
        headers=headers,  # C150 sends it; it is ignored
        timeout=10,
    )
    assert refreshed.status_code == 200 and set(refreshed.json()) == SEVEN
    renewed = refreshed.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert renewed["session_state"] == tokens["session_state"]
    assert requests.get(
        server.api_url + "run/", headers=bearer(renewed["access_token"]), timeout=10
    )
    reused = requests.post(
        server.api_url + "auth/refresh-token/",
        data={"refresh_token": tokens["refresh_token"]},  # form bodies work too
        timeout=10,
    )
    assert reused.status_code == 400
    assert reused.json() == {
        "detail": "Maximum allowed refresh token reuse exceeded",
        "code": "invalid_grant",
    }
    # Reuse means one of two holders is not the user: the session's tokens are revoked.
    revoked = requests.post(
        server.api_url + "auth/refresh-token/",
        json={"refresh_token": renewed["refresh_token"]},
        timeout=10,
    )
    assert revoked.json() == {"detail": "Session not active", "code": "invalid_grant"}


def test_a_user_without_roles_goes_to_the_default_workspace(device_server: LocalServer) -> None:
    tokens = sign_in(device_server, "plain")
    assert "cern_roles" not in claims_of(str(tokens["access_token"]))
    for route in ("auth/user-default-workspace/", "workspaces/my-default/"):
        response = requests.get(
            device_server.api_url + route, headers=bearer(tokens["access_token"]), timeout=10
        )
        assert response.json() == {"workspace": "tracker"}
    # The Workspace header still wins over the roles.
    jet = sign_in(device_server, "jet")
    response = requests.get(
        device_server.api_url + "run/?page_size=500",
        headers={**bearer(jet["access_token"]), "Workspace": "tracker"},
        timeout=10,
    )
    assert len(response.json()["results"]) == len(rows(device_server, "tracker", "fact_run"))


def test_deny_gives_access_denied(device_server: LocalServer) -> None:
    started = start_device(device_server)
    done = Browser(device_server.base_url).sign_in_and_decide(
        str(started["verification_uri_complete"]), "plain", "deny"
    )
    assert done.title.startswith("Access denied")
    answer = poll(device_server, started["device_code"])
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "The end user denied the authorization request",
        "code": "access_denied",
    }


@pytest.mark.parametrize(
    ("route", "name"),
    [("auth/device-token/", "device_code"), ("auth/refresh-token/", "refresh_token")],
)
def test_missing_fields_get_drf_plain_text(
    device_server: LocalServer, route: str, name: str
) -> None:
    bodies: list[dict[str, Any]] = [
        {},
        {"json": {}},
        {"json": {name: ""}},
        {"data": {"other": "x"}},
    ]
    for kwargs in bodies:
        response = requests.post(device_server.api_url + route, timeout=10, **kwargs)
        assert response.status_code == 400
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.text == f"Attribute '{name}' not found in request body."


def test_unknown_codes_and_bad_refresh_tokens_are_invalid_grant(
    device_server: LocalServer,
) -> None:
    unknown = poll(device_server, "no-such-device-code")
    assert unknown.status_code == 400
    assert unknown.json() == {"detail": "Device code not valid", "code": "invalid_grant"}
    for token in ("garbage", "a.b.c", claims_free_jwt()):
        response = requests.post(
            device_server.api_url + "auth/refresh-token/",
            json={"refresh_token": token},
            timeout=10,
        )
        assert response.status_code == 400
        assert response.json() == {"detail": "Invalid refresh token", "code": "invalid_grant"}
    # An access token is not a refresh token.
    tokens = sign_in(device_server, "plain")
    response = requests.post(
        device_server.api_url + "auth/refresh-token/",
        json={"refresh_token": tokens["access_token"]},
        timeout=10,
    )
    assert response.json()["code"] == "invalid_grant"


def claims_free_jwt() -> str:
    return jwt.encode({"typ": "Refresh"}, "not-our-key-but-long-enough-for-hs256!", "HS256")


def test_auth_routes_need_no_credentials_and_reject_other_methods(
    device_server: LocalServer,
) -> None:
    assert requests.post(device_server.api_url + "auth/new-device/", timeout=10).status_code == 405
    response = requests.get(device_server.api_url + "auth/device-token/", timeout=10)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.'}


def test_tokens_never_reach_the_server_log(device_server: LocalServer) -> None:
    tokens = sign_in(device_server, "plain")
    requests.get(device_server.api_url + "run/", headers=bearer(tokens["access_token"]), timeout=10)
    log = device_server.wait_for_log("POST /api/v1/auth/device-token/", "GET /api/v1/run/")
    assert "POST /api/v1/auth/device-token/" in log
    for secret in (tokens["access_token"], tokens["refresh_token"], "correct horse"):
        assert str(secret) not in log
    assert "eyJ" not in log


#: Lifetimes of the expiry test's server: device code, access token, refresh token.
CODE_TTL, ACCESS_TTL, REFRESH_TTL = 60, 120, 180


@pytest.fixture(scope="module")
def short_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_data_dir: Path
) -> Iterator[LocalServer]:
    """Tokens and codes with lifetimes of their own (reached by moving the clock)."""
    local = signin_server(
        tiny_data_dir,
        "--device-ttl", str(CODE_TTL),
        "--access-ttl", str(ACCESS_TTL),
        "--refresh-ttl", str(REFRESH_TTL),
    )  # fmt: skip
    add_user(local, "brief")
    try:
        yield local
    finally:
        local.stop()


def test_expiry_of_codes_access_and_refresh_tokens(short_server: LocalServer) -> None:
    server = short_server
    expiring = start_device(server)
    assert expiring["expires_in"] == CODE_TTL
    tokens = sign_in(server, "brief")
    assert (tokens["expires_in"], tokens["refresh_expires_in"]) == (ACCESS_TTL, REFRESH_TTL)
    headers = bearer(tokens["access_token"])
    assert requests.get(server.api_url + "run/", headers=headers, timeout=10).ok

    server.advance_clock(CODE_TTL + 1)  # the code has expired, the access token has not
    answer = poll(server, expiring["device_code"])
    assert answer.status_code == 400
    assert answer.json() == {"detail": "The device code has expired", "code": "expired_token"}
    assert requests.get(server.api_url + "run/", headers=headers, timeout=10).ok

    server.advance_clock(ACCESS_TTL - CODE_TTL)  # the access token has expired (no leeway)
    expired = requests.get(server.api_url + "run/", headers=headers, timeout=10)
    assert expired.status_code == 403
    assert expired.json() == {"detail": "Access token has expired.", "code": "access_token_expired"}

    server.advance_clock(REFRESH_TTL - ACCESS_TTL)  # and so has the refresh token
    refresh = requests.post(
        server.api_url + "auth/refresh-token/",
        json={"refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert refresh.status_code == 400
    assert refresh.json() == {"detail": "Token is not active", "code": "invalid_grant"}


def test_a_refresh_token_works_until_its_end(short_server: LocalServer) -> None:
    tokens = sign_in(short_server, "brief")
    short_server.advance_clock(REFRESH_TTL - 2)  # the access token is long gone
    expired = requests.get(
        short_server.api_url + "run/", headers=bearer(tokens["access_token"]), timeout=10
    )
    assert expired.json()["code"] == "access_token_expired"
    refresh = requests.post(
        short_server.api_url + "auth/refresh-token/",
        json={"refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert refresh.status_code == 200, refresh.text
    renewed = bearer(refresh.json()["access_token"])
    assert requests.get(short_server.api_url + "run/", headers=renewed, timeout=10).ok


def test_device_flow_and_rotation_on_postgresql(postgres_url: str) -> None:
    """Grants, users and refresh tokens in PostgreSQL's service schema."""
    with LocalServer(
        database_url=postgres_url,
        extra_args=("--device-interval", "0.3", "--leeway", "0"),
        in_thread=True,
    ) as server:
        add_user(server, "pgjet", (JETMET_ROLE,))
        tokens = sign_in(server, "pgjet")
        headers = bearer(tokens["access_token"])
        mine = requests.get(server.api_url + "workspaces/my-default/", headers=headers, timeout=10)
        assert mine.json() == {"workspace": "jetmet"}
        url = server.api_url + "auth/refresh-token/"
        first = requests.post(url, json={"refresh_token": tokens["refresh_token"]}, timeout=10)
        assert first.status_code == 200 and set(first.json()) == SEVEN
        again = requests.post(url, json={"refresh_token": tokens["refresh_token"]}, timeout=10)
        assert again.json()["code"] == "invalid_grant"
