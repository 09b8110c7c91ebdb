"""Models of ``lumisection/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import LumisectionFilters
from cmsdials._models import Lumisection, PaginatedLumisectionList

__all__ = ["Lumisection", "LumisectionFilters", "PaginatedLumisectionList"]
