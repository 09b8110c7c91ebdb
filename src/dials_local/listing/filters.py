"""Filter kinds of the DIALS filtersets (CONTRACT §6) and the code that applies them.

Each :class:`Filter` owns exactly one query parameter.  Applying a route's filters is two
steps, as in django-filter: every parameter is parsed first (all problems are reported
together, in declaration order), then each parsed value becomes one SQL condition.

Kinds:

* :class:`NumberFilter` - exact / ``gte`` / ``lte`` / ``in`` on an integer column; values
  are decimals truncated toward zero (``1.0`` == ``1``; ``1.5`` -> ``1``; ``x`` -> "Enter
  a number."; beyond 1e50 in magnitude -> "Ensure this value is less than or equal to
  1e+50.").
* :class:`TextFilter` - exact (case-sensitive) or ``regex`` (unanchored search, bounded in
  time, see :mod:`dials_local.listing.patterns`).
* :class:`BooleanFilter` - ``true/false/1/0`` (case-insensitive), anything else ignored.
* :class:`NameLookupFilter` - a name (``dataset``, ``me``, ``logical_file_name``) resolved
  to ids in the same workspace by a subquery (an exact name of one id is looked up first,
  :func:`resolve_names`).
* :class:`JsonListFilter` - membership in a JSON list column (ML model signatures, tags),
  resolved in Python because SQLite and PostgreSQL disagree on JSON functions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

import orjson
import regex
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Float,
    Select,
    Table,
    false,
    func,
    literal,
    select,
)

from dials_local.db.schema import integer_range
from dials_local.listing import patterns
from dials_local.listing.params import QueryParams

ENTER_A_NUMBER = "Enter a number."
#: django-filter's ``NumberFilter`` validator (``MaxValueValidator(1e50)``).
TOO_LARGE = "Ensure this value is less than or equal to 1e+50."
#: Django's ``ProhibitNullCharactersValidator`` on every ``CharField``.
NULL_CHARACTERS = "Null characters are not allowed."
#: Largest magnitude a number filter accepts: bounding it keeps ``int()`` cheap
#: (``1e1000000`` would be a million-digit integer).
_MAX_MAGNITUDE = Decimal("1e50")

NumberOp = Literal["exact", "gte", "lte", "in"]
TextOp = Literal["exact", "regex"]


class FilterError(ValueError):
    """A parameter value that cannot be parsed; ``message`` goes into the 400 body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FilterValidationError(ValueError):
    """All parse errors of one request: ``{"param": ["message"], ...}`` (CONTRACT §2.3)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Filter(ABC):
    """One query parameter of a filterset."""

    #: The query parameter name, e.g. ``run_number__gte``.
    param: str

    #: OpenAPI type of the parameter.
    schema_type = "string"

    def describe(self) -> str:
        """What the parameter does, in a few words (for the OpenAPI document)."""
        return self.param

    @abstractmethod
    def parse(self, raw: str) -> Any:
        """The parsed value, or ``None`` when the value means "no filter".

        Raises :class:`FilterError` for a malformed value.
        """

    @abstractmethod
    def condition(self, value: Any, table: Table, conn: Connection) -> ColumnElement[bool]:
        """The SQL condition on ``table`` for a parsed (non-``None``) value."""


def _column_range(table: Table, column: str) -> tuple[int, int]:
    """The value range of an integer column (INT or BIGINT)."""
    return integer_range(table.c[column])


def in_column_range(table: Table, column: str, value: int) -> bool:
    """Whether an integer column (INT or BIGINT) can hold ``value``: a value outside the
    range matches no row (PostgreSQL would raise "out of range" instead)."""
    low, high = _column_range(table, column)
    return low <= value <= high


#: Columns where one value covers a large share of a histogram table (an ME has a row in
#: nearly every lumisection).  On SQLite, the index on such a column followed by a sort of
#: every matching row loses badly to walking the primary key in cursor order (measured on
#: the large data set: 330 ms against 5 ms for a 500-row page of one ME among 1.6 M th1
#: rows), yet SQLite's planner, with the bounded statistics the server collects, picks the
#: index.  ``column + 0`` keeps the condition off that index; PostgreSQL plans it well.
#: The exception is a walk of one ME, see :func:`_walks_me_first`.
_WIDE_COLUMNS = frozenset({"me_id"})

#: Columns whose own indexes answer an equality better than the ME-first key does: the key
#: would read every row of the ME to find the few the filter keeps (one run of a common ME
#: on the large data set: 11 ms against 0.8 ms for the page).
_NARROWING_COLUMNS = frozenset({"run_number", "ls_number", "file_id"})
#: Datasets of one ME that the first page of a run range is sought in, at most (one bound
#: parameter each, within every SQLite's limit of 999).
_MAX_SOUGHT_DATASETS = 500


def filter_column(table: Table, name: str, conn: Connection) -> ColumnElement[Any]:
    """``table.c[name]`` as a filter condition should use it on ``conn``'s database."""
    column = table.c[name]
    leading = next(iter(table.primary_key.columns), None)
    if (
        conn.dialect.name == "sqlite"
        and name in _WIDE_COLUMNS
        and leading is not None
        and leading.name != name
    ):
        return column + 0
    return column


