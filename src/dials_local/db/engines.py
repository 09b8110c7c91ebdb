"""Where the tables live: one SQLite file per workspace, or one PostgreSQL schema each.

The real service keeps one PostgreSQL database per workspace (CONTRACT §4.1).  The local
default mirrors that with one SQLite file per workspace under a data directory, which needs
no set-up.  With ``--database-url postgresql+psycopg://...`` every workspace gets a schema
of that name inside the given database (one database is all a user has to create), and the
service tables live in the schema ``dials_local``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Index, create_engine, event, text
from sqlalchemy.schema import CreateIndex

from dials_local.argtypes import positive_int_env
from dials_local.db.schema import OMS_INDEXES, service_metadata, workspace_metadata
from dials_local.listing.patterns import sqlite_regexp, sqlite_regexp_operator
from dials_local.workspaces import WORKSPACES

logger = logging.getLogger("dials_local.db")

#: Requests run their database work in the handler threads of
#: :class:`dials_local.api.slots.HandlerSlots`, at most 40 at once (the figure of anyio's
#: default thread limiter, which ran them before; ``tests/local/test_pool.py`` checks it).
SERVER_THREADS = 40
#: Connections each pool keeps open: one per worker thread, so that a request always finds
#: an idle connection under full load.  With SQLAlchemy's default (5, the overflow beyond
#: it closed on return) the server opened and closed a SQLite connection for about one
#: request in ten above ~8 concurrent clients (BENCHMARKS.md, "server-load").
#: ``$DIALS_LOCAL_POOL_SIZE`` overrides it (the benchmark compares with the old size).
POOL_SIZE_ENV = "DIALS_LOCAL_POOL_SIZE"
#: Connections a pool may open beyond ``pool_size`` (closed again when returned): slack for
#: the rare request that holds two connections of one pool, or code outside the threads.
#: On PostgreSQL every workspace shares one pool, so one server opens at most
#: pool_size + MAX_OVERFLOW = 50 connections, half of PostgreSQL's default max_connections.
MAX_OVERFLOW = 10


def has_sqlite_statistics(conn: Connection) -> bool:
    """Whether the SQLite file of ``conn`` has planner statistics (``sqlite_stat1``)."""
    found = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
    return bool(conn.execute(text(found)).scalar())


def analyze_sqlite(conn: Connection, names: Iterable[str] = ()) -> None:
    """SQLite's planner statistics of the indexes or tables ``names`` (all when empty),
    each read from a bounded sample (``analysis_limit``): milliseconds even on large files."""
    conn.execute(text("PRAGMA analysis_limit=1000"))
    statements = [f'ANALYZE "{name}"' for name in names] or ["ANALYZE"]
    for statement in statements:
        conn.execute(text(statement))


def pool_size() -> int:
    """Connections each pool keeps: ``$DIALS_LOCAL_POOL_SIZE``, else :data:`SERVER_THREADS`."""
    return positive_int_env(POOL_SIZE_ENV, SERVER_THREADS)


def _count_connections(engine: Engine, label: str) -> None:
    """Log each database connection the engine's pool opens, with how many are open.

    Once the pool is warm no more lines appear; a steady stream of them under load means
    the pool is too small for the concurrency (connections opened per request).
    """
    lock = threading.Lock()
    counts = {"opened": 0, "open": 0}

    def on_connect(_dbapi_connection: Any, _record: Any) -> None:
        with lock:
            counts["opened"] += 1
            counts["open"] += 1
            opened, now_open = counts["opened"], counts["open"]
        logger.info(
            "%s: database connection opened (%d opened so far, %d open)", label, opened, now_open
        )

    def on_close(_dbapi_connection: Any, _record: Any) -> None:
        with lock:
            counts["open"] -= 1

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "close", on_close)


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


#: Bytes of a SQLite file to memory-map (1 TiB: "all", SQLite lowers it to its limit).
SQLITE_MMAP_REQUEST = 1 << 40


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while a writer (seed, ingest) commits; NORMAL sync is
    # durable across application crashes, which is all a local data set needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Map as much of the file as SQLite allows (it caps the request at its compile-time
    # limit, 2 GiB in Debian's and Python's builds): a page read beyond the mapped part
    # is a read() system call copying it into this connection's cache, which made a walk
    # of th1 pages over a 2 GB file 40 % dearer (BENCHMARKS.md, server-pages).  Mapped
    # pages are the kernel's page cache, shared, not the server's own memory.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_REQUEST}")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    # Regex filters: the time-bounded matcher that does not hold the GIL (patterns.py).
    # ``regexp`` replaces SQLAlchemy's own (Python's re.search, unbounded) in case any
    # query still uses the REGEXP operator.
    dbapi_connection.create_function("dials_regexp", 3, sqlite_regexp)
    dbapi_connection.create_function("regexp", 2, sqlite_regexp_operator)


def _sqlite_engine(path: Path) -> Engine:
    # A file database gets a QueuePool (SQLAlchemy 2): sized like the server's threads.
    # Last in, first out: the few connections in use stay warm (their page caches).
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False},
        pool_size=pool_size(),
        pool_use_lifo=True,
        max_overflow=MAX_OVERFLOW,
    )
    private = False

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        nonlocal private
        if not private:  # once per engine: the file exists once SQLite has opened it
            make_private(path)
            private = True
        _tune_sqlite(dbapi_connection, record)

    event.listen(engine, "connect", on_connect)
    _count_connections(engine, path.stem)
    return engine


class DatabaseUrlError(ValueError):
    """A database URL dials-local cannot use; the message says what is wrong and what is valid."""


#: What ``--database-url`` accepts, for messages.
VALID_DATABASE_URLS = (
    "postgresql://USER@HOST[:PORT]/DATABASE (also postgres:// or postgresql+psycopg://), "
    "or sqlite:///DIRECTORY (the same as --data-dir DIRECTORY)"
)
#: The SQLAlchemy dialect and driver of every PostgreSQL URL: psycopg 3 (the extra
#: ``postgres`` installs it; the bulk loader uses its COPY).
POSTGRES_SCHEME = "postgresql+psycopg"
_POSTGRES_SCHEMES = ("postgres", "postgresql", POSTGRES_SCHEME)
_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: safe in a message, even when the URL
    is too malformed for SQLAlchemy to parse."""
    return _PASSWORD.sub(r"\1***@", url)


