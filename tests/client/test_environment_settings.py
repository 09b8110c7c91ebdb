"""Proxy settings from the environment are read as ``requests`` reads them, though this
client's own session keeps them between requests (``cmsdials._session``): every change
of the environment, or of the session's own settings, is seen by the next request."""

from __future__ import annotations

import pickle

import pytest
import requests

from cmsdials import Dials
from cmsdials._session import ClientSession
from dials_local.testing import free_port

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _dead_proxy() -> str:
    """A proxy URL on a port nobody listens on: a request through it cannot connect."""
    return f"http://127.0.0.1:{free_port()}"


def test_a_proxy_set_between_two_requests_is_used_by_the_next(
    dials: Dials, no_proxies: pytest.MonkeyPatch
) -> None:
    assert isinstance(dials.session, ClientSession)
    assert dials.run.list(retries=0).results  # settings read without a proxy
    no_proxies.setenv("HTTP_PROXY", _dead_proxy())
    with pytest.raises(requests.exceptions.ProxyError):
        dials.run.list(retries=0)
    # The host exempted: straight to the server again.
    no_proxies.setenv("NO_PROXY", "127.0.0.1")
    assert dials.run.list(retries=0).results
    no_proxies.delenv("NO_PROXY")
    with pytest.raises(requests.exceptions.ProxyError):
        dials.run.list(retries=0)
    no_proxies.delenv("HTTP_PROXY")
    assert dials.run.list(retries=0).results


def test_the_sessions_own_settings_are_seen_too(
    dials: Dials, no_proxies: pytest.MonkeyPatch
) -> None:
    assert dials.run.list(retries=0).results
    dials.session.proxies = {"http": _dead_proxy()}
    with pytest.raises(requests.exceptions.ProxyError):
        dials.run.list(retries=0)
    dials.session.proxies = {}
    assert dials.run.list(retries=0).results
    dials.session.trust_env = False
    no_proxies.setenv("HTTP_PROXY", _dead_proxy())
    assert dials.run.list(retries=0).results  # the environment is not read at all


def test_the_settings_equal_what_requests_computes(no_proxies: pytest.MonkeyPatch) -> None:
    ours, theirs = ClientSession(), requests.Session()
    url = "https://cmsdials-api.web.cern.ch/api/v1/th1/?page_size=500"
    for proxy in (None, "http://proxy.example:3128"):
        if proxy:
            no_proxies.setenv("HTTPS_PROXY", proxy)
            no_proxies.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
        for _ in range(2):  # computed, then kept
            assert ours.merge_environment_settings(
                url, {}, True, None, None
            ) == theirs.merge_environment_settings(url, {}, True, None, None)
    # What a caller is handed is a copy: changing it changes nothing kept.
    settings = ours.merge_environment_settings(url, {}, True, None, None)
    settings["proxies"]["https"] = "http://elsewhere.example:1"
    assert ours.merge_environment_settings(url, {}, True, None, None)["proxies"] == {
        "https": "http://proxy.example:3128"
    }


def test_a_session_survives_pickling(no_proxies: pytest.MonkeyPatch) -> None:
    session = ClientSession()
    url = "http://127.0.0.1:1/"
    session.merge_environment_settings(url, {}, True, None, None)
    copy = pickle.loads(pickle.dumps(session))
    assert isinstance(copy, ClientSession)
    no_proxies.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert copy.merge_environment_settings(url, {}, True, None, None)["proxies"] == {
        "http": "http://proxy.example:3128"
    }
