"""``oms-proxy/`` (CONTRACT §7.10): an offline OMS answering from ``local_oms_records``.

The real service forwards the query to CMS OMS and returns its JSON:API document.  Here
the records of the requested ``endpoint`` are read from the service database, filtered
(``filter[attr][OP]=value``, OP in EQ NEQ LT GT LE GE LIKE; ``filter[attr]=v`` means EQ),
sorted (``sort=a,-b``), trimmed (``fields=a,b``) and paged (``page[offset]``,
``page[limit]``); ``meta.totalResourceCount`` counts the matches before paging.

The records are the synthetic ones of the seed and those loaded with ``dials-local
ingest-oms`` (``dials_local.data.oms_ingest``: an ingested run replaces the synthetic
records of that run).  Attributes stored as OMS' ``{"value": v, "units": u}`` objects are
filtered and sorted by ``v``.  ``EQ`` filters on ``run_number`` and ``fill_number`` are
also given to the database (JSON functions of SQLite and PostgreSQL), so that one run's
lumisections are found without reading the whole endpoint; the exact test stays here.

An endpoint without records answers 404 naming the available ones: DIALS answers 500
there (CONTRACT §7.10), but dials-local never answers 5xx to input (see docs/oms.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, cast, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from starlette.responses import Response

from dials_local.api.context import Call, ErrorAnswer
from dials_local.db.schema import oms_records
from dials_local.listing.params import query_param_setter
from dials_local.render import json_response

DEFAULT_LIMIT = 10
MAX_LIMIT = 100_000

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
    return predicates


#: Attributes whose ``EQ`` filters the database applies first (see the module's doc).
_PUSHED_DOWN = ("run_number", "fill_number")


def _prefilter(dialect: str, attribute: str, raw: str) -> ColumnElement[bool] | None:
    """A database condition keeping at least every record ``filter[attribute][EQ]=raw``
    keeps: the number equal, or an attribute that is not a JSON number (left to the exact
    test).  None when ``raw`` is not an integer."""
    try:
        number = int(raw.strip())
    except ValueError:
        return None
    if not -(2**53) < number < 2**53:  # exact in a JSON double on both databases
        return None
    if dialect == "sqlite":
        path = f"$.{attribute}"
        kind = func.json_type(oms_records.c.attributes, path)
        return or_(
            func.json_extract(oms_records.c.attributes, path) == number,
            kind.not_in(("integer", "real")),
        )
    if dialect == "postgresql":
        item = cast(oms_records.c.attributes, JSONB)[attribute]
        return or_(item == cast(number, JSONB), func.jsonb_typeof(item) != "number")
    return None


def _pushed_down(call: Call, dialect: str, query: Select[Any]) -> Select[Any]:
    """``query`` narrowed by the ``EQ`` filters the database can apply."""
    for name, raw in call.params.pairs:
        match = _FILTER.match(name)
        if match is None or match.group(1) not in _PUSHED_DOWN:
            continue
        if (match.group(2) or "EQ").upper() == "EQ":
            condition = _prefilter(dialect, match.group(1), raw)
            if condition is not None:
                query = query.where(condition)
    return query


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
        query = (
            select(oms_records.c.resource_id, oms_records.c.resource_type, oms_records.c.attributes)
            .where(oms_records.c.endpoint == endpoint)
            .order_by(oms_records.c.position)
        )
        rows = conn.execute(_pushed_down(call, conn.dialect.name, query)).all()
        if not rows:
            rows = conn.execute(query.limit(1)).all()  # the filters matched nothing
        if not rows:
            known = conn.execute(select(oms_records.c.endpoint).distinct()).scalars().all()
            raise ErrorAnswer(
                404,
                {
                    "detail": f"OMS endpoint '{endpoint}' is not available in dials-local",
                    "available": sorted(known),
                },
            )
    records = [(rid, rtype, orjson.loads(attrs)) for rid, rtype, attrs in rows]
    records = [r for r in records if all(test(r[2]) for test in predicates)]
    if call.params.get("sort"):
        _sort(records, call.params.get("sort") or "")
    wanted = call.params.get("fields") or call.params.get(f"fields[{rows[0][1]}]")
    keep = {name for name in wanted.split(",") if name} if wanted else None

    total = len(records)
    page = records[offset : offset + limit]
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
    sample = records[0][2] if records else orjson.loads(rows[0][2])
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
