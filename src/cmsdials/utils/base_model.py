"""The 2.x names of the result and filter base models.

They are the classes the client is built from, not copies: every ``Paginated...List``
result is a :class:`PaginatedBaseModel`, every filter model a :class:`CleanableBaseModel`
(and the paginated ones a :class:`PaginatedBaseFilters`), so ``isinstance`` checks and
subclasses written for 2.x keep working.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from cmsdials._filters import BaseFilters, PaginatedFilters
from cmsdials._optional import installed
from cmsdials._results import Paginated

__all__ = [
    "PANDAS_NOT_INSTALLED",
    "CleanableBaseModel",
    "PaginatedBaseFilters",
    "PaginatedBaseModel",
    "TCleanableFilterClass",
    "TDataModel",
    "TPaginatedFilterClass",
    "TPaginationModel",
]

#: One page of results (``next``, ``previous``, ``results``, ``exc_type``,
#: ``exc_formatted``; ``to_pandas()`` and the other conversions).
PaginatedBaseModel = Paginated

#: A filter model: ``cleandict()`` gives the query it sends.
CleanableBaseModel = BaseFilters

#: A filter model of a paginated route (``next_token``, ``page_size``).
PaginatedBaseFilters = PaginatedFilters

#: ``True`` when pandas cannot be imported (``to_pandas()`` then raises
#: ``MissingDependencyError``).
PANDAS_NOT_INSTALLED: bool = not installed("pandas")

TDataModel = TypeVar("TDataModel", bound=BaseModel)
TPaginationModel = TypeVar("TPaginationModel", bound="Paginated[Any]")
TCleanableFilterClass = TypeVar("TCleanableFilterClass", bound=BaseFilters)
TPaginatedFilterClass = TypeVar("TPaginatedFilterClass", bound=PaginatedFilters)
