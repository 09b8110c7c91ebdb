"""``oms-proxy/`` (CONTRACT §7.10): an offline OMS answering from ``local_oms_records``.

The real service forwards the query to CMS OMS and returns its JSON:API document.  Here
the records of the requested ``endpoint`` are read from the service database, filtered
(``filter[attr][OP]=value``, OP in EQ NEQ LT GT LE GE LIKE; ``filter[attr]=v`` means EQ),
sorted (``sort=a,-b``), trimmed (``fields=a,b``) and paged (``page[offset]``,
``page[limit]``); ``meta.totalResourceCount`` counts the matches before paging.

The records are the synthetic ones of the seed and those loaded with ``dials-local
ingest-oms`` (``dials_local.data.oms_ingest``: an ingested run replaces the synthetic
records of that run).  Attributes stored as OMS' ``{"value": v, "units": u}`` objects are
filtered and sorted by ``v``.  Comparisons of ``run_number`` and ``fill_number`` with
integers are also given to the database, which answers them from indexes on those
attributes of the JSON text (``db/schema.py``), so that one run's lumisections cost a
lookup, not a read of the whole endpoint; the exact test stays here, on what the database
returns.  Without filters or ``sort``, the database counts and pages.  At most
:data:`MAX_FILTERS` filters, and their test counts against the request's time budget.

An endpoint without records answers 404 naming the available ones: DIALS answers 500
there (CONTRACT §7.10), but dials-local never answers 5xx to input (see docs/oms.md).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    and_,
    cast,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from starlette.responses import Response

from dials_local.api.context import Call, ErrorAnswer, over_budget
from dials_local.db.budget import past
from dials_local.db.schema import (
    OMS_INDEXED_ATTRIBUTES,
    OMS_OTHER_KINDS,
    oms_attribute,
    oms_attribute_kind,
    oms_records,
)
from dials_local.listing.params import query_param_setter
from dials_local.render import json_response

DEFAULT_LIMIT = 10
MAX_LIMIT = 100_000
#: ``filter[...]`` parameters of one request, at most: each is tested on every record the
#: database returns, so a thousand of them over a large endpoint would run for minutes.
MAX_FILTERS = 100

_FILTER = re.compile(r"^filter\[([^\]]+)\](?:\[([A-Za-z]+)\])?$")
_OPERATORS = ("EQ", "NEQ", "LT", "GT", "LE", "GE", "LIKE", "CT")

Predicate = Callable[[dict[str, Any]], bool]


def _bad_request(detail: str) -> ErrorAnswer:
    """A 400 for a malformed OMS query (DIALS answers 500 there)."""
    return ErrorAnswer(400, {"detail": detail})


def _value(attrs: dict[str, Any], attribute: str) -> Any:
    """The attribute's value; OMS' ``{"value": v, "units": u}`` objects give ``v``."""
    value = attrs.get(attribute)
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _coerce(sample: object, raw: str) -> object:
    """The filter value as the type of the attribute it is compared with."""
    if isinstance(sample, bool):
        return raw.strip().lower() in ("true", "1")
    if isinstance(sample, (int, float)):
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            return None  # a number attribute never equals a non-number
    return raw


def _fixed(segment: str) -> re.Pattern[str]:
    """A ``%``-free piece of a LIKE pattern (``_`` = any one character) as a regex of
    fixed length: no quantifier, so matching it never backtracks."""
    return re.compile("".join("." if ch == "_" else re.escape(ch) for ch in segment), re.DOTALL)


def _like(pattern: str) -> Callable[[str], bool]:
    """SQL ``LIKE`` (``%`` any run, ``_`` one character) as a matcher in linear time.

    A translation to ``.*`` under a full match backtracks polynomially in the number of
    ``%`` (``%%%%%%%%!`` took 37 s on one attribute).  Instead the pattern is split at its
    ``%``: the first and last pieces must match at the ends, and every piece in between
    is searched for left to right, each at the leftmost place after the previous one
    (taking the leftmost place never loses a match the later pieces could use).
    """
    pieces = pattern.split("%")
    if len(pieces) == 1:
        whole = _fixed(pattern)
        return lambda value: whole.fullmatch(value) is not None
    head, tail = _fixed(pieces[0]), _fixed(pieces[-1])
    head_size, tail_size = len(pieces[0]), len(pieces[-1])
    middle = [_fixed(piece) for piece in pieces[1:-1] if piece]  # "%%" == "%"

    def matches(value: str) -> bool:
        end = len(value) - tail_size
        if end < head_size or head.match(value) is None or tail.match(value, end) is None:
            return False
        position = head_size
        for piece in middle:
            found = piece.search(value, position, end)
            if found is None:
                return False
            position = found.end()
        return True

    return matches


def _compare(op: str, value: object, wanted: object) -> bool:
    """``value OP wanted``; incomparable types never match."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = Decimal(str(value))
    if op == "EQ":
        return bool(value == wanted)
    if op == "NEQ":
        return bool(value != wanted)
    try:
        if op == "LT":
            return bool(value < wanted)  # type: ignore[operator]
        if op == "GT":
            return bool(value > wanted)  # type: ignore[operator]
        if op == "LE":
            return bool(value <= wanted)  # type: ignore[operator]
        if op == "GE":
            return bool(value >= wanted)  # type: ignore[operator]
    except TypeError:
        return False
    return False


