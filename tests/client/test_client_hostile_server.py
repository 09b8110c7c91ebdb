"""The client against a misbehaving hostile: redirects, trickles, huge bodies, Retry-After,
dropped polls (issue #10, items 4-6).

The servers are real sockets on 127.0.0.1 (hostile_support.py); nothing of the client is
patched.  Each test bounds the time it may take, and the redirect tests assert that the
other origin never received a credential.
"""

from __future__ import annotations

import http.client
import itertools
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from hostile_support import (
    HostileServer,
    Received,
    answer,
    close_delimited,
    hang_up,
    hostile_server,
    json_route,
    redirect,
    trickle,
    trickle_headers,
)

from cmsdials import Dials
from cmsdials._transport import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_RETRY_AFTER,
    MAX_REDIRECTS,
)
from cmsdials.auth.client import AuthClient
from cmsdials.auth.exceptions import DeviceCodeExpiredError
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import (
    CrossOriginRedirectError,
    DeadlineExceededError,
    ResponseTooLargeError,
    ServerError,
)

SECRET = "s3cret-key-never-elsewhere"
CLIENT_SECRET = "client-secret-never-elsewhere"
RUNS = "/api/v1/run/"
EMPTY_PAGE: dict[str, Any] = {"next": None, "previous": None, "results": []}
CREDENTIAL_HEADERS = ("x-client-secret", "authorization", "cookie")


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as local:
        yield local


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """A second origin that records what it receives (and answers like DIALS would)."""
    with hostile_server({RUNS: json_route(EMPTY_PAGE)}) as other:
        yield other


def client(hostile: HostileServer, **kwargs: Any) -> Dials:
    return Dials(Credentials(token=SECRET), base_url=hostile.base_url, **kwargs)


def assert_no_credentials(requests_seen: list[Received]) -> None:
    for seen in requests_seen:
        for name in CREDENTIAL_HEADERS:
            assert seen.header(name) is None, f"{name} reached the other origin"
        assert SECRET.encode() not in seen.body and CLIENT_SECRET.encode() not in seen.body


class Clock:
    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start


# ---------------------------------------------------------------------------------------
# Redirects
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_origin_is_refused(
    hostile: HostileServer, elsewhere: HostileServer, status: int
) -> None:
    hostile.routes[RUNS] = redirect(elsewhere.base_url + "api/v1/run/", status)
    with client(hostile) as dials, Clock() as clock, pytest.raises(CrossOriginRedirectError) as err:
        dials.run.list(retries=3)
    assert elsewhere.received == []
    assert len(hostile.hits(RUNS)) == 1  # refused, not retried
    assert hostile.hits(RUNS)[0].header("x-client-secret") == SECRET
    message = str(err.value)
    assert hostile.origin in message and elsewhere.origin in message
    assert SECRET not in message and SECRET not in repr(err.value)
    assert err.value.status_code == status
    assert err.value.target_origin == elsewhere.origin
    assert isinstance(err.value, requests.HTTPError)
    assert clock.elapsed < 2


def test_redirect_to_another_port_of_the_same_host_is_another_origin(
    hostile: HostileServer, elsewhere: HostileServer
) -> None:
    # Same scheme and host, another port: still another origin.
    location = f"http://127.0.0.1:{elsewhere.port}/api/v1/run/"
    hostile.routes[RUNS] = redirect(location, 307)
    with client(hostile) as dials, pytest.raises(CrossOriginRedirectError):
        dials.run.list()
    assert elsewhere.received == []