def parse_decimal(raw: str) -> Decimal:
    """A django ``DecimalField`` value: whitespace, ``+`` and exponents are accepted."""
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise FilterError(ENTER_A_NUMBER) from None
    if not value.is_finite():
        raise FilterError(ENTER_A_NUMBER)
    return value


def parse_number(raw: str) -> int:
    """A number filter value as the integer the database compares (CONTRACT §6).

    Django validates a ``DecimalField`` (at most 1e50 in magnitude), then the integer
    column's ``get_prep_value`` truncates it toward zero.  Only the Decimal's exponent is
    looked at before the bound check, so ``1e1000000`` costs no big-integer arithmetic.
    """
    value = parse_decimal(raw)
    if value.copy_abs() > _MAX_MAGNITUDE:  # copy_abs: no context, so no Overflow
        raise FilterError(TOO_LARGE)
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def _exact_int(value: int, bounds: tuple[int, int]) -> int | None:
    """``value``, or ``None`` if no row of the column can equal it."""
    return value if bounds[0] <= value <= bounds[1] else None


@dataclass(frozen=True)
class NumberFilter(Filter):
    """A numeric comparison on an integer column (``column`` defaults to the parameter's
    base name, e.g. ``run_number__gte`` -> ``run_number``)."""

    op: NumberOp = "exact"
    column: str = ""

    schema_type = "number"

    @property
    def target(self) -> str:
        return self.column or self.param.split("__")[0]

    def describe(self) -> str:
        return {
            "exact": f"{self.target} equals the value",
            "gte": f"{self.target} >= value",
            "lte": f"{self.target} <= value",
            "in": f"{self.target} is one of the comma-separated values",
        }[self.op]

    def parse(self, raw: str) -> Any:
        if self.op == "in":
            if raw == "":
                return None
            # Empty items are dropped ("100,101," == "100,101"); each other item must be a
            # number.  A value made only of commas filters everything out, as in DIALS.
            items = [item for item in raw.split(",") if item != ""]
            for item in items:  # "Enter a number." wins over "too large", as in Django
                parse_decimal(item)
            return [parse_number(item) for item in items]
        if raw == "":
            return None
        return parse_number(raw)

    def condition(self, value: Any, table: Table, conn: Connection) -> ColumnElement[bool]:
        column = filter_column(table, self.target, conn)
        low, high = _column_range(table, self.target)
        if self.op == "in":
            wanted = [n for n in (_exact_int(v, (low, high)) for v in value) if n is not None]
            return column.in_(wanted) if wanted else false()
        if self.op == "exact":
            exact = _exact_int(value, (low, high))
            return false() if exact is None else column == exact
        # Bounds are clamped to the column's range: PostgreSQL casts the parameter to the
        # column type and would fail with "integer out of range".
        if self.op == "gte":
            return false() if value > high else column >= max(low, value)
        return false() if value < low else column <= min(high, value)  # lte


def parse_text(raw: str) -> str | None:
    """A django ``CharField`` value: stripped; empty means "no filter"; a NUL character
    is refused as Django does (PostgreSQL text cannot hold one: it would be a 500)."""
    value = raw.strip()
    if "\x00" in value:
        raise FilterError(NULL_CHARACTERS)
    return value or None


def check_regex(pattern: str) -> str:
    """``pattern`` if it compiles, else a :class:`FilterError`.

    DIALS would answer 500 (the database rejects the pattern); a clean 400 says which
    parameter is wrong.  PostgreSQL's dialect differs from Python's in corners; what
    slips through is caught when the query runs (see :func:`regex_params`).
    """
    try:
        patterns.compile_pattern(pattern)
    except regex.error as error:
        raise FilterError(f"Invalid regular expression: {error}") from None
    return pattern


