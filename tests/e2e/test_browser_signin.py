"""Signing in end to end, in a real browser.

The client starts the device flow (in a thread, as a script would block on it); headless
Chromium opens the link the client shows, signs in on dials-local's approval page and
approves (or denies, or finds the code expired); the client gets tokens, caches them and
reads data.  Screenshots of the pages are kept in each test's temporary directory, which
CI keeps as artifacts.
"""

from __future__ import annotations

import queue
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e_support import PASSWORD, USER
from playwright.sync_api import expect

from cmsdials import Dials
from cmsdials.auth.client import AuthClient
from cmsdials.auth.device import Credentials
from cmsdials.auth.exceptions import AccessDeniedError, DeviceCodeExpiredError
from cmsdials.auth.models import Device
from cmsdials.auth.secret_key import Credentials as SecretKey
from cmsdials.filters import DatasetIndexFilters, RunFilters
from dials_local.testing import LocalServer


class SignIn(threading.Thread):
    """``Credentials.from_creds_file`` in a thread; the link it shows goes to a queue
    (after ``on_announce``, called in that thread, if given)."""

    def __init__(
        self,
        auth: AuthClient,
        cache: Path,
        *,
        on_announce: Callable[[Device], object] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.devices: queue.Queue[Device] = queue.Queue()

        def announce(device: Device) -> None:
            if on_announce is not None:
                on_announce(device)
            self.devices.put(device)

        auth.announce = announce
        self.auth = auth
        self.cache = cache
        self.creds: Credentials | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.creds = Credentials.from_creds_file(
                cache_dir=self.cache, client=self.auth, interactive=False
            )
        except BaseException as exc:
            self.error = exc

    def link(self) -> str:
        return self.devices.get(timeout=15).verification_uri_complete

    def result(self) -> Credentials:
        self.join(timeout=30)
        assert not self.is_alive(), "the client did not finish"
        if self.error is not None:
            raise self.error
        assert self.creds is not None
        return self.creds


def user_code(link: str) -> str:
    return parse_qs(urlsplit(link).query)["user_code"][0]


def sign_in_on_page(page: Any, link: str) -> None:
    """Open the link, check the code, sign in as the test user."""
    page.goto(link)
    expect(page.locator("#user-code")).to_have_text(user_code(link))
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    expect(page.get_by_text(USER, exact=True).first).to_be_visible()


@pytest.mark.parametrize("kind", ["dials", "keycloak"])
def test_approve_in_browser_then_read(
    signin_server: LocalServer, page: Any, tmp_path: Path, kind: str
) -> None:
    server = signin_server
    auth = (
        AuthClient(base_url=server.base_url, poll_interval=0.5)
        if kind == "dials"
        else AuthClient(keycloak_url=server.base_url + "auth/")
    )
    cache = tmp_path / "cache"
    flow = SignIn(auth, cache)
    sign_in_on_page(page, flow.link())
    page.screenshot(path=tmp_path / "approval-page.png", full_page=True)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("can now read DIALS data")
    page.screenshot(path=tmp_path / "approved-page.png")
    creds = flow.result()

    # Cached, privately.
    path = cache / "creds"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert Credentials.from_creds_file(cache_dir=cache, client=auth).token == creds.token

    # Reads the server's data: the same rows as an API client's secret key reads.
    dials = Dials(creds, base_url=server.base_url)
    reference = Dials(SecretKey(token=server.secret_key), base_url=server.base_url)
    datasets = dials.dataset_index.list_all(DatasetIndexFilters())
    assert datasets.results
    assert datasets.results == reference.dataset_index.list_all(DatasetIndexFilters()).results
    runs = dials.run.list_all(RunFilters(), max_pages=2)
    assert runs.results == reference.run.list_all(RunFilters(), max_pages=2).results
    assert (tmp_path / "approval-page.png").stat().st_size > 1000


def test_deny_in_browser(signin_server: LocalServer, page: Any, tmp_path: Path) -> None:
    auth = AuthClient(keycloak_url=signin_server.base_url + "auth/")
    flow = SignIn(auth, tmp_path / "cache")
    sign_in_on_page(page, flow.link())
    page.screenshot(path=tmp_path / "approval-page.png", full_page=True)
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("status")).to_contain_text("did not get access")
    page.screenshot(path=tmp_path / "denied-page.png")
    with pytest.raises(AccessDeniedError, match="denied in the browser"):
        flow.result()
    assert not (tmp_path / "cache" / "creds").exists()


def test_expired_code_in_browser(short_code_server: LocalServer, page: Any, tmp_path: Path) -> None:
    auth = AuthClient(base_url=short_code_server.base_url, poll_interval=0.5)
    started = time.monotonic()
    # The client gives up after 1 s by its own clock, with its own message: 2 s on, the
    # server answers expired_token to the first poll (0.5 s later), however slow.
    flow = SignIn(
        auth, tmp_path / "cache", on_announce=lambda _: short_code_server.advance_clock(2)
    )
    try:
        link = flow.link()
        with pytest.raises(DeviceCodeExpiredError, match="expired before it was approved"):
            flow.result()
        assert time.monotonic() - started < 10
        # The person comes too late: the page says so, and offers nothing to approve.
        page.goto(link)
        expect(page.get_by_role("heading", name="Code expired")).to_be_visible()
        expect(page.get_by_role("button", name="Approve")).to_have_count(0)
        page.screenshot(path=tmp_path / "expired-page.png", full_page=True)
    finally:
        short_code_server.reset_clock()
