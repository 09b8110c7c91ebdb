"""Models of ``lumisection/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import LumisectionFilters
from cmsdials._models import Lumisection, PaginatedLumisectionList
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = ["Lumisection", "LumisectionFilters", "PaginatedLumisectionList"]
