"""Bulk loading into a workspace: batched inserts and a connection tuned for loading."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert

#: Rows per INSERT batch.
BATCH_ROWS = 2000

#: Tables whose columns are plain numbers and text: no type conversion is needed on insert.
_PLAIN_TABLES = {"fact_th1", "fact_th2", "fact_lumisection", "local_injected_anomalies"}


def insert_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (value tuples in ``columns`` order) into ``table``.

    The histogram tables go straight to the driver (``executemany`` on SQLite, ``COPY`` on
    PostgreSQL): compiling parameters per row costs more than the database's own insert.
    Everything else uses Core (typed columns such as datetimes need its conversions).
    """
    if table.name in _PLAIN_TABLES and conn.dialect.name == "sqlite":
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        conn.exec_driver_sql(sql, rows)
    elif table.name in _PLAIN_TABLES and conn.dialect.driver == "psycopg":
        _copy_rows(conn, table, columns, rows)
    else:
        conn.execute(insert(table), [dict(zip(columns, row)) for row in rows])


def _copy_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """PostgreSQL ``COPY ... FROM STDIN`` through psycopg, in the connection's transaction.

    Raw driver SQL bypasses SQLAlchemy's ``schema_translate_map``, so the workspace schema
    is spelled out.
    """
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema)
    target = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
    driver = conn.connection.driver_connection
    assert driver is not None
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


class BatchWriter:
    """Buffers rows per table and inserts them in batches; counts what it wrote."""

    def __init__(self, conn: Connection, batch_rows: int = BATCH_ROWS) -> None:
        self.conn = conn
        self.batch_rows = batch_rows
        self.buffers: dict[tuple[Table, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Queue ``rows`` (dicts with the same keys) for ``table``."""
        rows = list(rows)
        if rows:
            columns = tuple(rows[0])
            self.add_tuples(table, columns, [tuple(r[c] for c in columns) for r in rows])

    def add_tuples(
        self, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        """Queue ``rows`` (value tuples in ``columns`` order) for ``table``."""
        if not rows:
            return
        key = (table, columns)
        buffer = self.buffers.setdefault(key, [])
        buffer.extend(rows)
        if len(buffer) >= self.batch_rows:
            self._flush(key)

    def _flush(self, key: tuple[Table, tuple[str, ...]]) -> None:
        rows = self.buffers.pop(key, [])
        if rows:
            insert_rows(self.conn, key[0], key[1], rows)
            self.counts[key[0].name] += len(rows)

    def flush(self) -> None:
        """Insert everything still buffered."""
        for key in list(self.buffers):
            self._flush(key)


@contextmanager
def bulk_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for a bulk load (the caller opens the transaction).

    On SQLite, fsync is skipped while loading (a load that crashes is rolled back or simply
    re-run) and the default is restored before the connection returns to the pool.
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.commit()
        try:
            yield conn
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                # a big load leaves a WAL file as large as the data: fold it in and shrink it
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.commit()
