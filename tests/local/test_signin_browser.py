"""The approval page behind ``verification_uri_complete``, driven over HTTP without a
browser: forms are parsed from the HTML and submitted with their hidden fields, as a
browser without JavaScript would.

Also home of the helpers the other ``test_signin_*`` modules share (:class:`Browser`,
:func:`signin_server`, :func:`add_user`).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from dials_local.auth.sessions import SESSION_TTL
from dials_local.auth.users import UserStore
from dials_local.db.engines import Database
from dials_local.testing import LocalServer

PASSWORD = "correct horse battery staple"
JETMET_ROLE = "cms-dqm-runregistry-offline-jme-certifiers"

# -- shared helpers ---------------------------------------------------------------------


def signin_server(data_dir: Path, *extra: str, in_thread: bool = True) -> LocalServer:
    """A started server on ``data_dir`` with a fast device flow (0.3 s poll interval) and
    no expiry leeway, plus ``extra`` serve arguments.  In a thread of the test process
    unless a test needs a process of its own (its memory, signals)."""
    args = ("--device-interval", "0.3", "--leeway", "0", *extra)
    return LocalServer(data_dir, extra_args=args, in_thread=in_thread).start()


def add_user(server: LocalServer, name: str, roles: tuple[str, ...] = ()) -> None:
    """Create (or reset) user ``name`` with :data:`PASSWORD` in the server's database."""
    if server.database_url is not None:
        database = Database(url=server.database_url)
    else:
        assert server.data_dir is not None
        database = Database(data_dir=server.data_dir)
    try:
        UserStore(database.service_engine()).save(name, PASSWORD, roles)
    finally:
        database.dispose()


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.title = ""
        self._in: str | None = None
        self.label_for: dict[str, str] = {}
        self.ids: set[str] = set()
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms:
            if a.get("name"):
                self.forms[-1].fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))
        elif tag == "title":
            self._in = "title"
        elif tag == "label":
            self._label = a.get("for", "")
            self.label_for[self._label] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title",):
            self._in = None
        if tag == "label":
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        if self._label is not None:
            self.label_for[self._label] += data


@dataclass
class Page:
    response: requests.Response
    forms: list[Form]
    title: str
    label_for: dict[str, str]
    ids: set[str]

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def text(self) -> str:
        """The visible text, roughly (tags stripped, entities decoded)."""
        body = re.sub(r"<style>.*?</style>|<title>.*?</title>", " ", self.response.text, flags=re.S)
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())

    def form(self, action: str) -> Form:
        for candidate in self.forms:
            if candidate.action == action:
                return candidate
        raise AssertionError(f"no form posting to {action}: {[f.action for f in self.forms]}")


