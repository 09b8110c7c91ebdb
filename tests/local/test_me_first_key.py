"""A walk of one ME's histograms reads the ME-first key ``(me_id, dataset_id, run_number,
ls_number)`` instead of stepping over every other ME's rows in the primary key: the pages
are exactly the rows a brute-force selection gives, forward and back, for ``me=`` (a name
looked up first), ``me_id=``, with a dataset, with a run range (its first page sought in
each of the ME's datasets), and from a cursor taken in another walk; SQLite's plans use
the key where they should and only there; a database made before the key gains it; a
name of no row selects nothing; a SQLite file without planner statistics gets bounded
ones at start.  SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from routes_truth import (
    db_of,
    expected_object,
    get,
    index_names,
    results,
    rows,
    walk,
    walk_back,
)
from sqlalchemy import event, text
from sqlalchemy.sql.elements import False_

from dials_local.api.generic import _page_statements
from dials_local.api.resources import TH1, TH2
from dials_local.app import ensure_sqlite_statistics
from dials_local.db.engines import Database
from dials_local.listing import filters as filter_module
from dials_local.listing.cursor import Cursor, encode_cursor, position_text
from dials_local.listing.declaration import Resource
from dials_local.listing.filters import conditions, parse_filters, resolve_names
from dials_local.listing.params import QueryParams
from dials_local.listing.query import ResourceQuery
from dials_local.testing import LocalServer

DATASET, RUN = 14677060, 367112
DATASET_NAME = "/ZeroBias/Run2023C-PromptReco-v1/DQMIO"
ME_1 = "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"  # me_id 1: a row in every lumisection
ME_2 = "PixelPhase1/Tracks/charge_PXBarrel"  # me_id 2: 90 rows of 26,300
MAP = (
    "Tracking/TrackParameters/highPurityTracks/pt_1/GeneralProperties/TrackEtaPhi_ImpactPoint_GenTk"
)
KEY = ("dataset_id", "run_number", "ls_number", "me_id")


def _in_runs(low: int, high: int) -> Callable[[dict[str, Any]], bool]:
    return lambda row: low <= row["run_number"] <= high


IN_DATASET = {"me_id": 1, "dataset_id": DATASET}
WALKS = [
    # (route, filters, table, brute-force equalities, extra test of a row)
    ("th1/", {"me": ME_1}, "fact_th1", {"me_id": 1}, None),
    ("th1/", {"me": ME_2}, "fact_th1", {"me_id": 2}, None),
    ("th1/", {"me_id": 2}, "fact_th1", {"me_id": 2}, None),
    ("th1/", {"me": ME_1, "dataset": DATASET_NAME}, "fact_th1", IN_DATASET, None),
    (
        "th1/",
        {"me": ME_1, "dataset_id": DATASET, "run_number": RUN},
        "fact_th1",
        {**IN_DATASET, "run_number": RUN},
        None,
    ),
    (
        "th1/",
        {"me": ME_1, "run_number__gte": RUN, "run_number__lte": 367790},
        "fact_th1",
        {"me_id": 1},
        _in_runs(RUN, 367790),
    ),
    (
        "th1/",
        {"me": ME_2, "run_number__gte": 367000},
        "fact_th1",
        {"me_id": 2},
        _in_runs(367000, 10**6),
    ),
    (
        "th1/",
        {"me_id": 1, "dataset": DATASET_NAME, "run_number__lte": 367790},
        "fact_th1",
        IN_DATASET,
        _in_runs(0, 367790),
    ),
    ("th1/", {"me": "no/such/me"}, "fact_th1", {"me_id": -1}, None),
    (
        "th1/",
        {"me_id": 2, "run_number__gte": 367000, "run_number__lte": 366000},
        "fact_th1",
        {"me_id": 2},
        _in_runs(1, 0),
    ),
    ("th2/", {"me": MAP}, "fact_th2", {"me_id": 145}, None),
]


@pytest.mark.parametrize("size", [41, 500])
@pytest.mark.parametrize(("route", "filters", "table", "where", "test"), WALKS)
def test_walks_of_one_me_equal_one_query(
    any_server: LocalServer,
    size: int,
    route: str,
    filters: dict[str, Any],
    table: str,
    where: dict[str, Any],
    test: Callable[[dict[str, Any]], bool] | None,
) -> None:
    selected = [r for r in rows(any_server, "tracker", table, **where) if test is None or test(r)]
    expected = [expected_object(any_server, "tracker", route[:3], r) for r in selected]
    pages = walk(any_server, route, {**filters, "page_size": size}, "tracker")
    assert results(pages) == expected
    assert all(len(page["results"]) == size for page in pages[:-1])
    back = walk_back(any_server, pages[-1], "tracker")
    assert [p["results"] for p in back] == [p["results"] for p in reversed(pages)]


def _key(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[k] for k in KEY)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    "filters", [{"me": ME_1}, {"me_id": 1}, {"me": ME_1, "dataset_id": DATASET}]
)
def test_a_cursor_from_another_walk(
    any_server: LocalServer, reverse: bool, filters: dict[str, Any]
) -> None:
    """Positions whose ME is before, the same as or after the pinned one (1), at a
    lumisection of the walk, and positions of other datasets: the page is what the plain
    row-value bound on the whole key selects."""
    pinned = {"me_id": 1, **({"dataset_id": DATASET} if "dataset_id" in filters else {})}
    mine = [_key(r) for r in rows(any_server, "tracker", "fact_th1", **pinned)]
    everything = sorted(_key(r) for r in rows(any_server, "tracker", "fact_th1"))
    middle = mine[len(mine) // 2]
    positions = [
        (*middle[:3], 0), middle, (*middle[:3], 2), (*middle[:3], 10**6),
        everything[0], everything[-1], (DATASET, 0, 0, 7), (DATASET + 1, 0, 0, 0),
    ]  # fmt: skip
    for position in positions:
        token = encode_cursor(Cursor(reverse=reverse, position=position_text(position)))
        body = get(any_server, "th1/", {**filters, "page_size": 3, "next_token": token})
        expected = (
            [k for k in mine if k < position][-3:]
            if reverse
            else [k for k in mine if k > position][:3]
        )
        assert [_key(r) for r in body["results"]] == expected, position


def _plan(database: Database, resource: Resource, params: dict[str, Any], position: Any) -> str:
    """The database's plan of the page the list handler would read (as the driver gets it)."""
    engine = database.engine("tracker")
    sqlite = engine.dialect.name == "sqlite"
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "LIMIT" in statement:
            cursor.execute(
                ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters
            )
            plans.extend(str(row[-1] if sqlite else row[0]) for row in cursor.fetchall())

    pairs = QueryParams(tuple((k, str(v)) for k, v in params.items()))
    with engine.connect() as conn:
        parsed = resolve_names(parse_filters(resource.filters, pairs), conn)
        where = conditions(parsed, resource.table, conn)
        query = ResourceQuery(resource, resource.field_names)
        statement = _page_statements(resource, query, parsed, where, conn)(0, False, position, 501)
        event.listen(conn, "before_cursor_execute", explain)
        conn.execute(statement).all()
    return " | ".join(plans)


