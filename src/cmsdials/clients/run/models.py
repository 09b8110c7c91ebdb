"""Models of ``run/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import RunFilters
from cmsdials._models import PaginatedRunList, Run
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = ["PaginatedRunList", "Run", "RunFilters"]
