"""Shared fixtures: real dials-local processes over real HTTP, real databases.

* ``tiny_data_dir`` - a SQLite data directory seeded once per session with the ``tiny`` set.
* ``postgres_url`` - a PostgreSQL server started for the session (``initdb`` + ``pg_ctl`` in a
  temporary directory, as the ``postgres`` user when running as root), or the server named by
  ``DIALS_TEST_POSTGRES_URL``.  When neither is possible the tests that need it fail on CI
  (``CI=true``) and are skipped on a developer machine without PostgreSQL.
* ``server`` - a LocalServer on SQLite (tiny data), shared by the session.
* ``any_server`` - parametrized over SQLite and PostgreSQL: route tests that take it run once
  against each backend.
* ``new_postgres_database`` - makes an empty database of that server for a test's own data.
* ``private_tiny`` - makes a private copy of the tiny data set (SQLite, or a PostgreSQL
  database seeded with it) for tests that change the data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dials_local.testing import LocalServer, find_postgres_bin, postgres_cluster, seed_data_dir


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_data_dir(tmp_path_factory.mktemp("tiny-sqlite"), "tiny")


@pytest.fixture(scope="session")
def server(tiny_data_dir: Path) -> Iterator[LocalServer]:
    with LocalServer(tiny_data_dir) as local:
        yield local


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    configured = os.environ.get("DIALS_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    pg_bin = find_postgres_bin()
    if pg_bin is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries not found; .ci/run must install them")
        pytest.skip("PostgreSQL is not installed on this machine")
    with postgres_cluster(pg_bin) as url:
        yield url


@pytest.fixture(scope="session")
def new_postgres_database(postgres_url: str) -> Callable[[str], str]:
    """``make(name)``: the URL of a database ``name`` of the session's PostgreSQL server,
    empty (dropped first if a previous test left it)."""
    from sqlalchemy import create_engine, text

    def make(name: str) -> str:
        assert name.isidentifier(), name
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                conn.execute(text(f"CREATE DATABASE {name}"))
        finally:
            admin.dispose()
        return postgres_url.rsplit("/", 1)[0] + "/" + name

    return make


@pytest.fixture(scope="session")
def private_tiny(
    request: pytest.FixtureRequest, tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], dict[str, Any]]:
    """``make(backend, name)``: where a private copy of the tiny data set is, as
    ``LocalServer`` keywords: ``{"data_dir": ...}`` (a copy of ``tiny_data_dir``) for
    ``"sqlite"``, ``{"database_url": ...}`` (database ``name``, seeded) for ``"postgresql"``."""
    from dials_local.cli import main as dials_local_main

    def make(backend: str, name: str) -> dict[str, Any]:
        if backend == "sqlite":
            copy = tmp_path_factory.mktemp(name) / "data"
            shutil.copytree(tiny_data_dir, copy)
            return {"data_dir": copy}
        url: str = request.getfixturevalue("new_postgres_database")(name)
        assert dials_local_main(["seed", "--database-url", url, "--size", "tiny", "--quiet"]) == 0
        return {"database_url": url}

    return make


@pytest.fixture(scope="session")
def postgres_server(postgres_url: str) -> Iterator[LocalServer]:
    with LocalServer(database_url=postgres_url) as local:
        yield local


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest) -> LocalServer:
    """The tiny data set served from SQLite, then from PostgreSQL."""
    name = "server" if request.param == "sqlite" else "postgres_server"
    local: LocalServer = request.getfixturevalue(name)
    return local
