"""SQL for a declared resource: one SELECT per page, rows rendered straight to dicts.

The statement selects the ordering columns first (the cursor position) and then one
expression per requested output field; dataset and ME names come from LEFT JOINs on the
primary keys of the small dimension tables.  Pages are read in primary-key order with a
row-value comparison ``(a, b, c) > (:a, :b, :c)`` and ``LIMIT page_size + 1``, which
both SQLite and PostgreSQL answer with a range scan of the primary-key index (leading
columns that a filter pins to one value are left out of the comparison, see
:meth:`ResourceQuery._after`), so every page of a walk costs the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
        # Output fields first, ordering columns last: a row renders as
        # dict(zip(keys, row)) without slicing, zip stopping at the last key.
        columns = [
            *(f.expression(table).label(f"_f{i}") for i, f in enumerate(self.fields)),
            *(c.label(f"_o{i}") for i, c in enumerate(self._order)),
        ]
        self._select: Select[Any] = select(*columns).select_from(source)

    # -- rendering ------------------------------------------------------------------

    def position(self, row: Row[Any]) -> str:
        """The cursor position (``p``) of a fetched row."""
        return position_text(tuple(row[-self._width :]))

    def render(self, row: Row[Any]) -> dict[str, Any]:
        """The response object of a fetched row (the hot loop of every list route)."""
        if not self._converters:
            return dict(zip(self.keys, row))
        values = list(row)
        for index, convert in self._converters:
            values[index] = convert(values[index])
        return dict(zip(self.keys, values))

    # -- statements -----------------------------------------------------------------

    def page(
        self,
        conn: Connection,
        where: Sequence[ColumnElement[bool]],
        offset: int,
        reverse: bool,
        position: str | None,
        limit: int,
        pinned: Mapping[str, int] | None = None,
    ) -> list[Row[Any]]:
        """Rows strictly after ``position`` (before it if ``reverse``), ordered.

        ``pinned``: ordering columns that ``where`` fixes to one value (``dataset_id=``),
        so that the cursor bound can leave them out, see :meth:`_after`.
        """
        statement = self._select.where(*where)
        if position is not None:
            values = position_values(position, self._width)
            if not all(low <= v <= high for v, (low, high) in zip(values, self._ranges)):
                raise InvalidCursor("position out of range")
            statement = statement.where(self._after(values, reverse, pinned or {}))
        order = [c.desc() for c in self._order] if reverse else self._order
        statement = statement.order_by(*order).limit(limit)
        if offset:
            statement = statement.offset(offset)
        return list(conn.execute(statement).all())

    def _after(
        self, values: Sequence[int], reverse: bool, pinned: Mapping[str, int]
    ) -> ColumnElement[bool]:
        """``(a, b, c) > (:a, :b, :c)`` (``<`` if ``reverse``), minus its pinned prefix.

        Both databases can start an index range scan at a row value, but SQLite will not
        when an equality on the leading column (``dataset_id = ?``) is there too: it then
        scans from the first row of that value on every page, so the n-th page of a walk
        costs n pages.  Where the filters pin the leading columns, the comparison of those
        columns is decided here instead, and the bound on the rest, ``(b, c) > (:b, :c)``,
        is one the index can seek to on both databases.
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
        key = tuple_(*columns)
        limit = tuple_(*(literal(v, c.type) for v, c in zip(bound, columns)))
        return key < limit if reverse else key > limit

    def all(self, conn: Connection, where: Sequence[ColumnElement[bool]]) -> list[Row[Any]]:
        """Every matching row in ordering order (unpaginated lists such as ``mes/``)."""
        return list(conn.execute(self._select.where(*where).order_by(*self._order)).all())

    def first(self, conn: Connection, where: Sequence[ColumnElement[bool]]) -> Row[Any] | None:
        """The first matching row in ordering order, if any."""
        statement = self._select.where(*where).order_by(*self._order).limit(1)
        return conn.execute(statement).first()


def count(conn: Connection, resource: Resource, where: Sequence[ColumnElement[bool]]) -> int:
    """Number of rows of ``resource`` matching ``where``."""
    statement = select(func.count()).select_from(resource.table).where(*where)
    return int(conn.execute(statement).scalar_one())
