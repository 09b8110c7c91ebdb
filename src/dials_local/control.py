"""The control routes of a server run with ``serve --testing``: ``/_local/faults`` and
``/_local/clock``.

They answer only the local admin credential (header :data:`ADMIN_HEADER`, compared in
constant time), never an API key: a fault rule can stall every request and a moved clock
expires every token.  Without ``--testing`` this middleware is not installed and the
paths reach the app, which answers its HTML 404 like any unknown path.

``/_local/faults``
    ``GET``: the fault rules and how often each fired.  ``PUT {"spec": "503@3"}``: new
    rules, counters restarted (``{"spec": ""}`` clears them); 400 ``{"spec": [...]}`` for
    a spec that does not parse (:mod:`dials_local.faults`).
``/_local/clock``
    ``GET``: ``{"now": <epoch seconds>, "offset": <seconds>}``.  ``PUT {"advance": S}``
    moves the clock S seconds (negative: back); ``PUT {"offset": S}`` puts it S seconds
    ahead of the real time (0: the real time again).  Every expiry the server judges
    follows (:mod:`dials_local.clock`); 400 ``{"advance": [...]}`` for a value that is not
    a finite number.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Callable
from typing import Any

import orjson

from dials_local.asgi import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    json_error,
    method_not_allowed,
    read_body,
    respond,
)
from dials_local.clock import ServerClock
from dials_local.faults import FaultInjector, FaultRules, FaultSpecError
from dials_local.paths import ADMIN_HEADER, CLOCK_PATH, FAULTS_PATH

control_log = logging.getLogger("dials_local.control")

_ADMIN_HEADER_KEY = ADMIN_HEADER.lower().encode("latin-1")

#: A control route: (method, body) -> the JSON value it answers with 200.
ControlRoute = Callable[[str, bytes], Any]


class BadControlValue(ValueError):
    """A control request whose body is not what the route takes; answered 400
    ``{field: [message]}`` like DRF's validation errors."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _document(body: bytes, field: str) -> dict[str, Any]:
    """The JSON object of a control request (an empty body is ``{}``); a body that is not
    one is reported under ``field``, the route's main key."""
    try:
        value = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as error:
        raise BadControlValue(field, f"JSON parse error: {error}") from None
    if not isinstance(value, dict):
        raise BadControlValue(field, "Expected a JSON object.")
    return value


def _seconds(document: dict[str, Any], field: str) -> float:
    """``document[field]`` as a finite number of seconds (JSON ``true`` is not one)."""
    value = document[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadControlValue(field, "A finite number of seconds is required.")
    return float(value)


class ControlRoutes:
    """Serves the control routes in front of ``app``; every other request passes through.

    ``faults`` is the injector whose rules ``/_local/faults`` replaces; ``clock`` is the
    clock ``/_local/clock`` moves (the one the app's :class:`AuthService` reads).
    """

    def __init__(
        self, app: ASGIApp, *, admin_token: str, faults: FaultInjector, clock: ServerClock
    ) -> None:
        self.app = app
        self.admin_token = admin_token.encode("utf-8")
        self.faults = faults
        self.clock = clock
        self._routes: dict[str, ControlRoute] = {
            FAULTS_PATH: self._faults,
            CLOCK_PATH: self._clock,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        if not self._is_admin(scope):
            detail = f"The dials-local admin credential ({ADMIN_HEADER}) is required."
            await respond(send, 403, json_error(detail, code="not_allowed"))
            return
        method: str = scope["method"]
        if method not in ("GET", "PUT"):
            await respond(send, 405, method_not_allowed(method))
            return
        body = await read_body(receive)
        try:
            answer = orjson.dumps(route(method, body))
        except BadControlValue as error:
            await respond(send, 400, orjson.dumps({error.field: [str(error)]}))
            return
        await respond(send, 200, answer)

    def _is_admin(self, scope: Scope) -> bool:
        """Whether the request carries the admin credential (compared in constant time)."""
        for name, value in scope["headers"]:
            if name == _ADMIN_HEADER_KEY:
                return hmac.compare_digest(value, self.admin_token)
        return False

    def _faults(self, method: str, body: bytes) -> dict[str, Any]:
        if method == "PUT":
            spec = _document(body, "spec").get("spec") or ""
            try:
                self.faults.rules = FaultRules.parse(str(spec))
            except FaultSpecError as error:
                raise BadControlValue("spec", str(error)) from None
            control_log.info("fault rules set to %r", str(self.faults.rules) or "(none)")
        return self.faults.rules.describe()

    def _clock(self, method: str, body: bytes) -> dict[str, float]:
        if method == "PUT":
            document = _document(body, "advance")
            if "advance" in document:
                self.clock.advance(_seconds(document, "advance"))
            elif "offset" in document:
                self.clock.set_offset(_seconds(document, "offset"))
            else:
                raise BadControlValue("advance", 'Give "advance" or "offset" in seconds.')
            control_log.info("clock offset set to %+g s", self.clock.offset)
        return self.clock.describe()
