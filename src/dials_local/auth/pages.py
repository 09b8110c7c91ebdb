"""The approval page behind ``verification_uri_complete``: sign in, check the code, approve.

=======================  ===============================================================
``GET  /device``         without ``user_code``: a form to type the code; with it: the
                         sign-in form (or, when signed in, Approve / Deny)
``POST /device/login``   name + password; on success 303 back to ``/device?user_code=``
``POST /device/decision``  ``decision`` = ``approve`` or ``deny``
``POST /device/logout``  sign out
=======================  ===============================================================

Plain server-rendered HTML (templates in ``dials_local/templates``), no JavaScript.  Every
POST form carries a CSRF token tied to the browser's signed session cookie
(:mod:`dials_local.auth.sessions`); the cookie is ``HttpOnly`` and ``SameSite=Lax``.
Responses forbid framing (click-jacking of the Approve button), caching and referrers
(the URL holds the user code), and allow no script at all.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import logging
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dials_local.auth.bodies import form_fields
from dials_local.auth.devices import APPROVED, CONSUMED, DENIED, DeviceGrant
from dials_local.auth.service import AuthService
from dials_local.auth.sessions import COOKIE_NAME, COOKIE_PATH, BrowserSession
from dials_local.auth.throttle import Throttled

logger = logging.getLogger("dials_local.pages")

PAGE_PATH = "/device"


class Safe(str):
    """HTML that is already escaped (a rendered fragment); other values are escaped."""


@functools.cache
def _template(name: str) -> string.Template:
    text = resources.files("dials_local").joinpath("templates").joinpath(name).read_text("utf-8")
    return string.Template(text)


def render(name: str, **values: str) -> Safe:
    """Fill template ``name``: plain strings are HTML-escaped, :class:`Safe` ones are not."""
    escaped = {
        key: value if isinstance(value, Safe) else html.escape(value, quote=True)
        for key, value in values.items()
    }
    return Safe(_template(name).substitute(escaped))


@functools.cache
def _style() -> tuple[str, str]:
    """The page's CSS and its CSP hash (inline, so the page needs no second request)."""
    css = (
        resources.files("dials_local").joinpath("templates").joinpath("page.css").read_text("utf-8")
    )
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return css, f"'sha256-{digest}'"


def _security_headers() -> dict[str, str]:
    _, style_hash = _style()
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src {style_hash}; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


class _View:
    """One request to the pages: the service, the browser session and the answer's cookie."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.service: AuthService = request.app.state.auth
        codec = self.service.sessions
        session = codec.decode(request.cookies.get(COOKIE_NAME))
        if session and session.user and not self.service.users.exists(session.user):
            session = None  # the user was deleted since: sign in again
        #: The cookie to send back (a new anonymous session when the browser had none).
        self.set_cookie: BrowserSession | None = None
        if session is None:
            session = codec.new()
            self.set_cookie = session
        self.session: BrowserSession = session

    @property
    def csrf_token(self) -> str:
        return self.service.sessions.csrf_token(self.session)

    def csrf_ok(self, fields: dict[str, str]) -> bool:
        """Whether the form came from a page this browser was shown (and had a cookie)."""
        had_cookie = self.set_cookie is None
        return had_cookie and self.service.sessions.check_csrf(
            self.session, fields.get("csrf_token")
        )

    def _cookie(self, response: Response, session: BrowserSession) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.service.sessions.encode(session),
            max_age=self.service.sessions.ttl,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self.request.url.scheme == "https",
        )

    def page(self, title: str, content: Safe, status: int = 200) -> Response:
        """A full HTML page around ``content``."""
        account = Safe("")
        if self.session.user is not None:
            account = render("account.html", username=self.session.user, csrf_token=self.csrf_token)
        css, _ = _style()
        body = render("page.html", title=title, style=Safe(css), account=account, content=content)
        response = Response(
            body.encode("utf-8"),
            status_code=status,
            media_type="text/html; charset=utf-8",
            headers=_security_headers(),
        )
        if self.set_cookie is not None:
            self._cookie(response, self.set_cookie)
        return response

    def redirect(self, target: str, session: BrowserSession | None = None) -> Response:
        """303 See Other to ``target`` (after a POST), optionally with a new session."""
        response = RedirectResponse(target, status_code=303, headers=_security_headers())
        chosen = session or self.set_cookie
        if chosen is not None:
            self._cookie(response, chosen)
        return response


def _error(text: str) -> tuple[Safe, Safe]:
    """An error paragraph and the attributes that tie the form's inputs to it."""
    paragraph = Safe(f'<p class="error" role="alert" id="form-error">{html.escape(text)}</p>')
    return paragraph, Safe('aria-describedby="form-error" aria-invalid="true"')


