"""Bearer validation in the order of CONTRACT §3.3, and every 403 of §3.4 with its exact
body, against SQLite and PostgreSQL servers.  Tokens are built here with PyJWT: signed
with the server's own key (read from its data directory or its service table) or with a
second key for the bad-signature case."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from routes_truth import db_of, rows
from sqlalchemy import select
from test_signin_browser import signin_server

from dials_local.auth.keys import KEY_FILE_NAME, SigningKey
from dials_local.db.schema import signing_keys
from dials_local.testing import LocalServer

AUDIENCE = "cms-dials-prod-confidential-app"
JETMET = "cms-dqm-runregistry-offline-jme-certifiers"
CSC = "cms-dqm-runregistry-offline-csc-certifiers"

NOT_FOUND = {"detail": "Authorization header not found.", "code": "authorization_not_found"}
NOT_VALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}
UNEXPECTED = {
    "detail": "Unexpected error validating token.",
    "code": "access_token_unexpected_error",
}
BAD_SIGNATURE = {
    "detail": "Found and invalid jws signature while decoding the access token.",
    "code": "access_token_invalid_jws_signature",
}
EXPIRED = {"detail": "Access token has expired.", "code": "access_token_expired"}
NOT_YET = {"detail": "Access token not yet valid.", "code": "access_token_not_yet_valid"}

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def server_key(server: LocalServer) -> SigningKey:
    """The private key the server signs with (it created it on first start)."""
    if server.data_dir is not None and server.database_url is None:
        return SigningKey.from_pem((server.data_dir / KEY_FILE_NAME).read_bytes())
    with db_of(server).service_engine().connect() as conn:
        pem = conn.execute(select(signing_keys.c.private_pem)).scalar_one()
    return SigningKey.from_pem(pem.encode())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": "http://elsewhere/auth/realms/cern",
        "sub": "f2a9c3f0-0000-4000-8000-000000000001",
        "aud": AUDIENCE,
        "azp": "cms-dials-prod-public-app",
        "typ": "Bearer",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "preferred_username": "crafted",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(server: LocalServer, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), server_key(server).private_key, algorithm="RS256")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def get(server: LocalServer, headers: dict[str, str], route: str = "run/") -> requests.Response:
    return requests.get(server.api_url + route, headers=headers, timeout=10)


def check(server: LocalServer, headers: dict[str, str], body: dict[str, str]) -> None:
    for route in ("run/", "th1/", "workspaces/my-default/", "auth/user-default-workspace/"):
        response = get(server, headers, route)
        assert (response.status_code, response.json()) == (403, body), route
        assert "www-authenticate" not in response.headers


def test_no_credential_and_wrong_secret(any_server: LocalServer) -> None:
    check(any_server, {}, NOT_FOUND)
    check(any_server, {"X-CLIENT-SECRET": "wrong"}, NOT_VALID)
    # The secret scheme comes first: a wrong secret fails even with a valid token ...
    check(
        any_server,
        {"X-CLIENT-SECRET": "wrong", "Authorization": f"Bearer {sign(any_server)}"},
        NOT_VALID,
    )
    # ... and a right one wins over a bad token.
    both = {"X-CLIENT-SECRET": any_server.secret_key, "Authorization": "Bearer x"}
    assert get(any_server, both).status_code == 200


@pytest.mark.parametrize(
    "value", ["123456789", "", "Bearer ", "Bearer a.b", "Bearer a.b.c.d", "Bearer a.b.c"]
)
def test_values_that_are_not_jwts(any_server: LocalServer, value: str) -> None:
    check(any_server, {"Authorization": value}, NOT_VALID)


def test_audience_must_be_the_dials_client_as_a_plain_string(any_server: LocalServer) -> None:
    for aud in ("cms-dials-prod-public-app", [AUDIENCE], None, ""):
        check(any_server, {"Authorization": f"Bearer {sign(any_server, aud=aud)}"}, UNEXPECTED)


def test_bad_signature(any_server: LocalServer) -> None:
    foreign = jwt.encode(claims(), OTHER_KEY, algorithm="RS256")
    check(any_server, {"Authorization": f"Bearer {foreign}"}, BAD_SIGNATURE)
    # Our signature over other claims: edited roles are caught.
    header, _, signature = sign(any_server).split(".")
    edited = f"{header}.{_b64(claims(cern_roles=[JETMET]))}.{signature}"
    check(any_server, {"Authorization": f"Bearer {edited}"}, BAD_SIGNATURE)
    # The signature is checked before the expiry (order of §3.3 step 5).
    old = jwt.encode(claims(exp=int(time.time()) - 3600), OTHER_KEY, algorithm="RS256")
    check(any_server, {"Authorization": f"Bearer {old}"}, BAD_SIGNATURE)


def test_expired_and_not_yet_valid_beyond_the_60_s_leeway(any_server: LocalServer) -> None:
    now = int(time.time())
    check(any_server, {"Authorization": f"Bearer {sign(any_server, exp=now - 120)}"}, EXPIRED)
    check(any_server, {"Authorization": f"Bearer {sign(any_server, nbf=now + 120)}"}, NOT_YET)
    # Within the leeway both are accepted, as by DIALS (jwcrypto's 60 s).
    assert get(any_server, {"Authorization": f"Bearer {sign(any_server, exp=now - 20)}"}).ok
    assert get(any_server, {"Authorization": f"Bearer {sign(any_server, nbf=now + 20)}"}).ok


def test_other_validation_errors_are_unexpected_errors(any_server: LocalServer) -> None:
    now = int(time.time())
    key = server_key(any_server)
    hs256 = jwt.encode(claims(), "a-shared-secret-that-is-long-enough!", algorithm="HS256")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}."
    jwe_shaped = f"{_b64({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.{_b64(claims())}.c.d.e"
    never_expires = sign(any_server, exp=None)
    refresh_typed = sign(any_server, typ="Refresh")
    for token in (hs256, unsigned, jwe_shaped, never_expires, refresh_typed):
        check(any_server, {"Authorization": f"Bearer {token}"}, UNEXPECTED)
    # A lower-case prefix is not stripped (§3.3 step 2): the value is not a valid JWS.
    check(any_server, {"Authorization": f"bearer {sign(any_server)}"}, UNEXPECTED)
    # Without any prefix the value is taken whole, and works.
    good = jwt.encode(claims(exp=now + 60), key.private_key, algorithm="RS256")
    assert get(any_server, {"Authorization": good}).ok


def test_roles_route_to_workspaces(any_server: LocalServer) -> None:
    def workspace(**overrides: Any) -> str:
        token = sign(any_server, **overrides)
        answer = get(any_server, {"Authorization": f"Bearer {token}"}, "workspaces/my-default/")
        assert answer.status_code == 200
        name: str = answer.json()["workspace"]
        return name

    assert workspace() == "tracker"
    assert workspace(cern_roles=[JETMET]) == "jetmet"
    assert workspace(cern_roles=["some-egroup", JETMET, CSC]) == "csc"  # configured order
    assert workspace(cern_roles="not-a-list") == "tracker"
    token = sign(any_server, cern_roles=[JETMET])
    page = get(any_server, {"Authorization": f"Bearer {token}"}, "run/?page_size=500")
    runs = [(r["dataset_id"], r["run_number"]) for r in page.json()["results"]]
    assert runs == [
        (r["dataset_id"], r["run_number"]) for r in rows(any_server, "jetmet", "fact_run")
    ]
    unknown = get(any_server, {"Authorization": f"Bearer {token}", "Workspace": "nope"})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Workspace 'nope' not found"})


def test_leeway_zero_refuses_at_once(tiny_data_dir: Path) -> None:
    with signin_server(tiny_data_dir) as strict:
        now = int(time.time())
        check(strict, {"Authorization": f"Bearer {sign(strict, exp=now - 2)}"}, EXPIRED)
        check(strict, {"Authorization": f"Bearer {sign(strict, nbf=now + 5)}"}, NOT_YET)
        assert get(strict, {"Authorization": f"Bearer {sign(strict)}"}).ok