@pytest.mark.parametrize("resource", [TH1, TH2], ids=["th1", "th2"])
def test_sqlite_plans_use_the_me_first_key_for_a_walk_of_one_me(
    server: LocalServer, resource: Resource
) -> None:
    """SQLite is steered (``_WIDE_COLUMNS``); PostgreSQL chooses by its statistics, and on
    the tiny set a scan of the primary key is as cheap."""
    database = db_of(server)
    me = ME_1 if resource is TH1 else MAP
    index = f"idx_{resource.prefix}_me_first_key"
    position = position_text((DATASET, RUN, 5, 0))
    try:
        one_me: list[dict[str, Any]] = [{"me": me}, {"me": me, "dataset": DATASET_NAME}]
        in_runs = {"run_number__gte": RUN, "run_number__lte": RUN + 1000}
        for params in [*one_me, {"me_id": 1}, {"me": me, **in_runs}]:
            for where in (None, position):
                plan = _plan(database, resource, params, where)
                assert index in plan, (params, plan)
                assert "TEMP B-TREE" not in plan and "Sort" not in plan, (params, plan)
        # The first page of a run range is sought in each of the ME's datasets; later pages
        # from their position.
        sought = f"{index} (me_id=? AND dataset_id=? AND run_number>? AND run_number<?)"
        assert sought in _plan(database, resource, {"me": me, **in_runs}, None)
        later = _plan(database, resource, {"me": me, **in_runs}, position)
        assert "(dataset_id,run_number,ls_number)>" in later, later
        narrowed: list[dict[str, Any]] = [{"me": me, "run_number": RUN}]
        for params in [*narrowed, {"me": me, "ls_number__gte": 3}]:
            assert index not in _plan(database, resource, params, position), params
        assert index not in _plan(database, resource, {"me__regex": "charge"}, position)
    finally:
        database.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_database_made_before_the_key_gains_it(
    private_tiny: Callable[[str, str], dict[str, Any]], backend: str
) -> None:
    where = private_tiny(backend, "dials_me_first_key")
    database = (
        Database(data_dir=where["data_dir"])
        if "data_dir" in where
        else Database(url=where["database_url"])
    )
    names = {"idx_th1_me_first_key", "idx_th2_me_first_key"}
    try:
        engine = database.engine("tracker")
        with engine.begin() as conn:
            if database.is_sqlite:  # statistics, as a server left them at its first start
                conn.execute(text("ANALYZE"))
            for name in names:  # as an earlier dials-local left the database
                conn.execute(text(f"DROP INDEX {'' if database.is_sqlite else 'tracker.'}{name}"))
            assert not names & index_names(conn, "tracker")
        database.create_all()
        with engine.connect() as conn:
            assert names <= index_names(conn, "tracker")
            if database.is_sqlite:  # with the planner's statistics of the new index
                known = set(conn.execute(text("SELECT idx FROM sqlite_stat1")).scalars())
                assert names <= known
        database.create_all()  # again: nothing to do, no error
    finally:
        database.dispose()


