"""The transport seam: ``Dials(transport=...)``, ``Dials(session=...)``, mounted adapters.

The adapters here are what a user would write: an ``HTTPAdapter`` subclass that signs
every request with the server's secret key while the client itself holds a wrong one.
A request that went around the adapter would be refused by the real dials-local (403),
so every passing call proves that the adapter carried it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from client_support import DATASET_ID, JETMET_DATASET, JETMET_MODELS, JETMET_RUNS, LS, RUN, keys
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.util import Retry

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import AuthenticationError
from cmsdials.filters import (
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
    OMSFilter,
)

WRONG = Credentials(token="not-the-key")
TH1_QUERY = LumisectionHistogram1DFilters(me_id=1, ls_number__lte=3, page_size=3)
#: A socket option set in ``init_poolmanager``, as a site adapter sets an SSL context.
KEEPALIVE = (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


class SigningAdapter(HTTPAdapter):
    """Puts the real key on every request, and records the paths it carried."""

    def __init__(self, secret: str, **kwargs: Any) -> None:
        self.secret = secret
        self.paths: list[str] = []
        self._lock = threading.Lock()
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        request.headers["X-CLIENT-SECRET"] = self.secret
        with self._lock:
            self.paths.append(request.path_url)
        return super().send(request, *args, **kwargs)


class TunedAdapter(SigningAdapter):
    """A signing adapter that also configures its pools (``init_poolmanager``)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["socket_options"] = [*HTTPConnection.default_socket_options, KEEPALIVE]
        super().init_poolmanager(*args, **kwargs)


class Forwarding(BaseAdapter):
    """A transport that is no ``HTTPAdapter`` (as a test transport or another library's
    would be): hands every request to an inner adapter."""

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner.send(request, *args, **kwargs)

    def close(self) -> None:
        self.inner.close()


def _responses(session: requests.Session) -> list[requests.Response]:
    """The responses ``session`` receives from now on (a requests hook)."""
    seen: list[requests.Response] = []
    session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response))
    return seen


def _route(path_url: str) -> str:
    """``/api/v1/th1/?me_id=1`` -> ``th1``."""
    return path_url.split("?")[0].split("/")[3]


@pytest.fixture
def reference(target: Any, creds: Credentials) -> Iterator[Dials]:
    """A plain client, to compare results with."""
    with Dials(creds, base_url=target.base_url) as client:
        yield client


def test_a_mounted_adapter_survives_parallel_walks(target: Any, reference: Dials) -> None:
    with Dials(WRONG, base_url=target.base_url) as dials:
        adapter = TunedAdapter(target.secret, max_retries=Retry(0, read=False), pool_block=True)
        retries = adapter.max_retries
        dials.session.mount("http://", adapter)
        dials.session.mount("https://", adapter)
        responses = _responses(dials.session)
        data = dials.h1d.list_all(TH1_QUERY, workers=16)
        many = dials.run.get_many([(DATASET_ID, RUN)] * 20, workers=20)

        assert dials.session.get_adapter(dials.api_url) is adapter
        assert keys(data.results, "run_number", "ls_number", "me_id") == keys(
            reference.h1d.list_all(TH1_QUERY).results, "run_number", "ls_number", "me_id"
        )
        assert {row.run_number for row in many} == {RUN}
        assert len(adapter.paths) == len(responses) > 20
        # The pool grew in place, with the adapter's own settings.
        pool_settings = adapter.poolmanager.connection_pool_kw
        pool_maxsize = dials.h1d.transport.pool_maxsize
        assert pool_maxsize is not None  # the adapter has a urllib3 pool
        assert pool_settings["maxsize"] >= 20 and pool_maxsize >= 20
        assert pool_settings["block"] is True and KEEPALIVE in pool_settings["socket_options"]
        assert adapter.max_retries is retries and adapter.secret == target.secret


def test_the_client_keeps_its_own_adapter_when_growing(dials: Dials) -> None:
    adapter = dials.session.get_adapter(dials.api_url)
    before = dials.h1d.transport.pool_maxsize
    dials.h1d.list_all(TH1_QUERY, workers=16)
    assert dials.session.get_adapter(dials.api_url) is adapter
    assert before == 10 and dials.h1d.transport.pool_maxsize == 18


def _data_routes(dials: Dials) -> None:
    """One call of every method of the tracker routes, single and bulk."""
    dataset = dials.dataset_index.get(DATASET_ID)
    assert dials.dataset_index.list().results
    file = dials.file_index.list().results[0]
    assert dials.file_index.get(file.dataset_id, file.file_id) == file
    run = dials.run.list().results[0]
    assert dials.run.get(run.dataset_id, run.run_number) == run
    lumi = dials.lumi.list().results[0]
    assert dials.lumi.get(lumi.dataset_id, lumi.run_number, lumi.ls_number) == lumi
    for route in (dials.h1d, dials.h2d):
        row = route.list().results[0]
        assert route.get(row.dataset_id, row.run_number, row.ls_number, row.me_id) == row
    me = dials.mes.list()[0]
    assert dials.mes.get(me.me_id) == me
    oms = dials.oms.query(
        "runs", [OMSFilter(attribute_name="run_number", value=382921, operator="EQ")]
    )
    assert oms["meta"]["totalResourceCount"] == 1
    assert "jetmet" in dials.workspace.list()["workspaces"]
    assert dials.workspace.my_workspace()["workspace"]
    # The bulk paths: parallel walks, streams, get_many.
    lumis = LumisectionFilters(dataset_id=dataset.dataset_id, page_size=7)
    walked = dials.lumi.list_all(lumis, workers=4)
    streamed = list(dials.lumi.stream(lumis, workers=3).rows())
    assert walked.results == streamed and len(walked.results) > 7
    some = [(r.dataset_id, r.run_number, r.ls_number) for r in walked.results[:5]]
    assert dials.lumi.get_many(some, workers=4) == walked.results[:5]
    maps = dials.h2d.stream(LumisectionHistogram2DFilters(page_size=5), max_pages=2)
    assert maps.to_numpy(by_me=True)


