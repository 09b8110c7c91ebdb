"""Shared fixtures: real dials-local processes over real HTTP, real databases.

* ``tiny_data_dir`` - a SQLite data directory seeded once per session with the ``tiny`` set.
* ``postgres_url`` - a PostgreSQL server started for the session (``initdb`` + ``pg_ctl`` in a
  temporary directory, as the ``postgres`` user when running as root), or the server named by
  ``DIALS_TEST_POSTGRES_URL``.  When neither is possible the tests that need it fail on CI
  (``CI=true``) and are skipped on a developer machine without PostgreSQL.
* ``server`` - a LocalServer on SQLite (tiny data), shared by the session.
* ``any_server`` - parametrized over SQLite and PostgreSQL: route tests that take it run once
  against each backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dials_local.testing import LocalServer, free_port, seed_data_dir

PG_BIN_CANDIDATES = [Path("/usr/lib/postgresql/15/bin"), *Path("/usr/lib/postgresql").glob("*/bin")]


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_data_dir(tmp_path_factory.mktemp("tiny-sqlite"), "tiny")


@pytest.fixture(scope="session")
def server(tiny_data_dir: Path) -> Iterator[LocalServer]:
    with LocalServer(tiny_data_dir) as local:
        yield local


def _pg_bin() -> Path | None:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "initdb").exists():
            return candidate
    return None


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    configured = os.environ.get("DIALS_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    pg_bin = _pg_bin()
    if pg_bin is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries not found; .ci/run must install them")
        pytest.skip("PostgreSQL is not installed on this machine")
    root = Path(tempfile.mkdtemp(prefix="dials-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        _as_postgres(
            [
                str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            ready = subprocess.run(
                [str(pg_bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(
            _as_postgres(
                [
                    str(pg_bin / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "dials",
                ]
            ),
            check=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/dials"
    finally:
        subprocess.run(
            _as_postgres([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


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
