"""Signing in against a real dials-local: the usage guide's examples, both kinds of
identity provider (DIALS' ``auth/*`` routes and the Keycloak endpoints), refreshes of
tokens that live 3 seconds, several threads and processes, the credential file.

The device is approved the way a person would, through the approval page's forms, here
over plain HTTP (tests/e2e does it in a real browser).  Refreshes are counted on the
server: its request log has one line per request.
"""

from __future__ import annotations

import html.parser
import json
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from cmsdials import Dials
from cmsdials.auth._store import CredentialStore
from cmsdials.auth.client import AuthClient
from cmsdials.auth.device import Credentials
from cmsdials.auth.exceptions import (
    AccessDeniedError,
    CredentialsCacheError,
    DeviceCodeExpiredError,
    ImpossibleToRefreshTokenError,
    InvalidClientError,
    InvalidGrantError,
    PendingAuthorizationError,
    SignInError,
    SlowDownError,
)
from cmsdials.auth.models import Device, utcnow
from cmsdials.filters import DatasetIndexFilters, LumisectionHistogram2DFilters
from dials_local.testing import LocalServer

USER = "alice"
PASSWORD = "correct horse battery"
ROBOT, ROBOT_SECRET = "robot", "robot-secret-4f2a9c"
#: Tokens live 3 s (stale after ~2.7 s), refresh tokens 20 s; polls every 0.5 s allowed.
#: A leeway of 1 s: the client sends a token until 0.15 s before its expiry, and on a busy
#: machine a request may wait longer than that behind the server's 2 handler slots.
FAST = ("--access-ttl", "3", "--refresh-ttl", "20", "--device-interval", "0.5", "--leeway", "1")
REFRESH_LINE = "POST /api/v1/auth/refresh-token/ 200"


# -- servers -------------------------------------------------------------------------------


def _cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "dials_local.cli", *args], check=True, capture_output=True
    )


