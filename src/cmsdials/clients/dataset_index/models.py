"""Models of ``dataset-index/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import DatasetIndexFilters
from cmsdials._models import DatasetIndex, PaginatedDatasetIndexList

__all__ = ["DatasetIndex", "DatasetIndexFilters", "PaginatedDatasetIndexList"]
