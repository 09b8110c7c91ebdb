"""Credentials (CONTRACT §3): API-client secret keys, the 403 answers, and the scheme list."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping

import pytest
import requests
from routes_truth import db_of, service_rows

from dials_local.auth import Authenticator, AuthError, Identity
from dials_local.auth.api_clients import ApiClientStore
from dials_local.auth.schemes import BearerScheme, SecretKeyScheme
from dials_local.settings import Settings
from dials_local.testing import LocalServer


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


NOT_FOUND = ("Authorization header not found.", "authorization_not_found")
NOT_VALID = ("Token is invalid or expired", "token_not_valid")
UNEXPECTED = ("Unexpected error validating token.", "access_token_unexpected_error")


@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        ({}, NOT_FOUND),
        ({"X-CLIENT-SECRET": ""}, NOT_FOUND),
        ({"X-CLIENT-SECRET": "wrong"}, NOT_VALID),
        ({"x-client-secret": "wrong", "Authorization": "Bearer x.y.z"}, NOT_VALID),
        ({"Authorization": "123456789"}, NOT_VALID),
        ({"Authorization": "Bearer "}, NOT_VALID),
        ({"Authorization": "Bearer a.b.c"}, NOT_VALID),
        ({"Authorization": "Bearer " + _jwt({"aud": "someone-else", "azp": "x"})}, UNEXPECTED),
    ],
)
def test_credential_failures_are_403_with_detail_and_code(
    any_server: LocalServer, headers: dict[str, str], answer: tuple[str, str]
) -> None:
    detail, code = answer
    for route in ("run/", "th1/", "workspaces/", "oms-proxy/?endpoint=runs", "caf/"):
        response = requests.get(any_server.api_url + route, headers=headers, timeout=10)
        assert response.status_code == 403, route
        assert response.json() == {"detail": detail, "code": code}
        assert "www-authenticate" not in response.headers


def test_secret_key_is_accepted_and_routed_to_the_default_workspace(
    any_server: LocalServer,
) -> None:
    response = requests.get(
        any_server.api_url + "auth/user-default-workspace/",
        headers={"x-client-secret": any_server.secret_key},  # header names are case-insensitive
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json() == {"workspace": "tracker"}


@pytest.mark.parametrize("path", ["api/v1/", "", "api/v1/swagger", "static/swagger.json"])
def test_public_pages_need_no_credentials(any_server: LocalServer, path: str) -> None:
    assert requests.get(any_server.base_url + path, timeout=10).status_code == 200


def test_options_needs_credentials_and_describes_the_view(any_server: LocalServer) -> None:
    url = any_server.api_url + "run/"
    assert requests.options(url, timeout=10).status_code == 403
    response = requests.options(url, headers={"X-CLIENT-SECRET": any_server.secret_key}, timeout=10)
    assert response.status_code == 200
    assert response.json()["name"] == "Run List"
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    head = requests.head(url, headers={"X-CLIENT-SECRET": any_server.secret_key}, timeout=10)
    assert head.status_code == 200 and head.content == b""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dials_local.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_a_key_created_by_the_cli_works_at_once_and_is_stored_hashed(
    any_server: LocalServer,
) -> None:
    location = (
        ["--database-url", any_server.database_url]
        if any_server.database_url
        else ["--data-dir", str(any_server.data_dir)]
    )
    done = _cli("create-api-client", "--name", "auth-test", *location)
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert len(secret) >= 32 and "\n" not in secret
    response = requests.get(
        any_server.api_url + "run/", headers={"X-CLIENT-SECRET": secret}, timeout=10
    )
    assert response.status_code == 200
    stored = service_rows(any_server, "local_api_clients")
    digests = {row["secret_sha256"] for row in stored}
    assert hashlib.sha256(secret.encode()).hexdigest() in digests
    assert hashlib.sha256(any_server.secret_key.encode()).hexdigest() in digests
    flat = json.dumps(stored, default=str)
    assert secret not in flat and any_server.secret_key not in flat


def test_secrets_never_reach_the_server_log(server: LocalServer) -> None:
    requests.get(
        server.api_url + "run/", headers={"X-CLIENT-SECRET": server.secret_key}, timeout=10
    )
    requests.get(
        server.api_url + "run/", headers={"X-CLIENT-SECRET": "wrong-secret-value"}, timeout=10
    )
    log = server.wait_for_log("GET /api/v1/run/ 200", "GET /api/v1/run/ 403")
    assert "GET /api/v1/run/" in log  # the request log is there ...
    assert server.secret_key not in log and "wrong-secret-value" not in log  # ... without keys


# --- the scheme list (in-process) ------------------------------------------------------


class _Fixed:
    """A scheme answering a fixed identity for one header (a stand-in for future ones)."""

    name = "fixed"

    def __init__(self, header: str, identity: Identity) -> None:
        self.header, self.identity = header, identity

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        return self.identity if self.header in headers else None


def test_schemes_are_tried_in_order(server: LocalServer) -> None:
    db = db_of(server)
    store = ApiClientStore(db.service_engine())
    person = Identity(name="someone", roles=("cms-dqm-runregistry-offline-jme-certifiers",))
    authenticator = Authenticator(
        [SecretKeyScheme(store), _Fixed("x-person", person), BearerScheme()]
    )
    assert authenticator.authenticate({"X-CLIENT-SECRET": server.secret_key}).scheme == "secret_key"
    assert authenticator.authenticate({"x-person": "1"}) == person
    with pytest.raises(AuthError) as wrong:
        authenticator.authenticate({"X-CLIENT-SECRET": "nope", "x-person": "1"})
    assert wrong.value.code == "token_not_valid"  # a rejecting scheme stops the search
    with pytest.raises(AuthError) as missing:
        authenticator.authenticate({})
    assert missing.value.body() == {
        "detail": "Authorization header not found.",
        "code": "authorization_not_found",
    }
    assert authenticator.authorize({"x-client-secret": server.secret_key})
    assert not authenticator.authorize({"x-client-secret": "nope"})


def test_reprs_never_show_secrets(server: LocalServer) -> None:
    db = db_of(server)
    store = ApiClientStore(db.service_engine())
    identity = Authenticator([SecretKeyScheme(store)]).authenticate(
        {"X-CLIENT-SECRET": server.secret_key}
    )
    for thing in (identity, store, Settings(database=db), server):
        assert server.secret_key not in repr(thing)
    assert identity.roles == ()