def signin_data_dir(tiny: Path, target: Path, *, accounts: bool = True) -> Path:
    """A copy of the seeded data with a user and an API client (the session's server keeps
    its own users and tokens)."""
    shutil.copytree(tiny, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.log"))
    if not accounts:
        return target
    _cli("create-user", USER, "--password", PASSWORD, "--data-dir", str(target))
    _cli("create-api-client", "--name", ROBOT, "--secret", ROBOT_SECRET, "--data-dir", str(target))
    return target


@pytest.fixture(scope="module")
def signin(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    data = signin_data_dir(tiny_data_dir, tmp_path_factory.mktemp("signin-data"))
    with LocalServer(data, extra_args=FAST) as server:
        yield server


@pytest.fixture(scope="module")
def short_codes(
    tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """Device codes that expire after 1 s (nobody approves them)."""
    data = signin_data_dir(
        tiny_data_dir, tmp_path_factory.mktemp("short-codes-data"), accounts=False
    )
    with LocalServer(data, extra_args=(*FAST, "--device-ttl", "1")) as server:
        yield server


@pytest.fixture(scope="module")
def long_tokens(
    tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """Access tokens that live 5 minutes: a refreshed token stays fresh however late the
    processes that share it start (3-second ones went stale between them)."""
    data = signin_data_dir(tiny_data_dir, tmp_path_factory.mktemp("long-tokens-data"))
    with LocalServer(
        data, extra_args=("--access-ttl", "300", "--device-interval", "0.5")
    ) as server:
        yield server


def request_log(server: LocalServer) -> str:
    assert server.log_path is not None
    return server.log_path.read_text(errors="replace")


def refresh_count(server: LocalServer) -> int:
    return request_log(server).count(REFRESH_LINE)


def refreshes_since(server: LocalServer, before: int, expected: int) -> int:
    """Refreshes logged since the count was ``before``.  The server writes a line just
    after sending the answer, so wait (briefly) for ``expected`` lines, and a moment more
    for any extra one."""
    deadline = time.monotonic() + 3
    while refresh_count(server) - before < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    return refresh_count(server) - before


# -- approving like a person -----------------------------------------------------------------


class _Forms(html.parser.HTMLParser):
    """The forms of a page: action -> hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._action = values.get("action", "")
            self.forms[self._action] = {}
        elif tag == "input" and values.get("type") == "hidden" and self._action is not None:
            self.forms[self._action][values["name"]] = values.get("value", "")


def _form(page: requests.Response, action: str) -> dict[str, str]:
    parser = _Forms()
    parser.feed(page.text)
    assert action in parser.forms, f"no form {action} on {page.url}: {page.text[:500]}"
    return parser.forms[action]


def approve_over_http(url: str, decision: str = "approve") -> str:
    """Open ``url`` (``verification_uri_complete``), sign in, approve or deny; the text of
    the last page."""
    root = url.split("/device", 1)[0]
    with requests.Session() as browser:
        page = browser.get(url, timeout=10)
        page.raise_for_status()
        fields = _form(page, "/device/login")
        page = browser.post(
            root + "/device/login",
            data={**fields, "username": USER, "password": PASSWORD},
            timeout=10,
        )
        page.raise_for_status()
        fields = _form(page, "/device/decision")
        page = browser.post(
            root + "/device/decision", data={**fields, "decision": decision}, timeout=10
        )
        page.raise_for_status()
        return page.text


class Approver:
    """An ``announce`` callback: approves (or denies) each device in a thread, like a
    person who opens the printed link."""

    def __init__(self, decision: str = "approve") -> None:
        self.decision = decision
        self.devices: list[Device] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def __call__(self, device: Device) -> None:
        self.devices.append(device)
        thread = threading.Thread(target=self._approve, args=(device.verification_uri_complete,))
        self._threads.append(thread)
        thread.start()

    def _approve(self, url: str) -> None:
        try:
            approve_over_http(url, self.decision)
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)
        assert not self.errors, self.errors


def dials_client(server: LocalServer, **kwargs: object) -> AuthClient:
    return AuthClient(base_url=server.base_url, poll_interval=0.5, **kwargs)  # type: ignore[arg-type]


def keycloak_client(server: LocalServer, **kwargs: object) -> AuthClient:
    return AuthClient(keycloak_url=server.base_url + "auth/", **kwargs)  # type: ignore[arg-type]


def signed_in(server: LocalServer, cache: Path, **kwargs: object) -> Credentials:
    approver = Approver()
    auth = dials_client(server, announce=approver)
    creds = Credentials.from_creds_file(cache_dir=cache, client=auth, **kwargs)  # type: ignore[arg-type]
    approver.join()
    return creds


def secret_key_dials(server: LocalServer) -> Dials:
    from cmsdials.auth.secret_key import Credentials as SecretKey

    return Dials(SecretKey(token=server.secret_key), base_url=server.base_url)


def jti(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["jti"])


def expire_cached(cache: Path, auth: AuthClient, *, refresh_too: bool = False) -> None:
    """Make the cached token look expired to the client (the server is not asked)."""
    store = CredentialStore(cache)
    token = store.load(auth.cache_key)
    assert token is not None
    past = utcnow() - timedelta(seconds=1)
    update = {"expires_at": past, **({"refresh_expires_at": past} if refresh_too else {})}
    store.save(auth.cache_key, token.model_copy(update=update))


# -- the usage guide, unchanged but for base_url and cache dir ----------------------------------


def test_guide_dev_instance_example(
    signin: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's "local version of DIALS" example, line for line (polls every 5 s)."""
    results: dict[str, object] = {}

    def example() -> None:
        try:
            DEV_URL = signin.base_url
            DEV_CACHE_DIR = str(tmp_path / ".cache-dev")
            auth = AuthClient(base_url=DEV_URL)
            creds = Credentials.from_creds_file(cache_dir=DEV_CACHE_DIR, client=auth)
            dials = Dials(creds, base_url=DEV_URL)
            results["data"] = dials.h2d.list_all(
                LumisectionHistogram2DFilters(
                    me__regex="EEOT digi occupancy EE +",
                    entries__gte=100,
                    run_number__gte=360392,
                    run_number__lte=365000,
                ),
                max_pages=5,
            )
        except BaseException as exc:
            results["error"] = exc

    worker = threading.Thread(target=example)
    worker.start()
    printed = ""
    deadline = time.monotonic() + 20
    while "user_code=" not in printed and time.monotonic() < deadline:
        time.sleep(0.05)
        printed += capsys.readouterr().out
    url = next(word for word in printed.split() if "user_code=" in word)
    assert url.startswith(signin.base_url + "device?user_code=")
    assert "Access granted" in approve_over_http(url)
    worker.join(timeout=30)
    assert "error" not in results, results.get("error")
    expected = secret_key_dials(signin).h2d.list_all(
        LumisectionHistogram2DFilters(
            me__regex="EEOT digi occupancy EE +",
            entries__gte=100,
            run_number__gte=360392,
            run_number__lte=365000,
        ),
        max_pages=5,
    )
    assert results["data"].results == expected.results  # type: ignore[attr-defined]
    assert stat.S_IMODE((tmp_path / ".cache-dev" / "creds").stat().st_mode) == 0o600


def test_guide_device_flow_example(
    signin: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``auth.device_auth_flow()`` + ``Credentials.from_authclient_token(token)`` (default
    cache directory), against dials-local's Keycloak endpoints."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    approver = Approver()
    auth = keycloak_client(signin, announce=approver)
    token = auth.device_auth_flow()
    creds = Credentials.from_authclient_token(token)
    approver.join()
    assert Path(creds.cache_path) == tmp_path / "xdg" / "cmsdials" / "creds"
    # No client= given: the entry is keyed by the server that issued the token (not
    # production), and that server's AuthClient refreshes it.
    entries = json.loads(Path(creds.cache_path).read_text())["entries"]
    assert set(entries) == {auth.cache_key}
    assert creds.client is auth
    dials = Dials(creds, base_url=signin.base_url)
    rows = dials.dataset_index.list_all(DatasetIndexFilters())
    assert (
        rows.results
        == secret_key_dials(signin).dataset_index.list_all(DatasetIndexFilters()).results
    )
    # The token was exchanged for the DIALS audience.
    claims = jwt.decode(creds.token, options={"verify_signature": False})
    assert claims["aud"] == "cms-dials-prod-confidential-app"
    assert claims["preferred_username"] == USER


# -- the device flow's answers ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dials", "keycloak"])
def test_device_token_pending_then_approved(signin: LocalServer, kind: str) -> None:
    auth = dials_client(signin) if kind == "dials" else keycloak_client(signin)
    device = auth.new_device()
    assert "device_code" not in repr(device) and device.device_code not in repr(device)
    with pytest.raises(PendingAuthorizationError) as info:
        auth.device_token(device.device_code)
    assert isinstance(info.value, requests.HTTPError) and info.value.code == "authorization_pending"
    # slow_down needs the polls < 0.5 s apart by the server's clock: moved back a minute,
    # a stall of the machine between them cannot turn it into authorization_pending.
    signin.advance_clock(-60)
    try:
        with pytest.raises(SlowDownError):  # asked again sooner than the server allows
            auth.device_token(device.device_code)
    finally:
        signin.reset_clock()
    approve_over_http(device.verification_uri_complete)
    token = auth.wait_for_device(device)
    assert token.token_type == "Bearer" and token.expires_in == 3


def _pools(adapter: requests.adapters.BaseAdapter) -> Any:
    """The urllib3 pools of a mounted adapter (a ``RecentlyUsedContainer``)."""
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    return adapter.poolmanager.pools


def test_with_block_closes_the_pooled_connections(signin: LocalServer) -> None:
    with dials_client(signin) as auth:
        auth.new_device()
        pools = [_pools(adapter) for adapter in auth.session.adapters.values()]
        assert sum(len(p) for p in pools) == 1  # the connection to the server
    assert sum(len(p) for p in pools) == 0


@pytest.mark.parametrize("kind", ["dials", "keycloak"])
def test_denied(signin: LocalServer, kind: str) -> None:
    approver = Approver("deny")
    auth = (dials_client if kind == "dials" else keycloak_client)(signin, announce=approver)
    with pytest.raises(AccessDeniedError, match="denied in the browser") as info:
        auth.device_auth_flow()
    approver.join()
    assert info.value.code == "access_denied" and info.value.status_code == 400


@pytest.mark.parametrize("kind", ["dials", "keycloak"])
def test_code_expires_unapproved(short_codes: LocalServer, kind: str) -> None:
    shown: list[Device] = []

    def announce(device: Device) -> None:
        shown.append(device)
        # The client gives up after 1 s by its own clock, with its own message: 2 s on,
        # the server answers expired_token to the first poll (0.5 s later), however slow.
        short_codes.advance_clock(2)

    auth = (dials_client if kind == "dials" else keycloak_client)(short_codes, announce=announce)
    started = time.monotonic()
    try:
        with pytest.raises(DeviceCodeExpiredError, match="expired before it was approved"):
            auth.device_auth_flow()
    finally:
        short_codes.reset_clock()
    assert 0.4 < time.monotonic() - started < 8  # polled once, after one interval
    assert shown and shown[0].expires_in == 1


# -- refreshing ------------------------------------------------------------------------------------


def test_reads_go_on_across_refreshes(signin: LocalServer, tmp_path: Path) -> None:
    creds = signed_in(signin, tmp_path)
    dials = Dials(creds, base_url=signin.base_url)
    before = refresh_count(signin)
    seen = [creds.token]
    reads = 0
    deadline = time.monotonic() + 12
    # Read without pause until the token was replaced three times (every ~2-3 s).
    while len(seen) < 4 and time.monotonic() < deadline:
        dials.dataset_index.list(DatasetIndexFilters(page_size=2))  # raises on any failure
        reads += 1
        if creds.token != seen[-1]:
            seen.append(creds.token)
    assert len(seen) == 4, "the token was not refreshed as it went stale"
    assert refreshes_since(signin, before, 3) == 3
    assert reads > 50


def _read_in_threads(
    dials: Dials, threads: int, *, until: float | None = None, seconds: float | None = None
) -> None:
    """Read in ``threads`` threads, started together, each at least once and then until
    ``until`` (a ``time.monotonic()``) or for ``seconds`` from the moment all have
    started (a deadline set before a stall of the machine could pass with no read)."""
    errors: list[BaseException] = []
    end = [until if until is not None else 0.0]

    def all_started() -> None:  # run by one thread, before the barrier lets any go
        if seconds is not None:
            end[0] = time.monotonic() + seconds

    start = threading.Barrier(threads, action=all_started)

    def worker() -> None:
        start.wait()
        try:
            while True:
                dials.dataset_index.list(DatasetIndexFilters(page_size=1))
                if time.monotonic() >= end[0]:
                    break
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors[:3]


def test_sixteen_threads_one_refresh_when_the_token_expired(
    signin: LocalServer, tmp_path: Path
) -> None:
    token = signed_in(signin, tmp_path).as_token()
    # The same token, already expired as far as the client knows (the server would
    # still take it, but it is never sent: it is refreshed first).
    creds = Credentials(
        token=token.access_token,
        expires_at=utcnow() - timedelta(seconds=1),
        expires_in=token.expires_in,
        refresh_expires_at=token.refresh_expires_at,
        refresh_expires_in=token.refresh_expires_in,
        refresh_token=token.refresh_token,
        token_type=token.token_type,
        cache_dir=tmp_path,
        client=dials_client(signin),
        interactive=False,
    )
    assert creds.expired and not creds.refresh_expired
    dials = Dials(creds, base_url=signin.base_url, pool_maxsize=16)
    before = refresh_count(signin)
    _read_in_threads(dials, 16, seconds=0.5)
    assert refreshes_since(signin, before, 1) == 1
    assert jti(creds.token) != jti(token.access_token)


def test_sixteen_threads_one_refresh_while_the_token_expires(
    signin: LocalServer, tmp_path: Path
) -> None:
    creds = signed_in(signin, tmp_path, interactive=False)
    dials = Dials(creds, base_url=signin.base_url, pool_maxsize=16)
    before = refresh_count(signin)
    first_expiry = creds.expires_at
    # Read from fresh, through stale, until just past the first token's expiry (its
    # successor is stale only ~2 s later).
    until = time.monotonic() + (first_expiry - utcnow()).total_seconds() + 0.3
    _read_in_threads(dials, 16, until=until)
    assert refreshes_since(signin, before, 1) == 1
    assert creds.expires_at > first_expiry


def test_refresh_token_refused_non_interactive(signin: LocalServer, tmp_path: Path) -> None:
    creds = signed_in(signin, tmp_path, interactive=False)
    # A refresh token is single-use: redeem it behind the client's back.
    store = CredentialStore(tmp_path)
    token = store.load(creds.client.cache_key)
    assert token is not None
    creds.client.refresh_token(refresh_token=token.refresh_token)
    expire_cached(tmp_path, creds.client)
    stale = Credentials.from_creds_file(cache_dir=tmp_path, client=creds.client, interactive=False)
    with pytest.raises(ImpossibleToRefreshTokenError, match="interactive=True") as info:
        Dials(stale, base_url=signin.base_url).dataset_index.list()
    assert isinstance(info.value.__cause__, InvalidGrantError)


def test_refresh_token_expired_non_interactive(signin: LocalServer, tmp_path: Path) -> None:
    creds = signed_in(signin, tmp_path)
    expire_cached(tmp_path, creds.client, refresh_too=True)
    with pytest.raises(ImpossibleToRefreshTokenError, match=str(tmp_path)):
        Credentials.from_creds_file(cache_dir=tmp_path, client=creds.client, interactive=False)


def test_refresh_token_expired_interactive_signs_in_again(
    signin: LocalServer, tmp_path: Path
) -> None:
    first = signed_in(signin, tmp_path)
    token = first.as_token()
    past = utcnow() - timedelta(seconds=1)
    approver = Approver()
    auth = dials_client(signin, announce=approver)
    creds = Credentials(
        token=token.access_token,
        expires_at=past,
        expires_in=token.expires_in,
        refresh_expires_at=past,
        refresh_expires_in=token.refresh_expires_in,
        refresh_token=token.refresh_token,
        token_type=token.token_type,
        cache_dir=tmp_path,
        client=auth,
        interactive=True,
    )
    assert creds.refresh_expired
    rows = Dials(creds, base_url=signin.base_url).dataset_index.list()
    approver.join()
    assert rows.results and len(approver.devices) == 1
    assert jti(creds.token) != jti(first.token) and creds.token_state.name == "FRESH"
    # The new sign-in was cached.
    assert Credentials.from_creds_file(cache_dir=tmp_path, client=auth).token == creds.token


# -- the credential file -------------------------------------------------------------------------

_SECOND_PROCESS = textwrap.dedent(
    """
    import sys, jwt
    from cmsdials import Dials
    from cmsdials.auth.client import AuthClient
    from cmsdials.auth.device import Credentials
    from cmsdials.filters import DatasetIndexFilters
    cache, url, read = sys.argv[1], sys.argv[2], sys.argv[3] == "read"
    creds = Credentials.from_creds_file(
        cache_dir=cache, client=AuthClient(base_url=url), interactive=False
    )
    if read:
        Dials(creds, base_url=url).dataset_index.list(DatasetIndexFilters(page_size=1))
    print(jwt.decode(creds.token, options={"verify_signature": False})["jti"])
    """
)


def second_process(cache: Path, server: LocalServer, read: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _SECOND_PROCESS, str(cache), server.base_url,
         "read" if read else "load"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_cache_file_mode_and_a_second_process_sees_the_refresh(
    signin: LocalServer, tmp_path: Path
) -> None:
    creds = signed_in(signin, tmp_path / "cache")
    path = tmp_path / "cache" / "creds"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    before = jti(creds.token)
    creds.refresh()
    assert jti(creds.token) != before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out, err = second_process(tmp_path / "cache", signin, read=False).communicate(timeout=60)
    assert out.strip() == jti(creds.token), err
    entries = json.loads(path.read_text())["entries"]
    assert list(entries) == [creds.client.cache_key]


def test_two_processes_refreshing_at_once_refresh_once(
    long_tokens: LocalServer, tmp_path: Path
) -> None:
    # Long-lived tokens: with 3-second ones, a process that starts late found the
    # refreshed token stale and rightly refreshed it again.  The file lock is tested here.
    creds = signed_in(long_tokens, tmp_path)
    expire_cached(tmp_path, creds.client)  # the one refresh: the cached token looks expired
    before = refresh_count(long_tokens)
    procs = [second_process(tmp_path, long_tokens, read=True) for _ in range(3)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outputs]
    # One refreshed; the others found its token in the file (a refresh token is
    # single-use: a second redemption would have revoked the session).
    assert refreshes_since(long_tokens, before, 1) == 1
    assert len({out.strip() for out, _ in outputs}) == 1


@pytest.mark.parametrize("interactive", [False, True])
def test_corrupt_cache_file(signin: LocalServer, tmp_path: Path, interactive: bool) -> None:
    (tmp_path / "creds").write_text('{"version": 1, "entries": {"http://x/": {"access_')
    approver = Approver()
    auth = dials_client(signin, announce=approver)
    if not interactive:
        with pytest.raises(CredentialsCacheError) as info:
            Credentials.from_creds_file(cache_dir=tmp_path, client=auth, interactive=False)
        assert str(tmp_path / "creds") in str(info.value)
        assert info.value.__context__ is None or info.value.__suppress_context__
        assert not approver.devices
        return
    creds = Credentials.from_creds_file(cache_dir=tmp_path, client=auth, interactive=True)
    approver.join()
    assert len(approver.devices) == 1
    assert (tmp_path / "creds.corrupt").exists()
    assert Dials(creds, base_url=signin.base_url).dataset_index.list().results


def test_servers_never_mix(signin: LocalServer, tmp_path: Path) -> None:
    dials_creds = signed_in(signin, tmp_path)
    approver = Approver()
    auth = keycloak_client(signin, announce=approver)
    keycloak_creds = Credentials.from_creds_file(cache_dir=tmp_path, client=auth)
    approver.join()
    assert len(approver.devices) == 1  # did not reuse the other server's token
    entries = json.loads((tmp_path / "creds").read_text())["entries"]
    assert set(entries) == {dials_creds.client.cache_key, auth.cache_key}
    again = Credentials.from_creds_file(cache_dir=tmp_path, client=dials_client(signin))
    assert again.token == dials_creds.token != keycloak_creds.token


# -- applications: client credentials ------------------------------------------------------------


def test_client_credentials(signin: LocalServer) -> None:
    from cmsdials.auth.client_credentials import Credentials as ClientCredentials
    from cmsdials.auth.secret_key import Credentials as SecretKey

    auth = keycloak_client(signin)
    creds = ClientCredentials(client_id=ROBOT, client_secret=ROBOT_SECRET, client=auth)
    assert ROBOT_SECRET not in repr(creds)
    dials = Dials(creds, base_url=signin.base_url)
    first = creds.token
    deadline = time.monotonic() + 6
    reads = 0
    # Read until the token was renewed (tokens live 3 s); every read must succeed.
    while creds.token == first and time.monotonic() < deadline:
        assert dials.dataset_index.list(DatasetIndexFilters(page_size=1)).results
        reads += 1
    assert creds.token != first and reads > 10
    assert dials.dataset_index.list(DatasetIndexFilters(page_size=1)).results
    # The deprecated spelling: a secret key with a client id.
    legacy = SecretKey(token=ROBOT_SECRET, client_id=ROBOT, client=auth)
    assert Dials(legacy, base_url=signin.base_url).dataset_index.list().results
    assert ROBOT_SECRET not in repr(legacy)
    with pytest.raises(InvalidClientError) as info:
        ClientCredentials(client_id=ROBOT, client_secret="wrong", client=auth)
    assert isinstance(info.value, SignInError) and info.value.status_code == 401
    with pytest.raises(ValueError, match="keycloak_url"):
        ClientCredentials(client_id=ROBOT, client_secret=ROBOT_SECRET, client=dials_client(signin))


def test_no_secrets_in_logs(
    signin: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    creds = signed_in(signin, tmp_path)
    creds.refresh()
    token = CredentialStore(tmp_path).load(creds.client.cache_key)
    assert token is not None
    for secret in (token.access_token, token.refresh_token):
        assert secret not in caplog.text
        assert secret not in repr(creds) and secret not in repr(token)


# -- the two kinds of identity provider ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["dials", "keycloak"])
def test_refreshed_tokens_are_for_dials_in_both_modes(
    signin: LocalServer, kind: str, tmp_path: Path
) -> None:
    """Keycloak issues device and refreshed tokens to the public application: each one is
    exchanged for the DIALS audience.  DIALS' own routes issue DIALS tokens directly."""
    approver = Approver()
    auth = (dials_client if kind == "dials" else keycloak_client)(signin, announce=approver)
    first = auth.device_auth_flow()
    approver.join()
    refreshed = auth.refresh_token(refresh_token=first.refresh_token)
    assert refreshed.issuer is auth and refreshed.access_token != first.access_token
    for tok in (first, refreshed):
        claims = jwt.decode(tok.access_token, options={"verify_signature": False})
        assert claims["aud"] == "cms-dials-prod-confidential-app"
        assert claims["preferred_username"] == USER
    creds = Credentials.from_authclient_token(refreshed, cache_dir=tmp_path, client=auth)
    rows = Dials(creds, base_url=signin.base_url).dataset_index.list(DatasetIndexFilters())
    assert rows.results


def test_settings_changed_after_construction_take_effect(signin: LocalServer) -> None:
    """As in 2.x, the attributes are the settings: each request reads them."""
    dials = AuthClient(base_url="http://127.0.0.1:9/")  # nothing listens there
    dials.base_url = signin.base_url
    assert dials.cache_key == signin.base_url + "api/v1/"
    assert dials.new_device().verification_uri_complete.startswith(signin.base_url)
    keycloak = AuthClient(realm="cern")  # production's Keycloak
    keycloak.keycloak_url = signin.base_url + "auth/"
    assert keycloak.cache_key.startswith(signin.base_url + "auth/realms/cern/#")
    assert keycloak.new_device().verification_uri_complete.startswith(signin.base_url)
    keycloak.client_id = "no-such-client"
    with pytest.raises(InvalidClientError):
        keycloak.new_device()


def test_mode_and_repr_name_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALS_BASE_URL", raising=False)
    dials = AuthClient(base_url="http://127.0.0.1:8000")
    assert dials.mode == "dials"
    assert repr(dials) == "AuthClient(base_url='http://127.0.0.1:8000/')"
    keycloak = AuthClient(realm="cms")
    assert keycloak.mode == "keycloak"
    assert repr(keycloak) == (
        "AuthClient(keycloak_url='https://auth.cern.ch/auth/', realm='cms', "
        "client_id='cms-dials-prod-public-app', audience='cms-dials-prod-confidential-app')"
    )
    with pytest.raises(AttributeError):
        keycloak.mode = "dials"  # type: ignore[misc]
    with pytest.raises(ValueError, match="not both"):
        AuthClient(base_url="http://127.0.0.1:8000/", realm="cern")
    with pytest.raises(ValueError, match=r"keycloak_url='http://127\.0\.0\.1:8000/auth/'"):
        dials.api_access_token("robot", "secret")  # DIALS' routes have no such grant
