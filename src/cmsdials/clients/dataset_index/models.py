"""Models of ``dataset-index/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import DatasetIndexFilters
from cmsdials._models import DatasetIndex, PaginatedDatasetIndexList
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = ["DatasetIndex", "DatasetIndexFilters", "PaginatedDatasetIndexList"]
