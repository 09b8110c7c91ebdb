"""Fixtures of the client tests: a DIALS to talk to, and the truth to compare with.

By default the client talks to the session's dials-local (fixture ``server``: tiny seed,
real HTTP) and results are checked against the SQLite files the server reads.

To run the same suite against another DIALS (a dev instance, a local DIALS, production)::

    SECRET_KEY=... BASE_URL=https://dev-cmsdials-api.web.cern.ch/ [WORKSPACE=tracker] \\
        pytest tests/client

Then the checks that need to know the data (``known_data``) and the fault-injection tests
(they need a dials-local) are skipped; every call is still made and its shape validated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from client_support import Truth

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from dials_local.testing import LocalServer


@dataclass(frozen=True)
class Target:
    """The DIALS the suite talks to."""

    base_url: str
    secret: str
    workspace: str | None
    #: True for the session's dials-local: its data is known (SQLite files).
    known_data: bool
    server: LocalServer | None

    def __repr__(self) -> str:  # never print the secret
        return f"Target({self.base_url!r}, workspace={self.workspace!r})"


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    # The usage guide spells it BASE_URl once; accept both.
    base_url = os.environ.get("BASE_URL") or os.environ.get("BASE_URl")  # noqa: SIM112
    if base_url:
        secret = os.environ.get("SECRET_KEY")
        if not secret:
            pytest.fail("BASE_URL is set but SECRET_KEY is not")
        return Target(base_url, secret, os.environ.get("WORKSPACE") or None, False, None)
    server: LocalServer = request.getfixturevalue("server")
    return Target(server.base_url, server.secret_key, None, True, server)


@pytest.fixture
def creds(target: Target) -> Credentials:
    return Credentials(token=target.secret)


@pytest.fixture
def dials(target: Target, creds: Credentials) -> Iterator[Dials]:
    """A fresh client (its own session) in the target's workspace."""
    with Dials(creds, workspace=target.workspace, base_url=target.base_url) as client:
        yield client


@pytest.fixture
def tracker(target: Target, creds: Credentials) -> Iterator[Dials]:
    with Dials(creds, workspace="tracker", base_url=target.base_url) as client:
        yield client


@pytest.fixture
def jetmet(target: Target, creds: Credentials) -> Iterator[Dials]:
    with Dials(creds, workspace="jetmet", base_url=target.base_url) as client:
        yield client


@pytest.fixture
def local(target: Target) -> LocalServer:
    """The dials-local behind the target (fault injection); skip against other servers."""
    if target.server is None:
        pytest.skip("needs a dials-local (fault injection)")
    return target.server


@pytest.fixture
def faults(local: LocalServer) -> Iterator[Any]:
    """``faults("503@2")`` sets the server's fault rules; they are cleared afterwards."""
    try:
        yield local.set_faults
    finally:
        local.set_faults(None)


@pytest.fixture(scope="session")
def _truth(target: Target) -> Iterator[Truth | None]:
    if not target.known_data or target.server is None:
        yield None
        return
    truth = Truth(target.server.data_dir)
    yield truth
    truth.dispose()


@pytest.fixture
def known(_truth: Truth | None) -> Truth | None:
    """The server's data, or None against another DIALS (compare only when known)."""
    return _truth


@pytest.fixture
def truth(_truth: Truth | None) -> Truth:
    """The server's data; skips the test when the target's data is not known."""
    if _truth is None:
        pytest.skip("needs known data (the session's dials-local)")
    return _truth
