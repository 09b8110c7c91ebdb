"""2.4.1's ways of calling the client, against the session's dials-local (real HTTP).

The names and signatures are checked by ``test_incumbent_surface.py``; here, that they
do what 2.4.1 did: raw JSON from ``get``, extra query parameters, route clients built on
their own, ``cleandict()``, the token-state attributes of secret keys, and the 2.x module
paths of ``Dials`` and the logger.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import urllib.parse

import pytest
import requests
from client_support import DATASET_ID, JETMET_DATASET, RUN

import cmsdials
from cmsdials import Dials
from cmsdials.auth.base import TokenState
from cmsdials.auth.secret_key import Credentials
from cmsdials.clients.run.client import RunClient
from cmsdials.clients.run.models import PaginatedRunList, Run
from cmsdials.filters import (
    LumisectionHistogram1DFilters,
    MEFilters,
    MLBadLumisectionFilters,
    RunFilters,
)
from cmsdials.utils.api_client import BaseAPIClient, BaseAuthorizedPaginatedAPIClient
from cmsdials.utils.base_model import CleanableBaseModel, PaginatedBaseFilters, PaginatedBaseModel
from conftest import Target


def _record(session: requests.Session) -> list[requests.PreparedRequest]:
    """The requests a session sends from now on (a response hook of requests itself)."""
    sent: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda response, *_, **__: sent.append(response.request))
    return sent


def test_get_return_raw_json_is_the_servers_json(
    target: Target, creds: Credentials, tracker: Dials
) -> None:
    raw = tracker.run.get(DATASET_ID, RUN, return_raw_json=True)
    headers = {"Workspace": "tracker", **creds.headers()}
    url = f"{tracker.api_url}run/{DATASET_ID}/{RUN}/"
    direct = requests.get(url, headers=headers, timeout=30)
    direct.raise_for_status()
    assert isinstance(raw, dict)
    assert raw == direct.json()
    model = tracker.run.get(DATASET_ID, RUN)
    assert isinstance(model, Run)
    assert model.run_number == raw["run_number"] == RUN


def test_get_params_are_sent(tracker: Dials) -> None:
    sent = _record(tracker.session)
    row = tracker.run.get(DATASET_ID, RUN, params={"fields": "run_number", "x": 1})
    assert row.run_number == RUN
    url = sent[-1].url
    assert url is not None
    query = urllib.parse.urlparse(url).query
    assert sorted(query.split("&")) == ["fields=run_number", "x=1"]


def test_route_client_on_its_own_sends_the_workspace(
    target: Target, creds: Credentials, jetmet: Dials, tracker: Dials
) -> None:
    client = RunClient(creds, "jetmet", base_url=target.base_url)
    assert isinstance(client, BaseAuthorizedPaginatedAPIClient)
    assert isinstance(client, BaseAPIClient)
    assert client.workspace == "jetmet" and client.creds is creds
    assert client.api_url == jetmet.api_url
    sent = _record(client.transport.session)
    page = client.list(RunFilters(page_size=5))
    assert isinstance(page, PaginatedRunList)
    assert isinstance(page, PaginatedBaseModel)
    assert sent[-1].headers["Workspace"] == "jetmet"
    assert page.results, "the jetmet workspace has runs"
    datasets = {run.dataset_id for run in page.results}
    assert JETMET_DATASET in datasets and DATASET_ID not in datasets  # jetmet's, not tracker's
    assert page.results == jetmet.run.list(RunFilters(page_size=5)).results
    assert page.results != tracker.run.list(RunFilters(page_size=5)).results


def test_route_client_takes_a_transport_or_connection_arguments(
    creds: Credentials, tracker: Dials
) -> None:
    shared = RunClient(tracker.run.transport)
    assert shared.transport is tracker.run.transport
    with pytest.raises(TypeError, match="Transport"):
        RunClient(tracker.run.transport, "jetmet")


def test_cleandict_is_what_2_4_1_sent() -> None:
    filters = MLBadLumisectionFilters(
        page_size=500, model_id__in=[20, 19], dataset_id__in=[JETMET_DATASET], run_number=None
    )
    assert filters.cleandict() == {
        "page_size": 500,
        "model_id__in": "20,19",
        "dataset_id__in": str(JETMET_DATASET),
    }
    assert LumisectionHistogram1DFilters(me="PixelPhase1/x", ls_number__lte=3).cleandict() == {
        "me": "PixelPhase1/x",
        "ls_number__lte": 3,
    }
    assert RunFilters().cleandict() == {}
    assert isinstance(filters, PaginatedBaseFilters)
    assert isinstance(MEFilters(), CleanableBaseModel)
    assert not isinstance(MEFilters(), PaginatedBaseFilters)


def test_secret_key_never_expires() -> None:
    creds = Credentials(token="secret")
    assert creds.token_state is TokenState.FRESH
    assert (creds.stale, creds.expired, creds.refresh_expired) == (False, False, False)
    creds.refresh()  # nothing to renew: no request, no error
    assert creds.headers() == {"X-CLIENT-SECRET": "secret"}


def test_dials_module_path() -> None:
    from cmsdials.cmsdials import Dials as from_module

    assert from_module is cmsdials.Dials
    assert from_module is Dials


def test_importing_the_logger_leaves_the_root_logger_alone() -> None:
    # In a fresh interpreter: this one has imported the module already.  (2.4.1 called
    # logging.basicConfig here, adding a handler and setting INFO on the root logger.)
    code = (
        "import logging\n"
        "from cmsdials.utils.logger import logger\n"
        "root = logging.getLogger()\n"
        "assert logger is logging.getLogger('cmsdials'), logger\n"
        "print(len(root.handlers), root.level)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["0", str(logging.WARNING)]
