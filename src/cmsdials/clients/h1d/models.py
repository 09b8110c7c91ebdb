"""Models of ``th1/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import LumisectionHistogram1DFilters
from cmsdials._models import LumisectionHistogram1D, PaginatedLumisectionHistogram1DList
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = [
    "LumisectionHistogram1D",
    "LumisectionHistogram1DFilters",
    "PaginatedLumisectionHistogram1DList",
]
