"""The transport over real HTTP: retries, errors, headers, connections, secrets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from client_support import DATASET_ID, JETMET_RUNS, LS, RUN, TH1_ME, keys
from urllib3.util import Retry

from cmsdials import DEFAULT_RETRY, Dials, __version__
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import (
    APIError,
    AuthenticationError,
    ClientError,
    NotFoundError,
    ServerError,
)
from cmsdials.filters import LumisectionHistogram1DFilters, OMSFilter, OMSPage, RunFilters

TH = ("dataset_id", "run_number", "ls_number", "me_id")


class Sent:
    """Request headers and URLs that actually went over the wire (a requests hook)."""

    def __init__(self, dials: Dials) -> None:
        self.requests: list[requests.PreparedRequest] = []
        dials.session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests.append(response.request)

    @property
    def headers(self) -> list[Any]:
        return [r.headers for r in self.requests]


@pytest.fixture
def sent(dials: Dials) -> Iterator[Sent]:
    yield Sent(dials)


# ---------------------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------------------


def test_default_policy_is_documented_values() -> None:
    assert DEFAULT_RETRY.total == 3 and DEFAULT_RETRY.backoff_factor == 0.5
    assert set(DEFAULT_RETRY.status_forcelist or ()) == {429, 500, 502, 503, 504}
    assert "POST" in (DEFAULT_RETRY.allowed_methods or ())


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_retry_recovers_from_5xx_on_any_base_url(dials: Dials, faults: Any, status: str) -> None:
    reference = dials.run.list_all(RunFilters(page_size=4))
    faults(f"{status}@2")  # every 2nd request fails: each page needs one retry
    data = dials.run.list_all(
        RunFilters(page_size=4), retries=Retry(total=2, status_forcelist=[int(status)])
    )
    assert keys(data.results, "dataset_id", "run_number") == keys(
        reference.results, "dataset_id", "run_number"
    )


def test_default_retries_recover_from_503(dials: Dials, faults: Any, sent: Sent) -> None:
    faults("503@1x2")
    run = dials.run.get(DATASET_ID, RUN)
    assert run.run_number == RUN
    assert len(sent.requests) == 3  # two 503s, then the answer


def test_int_retries_use_the_default_policy(dials: Dials, faults: Any) -> None:
    faults("503@1x1")
    assert dials.run.get(DATASET_ID, RUN, retries=1).run_number == RUN
    faults("503@1x2")
    with pytest.raises(ServerError):
        dials.run.get(DATASET_ID, RUN, retries=1)


def test_retries_zero_disables(dials: Dials, faults: Any, sent: Sent) -> None:
    faults("503@1x1")
    with pytest.raises(ServerError) as caught:
        dials.h1d.list(retries=0)
    assert caught.value.status_code == 503 and caught.value.detail is None
    assert str(caught.value).startswith("503 Server Error: Service Unavailable for url: ")
    assert isinstance(caught.value, requests.HTTPError)
    assert len(sent.requests) == 1


def test_429_honours_retry_after(dials: Dials, faults: Any, sent: Sent) -> None:
    faults("429:1@1x1")
    started = time.monotonic()
    page = dials.h1d.list(retries=Retry(total=2, backoff_factor=0, respect_retry_after_header=True))
    elapsed = time.monotonic() - started
    assert len(page.results) == 10
    assert elapsed >= 1.0, "the client must wait as long as Retry-After says"
    assert elapsed < 4
    assert len(sent.requests) == 2


def test_retry_without_status_forcelist_still_retries_429_with_retry_after(
    dials: Dials, faults: Any
) -> None:
    # The guide's Retry(total=3, backoff_factor=0.1) has no status_forcelist: urllib3
    # still retries a 429 that carries Retry-After.
    faults("429:0@1x1")
    assert len(dials.h1d.list(retries=Retry(total=3, backoff_factor=0.1)).results) == 10


def test_mid_body_reset_is_retried(dials: Dials, faults: Any, sent: Sent) -> None:
    reference = dials.h1d.list_all(LumisectionHistogram1DFilters(me=TH1_ME, page_size=100))
    sent.requests.clear()
    faults("reset@2")  # every other request breaks off in the middle of the body
    data = dials.h1d.list_all(LumisectionHistogram1DFilters(me=TH1_ME, page_size=100))
    assert keys(data.results, *TH) == keys(reference.results, *TH)
    assert len(sent.requests) > len(data.results) // 100


def test_truncated_body_is_retried(dials: Dials, faults: Any) -> None:
    reference = dials.h1d.list_all(LumisectionHistogram1DFilters(me=TH1_ME, page_size=100))
    faults("truncate@2")
    data = dials.h1d.list_all(LumisectionHistogram1DFilters(me=TH1_ME, page_size=100))
    assert keys(data.results, *TH) == keys(reference.results, *TH)


def test_truncated_body_without_retries_raises_decode_error(dials: Dials, faults: Any) -> None:
    from cmsdials.errors import ResponseDecodeError

    faults("truncate@1x1")
    with pytest.raises(ResponseDecodeError, match="not valid JSON"):
        dials.h1d.list(retries=0)


def test_read_timeout_is_retried(creds: Credentials, target: Any, faults: Any) -> None:
    dials = Dials(creds, base_url=target.base_url, timeout=(5, 0.5))
    faults("slow:2@1x1")
    with pytest.raises(requests.Timeout):
        dials.run.get(DATASET_ID, RUN, retries=0)
    faults("slow:2@1x1")
    assert dials.run.get(DATASET_ID, RUN).run_number == RUN


def test_connection_refused_raises_requests_error(creds: Credentials) -> None:
    from dials_local.testing import free_port

    dials = Dials(creds, base_url=f"http://127.0.0.1:{free_port()}/")
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        dials.run.list(retries=Retry(total=2, backoff_factor=0))
    assert time.monotonic() - started < 5


def test_oms_and_cert_json_take_retries(jetmet: Dials, faults: Any) -> None:
    faults("503@1x1")
    doc = jetmet.oms.query(
        "runs", [OMSFilter(attribute_name="run_number", value=382921, operator="EQ")]
    )
    assert doc["meta"]["totalResourceCount"] == 1
    faults("502@1x1")
    cert = jetmet.ml_bad_lumis.cert_json([20, 19], [15042670], JETMET_RUNS, retries=1)
    assert list(cert) == [str(r) for r in JETMET_RUNS]


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_wrong_key_gives_403_with_requests_message_and_detail(target: Any) -> None:
    secret = "definitely-not-a-registered-key"
    dials = Dials(Credentials(token=secret), base_url=target.base_url)
    with pytest.raises(AuthenticationError) as caught:
        dials.h1d.list(LumisectionHistogram1DFilters(run_number=RUN))
    error = caught.value
    url = f"{dials.api_url}th1/?run_number={RUN}"
    assert str(error) == (
        f"403 Client Error: Forbidden for url: {url}"
        " — Token is invalid or expired (token_not_valid)"
    )
    assert isinstance(error, requests.HTTPError) and isinstance(error, ClientError)
    assert error.response is not None and error.response.status_code == 403
    assert (error.status_code, error.detail, error.code) == (
        403,
        "Token is invalid or expired",
        "token_not_valid",
    )
    assert secret not in str(error) and secret not in repr(error)


def test_unknown_workspace_gives_404(creds: Credentials, target: Any) -> None:
    dials = Dials(creds, workspace="no_such_ws", base_url=target.base_url)
    with pytest.raises(NotFoundError) as caught:
        dials.run.list()
    assert caught.value.status_code == 404
    assert caught.value.detail == "Workspace 'no_such_ws' not found"
    assert str(caught.value).endswith("— Workspace 'no_such_ws' not found")


def test_missing_object_gives_404(dials: Dials) -> None:
    with pytest.raises(NotFoundError) as caught:
        dials.run.get(dataset_id=1, run_number=2)
    assert caught.value.detail == "No Run matches the given query."


def test_invalid_cursor_gives_404(dials: Dials) -> None:
    with pytest.raises(NotFoundError) as caught:
        dials.run.list(RunFilters(next_token="x"))
    assert caught.value.detail == "Invalid cursor"


def test_api_error_carries_response(dials: Dials) -> None:
    with pytest.raises(APIError) as caught:
        dials.lumi.get(DATASET_ID, RUN, 999999)
    assert caught.value.response is not None
    assert caught.value.response.json()["detail"].startswith("No Lumisection")


# ---------------------------------------------------------------------------------------
# Headers, URLs, connection reuse
# ---------------------------------------------------------------------------------------


def test_headers_sent(creds: Credentials, target: Any) -> None:
    dials = Dials(creds, workspace="tracker", base_url=target.base_url)
    sent = Sent(dials)
    dials.run.list()
    dials.oms.query("runs", [OMSFilter(attribute_name="run_number", value=382921, operator="EQ")])
    dials.workspace.list()
    data_route, oms, workspaces = sent.headers
    import platform

    agent = (
        f"cmsdials/{__version__} "
        f"(python/{platform.python_version()}, requests/{requests.__version__})"
    )
    assert data_route["User-Agent"] == agent
    assert data_route["Accept"] == "application/json"
    assert data_route["Workspace"] == "tracker"
    assert data_route["X-CLIENT-SECRET"] == target.secret
    assert "Workspace" not in oms and "Workspace" not in workspaces
    assert oms["X-CLIENT-SECRET"] == target.secret


def test_no_workspace_header_without_workspace(dials: Dials, sent: Sent) -> None:
    dials.run.list()
    assert "Workspace" not in sent.headers[0]


def test_secret_never_in_urls(dials: Dials, sent: Sent, target: Any) -> None:
    dials.h1d.list_all(LumisectionHistogram1DFilters(page_size=3), max_pages=2)
    assert all(target.secret not in (r.url or "") for r in sent.requests)


def test_one_connection_for_a_walk_and_all_routes(creds: Credentials, target: Any) -> None:
    dials = Dials(creds, base_url=target.base_url)
    data = dials.h1d.list_all(LumisectionHistogram1DFilters(page_size=3), max_pages=5)
    assert len(data.results) == 15
    dials.run.list()
    dials.lumi.get(DATASET_ID, RUN, LS)
    dials.mes.list()
    adapter = dials.session.get_adapter(dials.api_url)
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    pools = adapter.poolmanager.pools
    assert len(pools) == 1
    # RecentlyUsedContainer cannot be iterated directly (thread safety).
    (pool,) = (pools[key] for key in pools.keys())  # noqa: SIM118
    assert pool.num_connections == 1, "every request must reuse the one kept-alive connection"


def test_with_block_closes_the_pool(creds: Credentials, target: Any) -> None:
    with Dials(creds, base_url=target.base_url) as dials:
        dials.run.list()
        adapter = dials.session.get_adapter(dials.api_url)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        pools = adapter.poolmanager.pools
        assert len(pools) == 1
    assert len(pools) == 0


@pytest.mark.parametrize(
    ("strip", "route", "version"),
    [(False, None, None), (True, "api", "v1"), (True, "/api/", "/v1/"), (False, "api/", "v1/")],
)
def test_url_parts_are_joined_with_single_slashes(
    creds: Credentials, target: Any, strip: bool, route: str | None, version: str | None
) -> None:
    base = target.base_url.rstrip("/") if strip else target.base_url
    dials = Dials(creds, base_url=base, route=route, version=version)
    assert dials.api_url == target.base_url + "api/v1/"
    assert dials.run.get(DATASET_ID, RUN).run_number == RUN


def test_production_is_the_default() -> None:
    dials = Dials(Credentials(token="x"))
    assert dials.api_url == "https://cmsdials-api.web.cern.ch/api/v1/"


# ---------------------------------------------------------------------------------------
# Secrets in reprs and messages
# ---------------------------------------------------------------------------------------


def test_secret_absent_from_reprs(creds: Credentials, target: Any) -> None:
    dials = Dials(creds, workspace="tracker", base_url=target.base_url)
    for text in (
        repr(creds),
        str(creds),
        repr(dials),
        str(dials),
        repr(dials.h1d),
        repr(dials.oms),
    ):
        assert target.secret not in text
    assert "hidden" in repr(creds)


def test_secret_absent_from_failure_reports(dials: Dials, faults: Any, target: Any) -> None:
    faults("503@1x1")
    data = dials.run.list_all(retries=0, keep_failed=True)
    assert data.exc_formatted is not None and target.secret not in data.exc_formatted


# ---------------------------------------------------------------------------------------
# OMS and workspaces
# ---------------------------------------------------------------------------------------


def test_oms_query(dials: Dials) -> None:
    doc = dials.oms.query(
        "runs", [OMSFilter(attribute_name="run_number", value=382921, operator="EQ")]
    )
    assert doc["meta"]["totalResourceCount"] == 1
    assert doc["data"][0]["attributes"]["run_number"] == 382921
    limited = dials.oms.query(
        "lumisections",
        [OMSFilter(attribute_name="run_number", value=382921, operator="EQ")],
        [OMSPage(attribute_name="limit", value=5), OMSPage(attribute_name="offset", value=0)],
    )
    assert len(limited["data"]) == min(5, limited["meta"]["totalResourceCount"])


def test_workspace_routes(dials: Dials) -> None:
    listed = dials.workspace.list()
    assert "tracker" in listed["workspaces"] and "jetmet" in listed["workspaces"]
    assert dials.workspace.my_workspace() == {"workspace": "tracker"}


def test_dials_base_url_env_points_unchanged_scripts_at_another_server(
    target: Any, creds: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cmsdials.auth.client import AuthClient

    monkeypatch.setenv("DIALS_BASE_URL", target.base_url)
    with Dials(creds) as dials:  # no base_url, as in scripts written for production
        assert dials.base_url == target.base_url
        assert dials.run.list().results
    auth = AuthClient()
    assert (auth.mode, auth.base_url) == ("dials", target.base_url)
    # An explicit URL wins over the environment.
    assert Dials(creds, base_url="http://127.0.0.2:9/").base_url == "http://127.0.0.2:9/"
    monkeypatch.delenv("DIALS_BASE_URL")
    assert Dials(creds).base_url == "https://cmsdials-api.web.cern.ch/"
    assert AuthClient().mode == "keycloak"
