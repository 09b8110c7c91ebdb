"""``dials-local ingest-oms``: OMS JSON:API documents loaded, then read back through
``oms-proxy/`` by the incumbent client (cmsdials 2.4.1) and ours with the same filters and
paging; bad documents refused with file, line/page, record and field, nothing loaded.
SQLite and PostgreSQL (CONTRACT §7.10)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

import incumbent
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import APIError
from cmsdials.filters import OMSFilter, OMSPage
from dials_local.cli import main as dials_local_main
from dials_local.data.oms_ingest import OMSIngestError, ingest_oms
from dials_local.db.engines import Database
from dials_local.db.schema import oms_records
from dials_local.testing import LocalServer

pytestmark = pytest.mark.timeout(600)

REAL_RUN = 382921  # a run of the synthetic data set: its records are replaced
NEW_RUN = 390001  # a run the data set does not have: its records are added
NEW_LS = 7


def lumisection(run: int, ls: int) -> dict[str, Any]:
    """One record as the OMS API answers it (``/agg/api/v1/lumisections``)."""
    return {
        "id": f"{run}_{ls}",
        "type": "lumisections",
        "attributes": {
            "run_number": run,
            "lumisection_number": ls,
            "fill_number": 9999,
            "start_time": f"2024-07-01T10:{ls:02d}:00Z",
            "beams_stable": ls != 2,
            "pileup": round(50.0 + ls / 4, 3),
            "delivered_lumi": {"value": 0.01 * ls, "units": "pb^-1"},
            "cms_active": True,
        },
        "links": {"self": f"https://cmsoms.cern.ch/agg/api/v1/lumisections/{run}_{ls}"},
        "meta": {"row": {"delivered_lumi": {"units": "pb^{-1}"}}},
    }


def document(records: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {
        "data": records,
        "links": {"first": "https://cmsoms.cern.ch/...", "next": None},
        "meta": {"totalResourceCount": len(records) if total is None else total},
    }


def run_record(run: int) -> dict[str, Any]:
    attributes = {"run_number": run, "fill_number": 9999, "sequence": "GLOBAL-RUN"}
    return {"id": str(run), "type": "runs", "attributes": attributes}


def write_files(folder: Path) -> list[Path]:
    """The real run's 3 lumisections in one document; the new run's 7 in two pages of a
    JSON Lines file; one runs document."""
    folder.mkdir(parents=True, exist_ok=True)
    real = folder / "real.json"
    real.write_bytes(orjson.dumps(document([lumisection(REAL_RUN, ls) for ls in (1, 2, 3)])))
    pages = folder / "new.jsonl"
    first = [lumisection(NEW_RUN, ls) for ls in range(1, 5)]
    second = [lumisection(NEW_RUN, ls) for ls in range(5, NEW_LS + 1)]
    pages.write_bytes(
        orjson.dumps(document(first, NEW_LS)) + b"\n" + orjson.dumps(document(second, NEW_LS))
    )
    runs = folder / "runs.json"
    runs.write_bytes(orjson.dumps([document([run_record(NEW_RUN)])]))
    return [real, pages, runs]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def location(
    request: pytest.FixtureRequest, private_tiny: Callable[[str, str], dict[str, Any]]
) -> dict[str, Any]:
    """A private copy of the tiny data set (its OMS records are changed here)."""
    return private_tiny(request.param, "dials_oms_ingest")


def database_of(where: dict[str, Any]) -> Database:
    if "data_dir" in where:
        return Database(data_dir=where["data_dir"])
    return Database(url=where["database_url"])


def stored(database: Database) -> list[tuple[Any, ...]]:
    with database.service_engine().connect() as conn:
        query = select(oms_records).order_by(oms_records.c.endpoint, oms_records.c.position)
        return [tuple(row) for row in conn.execute(query)]


@pytest.fixture(scope="module")
def served(
    location: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """The copy with the documents of :func:`write_files` ingested through the command."""
    files = write_files(tmp_path_factory.mktemp("oms-files"))
    where = (
        ["--data-dir", str(location["data_dir"])]
        if "data_dir" in location
        else ["--database-url", location["database_url"]]
    )
    assert dials_local_main(["ingest-oms", *map(str, files), *where]) == 0
    with LocalServer(**location) as local:
        yield local


def ours(
    server: LocalServer, endpoint: str, filters: list[dict[str, Any]], pages: list[dict[str, Any]]
) -> dict[str, Any]:
    with Dials(Credentials(token=server.secret_key), base_url=server.base_url) as dials:
        return dials.oms.query(
            endpoint, [OMSFilter(**f) for f in filters], [OMSPage(**p) for p in pages]
        )


QUERIES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    ("lumisections", [{"attribute_name": "run_number", "value": NEW_RUN, "operator": "EQ"}], []),
    (
        "lumisections",
        [{"attribute_name": "run_number", "value": NEW_RUN, "operator": "EQ"}],
        [{"attribute_name": "offset", "value": 2}, {"attribute_name": "limit", "value": 3}],
    ),
    (
        "lumisections",
        [
            {"attribute_name": "run_number", "value": REAL_RUN, "operator": "EQ"},
            {"attribute_name": "pileup", "value": 50.5, "operator": "GE"},
        ],
        [{"attribute_name": "limit", "value": 5000}],
    ),
    (
        "lumisections",
        [
            {"attribute_name": "run_number", "value": NEW_RUN - 1, "operator": "GT"},
            {"attribute_name": "delivered_lumi", "value": 0.045, "operator": "LT"},
            {"attribute_name": "start_time", "value": "2024-07-01%", "operator": "LIKE"},
        ],
        [{"attribute_name": "limit", "value": 100}],
    ),
    ("runs", [{"attribute_name": "run_number", "value": NEW_RUN, "operator": "EQ"}], []),
    ("runs", [{"attribute_name": "fill_number", "value": 9999, "operator": "NEQ"}], []),
]

INCUMBENT_SCRIPT = r"""
import json, sys
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.filters import OMSFilter, OMSPage

