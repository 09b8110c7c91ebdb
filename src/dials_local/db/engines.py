"""Where the tables live: one SQLite file per workspace, or one PostgreSQL schema each.

The real service keeps one PostgreSQL database per workspace (CONTRACT §4.1).  The local
default mirrors that with one SQLite file per workspace under a data directory, which needs
no set-up.  With ``--database-url postgresql+psycopg://...`` every workspace gets a schema
of that name inside the given database (one database is all a user has to create), and the
service tables live in the schema ``dials_local``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

from dials_local.db.schema import service_metadata, workspace_metadata
from dials_local.listing.patterns import sqlite_regexp, sqlite_regexp_operator
from dials_local.workspaces import WORKSPACES

SERVICE_SCHEMA = "dials_local"
SERVICE_SQLITE_FILE = "_service.sqlite3"
#: SQLite's companions of a database file, created with the database file's mode.
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """``chmod 0600`` a SQLite file and its existing -wal/-shm/-journal files.

    The files hold password and key hashes.  The CLI's umask already creates them 0600;
    this covers files from older versions and apps built in-process under another umask.
    Done before the first ``PRAGMA`` so that SQLite, which gives the -wal/-shm files the
    database file's mode, creates them private too.
    """
    for suffix in _SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while a writer (seed, ingest) commits; NORMAL sync is
    # durable across application crashes, which is all a local data set needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    # Regex filters: the time-bounded matcher that does not hold the GIL (patterns.py).
    # ``regexp`` replaces SQLAlchemy's own (Python's re.search, unbounded) in case any
    # query still uses the REGEXP operator.
    dbapi_connection.create_function("dials_regexp", 3, sqlite_regexp)
    dbapi_connection.create_function("regexp", 2, sqlite_regexp_operator)


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False},
    )
    private = False

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        nonlocal private
        if not private:  # once per engine: the file exists once SQLite has opened it
            make_private(path)
            private = True
        _tune_sqlite(dbapi_connection, record)

    event.listen(engine, "connect", on_connect)
    return engine


class Database:
    """Engines for each workspace and for the service tables of one dials-local instance.

    ``Database.open(data_dir=...)`` for SQLite files, ``Database.open(url=...)`` for
    PostgreSQL.  Engines are created lazily and cached; call :meth:`dispose` when done.
    """

    def __init__(self, *, data_dir: Path | None = None, url: str | None = None) -> None:
        if (data_dir is None) == (url is None):
            raise ValueError("give exactly one of data_dir (SQLite) or url (PostgreSQL)")
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.url = url
        self._engines: dict[str, Engine] = {}
        self._shared: Engine | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.data_dir is not None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def describe(self) -> str:
        """Where the data is, without credentials (safe to print or log)."""
        if self.data_dir is not None:
            return str(self.data_dir)
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)  # type: ignore[arg-type]

    def _shared_engine(self) -> Engine:
        if self._shared is None:
            self._shared = create_engine(self.url, pool_size=10, max_overflow=10)  # type: ignore[arg-type]
        return self._shared

    def engine(self, workspace: str) -> Engine:
        """The engine whose unqualified tables are those of ``workspace``."""
        if workspace not in self._engines:
            if self.data_dir is not None:
                self._engines[workspace] = _sqlite_engine(self.data_dir / f"{workspace}.sqlite3")
            else:
                self._engines[workspace] = self._shared_engine().execution_options(
                    schema_translate_map={None: workspace}
                )
        return self._engines[workspace]

    def service_engine(self) -> Engine:
        """The engine of the service tables (credentials, OMS-like records)."""
        key = "\0service"
        if key not in self._engines:
            if self.data_dir is not None:
                self._engines[key] = _sqlite_engine(self.data_dir / SERVICE_SQLITE_FILE)
            else:
                self._engines[key] = self._shared_engine().execution_options(
                    schema_translate_map={None: SERVICE_SCHEMA}
                )
        return self._engines[key]

    def create_all(self, workspaces: Iterable[str] = WORKSPACES) -> None:
        """Create every table (idempotent)."""
        if self.data_dir is not None:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)  # also when it existed: it holds secrets' hashes
        else:
            with self._shared_engine().begin() as conn:
                for schema in [*workspaces, SERVICE_SCHEMA]:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        for workspace in workspaces:
            workspace_metadata.create_all(self.engine(workspace))
        service_metadata.create_all(self.service_engine())

    def is_empty(self) -> bool:
        """True when no workspace holds any dataset yet (used by ``serve --demo``)."""
        from sqlalchemy import func, inspect, select

        from dials_local.db.schema import fact_dataset_index

        for workspace in WORKSPACES:
            engine = self.engine(workspace)
            if self.data_dir is not None and not (self.data_dir / f"{workspace}.sqlite3").exists():
                continue
            # schema_translate_map does not reach the inspector: name the schema on PostgreSQL.
            schema = None if self.is_sqlite else workspace
            if not inspect(engine).has_table("fact_dataset_index", schema=schema):
                continue
            with engine.connect() as conn:
                if conn.execute(select(func.count()).select_from(fact_dataset_index)).scalar():
                    return False
        return True

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        if self._shared is not None:
            self._shared.dispose()
        self._engines.clear()
        self._shared = None