def test_an_me_in_too_many_datasets_is_not_sought_per_dataset(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first page of a run range is sought in each of the ME's datasets only up to a
    bound (one bound parameter each); beyond it the page reads the ME-first key from the
    start, as later pages do from their position."""
    database = db_of(server)
    in_runs = {"me": ME_1, "run_number__gte": RUN, "run_number__lte": RUN + 1000}
    try:
        sought = "idx_th1_me_first_key (me_id=? AND dataset_id=?"
        assert sought in _plan(database, TH1, in_runs, None)
        monkeypatch.setattr(filter_module, "_MAX_SOUGHT_DATASETS", 5)  # ME 1 is in 6 datasets
        plan = _plan(database, TH1, in_runs, None)
        assert "idx_th1_me_first_key (me_id=?)" in plan and sought not in plan, plan
    finally:
        database.dispose()


@pytest.mark.parametrize("params", [{"me": "no/such/me"}, {"dataset": "/No/Such/DQMIO"}])
def test_a_name_of_no_row_selects_nothing_without_reading_the_table(
    server: LocalServer, params: dict[str, str]
) -> None:
    """An exact name that names nothing becomes the false condition (a misspelt ME with a
    run range used to read the whole table through the primary key)."""
    database = db_of(server)
    pairs = QueryParams(tuple({**params, "run_number__gte": "1"}.items()))
    try:
        with database.engine("tracker").connect() as conn:
            parsed = resolve_names(parse_filters(TH1.filters, pairs), conn)
            where = conditions(parsed, TH1.table, conn)
        assert any(isinstance(condition, False_) for condition in where), where
    finally:
        database.dispose()
    assert get(server, "th1/", {**params, "run_number__gte": 1})["results"] == []


def test_a_file_without_statistics_gets_them_at_start(
    private_tiny: Callable[[str, str], dict[str, Any]],
) -> None:
    """``ensure_sqlite_statistics`` (run by every server start) gives a file without
    planner statistics bounded ones, the ME-first key's among them; a file with
    statistics is left as it is."""
    database = Database(data_dir=private_tiny("sqlite", "dials_statistics")["data_dir"])
    try:
        engine = database.engine("tracker")
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        ensure_sqlite_statistics(database)
        with engine.begin() as conn:
            known = set(conn.execute(text("SELECT idx FROM sqlite_stat1")).scalars())
            assert {"idx_th1_me_first_key", "idx_th2_me_first_key"} <= known
            conn.execute(text("DELETE FROM sqlite_stat1 WHERE idx = 'idx_th1_me_first_key'"))
        ensure_sqlite_statistics(database)
        with engine.connect() as conn:
            known = set(conn.execute(text("SELECT idx FROM sqlite_stat1")).scalars())
        assert "idx_th1_me_first_key" not in known  # statistics there: not analysed again
    finally:
        database.dispose()