def test_redirect_within_the_origin_is_followed_with_credentials(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = redirect("/api/v1/moved/?page_size=3", 302)
    hostile.routes["/api/v1/moved/"] = json_route(EMPTY_PAGE)
    with client(hostile) as dials:
        page = dials.run.list()
    assert page.results == []
    (moved,) = hostile.hits("/api/v1/moved/")
    assert moved.path.endswith("?page_size=3")  # the Location's own query
    assert moved.header("x-client-secret") == SECRET


def test_redirect_loop_is_bounded(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = redirect(RUNS, 302)
    with client(hostile) as dials, Clock() as clock, pytest.raises(requests.TooManyRedirects):
        dials.run.list(retries=3)
    assert len(hostile.hits(RUNS)) == 1 + MAX_REDIRECTS
    assert clock.elapsed < 2


def test_client_credentials_are_not_reposted_to_another_origin(
    hostile: HostileServer, elsewhere: HostileServer
) -> None:
    # 307 keeps method and body: following it would re-post the client secret.
    path = "/auth/realms/cern/api-access/token"
    hostile.routes[path] = redirect(elsewhere.base_url.rstrip("/") + path, 307)
    with (
        AuthClient(keycloak_url=hostile.base_url + "auth/") as auth,
        pytest.raises(CrossOriginRedirectError) as err,
    ):
        auth.api_access_token("my-app", CLIENT_SECRET)
    assert elsewhere.received == []
    assert CLIENT_SECRET.encode() in hostile.hits(path)[0].body  # only the configured origin
    assert CLIENT_SECRET not in str(err.value)
    assert hostile.origin in str(err.value) and elsewhere.origin in str(err.value)


def test_refresh_token_is_not_sent_to_another_origin(
    hostile: HostileServer, elsewhere: HostileServer
) -> None:
    path = "/api/v1/auth/refresh-token/"
    hostile.routes[path] = redirect(elsewhere.base_url.rstrip("/") + path, 308)
    with AuthClient(base_url=hostile.base_url) as auth, pytest.raises(CrossOriginRedirectError):
        auth.refresh_token(refresh_token=CLIENT_SECRET)
    assert elsewhere.received == []


# ---------------------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------------------


def test_trickled_body_ends_at_the_deadline(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = trickle(declared=10_000_000)
    with (
        client(hostile, deadline=2, timeout=(2, 5)) as dials,
        Clock() as clock,
        pytest.raises(DeadlineExceededError) as err,
    ):
        dials.run.list(retries=0)
    assert isinstance(err.value, requests.Timeout)
    assert 1.8 < clock.elapsed < 5
    assert hostile.origin in str(err.value) and SECRET not in str(err.value)


def test_deadline_is_retried_as_a_timeout(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = trickle(declared=10_000_000)
    with client(hostile, deadline=1) as dials, Clock() as clock, pytest.raises(requests.Timeout):
        dials.run.list(retries=1)
    assert len(hostile.hits(RUNS)) == 2
    assert 1.8 < clock.elapsed < 5


def test_trickled_headers_end_at_the_deadline(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = trickle_headers()
    with (
        client(hostile, deadline=1.5) as dials,
        Clock() as clock,
        pytest.raises(DeadlineExceededError),
    ):
        dials.run.list(retries=0)
    assert 1.3 < clock.elapsed < 4


def test_deadline_covers_redirect_hops(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = redirect("/api/v1/slow/", 302)
    hostile.routes["/api/v1/slow/"] = trickle(declared=10_000_000)
    with (
        client(hostile, deadline=1) as dials,
        Clock() as clock,
        pytest.raises(DeadlineExceededError),
    ):
        dials.run.list(retries=0)
    assert clock.elapsed < 3


def test_sign_in_requests_have_a_deadline(hostile: HostileServer) -> None:
    hostile.routes["/api/v1/auth/new-device/"] = trickle(declared=100_000)
    with (
        AuthClient(base_url=hostile.base_url, deadline=1) as auth,
        Clock() as clock,
        pytest.raises(DeadlineExceededError),
    ):
        auth.new_device()
    assert clock.elapsed < 3


def test_a_fast_answer_is_unaffected_by_the_deadline(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = json_route(EMPTY_PAGE)
    with client(hostile, deadline=1) as dials:
        for _ in range(20):  # many short watches, none fires
            assert dials.run.list().results == []
        time.sleep(1.2)  # past the deadline of every request above: no late shutdown
        assert dials.run.list().results == []
    assert len(hostile.hits(RUNS)) == 21


# ---------------------------------------------------------------------------------------
# Body size
# ---------------------------------------------------------------------------------------


def test_huge_content_length_is_refused_before_reading(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = trickle(declared=10 << 30)
    with client(hostile) as dials, Clock() as clock, pytest.raises(ResponseTooLargeError) as err:
        dials.run.list(retries=3)
    assert clock.elapsed < 1.5  # the trickle was never waited for
    assert len(hostile.hits(RUNS)) == 1  # not retried
    assert str(10 << 30) in str(err.value) and str(DEFAULT_MAX_BODY) in str(err.value)


def test_oversized_body_without_length_is_cut_off(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = close_delimited(8 << 20)
    with client(hostile, max_body=1 << 20) as dials, pytest.raises(ResponseTooLargeError) as err:
        dials.run.list(retries=3)
    assert len(hostile.hits(RUNS)) == 1
    assert err.value.limit == 1 << 20 and err.value.size > 1 << 20


def test_body_at_the_limit_is_accepted(hostile: HostileServer) -> None:
    body = orjson.dumps(EMPTY_PAGE)
    hostile.routes[RUNS] = json_route(EMPTY_PAGE)
    with client(hostile, max_body=len(body)) as dials:
        assert dials.run.list().results == []


# ---------------------------------------------------------------------------------------
# Retry-After
# ---------------------------------------------------------------------------------------


def _unavailable(request: Received, conn: socket.socket) -> None:
    answer(conn, 503, b'{"detail": "busy"}', {"Retry-After": "100000"})


def test_retry_after_is_capped(hostile: HostileServer) -> None:
    hostile.routes[RUNS] = _unavailable
    with (
        client(hostile, max_retry_after=0.3) as dials,
        Clock() as clock,
        pytest.raises(ServerError),
    ):
        dials.run.list(retries=2)
    assert len(hostile.hits(RUNS)) == 3
    assert 0.5 < clock.elapsed < 3


def test_default_bounds() -> None:
    assert DEFAULT_MAX_RETRY_AFTER == 120
    assert DEFAULT_DEADLINE == 600
    assert DEFAULT_MAX_BODY == 1 << 30
    with pytest.raises(ValueError):
        Dials(Credentials(token=SECRET), base_url="http://127.0.0.1:9/", deadline=0)


# ---------------------------------------------------------------------------------------
# Device sign-in polling
# ---------------------------------------------------------------------------------------

NEW_DEVICE = "/api/v1/auth/new-device/"
DEVICE_TOKEN = "/api/v1/auth/device-token/"


def _device(expires_in: int) -> dict[str, object]:
    return {
        "device_code": "dev-code",
        "user_code": "ABCD-EFGH",
        "verification_uri": "http://example.invalid/device",
        "verification_uri_complete": "http://example.invalid/device?user_code=ABCD-EFGH",
        "expires_in": expires_in,
    }


def _polls(*outcomes: str) -> Any:
    """A device-token route answering ``outcomes`` in turn (the last one repeats)."""
    sequence = itertools.chain(outcomes, itertools.repeat(outcomes[-1]))

    def route(request: Received, conn: socket.socket) -> None:
        outcome = next(sequence)
        if outcome == "drop":
            hang_up(conn)
        elif outcome in ("502", "503", "504"):
            answer(conn, int(outcome), b"<html>bad gateway</html>", content_type="text/html")
        elif outcome == "pending":
            answer(conn, 400, b'{"error": "authorization_pending"}')
        else:
            tokens = {
                "access_token": "access",
                "refresh_token": "refresh",
                "expires_in": 300,
                "refresh_expires_in": 3600,
                "token_type": "Bearer",
            }
            answer(conn, 200, orjson.dumps(tokens))

    return route


def test_device_polling_survives_dropped_connections_and_gateway_errors(
    hostile: HostileServer,
) -> None:
    hostile.routes[NEW_DEVICE] = json_route(_device(60))
    hostile.routes[DEVICE_TOKEN] = _polls("drop", "503", "pending", "drop", "502", "504", "ok")
    with AuthClient(base_url=hostile.base_url, poll_interval=0.05) as auth, Clock() as clock:
        token = auth.device_auth_flow(announce=lambda device: None)
    assert token.access_token == "access"
    assert len(hostile.hits(DEVICE_TOKEN)) == 7
    assert clock.elapsed < 5


def test_device_polling_gives_up_at_expiry(hostile: HostileServer) -> None:
    hostile.routes[NEW_DEVICE] = json_route(_device(2))
    hostile.routes[DEVICE_TOKEN] = _polls("drop")
    with (
        AuthClient(base_url=hostile.base_url, poll_interval=0.1) as auth,
        Clock() as clock,
        pytest.raises(DeviceCodeExpiredError),
    ):
        auth.device_auth_flow(announce=lambda device: None)
    assert 1.8 < clock.elapsed < 5
    assert len(hostile.hits(DEVICE_TOKEN)) >= 5  # it kept polling through the drops


def test_device_polling_survives_a_server_restart() -> None:
    # Connections refused while the server restarts are retried; the grant survives.
    with hostile_server({NEW_DEVICE: json_route(_device(60))}) as first:
        port = first.port
        auth = AuthClient(base_url=first.base_url, poll_interval=0.1)
        device = auth.new_device()
    restarted: list[HostileServer] = []
    done = threading.Event()

    def restart() -> None:
        time.sleep(0.6)  # a few polls are refused meanwhile
        with hostile_server({DEVICE_TOKEN: _polls("pending", "ok")}, port=port) as second:
            restarted.append(second)
            done.wait(10)

    thread = threading.Thread(target=restart, daemon=True)
    thread.start()
    try:
        with auth, Clock() as clock:
            token = auth.wait_for_device(device)
    finally:
        done.set()
        thread.join(10)
    assert token.access_token == "access"
    assert 0.5 < clock.elapsed < 4
    assert len(restarted[0].hits(DEVICE_TOKEN)) == 2


# ---------------------------------------------------------------------------------------
# dials-local's keep-alive outlives the default poll interval
# ---------------------------------------------------------------------------------------


def test_dials_local_keeps_connections_longer_than_a_poll_interval(target: Any) -> None:
    if target.server is None:
        pytest.skip("needs the session's dials-local")
    parts = urllib.parse.urlparse(target.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/auth/new-device/")
        conn.getresponse().read()
        sock = conn.sock
        time.sleep(6)  # longer than uvicorn's default keep-alive (5 s) and a poll (5 s)
        conn.request("GET", "/api/v1/auth/new-device/")
        assert conn.getresponse().status == 200
        assert conn.sock is sock  # the same connection, not a reconnection
    finally:
        conn.close()
