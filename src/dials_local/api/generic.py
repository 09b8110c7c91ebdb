"""Generic handlers built from a :class:`~dials_local.listing.declaration.Resource`:
list, count, standard retrieve and composite retrieve.  Each is thin: parse filters ->
query -> page -> respond."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select
from sqlalchemy.exc import DBAPIError
from starlette.responses import Response

from dials_local.api.context import (
    INVALID_CURSOR,
    NOT_FOUND,
    Call,
    ErrorAnswer,
    not_found,
    regex_errors_as_400,
)
from dials_local.db.budget import BudgetExceeded, past
from dials_local.listing.cursor import InvalidCursor, decode_cursor, encode_cursor
from dials_local.listing.declaration import CompositeRetrieve, Resource, StandardRetrieve
from dials_local.listing.filters import (
    Filter,
    FilterValidationError,
    conditions,
    first_page_conditions,
    in_column_range,
    parse_filters,
    pinned_columns,
    regex_params,
    resolve_names,
)
from dials_local.listing.pagination import Fetch, Page, paginate
from dials_local.listing.params import page_size, query_param_setter, sparse_fields
from dials_local.listing.patterns import TOO_SLOW, PatternTooSlow, is_too_slow
from dials_local.listing.query import ResourceQuery, count, fetch_raw
from dials_local.render import json_response

Handler = Callable[[Call], Response]

#: ``DIALS_LOCAL_BULK_RENDER=0`` serves list pages through the reference path (SQLAlchemy
#: Rows rendered one by one by :meth:`ResourceQuery.render`) instead of the bulk one
#: (DBAPI rows, cached SQL, a generated renderer).  Read when the handlers are built (at
#: app creation), so tests and ``bench/server_pages.py`` can run both side by side.
BULK_RENDER_ENV = "DIALS_LOCAL_BULK_RENDER"


def bulk_render_enabled() -> bool:
    """Whether list pages are rendered in bulk (the default)."""
    return os.environ.get(BULK_RENDER_ENV, "1").strip() != "0"


@contextmanager
def _regex_errors(call: Call, params: Sequence[str]) -> Iterator[None]:
    """A pattern the database rejects, or one that exceeds the regex time budget, is a
    400 naming the regex parameters in use (CONTRACT §2.3 shape).  When the request's
    own, longer budget ran out too, the request is over budget instead (504)."""
    try:
        with regex_errors_as_400(params):
            yield
    except PatternTooSlow as error:
        if past(call.deadline):
            raise BudgetExceeded from None
        names = [error.param] if error.param else params
        raise ErrorAnswer(400, {name: [TOO_SLOW] for name in names}) from None
    except DBAPIError as error:
        if not (params and is_too_slow(error)):
            raise
        if past(call.deadline):
            raise BudgetExceeded from None
        raise ErrorAnswer(400, {name: [TOO_SLOW] for name in params}) from None


def _parsed_filters(resource: Resource, call: Call) -> list[tuple[Filter, Any]]:
    """The request's filters, or a 400 with every malformed parameter."""
    try:
        return parse_filters(resource.filters, call.params)
    except FilterValidationError as error:
        raise ErrorAnswer(400, error.errors) from None


@lru_cache(maxsize=256)
def _cached_query(resource: Resource, names: tuple[str, ...]) -> ResourceQuery:
    """Building the SELECT costs more than running it on a small page; sparse
    fieldsets make several variants per resource, hence a bounded cache."""
    return ResourceQuery(resource, names)


def _query_for(resource: Resource, call: Call) -> ResourceQuery:
    """The query object for the output fields the request selects (``fields``)."""
    return _cached_query(resource, sparse_fields(call.params, resource.field_names))


def list_handler(resource: Resource) -> Handler:
    """``GET <prefix>/``: filters, then a cursor page (or a plain array if unpaginated)."""

    if not bulk_render_enabled():
        return _reference_list_handler(resource)

    def handle(call: Call) -> Response:
        parsed = _parsed_filters(resource, call)
        query = _query_for(resource, call)
        with call.connect() as conn, _regex_errors(call, regex_params(parsed)):
            parsed = resolve_names(parsed, conn)
            where = conditions(parsed, resource.table, conn)
            dialect = conn.dialect
            if not resource.paginated:
                rows, raw = fetch_raw(conn, query.all_statement(where))
                return json_response(list(map(query.renderer(dialect, raw), rows)))
            fetched: list[tuple[Any, ...] | None] = []
            statement = _page_statements(resource, query, parsed, where, conn)

            def fetch(
                offset: int, reverse: bool, position: str | None, limit: int
            ) -> list[Sequence[Any]]:
                rows, raw = fetch_raw(conn, statement(offset, reverse, position, limit))
                fetched.append(raw)
                return rows

            page = _paginate(call, query, fetch)
        return _page_response(call, page, list(map(query.renderer(dialect, fetched[0]), page.rows)))

    return handle