class Browser:
    """A cookie-keeping HTTP client that reads and submits the page's forms."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def _page(self, response: requests.Response) -> Page:
        parser = _FormParser()
        parser.feed(response.text)
        return Page(response, parser.forms, parser.title, parser.label_for, parser.ids)

    def open(self, url: str) -> Page:
        return self._page(self.http.get(urljoin(self.base_url, url), timeout=10))

    def submit(self, page: Page, action: str, button: str | None = None, **values: str) -> Page:
        """Submit the form of ``page`` that posts to ``action``; ``button`` = the value of
        the pressed named button."""
        form = page.form(action)
        data = {**form.fields, **values}
        if button is not None:
            name = next(n for n, v in form.buttons if v == button)
            data[name] = button
        url = urljoin(self.base_url, form.action)
        if form.method == "get":
            return self._page(self.http.get(url, params=data, timeout=10))
        return self._page(self.http.post(url, data=data, timeout=10))

    def sign_in_and_decide(self, url: str, user: str, decision: str = "approve") -> Page:
        """Open ``verification_uri_complete``, sign in, press Approve or Deny."""
        page = self.open(url)
        assert page.status == 200, page.text
        page = self.submit(page, "/device/login", username=user, password=PASSWORD)
        assert page.status == 200 and "/device/decision" in [f.action for f in page.forms]
        return self.submit(page, "/device/decision", button=decision)


def start_device(server: LocalServer) -> dict[str, object]:
    """``GET auth/new-device/`` (DIALS route)."""
    response = requests.get(server.api_url + "auth/new-device/", timeout=10)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def poll(server: LocalServer, device_code: object) -> requests.Response:
    return requests.post(
        server.api_url + "auth/device-token/", json={"device_code": device_code}, timeout=10
    )


# -- the page ---------------------------------------------------------------------------


#: The lifetime of device codes (``--device-ttl``'s default, Keycloak's).
DEVICE_TTL = 600


@pytest.fixture(scope="module")
def pages(tiny_data_dir: Path) -> Iterator[LocalServer]:
    local = signin_server(tiny_data_dir)
    add_user(local, "pageuser")
    try:
        yield local
    finally:
        local.stop()


def test_the_page_signs_in_shows_the_code_and_approves(pages: LocalServer) -> None:
    started = start_device(pages)
    url = str(started["verification_uri_complete"])
    code = url.split("user_code=")[1]
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", code)
    browser = Browser(pages.base_url)
    page = browser.open(url)
    assert page.status == 200 and page.title.startswith("Sign in")
    assert code in page.text
    # Labelled inputs (accessible without JavaScript), a CSRF token, the code carried along.
    login = page.form("/device/login")
    assert login.method == "post"
    assert page.label_for["username"].strip() == "User name"
    assert page.label_for["password"].strip() == "Password"
    assert login.fields["user_code"] == code and len(login.fields["csrf_token"]) >= 32
    assert "<script" not in page.response.text
    cookie = page.response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/device" in cookie

    wrong = browser.submit(page, "/device/login", username="pageuser", password="nope")
    assert wrong.status == 401
    assert "Wrong user name or password." in wrong.text
    assert wrong.form("/device/login").fields["username"] == "pageuser"  # kept for a retry

    consent = browser.submit(wrong, "/device/login", username="pageuser", password=PASSWORD)
    assert consent.response.history[0].status_code == 303  # POST-redirect-GET
    assert consent.title.startswith("Allow access") and code in consent.text
    assert "Signed in as pageuser" in consent.text
    assert sorted(consent.form("/device/decision").buttons) == [
        ("decision", "approve"),
        ("decision", "deny"),
    ]
    done = browser.submit(consent, "/device/decision", button="approve")
    assert done.status == 200 and done.title.startswith("Access granted")
    assert "You can close this window" in done.text
    assert poll(pages, started["device_code"]).status_code == 200

    again = browser.open(url)  # the code is spent now
    assert again.status == 409 and "already been approved" in again.text


def test_a_signed_in_browser_goes_straight_to_approval_and_can_sign_out(
    pages: LocalServer,
) -> None:
    browser = Browser(pages.base_url)
    first = start_device(pages)
    browser.sign_in_and_decide(str(first["verification_uri_complete"]), "pageuser", "deny")
    second = start_device(pages)
    page = browser.open(str(second["verification_uri_complete"]))
    assert page.title.startswith("Allow access")  # still signed in
    out = browser.submit(page, "/device/logout")
    assert out.status == 200 and "Signed in as" not in out.text
    page = browser.open(str(second["verification_uri_complete"]))
    assert page.title.startswith("Sign in")


def test_a_sign_in_on_the_page_lasts_an_hour_of_the_server_clock(pages: LocalServer) -> None:
    browser = Browser(pages.base_url)
    first = start_device(pages)
    browser.sign_in_and_decide(str(first["verification_uri_complete"]), "pageuser", "deny")
    pages.advance_clock(SESSION_TTL - 60)
    page = browser.open(str(start_device(pages)["verification_uri_complete"]))
    assert page.title.startswith("Allow access")  # still signed in a minute before the end
    pages.advance_clock(61)
    page = browser.open(str(start_device(pages)["verification_uri_complete"]))
    assert page.title.startswith("Sign in")  # the browser's cookie is kept; the server
    # refuses the session it carries


def test_the_code_can_be_typed_in_any_spelling(pages: LocalServer) -> None:
    started = start_device(pages)
    code = str(started["verification_uri_complete"]).split("user_code=")[1]
    browser = Browser(pages.base_url)
    page = browser.open("/device")
    assert page.status == 200 and page.label_for["user_code"].strip() == "Code"
    typed = browser.submit(page, "/device", user_code=code.replace("-", " ").lower())
    assert typed.status == 200 and typed.title.startswith("Sign in") and code in typed.text


def test_unknown_and_expired_codes_get_a_clear_page(pages: LocalServer) -> None:
    browser = Browser(pages.base_url)
    unknown = browser.open("/device?user_code=BBBB-BBBB")
    assert unknown.status == 404 and unknown.title.startswith("Unknown code")
    assert "The code BBBB-BBBB is not known" in unknown.text
    assert unknown.form("/device").fields["user_code"] == "BBBB-BBBB"  # to correct it

    hostile = browser.open("/device?user_code=%3Cscript%3Ealert(1)%3C/script%3E")
    assert hostile.status == 404 and "<script>" not in hostile.response.text

    started = start_device(pages)
    url = str(started["verification_uri_complete"])
    page = browser.open(url)
    pages.advance_clock(DEVICE_TTL - 5)
    assert browser.open(url).status == 200  # still valid 5 s before its end
    pages.advance_clock(5)
    expired = browser.open(url)
    assert expired.status == 410 and expired.title.startswith("Code expired")
    assert "has expired" in expired.text
    # Signing in on a page opened before expiry: the expiry is what the person learns.
    late = browser.submit(page, "/device/login", username="pageuser", password=PASSWORD)
    assert late.status == 410
    assert poll(pages, started["device_code"]).json()["code"] == "expired_token"


def test_forms_without_the_right_csrf_token_are_refused(pages: LocalServer) -> None:
    started = start_device(pages)
    url = str(started["verification_uri_complete"])
    code = url.split("user_code=")[1]
    browser = Browser(pages.base_url)
    page = browser.open(url)
    login = pages.base_url + "device/login"
    fields = {"user_code": code, "username": "pageuser", "password": PASSWORD}

    missing = browser.http.post(login, data=fields, timeout=10)
    wrong = browser.http.post(login, data={**fields, "csrf_token": "x" * 43}, timeout=10)
    # The right token, but from another browser (no cookie): a cross-site form post.
    token = page.form("/device/login").fields["csrf_token"]
    elsewhere = requests.post(login, data={**fields, "csrf_token": token}, timeout=10)
    for response in (missing, wrong, elsewhere):
        assert response.status_code == 403
        assert "nothing was changed" in response.text
        assert "set-cookie" not in response.headers or "Signed in" not in response.text

    consent = browser.submit(page, "/device/login", password=PASSWORD, username="pageuser")
    decision = pages.base_url + "device/decision"
    forged = browser.http.post(
        decision, data={"user_code": code, "decision": "approve"}, timeout=10
    )
    assert forged.status_code == 403
    assert poll(pages, started["device_code"]).json()["code"] == "authorization_pending"
    # The signed session cookie cannot be edited: another user name breaks its MAC.
    value = browser.http.cookies["dials_local_session"]
    payload, mac = value.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded[1] == "pageuser"
    decoded[1] = "someone-else"
    edited = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    browser.http.cookies.clear()
    browser.http.cookies.set("dials_local_session", f"{edited}.{mac}", path="/device")
    tampered = browser.submit(consent, "/device/decision", button="approve")
    assert tampered.status == 403
    pages.advance_clock(0.35)  # the poll interval of this server
    assert poll(pages, started["device_code"]).json()["code"] == "authorization_pending"


def test_the_page_forbids_framing_scripts_and_caching(pages: LocalServer) -> None:
    response = requests.get(pages.base_url + "device", timeout=10)
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # default-src 'none': no script at all
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert re.search(r'<html lang="en">', response.text)


def test_keycloak_style_device_address_leads_to_the_page(pages: LocalServer) -> None:
    response = requests.get(
        pages.base_url + "auth/realms/cern/device?user_code=BBBB-BBBB",
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert response.headers["location"] == "/device?user_code=BBBB-BBBB"