dials = Dials(Credentials(token=sys.argv[2]), base_url=sys.argv[1])
answers = [
    dials.oms.query(endpoint, [OMSFilter(**f) for f in filters], [OMSPage(**p) for p in pages])
    for endpoint, filters, pages in json.loads(sys.argv[3])
]
print(json.dumps(answers))
"""


def test_ingested_records_replace_one_run_and_add_another(served: LocalServer) -> None:
    one_run = [{"attribute_name": "run_number", "value": REAL_RUN}]
    real = ours(served, "lumisections", one_run, [{"attribute_name": "limit", "value": 5000}])
    assert real["meta"]["totalResourceCount"] == 3  # the synthetic run had > 100
    assert [d["id"] for d in real["data"]] == [f"{REAL_RUN}_{ls}" for ls in (1, 2, 3)]
    assert real["data"][0]["attributes"] == lumisection(REAL_RUN, 1)["attributes"]
    new = ours(served, *QUERIES[0])
    assert new["meta"]["totalResourceCount"] == NEW_LS
    assert [d["attributes"]["lumisection_number"] for d in new["data"]] == list(range(1, 8))
    page = ours(served, *QUERIES[1])
    assert [d["attributes"]["lumisection_number"] for d in page["data"]] == [3, 4, 5]
    assert page["meta"]["totalResourceCount"] == NEW_LS
    # {value, units} attributes are compared by value: 0.01 * ls < 0.045 -> ls 1..4
    valued = ours(served, *QUERIES[3])
    assert [d["id"] for d in valued["data"]] == [f"{NEW_RUN}_{ls}" for ls in range(1, 5)]
    synthetic = ours(served, *QUERIES[5])["data"]  # runs of the data set, not the new one
    another = next(d["attributes"] for d in synthetic if d["id"] != str(REAL_RUN))
    kept = [{"attribute_name": "run_number", "value": another["run_number"]}]
    count = ours(served, "lumisections", kept, [])["meta"]["totalResourceCount"]
    assert count == another["last_lumisection_number"]  # other runs keep their synthetic rows
    assert NEW_RUN not in {d["attributes"]["run_number"] for d in synthetic}
    assert ours(served, *QUERIES[4])["data"][0]["attributes"]["sequence"] == "GLOBAL-RUN"


def test_the_incumbent_client_reads_the_same_documents(served: LocalServer) -> None:
    python = incumbent.incumbent_python()
    done = subprocess.run(
        [
            str(python),
            "-c",
            INCUMBENT_SCRIPT,
            served.base_url,
            served.secret_key,
            json.dumps(QUERIES),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=incumbent.clean_env(),
        cwd="/",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout)
    mine = [ours(served, *query) for query in QUERIES]
    for query, their, our in zip(QUERIES, theirs, mine):
        assert their["meta"] == our["meta"], query
        assert their["data"] == our["data"], query
        assert their["meta"]["totalResourceCount"] >= len(their["data"]) > 0, query


def test_an_unknown_endpoint_names_the_available_ones(served: LocalServer) -> None:
    """DIALS answers 500 (CONTRACT §7.10); dials-local never answers 5xx to input."""
    with pytest.raises(APIError) as raised:
        ours(served, "hltpathrates", [], [])
    assert raised.value.response is not None and raised.value.response.status_code == 404
    assert "lumisections" in raised.value.response.json()["available"]


BAD = [
    (
        lambda: document([lumisection(NEW_RUN, 1), {"id": "x", "type": "lumisections"}]),
        r"data\[1\] \(id 'x'\): field 'attributes': must be a JSON object",
    ),
    (
        lambda: document([{**lumisection(NEW_RUN, 1), "attributes": {"run_number": NEW_RUN}}]),
        r"data\[0\] \(id '390001_1'\): field 'attributes.lumisection_number': missing",
    ),
    (
        lambda: document([lumisection(NEW_RUN, 1), {**lumisection(NEW_RUN, 1), "id": "dup"}]),
        r"data\[1\] \(id 'dup'\): field 'attributes.lumisection_number': repeats the record",
    ),
    (
        lambda: document([{**lumisection(NEW_RUN, 1), "type": "fills"}]),
        r"field 'type': is 'fills' but the file is loaded as 'lumisections'",
    ),
    (lambda: {"results": []}, r"field 'data': not an OMS JSON:API document"),
]


@pytest.mark.parametrize(("make", "message"), BAD)
def test_a_bad_document_is_refused_and_nothing_is_loaded(
    location: dict[str, Any], tmp_path: Path, make: Any, message: str
) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(document([lumisection(NEW_RUN + 5, 1)])))
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(make()))
    database = database_of(location)
    try:
        before = stored(database)
        with pytest.raises(OMSIngestError, match=message) as raised:
            ingest_oms(database, [good, bad], "lumisections")
        assert str(bad) in str(raised.value)
        assert stored(database) == before
    finally:
        database.dispose()


def test_bad_json_is_refused_with_its_line(location: dict[str, Any], tmp_path: Path) -> None:
    pages = tmp_path / "pages.jsonl"
    pages.write_bytes(orjson.dumps(document([lumisection(NEW_RUN + 6, 1)])) + b"\n{oops\n")
    where = (
        ["--data-dir", str(location["data_dir"])]
        if "data_dir" in location
        else ["--database-url", location["database_url"]]
    )
    database = database_of(location)
    try:
        before = stored(database)
        assert dials_local_main(["ingest-oms", str(pages), *where]) == 1
        assert stored(database) == before
        with pytest.raises(OMSIngestError, match=r"pages.jsonl: line 2: not valid JSON"):
            ingest_oms(database, [pages])
        with pytest.raises(OMSIngestError, match=r"valid: runs, lumisections, fills"):
            ingest_oms(database, [pages], "lumisection")
    finally:
        database.dispose()
