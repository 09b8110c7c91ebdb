"""Client of ``ml-models-index/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import MLModelsIndexClient
from cmsdials.clients.ml_models_index.models import (
    MLModelsIndex,
    MLModelsIndexFilters,
    PaginatedMLModelsIndexList,
)
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = [
    "MLModelsIndex",
    "MLModelsIndexClient",
    "MLModelsIndexFilters",
    "PaginatedMLModelsIndexList",
]