def _ml_routes(dials: Dials) -> None:
    """One call of every method of the ML routes (jetmet)."""
    model = dials.ml_models_index.list().results[0]
    assert dials.ml_models_index.get(model.model_id) == model
    flag = dials.ml_bad_lumis.list().results[0]
    keys_ = (flag.model_id, flag.dataset_id, flag.run_number, flag.ls_number)
    assert dials.ml_bad_lumis.get(*keys_, me_id=flag.me_id) == flag
    args: dict[str, Any] = {
        "model_id__in": JETMET_MODELS,
        "dataset_id__in": [JETMET_DATASET],
        "run_number__in": JETMET_RUNS,
    }
    assert list(dials.ml_bad_lumis.cert_json(**args)) == [str(r) for r in JETMET_RUNS]
    assert set(dials.ml_bad_lumis.golden_json(**args)) <= {str(r) for r in JETMET_RUNS}


@pytest.mark.parametrize(
    ("workspace", "calls"), [("tracker", _data_routes), ("jetmet", _ml_routes)]
)
def test_transport_carries_every_route(target: Any, workspace: str, calls: Any) -> None:
    adapter = SigningAdapter(target.secret)
    with Dials(WRONG, workspace=workspace, base_url=target.base_url, transport=adapter) as dials:
        responses = _responses(dials.session)
        calls(dials)
        assert len(adapter.paths) == len(responses)
        assert len(adapter.poolmanager.pools) == 1
    assert len(adapter.poolmanager.pools) == 0  # closed with the client
    routes = {_route(path) for path in adapter.paths}
    if workspace == "tracker":
        assert routes == {
            "dataset-index", "file-index", "run", "lumisection", "th1", "th2", "mes",
            "oms-proxy", "workspaces",
        }  # fmt: skip
    else:
        assert routes == {"ml-models-index", "ml-bad-lumisection"}


def test_a_session_of_yours_is_used_as_it_is(target: Any, reference: Dials) -> None:
    session = requests.Session()
    adapter = SigningAdapter(target.secret)
    session.mount("http://", adapter)
    session.headers["X-Trace"] = "seam"
    before = dict(session.headers)
    responses = _responses(session)
    with Dials(WRONG, base_url=target.base_url, session=session) as dials:
        assert dials.session is session
        data = dials.lumi.list_all(LumisectionFilters(run_number=RUN, page_size=9), workers=4)
        assert data.results == reference.lumi.list_all(LumisectionFilters(run_number=RUN)).results
    sent = responses[0].request.headers
    assert sent["X-Trace"] == "seam" and sent["Accept"] == "application/json"
    assert sent["User-Agent"].startswith("cmsdials/")
    assert dict(session.headers) == before  # the client changed nothing on it
    assert len(adapter.poolmanager.pools) == 1  # and left it open
    assert len(adapter.paths) == len(responses) > 3


def test_a_session_keeps_its_own_user_agent(target: Any) -> None:
    session = requests.Session()
    session.mount("http://", SigningAdapter(target.secret))
    session.headers["User-Agent"] = "site-tool/1.0"
    responses = _responses(session)
    Dials(WRONG, base_url=target.base_url, session=session).lumi.get(DATASET_ID, RUN, LS)
    assert responses[0].request.headers["User-Agent"] == "site-tool/1.0"


def test_a_transport_without_a_pool(target: Any, reference: Dials) -> None:
    forwarding = Forwarding(SigningAdapter(target.secret))
    with Dials(WRONG, base_url=target.base_url, transport=forwarding) as dials:
        responses = _responses(dials.session)
        data = dials.h1d.list_all(TH1_QUERY, workers=8)
        assert dials.h1d.transport.pool_maxsize is None  # nothing to grow
        assert dials.session.get_adapter(dials.api_url) is forwarding
    assert data.results == reference.h1d.list_all(TH1_QUERY).results
    assert forwarding.calls == len(responses) > 8


def test_without_the_adapter_the_wrong_key_is_refused(target: Any) -> None:
    # The control of the tests above: the key the client holds is really wrong.
    with Dials(WRONG, base_url=target.base_url) as dials, pytest.raises(AuthenticationError):
        dials.run.list()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"transport": object()}, "transport must be a requests adapter"),
        ({"session": HTTPAdapter()}, "session must be a requests.Session"),
        ({"session": requests.Session(), "transport": HTTPAdapter()}, "either session="),
    ],
)
def test_seam_arguments_are_checked(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Dials(WRONG, base_url="http://127.0.0.1:9/", **arguments)
