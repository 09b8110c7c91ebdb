"""SQL for a declared resource: one SELECT per page, rows rendered straight to dicts.

The statement selects one expression per requested output field, then the ordering
columns (the cursor position) that no field already selects; dataset and ME names come
from LEFT JOINs on the primary keys of the small dimension tables. Pages are read in
primary-key order with a row-value comparison ``(a, b, c) > (:a, :b, :c)`` and ``LIMIT
page_size + 1``, which both SQLite and PostgreSQL answer with a range scan of the
primary-key index (or the ME-first key of a walk of one ME; columns that a filter pins to
one value at either end of the key are left out of the comparison, see
:meth:`ResourceQuery._after`), so every page of a walk costs the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import sqlalchemy
from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Row,
    Select,
    false,
    func,
    literal,
    select,
    true,
    tuple_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from dials_local.db.budget import before_statement
from dials_local.db.schema import integer_range
from dials_local.listing.cursor import InvalidCursor, position_text, position_values
from dials_local.listing.declaration import DATASET_NAMES, ME_NAMES, OutputField, Resource


class ResourceQuery:
    """Queries of one resource for one set of output fields."""

    def __init__(self, resource: Resource, field_names: Sequence[str]) -> None:
        self.resource = resource
        table = resource.table
        wanted = set(field_names)
        self.fields: tuple[OutputField, ...] = tuple(f for f in resource.fields if f.name in wanted)
        self.keys = tuple(f.name for f in self.fields)
        self._order = [table.c[name] for name in resource.ordering]
        self._width = len(self._order)
        # Value range of each ordering column: PostgreSQL casts a cursor value to the
        # column type and fails ("integer out of range") beyond it.
        self._ranges = tuple(integer_range(c) for c in self._order)
        # (index in the output values, converter) for the fields that need converting
        self._converters = [
            (i, f.convert) for i, f in enumerate(self.fields) if f.convert is not None
        ]
        source: FromClause = table
        joins = {f.join for f in self.fields}
        if "dataset" in joins:
            source = source.outerjoin(
                DATASET_NAMES, DATASET_NAMES.c.dataset_id == table.c.dataset_id
            )
        if "me" in joins:
            source = source.outerjoin(ME_NAMES, ME_NAMES.c.me_id == table.c.me_id)
        # Output fields first, then the ordering columns no field already selects as
        # stored: a row renders as dict(zip(keys, row)) without slicing, zip stopping at
        # the last key.  Selecting a column twice is not free: on SQLite the duplicates
        # of a lumisection page's key were a quarter of its SQL's cost.
        columns = [f.expression(table).label(f"_f{i}") for i, f in enumerate(self.fields)]
        plain = {f.source or f.name: i for i, f in enumerate(self.fields) if f.stored_as_is}
        positions = []
        for i, c in enumerate(self._order):
            if c.name not in plain:
                plain[c.name] = len(columns)
                columns.append(c.label(f"_o{i}"))
            positions.append(plain[c.name])
        #: Where each ordering column's value is in a fetched row.
        self._positions = tuple(positions)
        self._select: Select[Any] = select(*columns).select_from(source)
        # Bulk renderers, one per (dialect, whether rows come from the DBAPI cursor).
        self._renderers: dict[
            tuple[Dialect, tuple[Any, ...] | None], Callable[[Sequence[Any]], dict[str, Any]]
        ] = {}

    # -- rendering ------------------------------------------------------------------

    def position(self, row: Sequence[Any]) -> str:
        """The cursor position (``p``) of a fetched row."""
        return position_text(tuple([row[i] for i in self._positions]))

    def render(self, row: Row[Any]) -> dict[str, Any]:
        """The response object of a fetched row (the hot loop of every list route)."""
        if not self._converters:
            return dict(zip(self.keys, row))
        values = list(row)
        for index, convert in self._converters:
            values[index] = convert(values[index])
        return dict(zip(self.keys, values))

    def renderer(
        self, dialect: Dialect, raw: tuple[Any, ...] | None
    ) -> Callable[[Sequence[Any]], dict[str, Any]]:
        """A row renderer equal to :meth:`render`, generated for this query's fields: one
        dict display per row (``{"a": r[0], "b": f(r[1]), ...}``) instead of a list copy,
        a converter loop and ``dict(zip(...))`` (0.19 ms against 0.52 ms for 501 th1 rows).

        ``raw``: the rows come straight from the DBAPI cursor (:func:`fetch_raw`), whose
        column type codes these are (``None``: SQLAlchemy Rows), so the conversions
        SQLAlchemy applies to its own rows (the dialect's result processors: SQLite's
        datetime text and 0/1 booleans; on PostgreSQL they depend on the type code) are
        applied here, before the field's own.
        """
        key = (dialect, raw)
        found = self._renderers.get(key)
        if found is None:
            found = self._renderers[key] = self._generate_renderer(dialect, raw)
        return found

    def _generate_renderer(
        self, dialect: Dialect, raw: tuple[Any, ...] | None
    ) -> Callable[[Sequence[Any]], dict[str, Any]]:
        columns = list(self._select.selected_columns)
        namespace: dict[str, Any] = {}
        items = []
        for index, output in enumerate(self.fields):
            expression = f"r[{index}]"
            if raw is not None:
                column_type = columns[index].type.dialect_impl(dialect)
                process = column_type.result_processor(dialect, raw[index])
                if process is not None:
                    namespace[f"p{index}"] = process
                    expression = f"p{index}({expression})"
            if output.convert is not None:
                namespace[f"c{index}"] = output.convert
                expression = f"c{index}({expression})"
            # repr() of a declared field name is a valid, exact string literal.
            items.append(f"{output.name!r}: {expression}")
        source = "lambda r: {" + ", ".join(items) + "}"
        renderer: Callable[[Sequence[Any]], dict[str, Any]] = eval(source, namespace)
        return renderer

    # -- statements -----------------------------------------------------------------

    def page_statement(
        self,
        where: Sequence[ColumnElement[bool]],
        offset: int,
        reverse: bool,
        position: str | None,
        limit: int,
        pinned: Mapping[str, int] | None = None,
        first_page: Sequence[ColumnElement[bool]] = (),
    ) -> Select[Any]:
        """The SELECT of one page: rows strictly after ``position`` (before it if
        ``reverse``), ordered, the one place a page's SQL is defined (run by
        :func:`fetch_raw`, or by SQLAlchemy on the reference path).

        ``pinned``: ordering columns that ``where`` fixes to one value (``dataset_id=``),
        so that the cursor bound can leave them out, see :meth:`_after`.  ``first_page``:
        conditions added when there is no position (they select the same rows, for a
        better plan: :func:`~dials_local.listing.filters.first_page_conditions`).
        """
        statement = self._select.where(*where)
        if position is None:
            statement = statement.where(*first_page)
        else:
            values = position_values(position, self._width)
            if not all(low <= v <= high for v, (low, high) in zip(values, self._ranges)):
                raise InvalidCursor("position out of range")
            statement = statement.where(self._after(values, reverse, pinned or {}))
        order = [c.desc() for c in self._order] if reverse else self._order
        statement = statement.order_by(*order).limit(limit)
        if offset:
            statement = statement.offset(offset)
        return statement

    def _after(
        self, values: Sequence[int], reverse: bool, pinned: Mapping[str, int]
    ) -> ColumnElement[bool]:
        """``(a, b, c) > (:a, :b, :c)`` (``<`` if ``reverse``), minus its pinned ends.

        Both databases can start an index range scan at a row value, but SQLite will not
        when an equality on the leading column (``dataset_id = ?``) is there too: it then
        scans from the first row of that value on every page, so the n-th page of a walk
        costs n pages.  Where the filters pin the leading columns, the comparison of those
        columns is decided here instead, and the bound on the rest, ``(b, c) > (:b, :c)``,
        is one the index can seek to on both databases.  Pinned trailing columns (``me_id``
        of a walk of one ME) are left out too, so that the bound is one the ME-first key
        ``(me_id, a, b)`` can seek to: ``(a, b) > (:a, :b)``, or ``>=`` when the pinned
        value lies after the position's (a position taken from another walk).
        """
        columns = list(self._order)
        bound = list(values)
        while columns and columns[0].name in pinned:
            fixed = pinned[columns[0].name]
            if bound[0] != fixed:
                # Every row the filters allow lies on one side of the position.
                return true() if (bound[0] < fixed) != reverse else false()
            del columns[0], bound[0]
        if not columns:  # the filters pin the whole key: only the position's own row
            return false()
        end = len(columns)
        while columns[end - 1].name in pinned:  # columns[0] is not pinned: end stays >= 1
            end -= 1
        # Rows equal to the position on the other columns are decided by the first pinned
        # trailing column whose value differs from the position's (none: they are equal).
        inclusive = False
        for column, value in zip(columns[end:], bound[end:]):
            if pinned[column.name] != value:
                inclusive = (pinned[column.name] > value) != reverse
                break
        key = tuple_(*columns[:end])
        limit = tuple_(*(literal(v, c.type) for v, c in zip(bound[:end], columns[:end])))
        if reverse:
            return key <= limit if inclusive else key < limit
        return key >= limit if inclusive else key > limit

    def all(self, conn: Connection, where: Sequence[ColumnElement[bool]]) -> list[Row[Any]]:
        """Every matching row in ordering order (unpaginated lists such as ``mes/``)."""
        return list(conn.execute(self.all_statement(where)).all())

    def all_statement(self, where: Sequence[ColumnElement[bool]]) -> Select[Any]:
        """The SELECT of :meth:`all`."""
        return self._select.where(*where).order_by(*self._order)

    def first(self, conn: Connection, where: Sequence[ColumnElement[bool]]) -> Row[Any] | None:
        """The first matching row in ordering order, if any."""
        statement = self._select.where(*where).order_by(*self._order).limit(1)
        return conn.execute(statement).first()


def count(conn: Connection, resource: Resource, where: Sequence[ColumnElement[bool]]) -> int:
    """Number of rows of ``resource`` matching ``where``."""
    statement = select(func.count()).select_from(resource.table).where(*where)
    return int(conn.execute(statement).scalar_one())


#: Compiled SQL per statement shape: SQLAlchemy's cache key of the statement (which
#: leaves the bound values out), the dialect and the schema translation (PostgreSQL's
#: workspace) -> (SQL text, how to order the parameters).  Bounded: the shapes are few
#: (resource x fields x filter kinds x cursor kinds), the check costs nothing.
_SQL_CACHE: dict[tuple[Any, ...], tuple[str, Any, dict[str, Callable[[Any], Any]]]] = {}
_SQL_CACHE_SIZE = 1024
_SQL_CACHE_LOCK = threading.Lock()


#: Whether :func:`_compiled` may use SQLAlchemy's compiler internals: cleared for the
#: process the first time they are not what this module expects.
_INTERNALS_USABLE = True

log = logging.getLogger("dials_local.listing")


def _compiled(conn: Connection, statement: Select[Any]) -> tuple[str, Any] | None:
    """The DBAPI SQL text and parameters of ``statement`` on ``conn``, or ``None`` when
    it needs SQLAlchemy's execution (expanding ``IN`` lists are rendered per value count
    at execution time).

    SQLAlchemy caches compiled statements too, but each execution still pays for its
    execution context and Row objects; here only the cache key is computed per page.

    This relies on SQLAlchemy internals (cache keys, the compiler's parameter order and
    bind processors), and ``sqlalchemy`` is not pinned: should a release change them,
    every page would fail.  So an internal that is missing or of another shape turns this
    path off for the process, with one warning, and pages are served through
    SQLAlchemy's public execution (the reference path: same bytes, slower).
    """
    global _INTERNALS_USABLE
    if not _INTERNALS_USABLE:
        return None
    try:
        found = _compiled_with_internals(conn, statement)
    except (AttributeError, TypeError) as error:  # a renamed internal, another signature
        _INTERNALS_USABLE = False
        log.warning(
            "SQLAlchemy %s's internals are not what the fast list path expects (%s: %s); "
            "serving lists through SQLAlchemy's own execution from now on",
            sqlalchemy.__version__,
            type(error).__name__,
            error,
        )
        return None
    if found is None:
        return None
    sql, params, order, processors = found
    for name, process in processors.items():
        if name in params:
            params[name] = process(params[name])
    if order is not None:
        return sql, tuple(params[name] for name in order)
    return sql, params


def _compiled_with_internals(
    conn: Connection, statement: Select[Any]
) -> tuple[str, MutableMapping[str, Any], Any, dict[str, Callable[[Any], Any]]] | None:
    """The SQL text, the parameters by name (before bind processing), their order for a
    positional driver and the bind processors of ``statement``: the internals part of
    :func:`_compiled`."""
    cache_key = statement._generate_cache_key()
    if cache_key is None:
        return None
    translate = conn.get_execution_options().get("schema_translate_map")
    key = (
        cache_key.key,
        conn.dialect,
        tuple(sorted(translate.items(), key=repr)) if translate else None,
    )
    entry = _SQL_CACHE.get(key)
    if entry is None:
        compiled = statement._compiler(
            conn.dialect,
            cache_key=cache_key,
            column_keys=[],
            for_executemany=False,
            schema_translate_map=translate,
        )
        if compiled.post_compile_params or compiled.literal_execute_params:
            return None
        sql = compiled.string
        if translate:
            sql = compiled.preparer._render_schema_translates(sql, translate)
        order = tuple(compiled.positiontup) if compiled.positional else None  # type: ignore[arg-type]
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled._bind_processors.items():
            if not callable(bind):  # per-element processors of a tuple IN
                return None
            processors[name] = bind
        with _SQL_CACHE_LOCK:
            if len(_SQL_CACHE) >= _SQL_CACHE_SIZE:
                _SQL_CACHE.clear()
            _SQL_CACHE[key] = entry = (sql, (compiled, order), processors)
    sql, (compiled, order), processors = entry
    params = compiled.construct_params(extracted_parameters=cache_key.bindparams)
    return sql, params, order, processors


def fetch_raw(
    conn: Connection, statement: Select[Any]
) -> tuple[list[Sequence[Any]], tuple[Any, ...] | None]:
    """Rows of ``statement``, fetched from the DBAPI cursor when possible.

    Returns ``(rows, types)``: ``types`` are the column type codes of the driver's
    tuples (render them with ``renderer(dialect, types)``), ``None`` for SQLAlchemy Rows.
    The request budget still applies (:func:`~dials_local.db.budget.before_statement`;
    SQLite's progress handler is on the connection itself), and driver errors are
    wrapped as SQLAlchemy wraps them, so callers see the same :class:`~sqlalchemy.exc.DBAPIError`.
    """
    compiled = _compiled(conn, statement)
    if compiled is None:
        return list(conn.execute(statement).all()), None
    sql, params = compiled
    dbapi_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        before_statement(conn, cursor)
        cursor.execute(sql, params)
        rows: list[Sequence[Any]] = cursor.fetchall()
        types = tuple(column[1] for column in cursor.description)
    except dbapi_error as error:
        raise DBAPIError.instance(sql, params, error, dbapi_error, dialect=conn.dialect) from error
    finally:
        cursor.close()
    return rows, types