def regex_condition(
    column: ColumnElement[Any], pattern: str, conn: Connection
) -> ColumnElement[bool]:
    """``column ~ pattern`` on PostgreSQL; on SQLite the time-bounded ``dials_regexp``
    function (registered by :mod:`dials_local.db.engines`) with this request's deadline."""
    if conn.dialect.name == "sqlite":
        until = literal(patterns.deadline(conn), Float)
        return func.dials_regexp(column, pattern, until, type_=Boolean)
    return column.regexp_match(pattern)


class _TextValue:
    """``parse`` of the filters whose value is text: exact, or a checked regex."""

    op: TextOp

    def parse(self, raw: str) -> Any:
        value = parse_text(raw)
        if value is not None and self.op == "regex":
            check_regex(value)
        return value


@dataclass(frozen=True)
class TextFilter(_TextValue, Filter):
    """Case-sensitive equality, or an unanchored case-sensitive regular expression."""

    op: TextOp = "exact"
    column: str = ""

    @property
    def target(self) -> str:
        return self.column or self.param.split("__")[0]

    def describe(self) -> str:
        if self.op == "regex":
            return f"{self.target} matches the regular expression (case-sensitive, unanchored)"
        return f"{self.target} equals the value (case-sensitive)"

    def condition(self, value: Any, table: Table, conn: Connection) -> ColumnElement[bool]:
        column = table.c[self.target]
        return regex_condition(column, value, conn) if self.op == "regex" else column == value


_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


@dataclass(frozen=True)
class BooleanFilter(Filter):
    """django-filter's ``BooleanWidget``: other values are silently ignored."""

    column: str = ""

    schema_type = "boolean"

    def describe(self) -> str:
        return f"{self.column or self.param} is true/false (also 1/0)"

    def parse(self, raw: str) -> Any:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return None

    def condition(self, value: Any, table: Table, conn: Connection) -> ColumnElement[bool]:
        equal: ColumnElement[bool] = table.c[self.column or self.param] == value
        return equal


@dataclass(frozen=True)
class NameLookupFilter(_TextValue, Filter):
    """Filter a table by the ids of rows of another table whose name matches.

    ``dataset`` on th1 becomes ``dataset_id IN (SELECT dataset_id FROM fact_dataset_index
    WHERE dataset = :value)``; the subquery runs in the same workspace.
    """

    local_column: str = ""
    names_table: Table | None = None
    names_id: str = ""
    names_column: str = ""
    op: TextOp = "exact"

    def describe(self) -> str:
        how = "matches the regular expression" if self.op == "regex" else "equals the value"
        return f"rows whose {self.names_column} {how}"

    def _ids(self, value: Any, conn: Connection) -> Select[Any]:
        assert self.names_table is not None
        names = self.names_table.c[self.names_column]
        match = regex_condition(names, value, conn) if self.op == "regex" else names == value
        return select(self.names_table.c[self.names_id]).where(match)

    def ids(self, value: Any, conn: Connection, limit: int) -> list[int]:
        """At most ``limit`` of the ids whose name matches (see :func:`resolve_names`)."""
        return list(conn.execute(self._ids(value, conn).limit(limit)).scalars())

    def condition(self, value: Any, table: Table, conn: Connection) -> ColumnElement[bool]:
        ids = self._ids(value, conn).correlate(None)
        return filter_column(table, self.local_column, conn).in_(ids)


@dataclass(frozen=True)
class JsonListFilter(_TextValue, Filter):
    """Rows whose JSON list column holds an object with ``key`` equal to / matching the
    value (``input_signature`` items name an ME, ``tags`` items are name/value pairs).

    The candidate rows are few (one per ML model), so the test runs in Python.
    """

    column: str = ""
    key: str = ""
    id_column: str = ""
    op: TextOp = "exact"

    def describe(self) -> str:
        how = "matches the regular expression" if self.op == "regex" else "equals the value"
        return f"rows with an item of {self.column} whose {self.key} {how}"

    def _item_matches(self, item: object, value: str, until: float) -> bool:
        """Whether one list item (an object, or a bare value) matches."""
        found = item.get(self.key) if isinstance(item, dict) else item
        if found is None or isinstance(found, (dict, list)):
            return False
        text = found if isinstance(found, str) else orjson.dumps(found).decode()
        return patterns.search(value, text, until) if self.op == "regex" else text == value

    def condition(self, value: Any, table: Table, conn: Connection) -> ColumnElement[bool]:
        ids = []
        until = patterns.deadline(conn)
        rows = conn.execute(select(table.c[self.id_column], table.c[self.column]))
        try:
            for row_id, text in rows:
                items = orjson.loads(text) if text else None
                if isinstance(items, list) and any(
                    self._item_matches(i, value, until) for i in items
                ):
                    ids.append(row_id)
        except patterns.PatternTooSlow:
            raise patterns.PatternTooSlow(self.param) from None
        return table.c[self.id_column].in_(ids) if ids else false()