def _predicate(attribute: str, op: str, raw: str) -> Predicate:
    """The test of one ``filter[attribute][OP]=raw`` parameter."""
    if op == "LIKE":
        like = _like(raw)

        def like_test(attrs: dict[str, Any]) -> bool:
            value = _value(attrs, attribute)
            return isinstance(value, str) and like(value)

        return like_test
    if op == "CT":  # OMS "contains"

        def contains(attrs: dict[str, Any]) -> bool:
            value = _value(attrs, attribute)
            return isinstance(value, str) and raw in value

        return contains

    def test(attrs: dict[str, Any]) -> bool:
        value = _value(attrs, attribute)
        if value is None:
            return False
        wanted = _coerce(value, raw)
        return wanted is not None and _compare(op, value, wanted)

    return test


def _predicates(call: Call) -> list[Predicate]:
    """Tests of every ``filter[...]`` parameter (all must hold)."""
    predicates = []
    for name, raw in call.params.pairs:
        match = _FILTER.match(name)
        if match is None:
            continue
        attribute, op = match.group(1), (match.group(2) or "EQ").upper()
        if op not in _OPERATORS:
            raise _bad_request(f"Unknown filter operator {op!r} in {name!r}")
        predicates.append(_predicate(attribute, op, raw))
    if len(predicates) > MAX_FILTERS:
        raise _bad_request(
            f"At most {MAX_FILTERS} filter[...] parameters are allowed, not {len(predicates)}."
        )
    return predicates


def _number(raw: str) -> int | None:
    """The filter value as an integer a JSON double holds exactly on both databases, or
    None (then the filter is left to the exact test alone)."""
    try:
        number = int(raw.strip())
    except ValueError:
        return None
    return number if -(2**53) < number < 2**53 else None


#: The comparisons the database can narrow records by, as SQL operators.
_SQL_COMPARISONS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "EQ": operator.eq,
    "LT": operator.lt,
    "LE": operator.le,
    "GT": operator.gt,
    "GE": operator.ge,
}


def _indexed_filters(params: Iterable[tuple[str, str]]) -> list[tuple[str, list[tuple[str, int]]]]:
    """The comparisons with an integer (``EQ LT LE GT GE``) of each indexed attribute,
    ``(attribute, [(op, number), ...])``, attributes with an ``EQ`` first (the most
    selective lookup leads the query)."""
    found: dict[str, list[tuple[str, int]]] = {}
    for name, raw in params:
        match = _FILTER.match(name)
        if match is None or match.group(1) not in OMS_INDEXED_ATTRIBUTES:
            continue
        op, number = (match.group(2) or "EQ").upper(), _number(raw)
        if op in _SQL_COMPARISONS and number is not None:
            found.setdefault(match.group(1), []).append((op, number))
    return sorted(found.items(), key=lambda item: all(op != "EQ" for op, _ in item[1]))


