"""Client of ``dataset-index/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import DatasetIndexClient
from cmsdials.clients.dataset_index.models import (
    DatasetIndex,
    DatasetIndexFilters,
    PaginatedDatasetIndexList,
)
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = ["DatasetIndex", "DatasetIndexClient", "DatasetIndexFilters", "PaginatedDatasetIndexList"]
