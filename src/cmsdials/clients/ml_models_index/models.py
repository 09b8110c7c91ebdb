"""Models of ``ml-models-index/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import MLModelsIndexFilters
from cmsdials._models import MLModelsIndex, PaginatedMLModelsIndexList

__all__ = ["MLModelsIndex", "MLModelsIndexFilters", "PaginatedMLModelsIndexList"]