def _numbers(
    dialect: str, attribute: str, comparisons: list[tuple[str, int]]
) -> ColumnElement[bool]:
    """The attribute is a JSON number that satisfies every comparison (an index serves
    them: one lookup, or one range scan)."""
    value = oms_attribute(attribute, dialect)
    if dialect == "postgresql":
        conditions = [_SQL_COMPARISONS[op](value, cast(n, JSONB)) for op, n in comparisons]
        if any(op != "EQ" for op, _ in comparisons):
            # JSONB orders every kind (strings < numbers < booleans < arrays < objects): a
            # range alone reaches past the numbers; an equality does not.
            conditions.append(oms_attribute_kind(attribute, dialect) == "number")
        return and_(*conditions)
    # SQLite's json_extract reads false/true as 0/1 and sorts text after numbers: ask for
    # a number too (checked on the rows the index finds).
    conditions = [_SQL_COMPARISONS[op](value, n) for op, n in comparisons]
    kind = oms_attribute_kind(attribute, dialect)
    return and_(*conditions, kind.in_(("integer", "real")))


def _other_kind(dialect: str, attribute: str) -> ColumnElement[bool]:
    """The attribute is a value other than a number that the exact test may still keep."""
    return oms_attribute_kind(attribute, dialect).in_(OMS_OTHER_KINDS[dialect])


def _rows_of(endpoint: str) -> Select[Any]:
    """The rows ``(position, resource_id, resource_type, attributes)`` of ``endpoint``."""
    columns = oms_records.c
    query = select(columns.position, columns.resource_id, columns.resource_type, columns.attributes)
    return query.where(columns.endpoint == endpoint)


def candidates(
    endpoint: str, params: Iterable[tuple[str, str]], dialect: str
) -> Select[Any] | CompoundSelect[Any]:
    """The rows of ``endpoint`` (:func:`_rows_of`) narrowed, in the database, to a superset
    of the records that the comparisons of run and fill numbers with integers among
    ``params`` keep (``EQ LT LE GT GE``); the exact test stays in Python.

    The records of the first attribute's comparisons are two index lookups: a number
    that satisfies them all, or a value of a kind the exact test reads differently
    (strings, booleans, ``{"value": v}`` objects), as a ``UNION ALL`` of disjoint parts,
    so that each part is planned on its own index (an ``OR`` of the two makes both
    databases read the whole endpoint).  The other attribute's comparisons narrow both
    parts the same way.  The union's rows
    come in no particular order (ordering it in SQL makes SQLite walk the primary key
    instead of the indexes): the caller sorts them.  Without such a filter, the endpoint's
    rows in order.
    """
    query = _rows_of(endpoint)
    filters = _indexed_filters(params)
    if not filters or dialect not in OMS_OTHER_KINDS:
        return query.order_by(oms_records.c.position)
    narrower = [
        or_(_numbers(dialect, attribute, comparisons), _other_kind(dialect, attribute))
        for attribute, comparisons in filters[1:]
    ]
    attribute, comparisons = filters[0]
    return union_all(
        query.where(_numbers(dialect, attribute, comparisons), *narrower),
        query.where(_other_kind(dialect, attribute), *narrower),
    )


def _page_param(call: Call, name: str, default: int, low: int, high: int) -> int:
    """``page[name]`` as an integer clamped to [low, high]."""
    raw = call.params.get(f"page[{name}]")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"page[{name}] must be an integer") from None
    return max(low, min(high, value))


def _sort(records: list[tuple[str, str, dict[str, Any]]], spec: str) -> None:
    """Sort in place by ``sort=a,-b`` (stable sorts, last key first)."""
    for key in reversed([k for k in spec.split(",") if k.strip()]):
        descending = key.startswith("-")
        name = key.lstrip("-+").strip()
        present = [r for r in records if _value(r[2], name) is not None]
        missing = [r for r in records if _value(r[2], name) is None]
        try:
            present.sort(key=lambda r: _value(r[2], name), reverse=descending)
        except TypeError:  # mixed types (ingested records): by type name, then value
            present.sort(
                key=lambda r: (type(_value(r[2], name)).__name__, str(_value(r[2], name))),
                reverse=descending,
            )
        records[:] = present + missing  # nulls last in both directions


def _json_type(value: object) -> str:
    """OMS' type name of an attribute value (for ``meta.fields``)."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Double"
    return "String"


#: Records tested between two checks of the request's time budget.
_BUDGET_CHECK_EVERY = 256

#: A record as the proxy answers it: (id, type, attributes).
Record = tuple[str, str, dict[str, Any]]


def _record(row: Any) -> Record:
    _, resource_id, resource_type, attributes = row
    return resource_id, resource_type, orjson.loads(attributes)


def _first(conn: Connection, endpoint: str) -> Record | None:
    """The endpoint's first record, None when it has none (an unknown endpoint)."""
    row = conn.execute(_rows_of(endpoint).order_by(oms_records.c.position).limit(1)).first()
    return None if row is None else _record(row)