# ---------------------------------------------------------------------------------------
# Declaration helpers: one call per filterset line of the contract
# ---------------------------------------------------------------------------------------


def numbers(name: str, *ops: NumberOp, column: str = "") -> tuple[Filter, ...]:
    """``numbers("run_number", "exact", "lte", "gte")`` -> run_number, run_number__lte, ..."""
    return tuple(
        NumberFilter(name if op == "exact" else f"{name}__{op}", op=op, column=column or name)
        for op in (ops or ("exact",))
    )


def texts(name: str, *ops: TextOp, column: str = "") -> tuple[Filter, ...]:
    """``texts("filename", "exact", "regex")`` -> filename, filename__regex."""
    return tuple(
        TextFilter(name if op == "exact" else f"{name}__{op}", op=op, column=column or name)
        for op in (ops or ("exact",))
    )


def name_lookups(
    name: str, *, local_column: str, names_table: Table, names_id: str, names_column: str
) -> tuple[Filter, ...]:
    """``name`` and ``name__regex`` resolved through ``names_table``."""
    return tuple(
        NameLookupFilter(
            name if op == "exact" else f"{name}__{op}",
            local_column=local_column,
            names_table=names_table,
            names_id=names_id,
            names_column=names_column,
            op=op,
        )
        for op in ("exact", "regex")
    )


# ---------------------------------------------------------------------------------------
# Applying a filterset
# ---------------------------------------------------------------------------------------


def parse_filters(filters: Sequence[Filter], params: QueryParams) -> list[tuple[Filter, Any]]:
    """Parse every given parameter; raise :class:`FilterValidationError` with all errors.

    Parameters that are absent or mean "no filter" are left out of the result.
    """
    parsed: list[tuple[Filter, Any]] = []
    errors: dict[str, list[str]] = {}
    for item in filters:
        raw = params.get(item.param)
        if raw is None:
            continue
        try:
            value = item.parse(raw)
        except FilterError as error:
            errors[item.param] = [error.message]
            continue
        if value is not None:
            parsed.append((item, value))
    if errors:
        raise FilterValidationError(errors)
    return parsed


def conditions(
    parsed: Iterable[tuple[Filter, Any]], table: Table, conn: Connection
) -> list[ColumnElement[bool]]:
    """The SQL conditions of parsed filters (AND-ed by the caller).

    With a regular expression among them, the statements of ``conn``'s transaction get
    the regex time budget on PostgreSQL (SQLite's deadline travels in the condition).
    Raises :class:`~dials_local.listing.patterns.PatternTooSlow` (Python-side matching).
    """
    parsed = list(parsed)
    if any(getattr(item, "op", None) == "regex" for item, _ in parsed):
        patterns.limit_statement(conn)
    if not _walks_me_first(parsed, table):
        return [item.condition(value, table, conn) for item, value in parsed]
    return [
        table.c.me_id == value
        if isinstance(item, NumberFilter) and item.op == "exact" and item.target == "me_id"
        else item.condition(value, table, conn)
        for item, value in parsed
    ]


def first_page_conditions(
    parsed: Iterable[tuple[Filter, Any]], table: Table, conn: Connection
) -> list[ColumnElement[bool]]:
    """Conditions for the first page of a walk only, the same rows with a cheaper plan:
    for one ME over a run range without a pinned dataset on SQLite, ``dataset_id IN (the
    ME's datasets)``.

    Later pages start at their position, which SQLite seeks in the ME-first key, so a walk
    reads each of the ME's rows outside the range at most once; the first page would read
    every one before the range (one run of a large ME on the large data set: 14 ms), while
    the datasets let SQLite seek the range in each of them (0.6 ms).  Not on later pages:
    with an equality on ``dataset_id`` SQLite cannot seek a position, and each page would
    read its dataset from the start of the range.  The datasets come from the key itself
    (one seek per dataset); an ME in more than :data:`_MAX_SOUGHT_DATASETS` gets none.
    """
    parsed = list(parsed)
    pinned = pinned_columns(parsed, table)
    ranged = any(_filtered_column(item) == "run_number" for item, _ in parsed)
    if not ranged or "dataset_id" in pinned or conn.dialect.name != "sqlite":
        return []
    if not _walks_me_first(parsed, table):
        return []
    datasets = select(table.c.dataset_id).where(table.c.me_id == pinned["me_id"]).distinct()
    found = sorted(conn.execute(datasets).scalars())
    if len(found) > _MAX_SOUGHT_DATASETS:
        return []
    if not found:
        return [false()]
    # One bound parameter per dataset (not an expanding list): the compiled SQL is cached.
    return [table.c.dataset_id.in_([literal(d, table.c.dataset_id.type) for d in found])]


