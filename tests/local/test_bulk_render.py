"""The bulk list renderer (DBAPI rows, cached SQL, generated row renderer) answers every
list request byte for byte as the reference renderer (SQLAlchemy Rows rendered one at a
time, ``DIALS_LOCAL_BULK_RENDER=0``), on SQLite and on PostgreSQL.

Two servers read the same data, one with each renderer; each request goes to both and the
bodies (with each server's own origin replaced in the links) must be equal.  The data is
the tiny seed plus ingested rows with names and floats that print specially.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import requests

from dials_local.api.generic import BULK_RENDER_ENV
from dials_local.data.ingest import ingest
from dials_local.db.engines import Database
from dials_local.listing import query as query_module
from dials_local.testing import SECRET_HEADER, LocalServer

WEIRD_DATASET = '/Zéro"Bias\\/Run2023\u00e9\t\x01-\u2603/DQMIO'
WEIRD_ME = 'Folder/ñame "quoted" \\back\\ \x1f ctl/\U0001f600'
SPECIAL = [1e-05, 1e16, -0.0, 5e-324, 0.1 + 0.2, 123456789.123]
#: Run completeness is a fraction (or NULL).
FRACTIONS = [1e-05, -0.0, 5e-324, 0.1 + 0.2, None, 1.0]  # None: a NULL

DATASETS = [
    {"dataset_id": 99100001, "dataset": WEIRD_DATASET, "last_modification_date": None},
]
FILES = [
    {
        "dataset_id": 99100001,
        "file_id": 99100000001,
        "file_size": 5,
        "creation_date": "2024-11-01T00:00:00Z",
        "last_modification_date": "2024-11-01T00:00:00Z",
        "logical_file_name": '/store/"é\\x"\u2028.root',
        "status": "FINISHED",
        "err_trace": 'line "1"\n\\ \x02',
    }
]
TH1 = [
    {
        "dataset_id": 99100001,
        "me_id": 99001,
        "me": WEIRD_ME,
        "file_id": 99100000001,
        "run_number": 391000,
        "ls_number": ls,
        "x_min": sorted(SPECIAL)[ls % 5],
        "x_max": sorted(SPECIAL)[ls % 5 + 1],
        "x_bin": len(SPECIAL),
        "entries": ls,
        "data": SPECIAL,
    }
    for ls in range(1, 8)
]
RUNS = [
    {"dataset_id": 99100001, "run_number": 391000 + i, "ls_count": 7, "ls_completeness": value}
    for i, value in enumerate(FRACTIONS)
]
LUMIS = [
    {"dataset_id": 99100001, "run_number": 391000, "ls_number": ls, "th1_count": 1}
    for ls in range(1, 8)
]
MODELS = [
    {
        "model_id": 991,
        "filename": 'm"\\é.onnx',
        "target_me": WEIRD_ME,
        "active": True,
        "anomaly_threshold": 1e-05,
        "input_signature": [{"me": WEIRD_ME}],
        "tags": [{"name": "é", "value": '"\\'}],
    },
    {"model_id": 992, "filename": "b.onnx", "target_me": WEIRD_ME, "active": False},
    {"model_id": 993, "filename": "c.onnx", "target_me": WEIRD_ME, "active": True},
]
FLAGS = [
    {
        "model_id": 991,
        "dataset_id": 99100001,
        "run_number": 391000,
        "ls_number": ls,
        "metric_value": SPECIAL[ls % len(SPECIAL)],
    }
    for ls in range(1, 7)
]


def _ingest_specials(database: Database, root: Path) -> None:
    for table, records in (
        ("dataset-index", DATASETS),
        ("file-index", FILES),
        ("th1", TH1),
        ("run", RUNS),
        ("lumisection", LUMIS),
        ("ml-models-index", MODELS),
        ("ml-bad-lumisection", FLAGS),
    ):
        path = root / f"{table}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        ingest(database, "tracker", table, path)


def _pair(root: Path, **where: Any) -> Iterator[tuple[LocalServer, LocalServer]]:
    """A bulk server (seeds the tiny set), the special rows ingested, then a reference
    server on the same data."""
    with LocalServer(**where) as bulk:
        database = (
            Database(data_dir=root / "data")
            if "data_dir" in where
            else Database(url=where["database_url"])
        )
        try:
            _ingest_specials(database, root)
        finally:
            database.dispose()
        with mock.patch.dict(os.environ, {BULK_RENDER_ENV: "0"}), LocalServer(**where) as ref:
            yield bulk, ref


@pytest.fixture(scope="module")
def sqlite_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, ...]]:
    root = tmp_path_factory.mktemp("bulk-sqlite")
    yield from _pair(root, data_dir=root / "data")


@pytest.fixture(scope="module")
def postgres_pair(
    new_postgres_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalServer, ...]]:
    url = new_postgres_database("dials_bulk_render")
    yield from _pair(tmp_path_factory.mktemp("bulk-pg"), database_url=url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest) -> tuple[LocalServer, LocalServer]:
    name = "sqlite_pair" if request.param == "sqlite" else "postgres_pair"
    found: tuple[LocalServer, LocalServer] = request.getfixturevalue(name)
    return found


class _Compare:
    """Sends each request to both servers and checks the answers are the same bytes."""

    def __init__(self, pair: tuple[LocalServer, LocalServer]) -> None:
        self.servers = pair
        self.sessions = []
        for server in pair:
            session = requests.Session()
            session.headers[SECRET_HEADER] = server.secret_key
            self.sessions.append(session)
        self.checked = 0
        self.body = b""

    def get(self, path: str, params: dict[str, Any]) -> Any:
        bodies = []
        for server, session in zip(self.servers, self.sessions):
            answer = session.get(f"{server.api_url}{path}", params=params, timeout=60)
            origin = server.api_url.split("/api/")[0]
            bodies.append((answer.status_code, answer.content.replace(origin.encode(), b"@")))
        assert bodies[0] == bodies[1], (path, params)
        self.checked += 1
        self.body = bodies[0][1]
        return orjson.loads(bodies[0][1]) if bodies[0][0] == 200 else None

    def walk(self, path: str, params: dict[str, Any], most: int = 4) -> int:
        """Pages forwards (up to ``most``), then backwards through the ``previous`` links."""
        page = self.get(path, params)
        pages = 1
        while page["next"] and pages < most:
            token = parse_qs(urlsplit(page["next"]).query)["next_token"][0]
            page = self.get(path, {**params, "next_token": token})
            pages += 1
        while page["previous"]:
            token = parse_qs(urlsplit(page["previous"]).query)["next_token"][0]
            page = self.get(path, {**params, "next_token": token})
        return pages


PAGINATED: dict[str, tuple[dict[str, Any], str]] = {
    "dataset-index": ({"dataset__regex": "é"}, "dataset_id,dataset"),
    "file-index": ({"dataset_id": 99100001}, "file_id,err_trace,logical_file_name"),
    "run": ({"dataset_id__in": "99100001,14677060"}, "run_number,ls_completeness"),
    "lumisection": ({"run_number__gte": 391000}, "ls_number,dataset"),
    "th1": ({"me": WEIRD_ME}, "me,x_min,data"),
    "th2": ({"ls_number__lte": 2}, "data,y_max,dataset"),
    "ml-models-index": ({"input_signature_contains_me": WEIRD_ME}, "model_id,filename"),
    "ml-bad-lumisection": ({"dataset_id": 99100001}, "metric_value,me_id"),
}


@pytest.mark.postgres
@pytest.mark.parametrize("route", sorted(PAGINATED))
def test_pages_are_byte_identical(pair: tuple[LocalServer, LocalServer], route: str) -> None:
    compare = _Compare(pair)
    path = f"{route}/"
    filters, fields = PAGINATED[route]
    # Small pages: first, middle and last pages, and the reverse cursors back.
    pages = compare.walk(path, {"page_size": 1 if route == "ml-models-index" else 3})
    assert pages > 1
    compare.walk(path, {"page_size": 2, "fields": fields})
    compare.walk(path, {**filters, "page_size": 2}, most=100)  # to the last page
    # A whole filtered page; the filter matches the special rows.
    page = compare.get(path, {**filters})
    assert page["results"], route
    # Empty pages, and a cursor past the end.
    nothing = {"dataset-index": "dataset", "ml-models-index": "input_signature_contains_me"}
    assert compare.get(path, {nothing.get(route, "dataset_id"): "1"})["results"] == []
    past_end = base64.b64encode(b"p=%5B%2299999999999%22%5D").decode()
    compare.get(path, {"next_token": past_end})
    assert compare.checked > 6


@pytest.mark.postgres
def test_special_values_reach_the_pages(pair: tuple[LocalServer, LocalServer]) -> None:
    """The renderers agree on the rows that matter: the special names and floats are in
    the compared pages, printed as Python prints them."""
    compare = _Compare(pair)
    rows = compare.get("th1/", {"me": WEIRD_ME})["results"]
    assert [r["me"] for r in rows] == [WEIRD_ME] * len(TH1)
    assert rows[0]["dataset"] == WEIRD_DATASET
    # Python's float repr, as DRF prints it (orjson alone writes 0.00001).
    assert b'"x_min":1e-05' in compare.body or b'"x_max":1e-05' in compare.body
    runs = compare.get("run/", {"dataset_id": 99100001})["results"]
    assert [r["ls_completeness"] for r in runs] == FRACTIONS
    files = compare.get("file-index/", {"dataset_id": 99100001})["results"]
    assert files[0]["err_trace"] == FILES[0]["err_trace"]
    datasets = compare.get("dataset-index/", {"dataset": WEIRD_DATASET})["results"]
    assert datasets[0]["dataset"] == WEIRD_DATASET


@pytest.mark.postgres
def test_mes_list_is_byte_identical(pair: tuple[LocalServer, LocalServer]) -> None:
    compare = _Compare(pair)
    everything = compare.get("mes/", {})
    assert WEIRD_ME in [me["me"] for me in everything]
    compare.get("mes/", {"fields": "me,dim"})
    assert compare.get("mes/", {"me__regex": "ñame"})
    assert compare.get("mes/", {"me": "nothing"}) == []


def test_serves_the_same_pages_when_sqlalchemy_internals_change(
    sqlite_pair: tuple[LocalServer, LocalServer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bulk path compiles SQL through SQLAlchemy internals, and ``sqlalchemy`` is not
    pinned.  A release without them (simulated: the internals step fails as a renamed
    attribute would) must not turn lists into 500s: the server warns once and serves the
    same bytes through SQLAlchemy's public execution."""

    calls = []

    def renamed(conn: Any, statement: Any) -> Any:
        calls.append(statement)
        raise AttributeError("'SQLiteCompiler' object has no attribute '_bind_processors'")

    monkeypatch.setattr(query_module, "_compiled_with_internals", renamed)
    monkeypatch.setattr(query_module, "_INTERNALS_USABLE", True)
    # The pair's fixture holds the reference setting in the environment while it lives.
    monkeypatch.setenv(BULK_RENDER_ENV, "1")
    bulk, reference = sqlite_pair
    caplog.set_level(logging.WARNING, logger="dials_local.listing")
    with LocalServer(data_dir=bulk.data_dir, in_thread=True) as changed:
        compare = _Compare((changed, reference))
        for route, (filters, fields) in sorted(PAGINATED.items()):
            assert compare.walk(f"{route}/", {"page_size": 2, "fields": fields}) >= 1
            assert compare.get(f"{route}/", filters)["results"], route
        compare.get("mes/", {"me__regex": "ñame"})
    assert query_module._INTERNALS_USABLE is False
    assert len(calls) == 1  # tried once, then never again
    warnings = [r for r in caplog.records if "internals" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "AttributeError" in warnings[0].getMessage()