def parse_database_url(url: str) -> str | Path:
    """The PostgreSQL URL SQLAlchemy needs (``postgres://`` and ``postgresql://`` become
    ``postgresql+psycopg://``), or the data directory a ``sqlite:///DIRECTORY`` URL names.

    Raises :class:`DatabaseUrlError`, whose message names what is wrong and what is valid,
    instead of letting SQLAlchemy fail later with a traceback.
    """
    shown = redact_url(url)
    scheme, separator, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not separator:
        raise DatabaseUrlError(f"{shown!r} is not a database URL; valid: {VALID_DATABASE_URLS}")
    if scheme == "sqlite":
        return _sqlite_directory(rest, shown)
    if scheme.startswith(("postgres+", "postgresql+")) and scheme != POSTGRES_SCHEME:
        raise DatabaseUrlError(
            f"{shown!r}: dials-local talks to PostgreSQL through psycopg 3 only, not "
            f"{scheme.partition('+')[2]!r}; write postgresql://... (or {POSTGRES_SCHEME}://...)"
        )
    if scheme not in _POSTGRES_SCHEMES:
        raise DatabaseUrlError(
            f"{shown!r}: {scheme!r} databases are not supported; valid: {VALID_DATABASE_URLS}"
        )
    normalized = f"{POSTGRES_SCHEME}://{rest}"
    from sqlalchemy.engine import make_url

    try:
        make_url(normalized).port  # noqa: B018 - parsing the port is the check
    except ValueError as error:  # a port that is not a number, mostly
        raise DatabaseUrlError(
            f"{shown!r} cannot be parsed ({error}); valid: {VALID_DATABASE_URLS}"
        ) from None
    return normalized


def _sqlite_directory(rest: str, shown: str) -> Path:
    """The directory of ``sqlite:///DIRECTORY`` (relative) or ``sqlite:////DIRECTORY``
    (absolute), SQLAlchemy's spelling; dials-local keeps one file per workspace in it."""
    if not rest.startswith("/") or rest.strip("/") == "":
        raise DatabaseUrlError(
            f"{shown!r}: dials-local keeps one SQLite file per workspace in a directory, so "
            "the URL must name one: sqlite:///DIRECTORY (or --data-dir DIRECTORY); "
            "in-memory databases are not supported"
        )
    if "?" in rest:
        raise DatabaseUrlError(f"{shown!r}: SQLite URLs take no options here (nothing after ?)")
    directory = Path(rest[1:])
    if directory.exists() and not directory.is_dir():
        raise DatabaseUrlError(
            f"{shown!r}: {directory} is a file; dials-local keeps one SQLite file per "
            "workspace in a directory: name the directory (sqlite:///DIRECTORY)"
        )
    return directory