def resolve_names(
    parsed: Iterable[tuple[Filter, Any]], conn: Connection
) -> list[tuple[Filter, Any]]:
    """Exact name filters (``me=``, ``dataset=``, ``logical_file_name=``) whose name
    belongs to one id become the equality on that id (``me_id = 7``).

    One indexed lookup per such filter, so that the page query sees a constant: the
    position bound can leave a pinned column out (:func:`pinned_columns`) and a walk of
    one ME can use the ME-first key (:func:`_walks_me_first`), where ``me_id IN
    (SELECT ...)`` allows neither.  A name of no row selects nothing: the page query is
    then answered without reading the table (a misspelt ME with a run range read the
    whole of the large data set's th1 table: 0.85 s).  A name of several ids keeps its
    subquery.
    """
    resolved: list[tuple[Filter, Any]] = []
    for item, value in parsed:
        if isinstance(item, NameLookupFilter) and item.op == "exact":
            ids = set(item.ids(value, conn, limit=2))
            if len(ids) == 1:
                item, value = NumberFilter(item.param, column=item.local_column), ids.pop()
            elif not ids:  # "in" of no value is the false condition
                item, value = NumberFilter(item.param, op="in", column=item.local_column), []
        resolved.append((item, value))
    return resolved


def _walks_me_first(parsed: list[tuple[Filter, Any]], table: Table) -> bool:
    """Whether a page should read the ME-first key of ``table`` (``(me_id, dataset_id,
    run_number, ls_number)``): the filters pin one ME, and no equality pins a run,
    lumisection or file (their own indexes serve those pages better), nor does a range
    narrow the lumisections or files.

    The primary key interleaves the MEs, so a walk of one ME along it steps over the rows
    of every other ME (a page of one of the small MEs of the large data set: 30 ms of
    SQL; 1.4 ms for one of the MEs that have a row in every lumisection), while the
    ME-first key holds that ME's rows in cursor order (3.5 and 1.1 ms).  With a run range
    the primary key was worse still: SQLite skip-scanned it from the start of the range on
    every page (a walk of a large ME over all its runs: 67 ms of SQL per page, 1.05 through
    the key; see :func:`first_page_conditions` for the first page).  Only SQLite needs
    telling: it is kept off ``me_id``'s indexes otherwise (:data:`_WIDE_COLUMNS`);
    PostgreSQL chooses by its statistics.
    """
    if "me_id" not in pinned_columns(parsed, table) or not _has_me_first_key(table):
        return False
    for item, _ in parsed:
        column = _filtered_column(item)
        if column in _NARROWING_COLUMNS and (
            column != "run_number" or getattr(item, "op", "exact") not in ("gte", "lte")
        ):
            return False
    return True


def _has_me_first_key(table: Table) -> bool:
    """Whether ``table`` has an index on ``me_id`` followed by the rest of its primary key."""
    key = [column.name for column in table.primary_key.columns if column.name != "me_id"]
    return any(
        [column.name for column in index.columns] == ["me_id", *key] for index in table.indexes
    )


def _filtered_column(item: Filter) -> str | None:
    """The column of ``table`` that a filter constrains, if it is one column."""
    if isinstance(item, NameLookupFilter):
        return item.local_column
    target = getattr(item, "target", None)
    return target if isinstance(target, str) else None


def pinned_columns(parsed: Iterable[tuple[Filter, Any]], table: Table) -> dict[str, int]:
    """The integer columns that the parsed filters fix to one value (``dataset_id=5``)."""
    pinned: dict[str, int] = {}
    for item, value in parsed:
        if isinstance(item, NumberFilter) and item.op == "exact":
            exact = _exact_int(value, _column_range(table, item.target))
            if exact is not None:
                pinned[item.target] = exact
    return pinned


def regex_params(parsed: Iterable[tuple[Filter, Any]]) -> list[str]:
    """Names of the regular-expression parameters in use (to blame when the database
    rejects a pattern that Python accepted)."""
    return [
        item.param
        for item, _ in parsed
        if getattr(item, "op", None) == "regex" and not isinstance(item, JsonListFilter)
    ]
