"""The ``caf`` and ``brilws`` route clients (CONTRACT §7.11) against a real dials-local:
certification files as LumiMasks, brilcalc luminosity as DataFrames."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from cmsdials import Dials
from cmsdials._thirdparty import BrilwsClient, CAFClient, CertificationFile
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import APIError, UnknownArgumentError
from cmsdials.lumi import LumiMask
from dials_local.testing import LocalServer

RUN = 367112  # Run2023C, in the tiny data set


def raw(server: LocalServer, route: str, params: dict[str, Any]) -> Any:
    response = requests.get(
        server.api_url + route, params=params, headers={"X-CLIENT-SECRET": server.secret_key},
        timeout=30,
    )  # fmt: skip
    response.raise_for_status()
    return response.json()


@pytest.fixture
def caf(dials: Dials) -> CAFClient:
    return CAFClient(dials._transport)


@pytest.fixture
def brilws(dials: Dials) -> BrilwsClient:
    return BrilwsClient(dials._transport)


def test_caf_get_returns_the_file_and_its_mask(caf: CAFClient, local: LocalServer) -> None:
    file = caf.get("Collisions23", kind="golden")
    truth = raw(local, "caf/", {"class_name": "Collisions23", "kind": "golden"})
    assert isinstance(file, CertificationFile)
    assert (file.name, file.url, file.last_modified, file.size) == (
        truth["name"], truth["url"], truth["last_modified"], truth["size"],
    )  # fmt: skip
    assert file.modified == dt.datetime.strptime(truth["last_modified"], "%Y-%m-%d %H:%M")
    mask = file.mask
    assert isinstance(mask, LumiMask)
    assert mask == LumiMask(truth["content"])
    assert mask.runs == sorted(int(run) for run in truth["content"])
    first_run, ranges = next(iter(truth["content"].items()))
    assert (int(first_run), ranges[0][0]) in mask
    dcs = caf.mask("Collisions23", kind="dcs")
    assert mask - dcs == LumiMask() and len(dcs) >= len(mask)  # golden is within DCS


def test_caf_errors(caf: CAFClient) -> None:
    with pytest.raises(ValueError, match="did you mean 'golden'"):
        caf.get("Collisions24", kind="goldn")
    with pytest.raises(APIError) as missing:
        caf.get("Collisions99")
    assert missing.value.response is not None and missing.value.response.status_code == 404
    assert "could not be found" in str(missing.value)
    with pytest.raises(UnknownArgumentError, match="kind"):
        caf.get("Collisions24", knd="golden")  # type: ignore[call-arg]


def test_caf_client_in_the_2x_style(local: LocalServer) -> None:
    client = CAFClient(Credentials(token=local.secret_key), base_url=local.base_url)
    assert len(client.get("Collisions24", "muon").mask) > 0


def test_brilws_lumi_per_lumisection(brilws: BrilwsClient, local: LocalServer) -> None:
    frame = brilws.lumi(runnumber=RUN, byls=True, unit="/pb")
    truth = raw(local, "brilws/brilcalc-lumi/", {"runnumber": RUN, "byls": "true", "unit": "/pb"})
    assert list(frame.columns) == [
        "run_number", "ls_number", "cms_ls", "fill_number", "time", "beamstatus", "E(GeV)",
        "delivered(/pb)", "recorded(/pb)", "avgpu", "source",
    ]  # fmt: skip
    assert len(frame) == len(truth["detailed"]) == truth["summary"]["nls"]
    assert frame["ls_number"].tolist() == [int(r["ls"].split(":")[0]) for r in truth["detailed"]]
    assert (frame["run_number"] == RUN).all()
    assert frame["recorded(/pb)"].sum() == pytest.approx(truth["summary"]["totrecorded(/pb)"])
    assert str(frame["time"].dt.tz) == "UTC" and frame["time"].is_monotonic_increasing
    assert frame.attrs["summary"] == truth["summary"]


def test_brilws_lumi_per_run_and_summary(brilws: BrilwsClient) -> None:
    per_ls = brilws.lumi(runnumber=RUN, byls=True)
    per_run = brilws.lumi(begin=367000, end=369802)
    assert RUN in per_run["run_number"].tolist()
    row = per_run.set_index("run_number").loc[RUN]
    assert row["nls"] == len(per_ls)
    assert row["recorded(/ub)"] == pytest.approx(per_ls["recorded(/ub)"].sum())
    summary = brilws.summary(begin=367000, end=369802, unit="/fb")
    assert summary["nrun"] == len(per_run)
    assert summary["totrecorded(/fb)"] == pytest.approx(per_run["recorded(/ub)"].sum() / 1e9)
    empty = brilws.lumi(fillnum=1)
    assert empty.empty and "delivered(/ub)" in empty.columns


def test_brilws_checks_its_arguments_before_sending(brilws: BrilwsClient) -> None:
    with pytest.raises(ValueError, match="/pb"):
        brilws.lumi(runnumber=RUN, unit="pb")
    with pytest.raises(ValueError, match="runnumber, fillnum"):
        brilws.lumi()
    with pytest.raises(APIError) as bad:
        brilws.lumi(runnumber=RUN, beamstatus="WARM")
    assert bad.value.response is not None and bad.value.response.status_code == 400
