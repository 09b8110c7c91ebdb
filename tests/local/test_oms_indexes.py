"""``oms-proxy/`` answers comparisons of run and fill numbers with integers from indexes
of the JSON attributes (``dials_local.db.schema.OMS_INDEXES``), with exactly the records
that reading the whole endpoint and testing each record would give, whatever kind of JSON
value the attribute holds; the plans use the indexes; a database made before the indexes
gains them; pages without filters are those of the path that tests every record.  SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import requests
from routes_truth import index_names
from sqlalchemy import event, text

from dials_local.api.oms import _predicate, candidates
from dials_local.cli import main as dials_local_main
from dials_local.db.engines import SERVICE_SCHEMA, Database
from dials_local.db.schema import OMS_INDEXES
from dials_local.testing import SECRET_HEADER, LocalServer

pytestmark = pytest.mark.timeout(600)

FILL = 7001
RUN = 390100


def odd_values(number: int) -> list[Any]:
    """The kinds of JSON value an OMS attribute can hold in ingested records, around
    ``number``."""
    return [
        number, float(number), str(number), f" {number}", {"value": number, "units": None},
        {"value": str(number)}, True, False, None, [number], number + 1, "x", 0, 0.0,
    ]  # fmt: skip


def runs_document() -> dict[str, Any]:
    """``runs`` records whose ``fill_number`` is each odd value (and one without it)."""
    records = []
    for index, value in enumerate([*odd_values(FILL), "absent"]):
        run = RUN + index
        attributes: dict[str, Any] = {"run_number": run, "sequence": "GLOBAL-RUN"}
        if value != "absent":
            attributes["fill_number"] = value
        records.append({"id": str(run), "type": "runs", "attributes": attributes})
    return {"data": records, "meta": {"totalResourceCount": len(records)}}


def fills_document() -> dict[str, Any]:
    """``fills`` records whose ``run_number`` is each odd value (run numbers for fills)."""
    records = [
        {
            "id": str(8000 + index),
            "type": "fills",
            "attributes": {"fill_number": 8000 + index, "run_number": value},
        }
        for index, value in enumerate(odd_values(RUN))
    ]
    return {"data": records, "meta": {"totalResourceCount": len(records)}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def location(
    request: pytest.FixtureRequest,
    private_tiny: Callable[[str, str], dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """A private copy of the tiny data set with the odd records ingested."""
    where = private_tiny(request.param, "dials_oms_indexes")
    ((key, value),) = where.items()  # data_dir or database_url
    args = [f"--{key.replace('_', '-')}", str(value)]
    folder = tmp_path_factory.mktemp("oms-index-files")
    files = []
    for name, make in (("runs", runs_document), ("fills", fills_document)):
        path = folder / f"{name}.json"
        path.write_bytes(orjson.dumps(make()))
        files.append(str(path))
    assert dials_local_main(["ingest-oms", *files, *args]) == 0
    return where


@pytest.fixture(scope="module")
def served(location: dict[str, Any]) -> Iterator[LocalServer]:
    with LocalServer(**location) as local:
        yield local


def database_of(where: dict[str, Any]) -> Database:
    if "data_dir" in where:
        return Database(data_dir=where["data_dir"])
    return Database(url=where["database_url"])


def proxy(server: LocalServer, params: dict[str, Any]) -> dict[str, Any]:
    answer = requests.get(
        f"{server.api_url}oms-proxy/",
        params={**params, "page[limit]": 100_000},
        headers={SECRET_HEADER: server.secret_key},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


QUERIES = [
    ("runs", {"filter[fill_number][EQ]": FILL}),
    ("runs", {"filter[fill_number]": FILL}),
    ("runs", {"filter[fill_number][eq]": f" {FILL} "}),
    ("runs", {"filter[fill_number][EQ]": FILL + 1}),
    ("runs", {"filter[fill_number][EQ]": 0}),
    ("runs", {"filter[fill_number][EQ]": 1}),
    ("runs", {"filter[fill_number][EQ]": FILL, "filter[run_number][EQ]": RUN + 2}),
    ("runs", {"filter[run_number][EQ]": RUN + 3, "filter[fill_number][EQ]": FILL}),
    ("runs", {"filter[fill_number][EQ]": FILL, "filter[sequence][EQ]": "GLOBAL-RUN"}),
    ("fills", {"filter[run_number][EQ]": RUN}),
    ("fills", {"filter[run_number][EQ]": RUN, "filter[fill_number][EQ]": 8003}),
    ("fills", {"filter[run_number][EQ]": 0}),
    ("lumisections", {"filter[run_number][EQ]": 382921}),
    ("runs", {"filter[fill_number][GE]": FILL}),
    ("runs", {"filter[fill_number][GT]": FILL, "filter[fill_number][LE]": FILL + 1}),
    ("runs", {"filter[fill_number][LT]": FILL}),
    ("runs", {"filter[fill_number][LE]": 0}),
    ("runs", {"filter[run_number][GE]": RUN + 3, "filter[fill_number][EQ]": FILL}),
    ("fills", {"filter[run_number][LE]": RUN}),
    ("fills", {"filter[run_number][GT]": RUN - 1, "filter[run_number][LT]": RUN + 1}),
    ("lumisections", {"filter[run_number][GE]": 382921, "filter[run_number][LE]": 382925}),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("endpoint", "filters"), QUERIES)
def test_indexed_filters_keep_exactly_what_the_exact_test_keeps(
    served: LocalServer, endpoint: str, filters: dict[str, Any]
) -> None:
    """The answer equals the whole endpoint filtered record by record by the proxy's
    own exact test (what it answered before the indexes), order and count included."""
    everything = proxy(served, {"endpoint": endpoint})["data"]
    tests = []
    for name, raw in filters.items():
        attribute, _, op = name[len("filter[") :].rstrip("]").partition("][")
        tests.append(_predicate(attribute, (op or "EQ").upper(), str(raw)))
    expected = [d["id"] for d in everything if all(test(d["attributes"]) for test in tests)]
    answer = proxy(served, {"endpoint": endpoint, **filters})
    assert [d["id"] for d in answer["data"]] == expected
    assert answer["meta"]["totalResourceCount"] == len(expected)


@pytest.mark.postgres
def test_the_odd_values_are_matched_as_before(served: LocalServer) -> None:
    """What the exact test keeps for ``fill_number = 7001``: the number (also written
    7001.0), the string "7001" (not " 7001"), ``{"value": v}`` for either; and ``False``
    (a boolean attribute equals a filter value other than "true"/"1"); nothing else."""
    answer = proxy(served, {"endpoint": "runs", "filter[fill_number][EQ]": FILL})
    kept = [d["attributes"].get("fill_number", "absent") for d in answer["data"]]
    odd = [{"value": FILL, "units": None}, {"value": str(FILL)}, False]
    assert kept == [FILL, float(FILL), str(FILL), *odd]


def _plans(database: Database, endpoint: str, params: list[tuple[str, str]]) -> list[str]:
    """The database's plan of the proxy's query (the statement as the driver gets it)."""
    engine = database.service_engine()
    plans: list[str] = []
    sqlite = engine.dialect.name == "sqlite"

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
        plans.extend(str(row[-1] if sqlite else row[0]) for row in cursor.fetchall())

    with engine.connect() as conn:
        if not sqlite:  # a small table: have the planner show that the indexes can serve
            conn.execute(text("SET enable_seqscan = off"))
        statement = candidates(endpoint, params, engine.dialect.name)
        event.listen(conn, "before_cursor_execute", explain)
        conn.execute(statement).all()
    return plans


@pytest.mark.postgres
def test_the_plans_use_the_indexes(location: dict[str, Any]) -> None:
    database = database_of(location)
    try:
        short = "sqlite" if database.is_sqlite else "pg"
        plan = " | ".join(_plans(database, "runs", [("filter[fill_number][EQ]", str(FILL))]))
        assert f"idx_oms_fill_number_{short}" in plan, plan
        assert f"idx_oms_fill_number_kind_{short}" in plan, plan
        assert "SCAN local_oms_records" not in plan and "Seq Scan" not in plan, plan
        plan = " | ".join(_plans(database, "lumisections", [("filter[run_number]", "382921")]))
        assert f"idx_oms_run_number_{short}" in plan, plan
        run_range = [("filter[run_number][GE]", "382921"), ("filter[run_number][LE]", "382925")]
        plan = " | ".join(_plans(database, "lumisections", run_range))
        assert f"idx_oms_run_number_{short}" in plan, plan
        assert "SCAN local_oms_records" not in plan and "Seq Scan" not in plan, plan
        # Not an integer: no index, the exact test alone (and no error).
        assert _plans(database, "runs", [("filter[fill_number][EQ]", "7001.5")])
    finally:
        database.dispose()


@pytest.mark.postgres
def test_a_database_made_before_the_indexes_gains_them(location: dict[str, Any]) -> None:
    database = database_of(location)
    try:
        engine = database.service_engine()
        names = {index.name for index in OMS_INDEXES[engine.dialect.name]}
        schema = "" if database.is_sqlite else f'"{SERVICE_SCHEMA}".'
        with engine.begin() as conn:
            for name in names:  # as an earlier dials-local left the database
                conn.execute(text(f"DROP INDEX {schema}{name}"))
            assert not names & index_names(conn, SERVICE_SCHEMA)
        database.create_all()
        with engine.connect() as conn:
            assert names <= index_names(conn, SERVICE_SCHEMA)
        database.create_all()  # again: nothing to do, no error
    finally:
        database.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("endpoint", ["runs", "lumisections", "fills"])
def test_an_unfiltered_page_is_the_slice_the_filtered_path_gives(
    served: LocalServer, endpoint: str
) -> None:
    """Without filters or sort the database counts and pages; the documents are those of
    the path that reads and tests every record (forced here by a filter that every record
    passes: each endpoint's records carry an integer run or fill number)."""
    key = "fill_number" if endpoint == "fills" else "run_number"
    keep_all = {f"filter[{key}][GE]": 0}
    everything = proxy(served, {"endpoint": endpoint, **keep_all})
    total = everything["meta"]["totalResourceCount"]
    assert total > 3
    for offset, limit in [(0, 1), (0, 4), (3, 4), (total - 1, 10), (total, 10), (total + 5, 2)]:
        params = {"endpoint": endpoint, "page[offset]": offset, "page[limit]": limit}
        fast = requests.get(
            f"{served.api_url}oms-proxy/",
            params=params,
            headers={SECRET_HEADER: served.secret_key},
            timeout=60,
        ).json()
        reference = requests.get(
            f"{served.api_url}oms-proxy/",
            params={**params, **keep_all},
            headers={SECRET_HEADER: served.secret_key},
            timeout=60,
        ).json()
        assert fast["data"] == reference["data"] == everything["data"][offset : offset + limit]
        assert fast["meta"] == reference["meta"], (offset, limit)
        assert fast["meta"]["totalResourceCount"] == total
        assert [fast["links"][k] is None for k in ("prev", "next")] == [
            reference["links"][k] is None for k in ("prev", "next")
        ]