def _page_url(user_code: str) -> str:
    return PAGE_PATH + (f"?user_code={quote(user_code)}" if user_code else "")


def _enter_code(
    view: _View,
    user_code: str = "",
    problem: str = "",
    status: int = 200,
    title: str = "Connect an application to DIALS",
) -> Response:
    message, described = _error(problem) if problem else (Safe(""), Safe(""))
    content = render("enter_code.html", message=message, user_code=user_code, described=described)
    return view.page(title, content, status)


def _message(
    view: _View, title: str, text: str, status: int = 200, again: bool = False
) -> Response:
    follow = Safe('<p><a href="/device">Enter another code</a></p>') if again else Safe("")
    return view.page(title, render("message.html", text=text, next=follow), status)


def _grant_problem(view: _View, grant: DeviceGrant | None, typed: str) -> Response | None:
    """The page for a code that cannot be approved (unknown, expired, already decided)."""
    if grant is None:
        return _enter_code(
            view,
            typed,
            f"The code {typed} is not known. Check it and type it again.",
            status=404,
            title="Unknown code",
        )
    if grant.state in (APPROVED, CONSUMED):
        return _message(
            view,
            "Code already used",
            f"The code {grant.user_code} has already been approved. You can close this window.",
            status=409,
        )
    if grant.state == DENIED:
        return _message(
            view,
            "Code already used",
            f"Access for the code {grant.user_code} was denied. To try again, start signing "
            "in again in your application: it will show a new code.",
            status=409,
        )
    if grant.expired(view.service.now()):
        return _message(
            view,
            "Code expired",
            f"The code {grant.user_code} has expired. Start signing in again in your "
            "application: it will show a new code.",
            status=410,
            again=True,
        )
    return None


def _sign_in(
    view: _View, grant: DeviceGrant, username: str = "", problem: str = "", status: int = 200
) -> Response:
    message, described = _error(problem) if problem else (Safe(""), Safe(""))
    content = render(
        "sign_in.html",
        user_code=grant.user_code,
        csrf_token=view.csrf_token,
        username=username,
        message=message,
        described=described,
    )
    return view.page("Sign in to DIALS", content, status)


def _consent(view: _View, grant: DeviceGrant, problem: str = "", status: int = 200) -> Response:
    message = _error(problem)[0] if problem else Safe("")
    assert view.session.user is not None
    content = render(
        "consent.html",
        username=view.session.user,
        user_code=grant.user_code,
        csrf_token=view.csrf_token,
        message=message,
    )
    return view.page("Allow access to DIALS?", content, status)


def _csrf_failure(view: _View, user_code: str) -> Response:
    link = html.escape(_page_url(user_code), quote=True)
    content = render(
        "message.html",
        text="This form was out of date or did not come from this page, so nothing was "
        "changed. Open the page again and retry.",
        next=Safe(f'<p><a href="{link}">Open the page again</a></p>'),
    )
    return view.page("Please try again", content, 403)


# -- handlers ---------------------------------------------------------------------------


def show(view: _View, fields: dict[str, str]) -> Response:
    """``GET /device[?user_code=...]``."""
    typed = view.request.query_params.get("user_code", "").strip()[:64]
    if not typed:
        return _enter_code(view)
    grant = view.service.devices.find(typed)
    problem = _grant_problem(view, grant, typed)
    if problem is not None or grant is None:
        return problem or _enter_code(view)
    if view.session.user is None:
        return _sign_in(view, grant)
    return _consent(view, grant)


@dataclass
class _LoginForm:
    """A sign-in form that passed the cheap checks and now needs its password checked."""

    view: _View
    grant: DeviceGrant | None
    username: str
    password: str


def _login_checks(view: _View, fields: dict[str, str]) -> Response | _LoginForm:
    """``POST /device/login``, first half (thread pool: it reads the database): CSRF and
    the code; an answer when they fail, else the form to check."""
    user_code = fields.get("user_code", "")[:64]
    if not view.csrf_ok(fields):
        return _csrf_failure(view, user_code)
    grant = view.service.devices.find(user_code) if user_code else None
    if user_code:
        problem = _grant_problem(view, grant, user_code)
        if problem is not None:
            return problem
    username = fields.get("username", "").strip()[:255]
    return _LoginForm(view, grant, username, fields.get("password", ""))


