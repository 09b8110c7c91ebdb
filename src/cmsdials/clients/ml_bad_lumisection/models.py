"""Models of ``ml-bad-lumisection/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import MLBadLumisectionFilters
from cmsdials._models import MLBadLumisection, PaginatedMLBadLumisectionList

__all__ = ["MLBadLumisection", "MLBadLumisectionFilters", "PaginatedMLBadLumisectionList"]
