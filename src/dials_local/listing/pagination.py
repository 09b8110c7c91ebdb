"""Cursor pagination: which rows form a page and which cursors its links carry.

A port of DRF 3.15 ``CursorPagination`` (CONTRACT §5) with the DIALS patch that compares
the whole ordering tuple.  The database side is a callback, so this module is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from dials_local.listing.cursor import Cursor

RowT = TypeVar("RowT")

#: ``fetch(offset, reverse, position, limit)`` -> rows after (or before, if ``reverse``)
#: ``position`` in ordering order (descending if ``reverse``), skipping ``offset`` rows.
Fetch = Callable[[int, bool, "str | None", int], Sequence[RowT]]


@dataclass(frozen=True)
class Page(Generic[RowT]):
    """The rows of one page (in ascending order) and the cursors of its links."""

    rows: list[RowT]
    next: Cursor | None
    previous: Cursor | None


def paginate(
    fetch: Fetch[RowT],
    cursor: Cursor | None,
    page_size: int,
    position_of: Callable[[RowT], str],
) -> Page[RowT]:
    """Fetch the page that ``cursor`` points at (the first page when ``None``)."""
    offset, reverse, current = (
        (0, False, None)
        if cursor is None
        else (
            cursor.offset,
            cursor.reverse,
            cursor.position,
        )
    )
    # One extra row tells whether a page follows.
    results = list(fetch(offset, reverse, current, page_size + 1))
    rows = results[:page_size]
    has_following = len(results) > len(rows)
    following = position_of(results[-1]) if has_following else None
    if reverse:
        rows.reverse()
        has_next = current is not None or offset > 0
        has_previous = has_following
        next_position = current if has_next else None
        previous_position = following if has_previous else None
    else:
        has_next = has_following
        has_previous = current is not None or offset > 0
        next_position = following if has_next else None
        previous_position = current if has_previous else None

    links = _Links(rows, cursor, page_size, position_of, has_next, has_previous)
    return Page(
        rows=rows,
        next=links.next(next_position, previous_position) if has_next else None,
        previous=links.previous(next_position, previous_position) if has_previous else None,
    )


def _marker(positions: Iterator[str], compare: str | None) -> tuple[int, str | None, bool]:
    """DRF's scan for a link position: walk the page from the link's side, skipping rows
    that share their position with the row beyond them.  Returns (offset, position,
    whether a row with a unique position was found).  Lazy: with unique orderings only
    the first row's position is ever computed."""
    offset, position = 0, None
    for offset, position in enumerate(positions):
        if position != compare:
            return offset, position, True
        compare = position
    return (offset + 1 if position is not None else 0), position, False


@dataclass(frozen=True)
class _Links(Generic[RowT]):
    """DRF's ``get_next_link`` / ``get_previous_link`` (offset handling included, although
    the unique orderings of DIALS never need an offset)."""

    rows: list[RowT]
    cursor: Cursor | None
    page_size: int
    position_of: Callable[[RowT], str]
    has_next: bool
    has_previous: bool

    def next(self, next_position: str | None, previous_position: str | None) -> Cursor:
        """The cursor of the ``next`` link."""
        rows, cursor = self.rows, self.cursor
        compare = next_position
        if rows and cursor is not None and cursor.reverse and cursor.offset != 0:
            compare = self.position_of(rows[-1])
        positions = (self.position_of(row) for row in reversed(rows))
        offset, position, unique = _marker(positions, compare)
        if rows and not unique:
            if not self.has_previous:
                offset, position = self.page_size, None
            elif cursor is not None and cursor.reverse:
                offset, position = 0, previous_position
            else:
                offset = (cursor.offset if cursor else 0) + self.page_size
                position = previous_position
        if not rows:
            position = next_position
        return Cursor(offset=offset, reverse=False, position=position)

    def previous(self, next_position: str | None, previous_position: str | None) -> Cursor:
        """The cursor of the ``previous`` link (a reverse cursor)."""
        rows, cursor = self.rows, self.cursor
        compare = previous_position
        if rows and cursor is not None and not cursor.reverse and cursor.offset != 0:
            compare = self.position_of(rows[0])
        positions = (self.position_of(row) for row in rows)
        offset, position, unique = _marker(positions, compare)
        if rows and not unique:
            if not self.has_next:
                offset, position = self.page_size, None
            elif cursor is not None and cursor.reverse:
                offset = cursor.offset + self.page_size
                position = next_position
            else:
                offset, position = 0, next_position
        if not rows:
            position = previous_position
        return Cursor(offset=offset, reverse=True, position=position)