def _login_problem(form: _LoginForm, text: str, status: int) -> Response:
    """The sign-in form again (or the code form, without a code) with ``text``."""
    if form.grant is None:
        return _enter_code(form.view, problem=text, status=status)
    return _sign_in(form.view, form.grant, form.username, text, status=status)


async def _login_answer(form: _LoginForm) -> Response:
    """``POST /device/login``, second half (event loop): throttle, password, session."""
    view = form.view
    address = view.request.client.host if view.request.client else ""
    try:
        user = await view.service.sign_in(form.username, form.password, address)
    except Throttled as refused:
        logger.warning("sign-in refused (%s) on the approval page", refused.status)
        response = _login_problem(form, refused.message, refused.status)
        response.headers["Retry-After"] = refused.retry_after_header
        return response
    if user is None:
        return _login_problem(form, "Wrong user name or password.", 401)
    logger.info("signed in on the approval page: %s", user.name)
    # A new nonce: whatever was known of the anonymous session is useless now.
    return view.redirect(
        _page_url(form.grant.user_code if form.grant else ""),
        view.service.sessions.new(user.name),
    )


def decide(view: _View, fields: dict[str, str]) -> Response:
    """``POST /device/decision``: approve or deny a pending code as the signed-in user."""
    user_code = fields.get("user_code", "")[:64]
    if not view.csrf_ok(fields):
        return _csrf_failure(view, user_code)
    grant = view.service.devices.find(user_code)
    problem = _grant_problem(view, grant, user_code)
    if problem is not None or grant is None:
        return problem or _enter_code(view)
    if view.session.user is None:
        return _sign_in(view, grant, problem="Sign in first.", status=401)
    decision = fields.get("decision")
    if decision not in ("approve", "deny"):
        return _consent(view, grant, "Choose Approve or Deny.", status=400)
    approve = decision == "approve"
    if not view.service.devices.decide(grant.user_code, view.session.user, approve=approve):
        # Decided or expired between the check above and now.
        again = view.service.devices.find(user_code)
        return _grant_problem(view, again, user_code) or _enter_code(view)
    logger.info("device code %s by %s", "approved" if approve else "denied", view.session.user)
    if approve:
        return _message(
            view,
            "Access granted",
            "Your application can now read DIALS data in your name. "
            "You can close this window and return to your application.",
        )
    return _message(
        view,
        "Access denied",
        "Your application did not get access. You can close this window.",
    )


def logout(view: _View, fields: dict[str, str]) -> Response:
    """``POST /device/logout``: forget the signed-in user."""
    user_code = fields.get("user_code", "")[:64]
    if not view.csrf_ok(fields):
        return _csrf_failure(view, user_code)
    return view.redirect(PAGE_PATH, view.service.sessions.new())


Handler = Callable[[_View, dict[str, str]], Response]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run ``handler`` in the thread pool: it reads the database, which must not stall the
    event loop."""

    def run(request: Request, body: bytes) -> Response:
        fields = form_fields(request.headers.get("content-type"), body) if body else {}
        return handler(_View(request), fields)

    async def endpoint(request: Request) -> Response:
        body = await request.body() if request.method == "POST" else b""
        return await run_in_threadpool(run, request, body)

    endpoint.__name__ = f"page_{handler.__name__}"
    return endpoint


async def _login_endpoint(request: Request) -> Response:
    """``POST /device/login``: the checks that read the database in the thread pool, then
    the password on the event loop, which hands the hash to the hash pool's own threads
    (:class:`~dials_local.auth.throttle.HashPool`): a flood of guesses then holds none of
    the threads every other route needs."""

    def checks(body: bytes) -> Response | _LoginForm:
        fields = form_fields(request.headers.get("content-type"), body) if body else {}
        return _login_checks(_View(request), fields)

    checked = await run_in_threadpool(checks, await request.body())
    if isinstance(checked, Response):
        return checked
    return await _login_answer(checked)


def page_routes() -> list[Route]:
    """The Starlette routes of the approval page."""
    return [
        Route(PAGE_PATH, _endpoint(show), methods=["GET"]),
        Route(f"{PAGE_PATH}/login", _login_endpoint, methods=["POST"]),
        Route(f"{PAGE_PATH}/decision", _endpoint(decide), methods=["POST"]),
        Route(f"{PAGE_PATH}/logout", _endpoint(logout), methods=["POST"]),
    ]
