"""The Keycloak endpoints of CONTRACT §3.6 served by dials-local, over HTTP: device flow
for the public client, token exchange to the DIALS audience, refresh with rotation,
client credentials for API clients, and OAuth2 error bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from test_signin_browser import JETMET_ROLE, Browser, add_user, signin_server

from dials_local.auth.api_clients import ApiClientStore
from dials_local.db.engines import Database
from dials_local.testing import LocalServer

PUBLIC = "cms-dials-prod-public-app"
AUDIENCE = "cms-dials-prod-confidential-app"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
BOT_SECRET = "kc-bot-secret-0123456789-abcdefghijklmnopq"


def add_api_client(data_dir: Path, name: str, secret: str) -> None:
    database = Database(data_dir=data_dir)
    try:
        ApiClientStore(database.service_engine()).create(name, secret)
    finally:
        database.dispose()


@pytest.fixture(scope="module")
def keycloak(tiny_data_dir: Path) -> Iterator[LocalServer]:
    add_api_client(tiny_data_dir, "kc-bot", BOT_SECRET)
    local = signin_server(tiny_data_dir)
    add_user(local, "kcjet", (JETMET_ROLE,))
    try:
        yield local
    finally:
        local.stop()


def realm(server: LocalServer, name: str = "cern") -> str:
    return f"{server.base_url}auth/realms/{name}/"


def post(
    server: LocalServer, path: str, realm_name: str = "cern", **form: str
) -> requests.Response:
    return requests.post(realm(server, realm_name) + path, data=form, timeout=10)


def token(server: LocalServer, **form: str) -> requests.Response:
    return post(server, "protocol/openid-connect/token", **form)


def claims_of(value: str) -> dict[str, object]:
    payload = value.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


def oauth_error(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error


def test_device_flow_exchange_and_refresh(keycloak: LocalServer) -> None:
    started = post(keycloak, "protocol/openid-connect/auth/device", client_id=PUBLIC)
    assert started.status_code == 200
    device = started.json()
    assert set(device) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert device["verification_uri"] == keycloak.base_url + "device"
    assert device["verification_uri_complete"].endswith(f"?user_code={device['user_code']}")
    assert (device["expires_in"], device["interval"]) == (600, 1)  # 0.3 s rounds up

    poll = {"client_id": PUBLIC, "grant_type": DEVICE_GRANT, "device_code": device["device_code"]}
    pending = token(keycloak, **poll)
    oauth_error(pending, 400, "authorization_pending")
    assert pending.json()["error_description"] == "The authorization request is still pending"
    # At once: faster than 0.3 s, whatever the machine - the clock is a minute back.
    keycloak.advance_clock(-60)
    try:
        oauth_error(token(keycloak, **poll), 400, "slow_down")
    finally:
        keycloak.reset_clock()

    Browser(keycloak.base_url).sign_in_and_decide(device["verification_uri_complete"], "kcjet")
    keycloak.advance_clock(0.35)  # past the poll interval
    answer = token(keycloak, **poll)
    assert answer.status_code == 200
    public = answer.json()
    assert {
        "access_token",
        "refresh_token",
        "refresh_expires_in",
        "expires_in",
        "token_type",
    } <= set(public)
    assert public["token_type"] == "Bearer"
    assert claims_of(public["access_token"])["aud"] == PUBLIC
    # The public client's token is not for DIALS: the audience check refuses it.
    refused = requests.get(
        keycloak.api_url + "run/",
        headers={"Authorization": f"Bearer {public['access_token']}"},
        timeout=10,
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "access_token_unexpected_error"

    exchanged = token(
        keycloak,
        client_id=PUBLIC,
        grant_type=EXCHANGE_GRANT,
        subject_token=public["access_token"],
        subject_token_type=ACCESS_TYPE,
        audience=AUDIENCE,
    )
    assert exchanged.status_code == 200
    dials_token = exchanged.json()
    assert {"access_token", "expires_in", "token_type"} <= set(dials_token)
    assert dials_token["token_type"] == "Bearer" and dials_token["expires_in"] == 300
    exchanged_claims = claims_of(dials_token["access_token"])
    assert exchanged_claims["aud"] == AUDIENCE and exchanged_claims["azp"] == PUBLIC
    assert exchanged_claims["cern_roles"] == [JETMET_ROLE]
    mine = requests.get(
        keycloak.api_url + "workspaces/my-default/",
        headers={"Authorization": f"Bearer {dials_token['access_token']}"},
        timeout=10,
    )
    assert mine.json() == {"workspace": "jetmet"}

    refresh = {"client_id": PUBLIC, "grant_type": "refresh_token"}
    renewed = token(keycloak, **refresh, refresh_token=public["refresh_token"])
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] != public["refresh_token"]
    assert claims_of(renewed.json()["access_token"])["aud"] == PUBLIC
    # A used refresh token: invalid_grant, which makes cmsdials 2.4 start a new device flow.
    oauth_error(
        token(keycloak, **refresh, refresh_token=public["refresh_token"]), 400, "invalid_grant"
    )


def test_device_flow_refusals(keycloak: LocalServer) -> None:
    device = post(keycloak, "protocol/openid-connect/auth/device", client_id=PUBLIC).json()
    Browser(keycloak.base_url).sign_in_and_decide(
        device["verification_uri_complete"], "kcjet", "deny"
    )
    poll = {"client_id": PUBLIC, "grant_type": DEVICE_GRANT, "device_code": device["device_code"]}
    oauth_error(token(keycloak, **poll), 400, "access_denied")
    oauth_error(token(keycloak, **{**poll, "device_code": "unknown"}), 400, "invalid_grant")
    # A device code belongs to the client that started it.
    dials_code = requests.get(keycloak.api_url + "auth/new-device/", timeout=10).json()
    oauth_error(
        token(keycloak, **{**poll, "device_code": dials_code["device_code"]}), 400, "invalid_grant"
    )
    oauth_error(
        post(keycloak, "protocol/openid-connect/auth/device", client_id="nobody"),
        401,
        "invalid_client",
    )
    oauth_error(post(keycloak, "protocol/openid-connect/auth/device"), 400, "invalid_request")
    oauth_error(
        token(keycloak, client_id=PUBLIC, grant_type="password"), 400, "unsupported_grant_type"
    )
    oauth_error(token(keycloak, client_id=PUBLIC), 400, "invalid_request")


def test_exchange_refusals(keycloak: LocalServer) -> None:
    exchange = {
        "client_id": PUBLIC,
        "grant_type": EXCHANGE_GRANT,
        "subject_token_type": ACCESS_TYPE,
    }
    oauth_error(
        token(keycloak, **exchange, subject_token="a.b.c", audience=AUDIENCE), 400, "invalid_token"
    )
    client = post(
        keycloak,
        "api-access/token",
        grant_type="client_credentials",
        client_id="kc-bot",
        client_secret=BOT_SECRET,
    ).json()
    # Not the public client's token (azp kc-bot): not exchangeable by the public client.
    oauth_error(
        token(keycloak, **exchange, subject_token=client["access_token"], audience=AUDIENCE),
        400,
        "invalid_token",
    )
    oauth_error(
        token(keycloak, **exchange, subject_token=client["access_token"], audience="elsewhere"),
        400,
        "invalid_client",
    )


def test_an_expired_public_token_is_not_exchanged_but_its_refresh_token_works(
    keycloak: LocalServer,
) -> None:
    device = post(keycloak, "protocol/openid-connect/auth/device", client_id=PUBLIC).json()
    Browser(keycloak.base_url).sign_in_and_decide(device["verification_uri_complete"], "kcjet")
    public = token(
        keycloak, client_id=PUBLIC, grant_type=DEVICE_GRANT, device_code=device["device_code"]
    ).json()
    exchange = {
        "client_id": PUBLIC,
        "grant_type": EXCHANGE_GRANT,
        "subject_token_type": ACCESS_TYPE,
        "audience": AUDIENCE,
    }
    try:
        # This server tolerates no clock skew (--leeway 0): 1 s past the lifetime is late.
        keycloak.advance_clock(public["expires_in"] + 1)
        late = token(keycloak, **exchange, subject_token=public["access_token"])
        oauth_error(late, 400, "invalid_token")
        renewed = token(
            keycloak,
            client_id=PUBLIC,
            grant_type="refresh_token",
            refresh_token=public["refresh_token"],
        )
        assert renewed.status_code == 200, renewed.text
        fresh = token(keycloak, **exchange, subject_token=renewed.json()["access_token"])
        assert fresh.status_code == 200, fresh.text
    finally:
        keycloak.reset_clock()  # the module's other tests share this server


def test_client_credentials(keycloak: LocalServer) -> None:
    form = {"grant_type": "client_credentials", "client_id": "kc-bot", "client_secret": BOT_SECRET}
    answer = post(keycloak, "api-access/token", **form, audience=AUDIENCE)
    assert answer.status_code == 200
    body = answer.json()
    assert {"access_token", "expires_in", "token_type"} <= set(body)
    assert "refresh_token" not in body and body["token_type"] == "Bearer"
    claims = claims_of(body["access_token"])
    assert claims["aud"] == AUDIENCE and claims["azp"] == "kc-bot"
    assert claims["preferred_username"] == "service-account-kc-bot"
    assert "cern_roles" not in claims
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    mine = requests.get(keycloak.api_url + "workspaces/my-default/", headers=headers, timeout=10)
    assert mine.json() == {"workspace": "tracker"}  # no roles: the default workspace

    # The standard token endpoint and HTTP Basic client authentication work too.
    basic = base64.b64encode(f"kc-bot:{BOT_SECRET}".encode()).decode()
    standard = requests.post(
        realm(keycloak) + "protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    assert standard.status_code == 200

    oauth_error(
        post(keycloak, "api-access/token", **{**form, "client_secret": "wrong"}),
        401,
        "invalid_client",
    )
    oauth_error(
        post(keycloak, "api-access/token", **{**form, "client_id": "other"}), 401, "invalid_client"
    )
    oauth_error(
        post(keycloak, "api-access/token", **{**form, "client_secret": ""}), 401, "invalid_client"
    )
    oauth_error(
        post(keycloak, "api-access/token", **form, audience="elsewhere"), 400, "invalid_client"
    )


def test_keys_discovery_and_unknown_realms(keycloak: LocalServer) -> None:
    jwks = requests.get(realm(keycloak) + "protocol/openid-connect/certs", timeout=10).json()
    (jwk,) = jwks["keys"]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and "d" not in jwk  # public only
    public_key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(public_key, RSAPublicKey)
    body = post(
        keycloak,
        "api-access/token",
        grant_type="client_credentials",
        client_id="kc-bot",
        client_secret=BOT_SECRET,
    ).json()
    verified = jwt.decode(body["access_token"], public_key, algorithms=["RS256"], audience=AUDIENCE)
    assert verified["iss"] == realm(keycloak).rstrip("/")
    assert jwt.get_unverified_header(body["access_token"])["kid"] == jwk["kid"]

    discovery = requests.get(realm(keycloak) + ".well-known/openid-configuration", timeout=10)
    assert discovery.json()["token_endpoint"] == realm(keycloak) + "protocol/openid-connect/token"

    other = post(keycloak, "protocol/openid-connect/token", realm_name="master", client_id=PUBLIC)
    assert other.status_code == 404 and other.json()["error"] == "Realm does not exist"
    assert (
        requests.get(realm(keycloak) + "protocol/openid-connect/token", timeout=10).status_code
        == 405
    )


def test_realm_and_audience_can_be_changed(tiny_data_dir: Path) -> None:
    add_api_client(tiny_data_dir, "lab-bot", "lab-bot-secret-0123456789-abcdefghijklmn")
    with signin_server(tiny_data_dir, "--realm", "lab", "--audience", "my-dials") as lab:
        form = {
            "grant_type": "client_credentials",
            "client_id": "lab-bot",
            "client_secret": "lab-bot-secret-0123456789-abcdefghijklmn",
        }
        assert post(lab, "api-access/token", **form).status_code == 404  # realm cern: gone
        answer = post(lab, "api-access/token", realm_name="lab", **form)
        assert claims_of(answer.json()["access_token"])["aud"] == "my-dials"
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        assert requests.get(lab.api_url + "run/", headers=headers, timeout=10).status_code == 200