class Database:
    """Engines for each workspace and for the service tables of one dials-local instance.

    ``Database.open(data_dir=...)`` for SQLite files, ``Database.open(url=...)`` for
    PostgreSQL.  Engines are created lazily and cached; call :meth:`dispose` when done.
    """

    def __init__(self, *, data_dir: Path | None = None, url: str | None = None) -> None:
        if (data_dir is None) == (url is None):
            raise ValueError("give exactly one of data_dir (SQLite) or url (PostgreSQL)")
        if url is not None:
            parsed = parse_database_url(url)
            if isinstance(parsed, Path):
                raise DatabaseUrlError(f"{redact_url(url)!r}: use Database.from_url for SQLite")
            url = parsed
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.url = url
        self._engines: dict[str, Engine] = {}
        self._shared: Engine | None = None

    @classmethod
    def from_url(cls, url: str) -> Database:
        """The database a ``--database-url`` names (:func:`parse_database_url`)."""
        parsed = parse_database_url(url)
        if isinstance(parsed, Path):
            return cls(data_dir=parsed)
        return cls(url=parsed)

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
            # One pool for every workspace (schema_translate_map on the same engine).
            self._shared = create_engine(
                self.url,  # type: ignore[arg-type]
                pool_size=pool_size(),
                pool_use_lifo=True,
                max_overflow=MAX_OVERFLOW,
            )
            _count_connections(self._shared, "postgresql")
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
            engine = self.engine(workspace)
            workspace_metadata.create_all(engine)
            with engine.begin() as conn:
                indexes = [
                    index for table in workspace_metadata.sorted_tables for index in table.indexes
                ]
                self._add_missing_indexes(conn, workspace, indexes)
        service = self.service_engine()
        service_metadata.create_all(service)
        with service.begin() as conn:
            self._add_missing_indexes(conn, SERVICE_SCHEMA, OMS_INDEXES.get(conn.dialect.name, ()))

    def _add_missing_indexes(self, conn: Connection, schema: str, indexes: Iterable[Index]) -> None:
        """Create those of ``indexes`` that the database lacks.

        ``create_all`` skips the indexes of a table that exists, so indexes added to the
        schema later (the OMS attribute indexes, the histograms' ME-first key) are created
        here on tables made before them.  Looked up in the catalog first (SQLAlchemy cannot
        reflect expression indexes), so that a start issues no DDL once they exist; IF NOT
        EXISTS for two processes starting at once.  On SQLite a new index also gets its
        planner statistics (bounded, as :func:`dials_local.app.ensure_sqlite_statistics`)
        when the file has statistics already: the planner would otherwise guess its
        selectivity while it knows the other indexes'.
        """
        if self.is_sqlite:
            listed = "SELECT name FROM sqlite_master WHERE type = 'index'"
        else:
            listed = f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}'"
        present = set(conn.execute(text(listed)).scalars())
        missing = [index for index in indexes if index.name not in present]
        for index in missing:
            table = getattr(index.table, "name", "?")
            logger.info("adding index %s to %s.%s (once)", index.name, schema, table)
            conn.execute(CreateIndex(index, if_not_exists=True))
        if missing and self.is_sqlite and has_sqlite_statistics(conn):
            analyze_sqlite(conn, [index.name for index in missing if index.name])

    def analyze(self, workspace: str) -> None:
        """Refresh the planner statistics of ``workspace``'s tables, after a bulk load.

        PostgreSQL without them (autovacuum gets there only later) takes a freshly seeded
        table for nearly empty, and serves each page of an ME's histograms by reading and
        sorting all of that ME's rows: 16x the time of a page of the demo data set.  A
        SQLite file keeps the statistics of whatever it held when they were last taken
        (the server takes them at its first start, see ``app.ensure_sqlite_statistics``):
        loaded into after that, its planner would still see the tables as they were, and
        choose indexes by that (``me=`` with ``run_number=``: the ME-first key's scan,
        11 ms, instead of the run's rows, 0.7 ms).  SQLite's are taken from a bounded
        sample (:func:`analyze_sqlite`): milliseconds even on large files."""
        if self.is_sqlite:
            with self.engine(workspace).begin() as conn:
                analyze_sqlite(conn)
            return
        with self.engine(workspace).connect() as conn:
            for table in workspace_metadata.sorted_tables:
                conn.execute(text(f'ANALYZE "{workspace}"."{table.name}"'))
            conn.commit()

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