def _filtered(
    conn: Connection,
    endpoint: str,
    call: Call,
    predicates: list[Predicate],
    offset: int,
    limit: int,
) -> tuple[int, list[Record], Record | None]:
    """The matching records' count, the page of them, and the record ``meta.fields``
    describes (the first match, else the first candidate or the endpoint's first record):
    every candidate is read and tested here (and sorted, with ``sort``)."""
    statement = candidates(endpoint, call.params.pairs, conn.dialect.name)
    rows: Sequence[Any] = conn.execute(statement).all()
    if isinstance(statement, CompoundSelect):
        rows = sorted(rows, key=operator.itemgetter(0))  # by position
    records = [_record(row) for row in rows]
    matching = []
    for index, record in enumerate(records):
        # Python work the database's budget does not see: thousands of filters over a
        # large endpoint would run for minutes.
        if index % _BUDGET_CHECK_EVERY == 0 and past(call.deadline):
            raise over_budget(call.budget, "fewer filters")
        if all(test(record[2]) for test in predicates):
            matching.append(record)
    if call.params.get("sort"):
        _sort(matching, call.params.get("sort") or "")
    head = matching[0] if matching else records[0] if records else _first(conn, endpoint)
    return len(matching), matching[offset : offset + limit], head


def _unfiltered(
    conn: Connection, endpoint: str, offset: int, limit: int
) -> tuple[int, list[Record], Record | None]:
    """:func:`_filtered` without filters or sort: the database counts and pages, and only
    the page's records are read (a walk of a large endpoint no longer reads all of it
    per page)."""
    total = conn.execute(
        select(func.count()).select_from(oms_records).where(oms_records.c.endpoint == endpoint)
    ).scalar_one()
    query = _rows_of(endpoint).order_by(oms_records.c.position).offset(offset).limit(limit)
    page = [_record(row) for row in conn.execute(query)]
    head = page[0] if page and offset == 0 else _first(conn, endpoint)
    return int(total), page, head


def oms_proxy(call: Call) -> Response:
    """The JSON:API document of one OMS endpoint."""
    endpoint = call.params.get("endpoint")
    if not endpoint:
        raise _bad_request("Query parameter 'endpoint' is required (e.g. endpoint=runs).")
    if "\x00" in endpoint:  # PostgreSQL text cannot hold NUL: refused before the query
        raise _bad_request("Null characters are not allowed.")
    predicates = _predicates(call)
    offset = _page_param(call, "offset", 0, 0, 2**31)
    limit = _page_param(call, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    with call.database.service_engine().connect() as conn:
        if predicates or call.params.get("sort"):
            total, page, head = _filtered(conn, endpoint, call, predicates, offset, limit)
        else:
            total, page, head = _unfiltered(conn, endpoint, offset, limit)
        if head is None:
            known = conn.execute(select(oms_records.c.endpoint).distinct()).scalars().all()
            raise ErrorAnswer(
                404,
                {
                    "detail": f"OMS endpoint '{endpoint}' is not available in dials-local",
                    "available": sorted(known),
                },
            )
    wanted = call.params.get("fields") or call.params.get(f"fields[{head[1]}]")
    keep = {name for name in wanted.split(",") if name} if wanted else None

    data = [
        {
            "id": rid,
            "type": rtype,
            "attributes": attrs if keep is None else {k: v for k, v in attrs.items() if k in keep},
            "links": {"self": f"{call.base_url}api/v1/oms-proxy/?endpoint={endpoint}&id={rid}"},
        }
        for rid, rtype, attrs in page
    ]

    with_offset = query_param_setter(call.url, "page[offset]")

    def at(position: int) -> str:
        return with_offset(str(position))

    last = max(0, (total - 1) // limit * limit)
    sample = head[2]
    document = {
        "data": data,
        "links": {
            "first": at(0),
            "prev": at(max(0, offset - limit)) if offset > 0 else None,
            "next": at(offset + limit) if offset + limit < total else None,
            "last": at(last),
        },
        "meta": {
            "totalResourceCount": total,
            "fields": {name: {"type": _json_type(v)} for name, v in sample.items()},
        },
    }
    return json_response(document)
