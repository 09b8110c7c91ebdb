"""Client of ``dataset-index/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import DatasetIndexClient
from cmsdials.clients.dataset_index.models import (
    DatasetIndex,
    DatasetIndexFilters,
    PaginatedDatasetIndexList,
)
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = ["DatasetIndex", "DatasetIndexClient", "DatasetIndexFilters", "PaginatedDatasetIndexList"]
