"""Models of ``th2/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import LumisectionHistogram2DFilters
from cmsdials._models import LumisectionHistogram2D, PaginatedLumisectionHistogram2DList
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = [
    "LumisectionHistogram2D",
    "LumisectionHistogram2DFilters",
    "PaginatedLumisectionHistogram2DList",
]