def _reference_list_handler(resource: Resource) -> Handler:
    """The list handler rendering SQLAlchemy Rows one at a time: the reference that the
    bulk path must match byte for byte (``DIALS_LOCAL_BULK_RENDER=0``)."""

    def handle(call: Call) -> Response:
        parsed = _parsed_filters(resource, call)
        query = _query_for(resource, call)
        with call.connect() as conn, _regex_errors(call, regex_params(parsed)):
            parsed = resolve_names(parsed, conn)
            where = conditions(parsed, resource.table, conn)
            if not resource.paginated:
                return json_response([query.render(row) for row in query.all(conn, where)])
            statement = _page_statements(resource, query, parsed, where, conn)
            page = _paginate(
                call,
                query,
                lambda offset, reverse, position, limit: conn.execute(
                    statement(offset, reverse, position, limit)
                ).all(),
            )
        return _page_response(call, page, [query.render(row) for row in page.rows])

    return handle


def _page_statements(
    resource: Resource,
    query: ResourceQuery,
    parsed: list[tuple[Filter, Any]],
    where: list[ColumnElement[bool]],
    conn: Connection,
) -> Callable[[int, bool, str | None, int], Select[Any]]:
    """``statement(offset, reverse, position, limit)``: the SELECT of a page of the list
    that ``where`` (from the filters ``parsed``) selects."""
    pinned = pinned_columns(parsed, resource.table)

    def statement(offset: int, reverse: bool, position: str | None, limit: int) -> Select[Any]:
        first = first_page_conditions(parsed, resource.table, conn) if position is None else []
        return query.page_statement(where, offset, reverse, position, limit, pinned, first)

    return statement


def _paginate(call: Call, query: ResourceQuery, fetch: Fetch[Any]) -> Page[Any]:
    """One cursor page; an undecodable ``next_token`` is a 404 ``Invalid cursor``."""
    token = call.params.get("next_token")
    try:
        cursor = decode_cursor(token) if token is not None else None
        return paginate(fetch, cursor, page_size(call.params), query.position)
    except InvalidCursor:
        raise INVALID_CURSOR from None


def _page_response(call: Call, page: Page[Any], results: list[dict[str, Any]]) -> Response:
    """The DRF envelope: absolute ``next``/``previous`` URLs carrying the page's cursors
    (``null`` where there is none), then the results."""
    links: dict[str, str | None] = {"next": None, "previous": None}
    if page.next is not None or page.previous is not None:
        with_token = query_param_setter(call.url, "next_token")
        for name, cursor in (("next", page.next), ("previous", page.previous)):
            if cursor is not None:
                links[name] = with_token(encode_cursor(cursor))
    return json_response({**links, "results": results})


def count_handler(resource: Resource) -> Handler:
    """``GET <prefix>/count/``: ``{"count": n}`` with the list filters."""

    def handle(call: Call) -> Response:
        parsed = _parsed_filters(resource, call)
        with call.connect() as conn, _regex_errors(call, regex_params(parsed)):
            where = conditions(resolve_names(parsed, conn), resource.table, conn)
            total = count(conn, resource, where)
        return json_response({"count": total})

    return handle


def standard_retrieve_handler(resource: Resource, retrieve: StandardRetrieve) -> Handler:
    """``GET <prefix>/{pk}/``: the list filters apply too; ``fields`` is honoured."""
    table = resource.table

    def handle(call: Call) -> Response:
        parsed = _parsed_filters(resource, call)
        try:
            pk = int(call.path["pk"])
        except ValueError:
            raise NOT_FOUND from None
        if not in_column_range(table, retrieve.lookup, pk):
            raise not_found(resource.model_name)
        query = _query_for(resource, call)
        with call.connect() as conn, _regex_errors(call, regex_params(parsed)):
            where = [*conditions(parsed, table, conn), table.c[retrieve.lookup] == pk]
            row = query.first(conn, where)
        if row is None:
            raise not_found(resource.model_name)
        return json_response(query.render(row))

    return handle


def composite_retrieve_handler(resource: Resource, keys: tuple[str, ...]) -> Handler:
    """``GET <prefix>/{k1}/.../{kn}/``: query parameters are ignored (CONTRACT §9)."""
    table = resource.table
    query = ResourceQuery(resource, resource.field_names)

    def handle(call: Call) -> Response:
        values = [int(call.path[key]) for key in keys]  # the route only matches digits
        if not all(in_column_range(table, k, v) for k, v in zip(keys, values)):
            raise not_found(resource.model_name)
        with call.connect() as conn:
            row = query.first(conn, [table.c[k] == v for k, v in zip(keys, values)])
        if row is None:
            raise not_found(resource.model_name)
        return json_response(query.render(row))

    return handle


def retrieve_keys(resource: Resource) -> tuple[tuple[str, ...], ...]:
    """The key tuples of a resource's composite retrieve routes (none if standard)."""
    retrieve = resource.retrieve
    return retrieve.keys if isinstance(retrieve, CompositeRetrieve) else ()
