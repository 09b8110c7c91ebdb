"""The declaration of one DIALS resource, from which all its routes are generated.

A :class:`Resource` says everything the generic handlers need: the table, the URL
prefix, the ordering (= cursor key), the output fields in serializer order, the filters
in filterset order, the model name used in 404 texts, and which routes exist (list,
count, standard retrieve by one id, composite retrieve by key fields).  See
``dials_local.api.resources`` for the declarations themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, Table, cast

from dials_local.db.schema import dim_monitoring_elements, fact_dataset_index
from dials_local.listing.filters import Filter
from dials_local.render import json_fragment, python_float

Join = Literal["dataset", "me"]

#: Aliases used for the name joins, so that lookup subqueries on the same tables in the
#: WHERE clause are never mistaken for (correlated with) the joined ones.
DATASET_NAMES = fact_dataset_index.alias("dataset_names")
ME_NAMES = dim_monitoring_elements.alias("me_names")


@dataclass(frozen=True)
class OutputField:
    """One key of the response objects.

    ``source`` is the column of the resource's table (default: ``name``); ``join`` makes
    the value come from a joined names table instead; ``convert`` turns the database
    value into what DRF would emit.
    """

    name: str
    source: str = ""
    join: Join | None = None
    convert: Callable[[Any], Any] | None = None
    #: Have the database cast the value to an integer (cheaper than a Python converter).
    as_integer: bool = False

    @property
    def stored_as_is(self) -> bool:
        """Whether the SELECT expression is the table's column itself (no join, no cast)."""
        return self.join is None and not self.as_integer

    def expression(self, table: Table) -> ColumnElement[Any]:
        """The SELECT expression producing this field's raw value."""
        if self.join == "dataset":
            return DATASET_NAMES.c.dataset
        if self.join == "me":
            return ME_NAMES.c.me
        column = table.c[self.source or self.name]
        return cast(column, Integer) if self.as_integer else column


def column(name: str, source: str = "") -> OutputField:
    """A column served as stored (ints, strings, booleans, datetimes)."""
    return OutputField(name, source)


def real(name: str, source: str = "") -> OutputField:
    """A double column, printed as Python prints floats."""
    return OutputField(name, source, convert=python_float)


def integer(name: str) -> OutputField:
    """A double column that the API serves as an integer (``x_bin``, ``y_bin``)."""
    return OutputField(name, as_integer=True)


def json_text(name: str) -> OutputField:
    """A column of JSON text spliced into the output as is (histogram contents)."""
    return OutputField(name, convert=json_fragment)


def json_list(name: str, *, null_as_empty: bool) -> OutputField:
    """A column of JSON text served as a JSON value; ``NULL`` becomes ``[]`` when the
    clients require a list."""
    empty = json_fragment("[]") if null_as_empty else None
    return OutputField(name, convert=lambda text: empty if text is None else json_fragment(text))


def dataset_name() -> OutputField:
    """``dataset``: the name of the row's ``dataset_id`` in the dataset index."""
    return OutputField("dataset", join="dataset")


def me_name() -> OutputField:
    """``me``: the name of the row's ``me_id`` among the monitoring elements."""
    return OutputField("me", join="me")


@dataclass(frozen=True)
class StandardRetrieve:
    """``<prefix>/{pk}/`` where ``pk`` is any path segment without ``/`` or ``.``
    (DRF's default lookup), looked up in ``lookup`` after applying the list filters."""

    lookup: str


@dataclass(frozen=True)
class CompositeRetrieve:
    """``<prefix>/{k1}/.../{kn}/`` with digit-only parts: one route per key tuple.

    A key tuple shorter than the ordering returns the first matching row in ordering
    order (the 4-segment ML bad-lumisection route of C241)."""

    keys: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, eq=False)  # identity hash: each resource is declared once
class Resource:
    """One resource group of the DIALS API (a DRF viewset)."""

    #: URL segment under ``/api/v1/``, e.g. ``"th1"``.
    prefix: str
    table: Table
    #: DRF model name used in ``No <model> matches the given query.``
    model_name: str
    #: Ordering columns (ascending): the result order and the cursor position.
    ordering: tuple[str, ...]
    #: Output keys, in serializer order.
    fields: tuple[OutputField, ...]
    #: Query-parameter filters, in filterset declaration order.
    filters: tuple[Filter, ...] = ()
    #: Cursor-paginated list (False: plain JSON array, as ``mes/``).
    paginated: bool = True
    #: Whether ``<prefix>/count/`` exists.
    count_route: bool = False
    retrieve: StandardRetrieve | CompositeRetrieve | None = None
    #: DRF view name stem, for OPTIONS answers (``"Run"`` -> ``"Run List"``).
    view_name: str = ""
    #: Extra query parameters the list route reads besides the filters.
    list_params: tuple[str, ...] = field(default=("next_token", "page_size", "fields"))

    @property
    def field_names(self) -> tuple[str, ...]:
        """Output keys in serializer order."""
        return tuple(f.name for f in self.fields)

    def filter_params(self) -> tuple[str, ...]:
        """Filter parameter names in filterset order."""
        return tuple(f.param for f in self.filters)
