"""Models of ``ml-bad-lumisection/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import MLBadLumisectionFilters
from cmsdials._models import MLBadLumisection, PaginatedMLBadLumisectionList
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = ["MLBadLumisection", "MLBadLumisectionFilters", "PaginatedMLBadLumisectionList"]
