"""Bounds on unauthenticated work (issue #10), over real HTTP against real servers.

* sign-in lockout per user name and per client address on the approval page (429 with a
  message and ``Retry-After``; the right password is refused during the lockout);
* pending device grants per client address (429 ``{"detail": ...}``), expired grant rows
  deleted;
* a flood of wrong passwords neither starves other clients nor grows the process: the
  hashes run on a small pool of their own.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_signin_browser import (
    PASSWORD,
    Browser,
    Page,
    add_user,
    signin_server,
    start_device,
)

from dials_local.auth.throttle import SignInThrottle, Throttled
from dials_local.db.engines import SERVICE_SQLITE_FILE
from dials_local.testing import SECRET_HEADER, LocalServer

LOCKOUT = 300.0  # seconds (the default): the tests move the server's clock past it


def login_page(server: LocalServer) -> tuple[Browser, Page]:
    """A browser on the sign-in form of a fresh device code."""
    browser = Browser(server.base_url)
    page = browser.open(str(start_device(server)["verification_uri_complete"]))
    assert page.status == 200, page.text
    return browser, page


def retry_after(page: Page) -> int:
    return int(page.response.headers["Retry-After"])


@pytest.fixture(scope="module")
def limited(tiny_data_dir: Path) -> Iterator[LocalServer]:
    local = signin_server(
        tiny_data_dir,
        "--login-lockout",
        str(LOCKOUT),
        "--login-max-failures-per-address",
        "12",
    )
    add_user(local, "victim")
    add_user(local, "other")
    try:
        yield local
    finally:
        local.stop()


GRANT_TTL = 600  # seconds (the default): the test moves the server's clock past it


@pytest.fixture(scope="module")
def grants(tiny_data_dir: Path) -> Iterator[LocalServer]:
    local = signin_server(
        tiny_data_dir,
        "--device-ttl",
        str(GRANT_TTL),
        "--device-grants-per-address",
        "4",
    )
    add_user(local, "other")
    try:
        yield local
    finally:
        local.stop()


def test_user_lockout_after_five_failures_refuses_even_the_right_password(
    limited: LocalServer,
) -> None:
    browser, page = login_page(limited)
    for _ in range(5):
        page = browser.submit(page, "/device/login", username="victim", password="guess")
        assert page.status == 401 and "Wrong user name or password." in page.text
    locked = browser.submit(page, "/device/login", username="victim", password="guess")
    assert locked.status == 429
    assert "Too many failed sign-in attempts. Try again in" in locked.text
    assert 1 <= retry_after(locked) <= LOCKOUT
    assert locked.form("/device/login").fields["username"] == "victim"  # the form is kept
    # The right password does not get through either: guessing cannot go on.
    right = browser.submit(locked, "/device/login", username="victim", password=PASSWORD)
    assert right.status == 429 and "Try again in" in right.text
    # Another user is not affected by victim's lockout.
    other_browser, other_page = login_page(limited)
    other = other_browser.submit(other_page, "/device/login", username="other", password=PASSWORD)
    assert other.status == 200 and other.title.startswith("Allow access")

    limited.advance_clock(LOCKOUT - 10)
    still = browser.submit(right, "/device/login", username="victim", password=PASSWORD)
    assert still.status == 429 and 1 <= retry_after(still) <= 10
    limited.advance_clock(10.2)
    after = browser.submit(still, "/device/login", username="victim", password=PASSWORD)
    assert after.status == 200 and after.title.startswith("Allow access"), after.text
    assert after.response.history[0].status_code == 303


def test_address_lockout_covers_every_user_name(limited: LocalServer) -> None:
    limited.advance_clock(LOCKOUT + 0.2)  # no lockout of the test above is left
    browser, page = login_page(limited)
    statuses = []
    for number in range(14):  # 12 failures from this address, names all different
        page = browser.submit(page, "/device/login", username=f"spray{number}", password="x")
        statuses.append(page.status)
    assert statuses[:12].count(401) >= 7  # (5 failures of the test above may still count)
    assert statuses[-2:] == [429, 429]
    assert "Too many failed sign-in attempts" in page.text and retry_after(page) >= 1
    # An existing user, right password, same address: refused too during the lockout.
    right = browser.submit(page, "/device/login", username="other", password=PASSWORD)
    assert right.status == 429
    limited.advance_clock(LOCKOUT + 0.2)
    after = browser.submit(right, "/device/login", username="other", password=PASSWORD)
    assert after.status == 200 and after.title.startswith("Allow access")


def service_rows(data_dir: Path, user_codes: list[str]) -> int:
    """How many of ``user_codes`` still have a row in the service database."""
    connection = sqlite3.connect(data_dir / SERVICE_SQLITE_FILE)
    try:
        marks = ",".join("?" * len(user_codes))
        (count,) = connection.execute(
            f"SELECT count(*) FROM local_device_grants WHERE user_code IN ({marks})",
            [code.replace("-", "") for code in user_codes],
        ).fetchone()
    finally:
        connection.close()
    return int(count)


def test_pending_grants_per_address_and_expired_rows(grants: LocalServer) -> None:
    def code_of(started: dict[str, object]) -> str:
        return str(started["verification_uri_complete"]).split("user_code=")[1]

    codes = [code_of(start_device(grants)), code_of(start_device(grants))]
    # Approved or denied grants are no longer pending: they do not count.
    browser, page = login_page(grants)
    codes.append(page.form("/device/login").fields["user_code"])
    consent = browser.submit(page, "/device/login", username="other", password=PASSWORD)
    assert browser.submit(consent, "/device/decision", button="deny").status == 200
    codes += [code_of(start_device(grants)), code_of(start_device(grants))]
    refused = requests.get(grants.api_url + "auth/new-device/", timeout=10)
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert list(refused.json()) == ["detail"]
    assert detail.startswith(
        "Too many pending sign-in requests from this address (at most 4). "
        "Finish or abandon one, or try again in "
    )
    assert 1 <= int(refused.headers["Retry-After"]) <= GRANT_TTL
    assert refused.headers["Cache-Control"] == "no-store"
    keycloak = requests.post(
        grants.base_url + "auth/realms/cern/protocol/openid-connect/auth/device",
        data={"client_id": "cms-dials-prod-public-app"},
        timeout=10,
    )
    assert keycloak.status_code == 429 and keycloak.json()["error"] == "slow_down"
    assert "Too many pending sign-in requests" in keycloak.json()["error_description"]
    assert "Retry-After" in keycloak.headers

    assert grants.data_dir is not None
    assert service_rows(grants.data_dir, codes) == 5
    # Expired, then kept for one more lifetime (polls get expired_token meanwhile): the
    # next start deletes them, and is no longer limited since the others expired.
    grants.advance_clock(2 * GRANT_TTL + 0.3)
    fresh = code_of(start_device(grants))
    assert service_rows(grants.data_dir, codes) == 0
    assert service_rows(grants.data_dir, [fresh]) == 1


# -- a flood of wrong passwords ---------------------------------------------------------

#: RSS growth allowed during the flood.  Each scrypt hash holds 32 MiB while it runs and
#: the pool runs 2 at a time (the default), so hashing accounts for 64 MiB; 96 MiB more
#: covers 32 connections' buffers and allocator slack.  Without the pool, 40 API threads
#: hashed at once: over 1.2 GiB.
RSS_GROWTH_BOUND = (2 * 32 + 96) * 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_flood_of_wrong_passwords_starves_no_one(tiny_data_dir: Path) -> None:
    # Lockouts off (huge limits), so that every attempt reaches the hash pool.
    local = signin_server(
        tiny_data_dir,
        "--login-max-failures",
        "1000000",
        "--login-max-failures-per-address",
        "1000000",
        "--device-grants-per-address",
        "64",
        in_thread=False,  # its own process: the test measures that process's memory
    )
    try:
        add_user(local, "flooded")
        assert local.process is not None
        pid = local.process.pid
        api = requests.Session()
        api.headers[SECRET_HEADER] = local.secret_key
        assert api.get(local.api_url + "run/", timeout=10).status_code == 200
        baseline = rss_bytes(pid)

        stop = threading.Event()
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def guess() -> None:
            browser, page = login_page(local)
            form = page.form("/device/login")
            data = {**form.fields, "username": "flooded", "password": "wrong"}
            url = local.base_url + "device/login"
            while not stop.is_set():
                status = browser.http.post(url, data=data, timeout=30).status_code
                with lock:
                    statuses[status] += 1

        threads = [threading.Thread(target=guess) for _ in range(32)]
        for thread in threads:
            thread.start()
        latencies = []
        peak = baseline
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = api.get(local.api_url + "run/", params={"page_size": 5}, timeout=30)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        peak = max(peak, rss_bytes(pid))

        assert statuses[401] > 0, statuses  # the hashes did run ...
        assert set(statuses) <= {401, 503}, statuses  # ... and the excess was refused
        assert statistics.median(latencies) < 1.0, latencies
        assert peak - baseline < RSS_GROWTH_BOUND, (baseline, peak)
        # The right password still works once the flood is over.
        browser, page = login_page(local)
        ok = browser.submit(page, "/device/login", username="flooded", password=PASSWORD)
        assert ok.status == 200 and ok.title.startswith("Allow access")
        print(
            f"flood: {dict(statuses)}, API median {statistics.median(latencies) * 1000:.0f} ms "
            f"over {len(latencies)} requests, RSS {baseline >> 20} -> {peak >> 20} MiB"
        )
    finally:
        local.stop()


# -- the throttle's rules, with a fake clock -----------------------------------------------


def test_throttle_rules_with_a_fake_clock() -> None:
    now = [1000.0]
    throttle = SignInThrottle(
        user_limit=3, address_limit=5, window=60, lockout=30, clock=lambda: now[0]
    )
    # Attempts still being checked count already: concurrent guesses cannot overshoot.
    running = [throttle.begin("u", "a") for _ in range(3)]
    with pytest.raises(Throttled) as refused:
        throttle.begin("u", "a")
    assert refused.value.retry_after == 30 and refused.value.status == 429
    # The third turned out right: the user's lockout and failures are gone.
    throttle.succeeded(running[2])
    throttle.begin("u", "b")
    # A hash that never ran (pool full) is not a failure.
    throttle.abandoned(throttle.begin("v", "c"))
    for _ in range(3):  # the third is still checked; the lockout starts with it
        throttle.begin("v", "c")
    with pytest.raises(Throttled):
        throttle.begin("v", "c")
    # Failures older than the window are forgotten; a lockout ends after its time.
    now[0] += 31
    for _ in range(2):
        throttle.begin("v", "c")
    now[0] += 61
    for _ in range(2):
        throttle.begin("v", "c")
