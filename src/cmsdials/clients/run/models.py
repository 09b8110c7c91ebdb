"""Models of ``run/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import RunFilters
from cmsdials._models import PaginatedRunList, Run

__all__ = ["PaginatedRunList", "Run", "RunFilters"]
