"""Models of ``ml-models-index/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import MLModelsIndexFilters
from cmsdials._models import MLModelsIndex, PaginatedMLModelsIndexList
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = ["MLModelsIndex", "MLModelsIndexFilters", "PaginatedMLModelsIndexList"]
