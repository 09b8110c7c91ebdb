"""Client of ``ml-bad-lumisection/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import MLBadLumisectionClient
from cmsdials.clients.ml_bad_lumisection.models import (
    MLBadLumisection,
    MLBadLumisectionFilters,
    PaginatedMLBadLumisectionList,
)
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = [
    "MLBadLumisection",
    "MLBadLumisectionClient",
    "MLBadLumisectionFilters",
    "PaginatedMLBadLumisectionList",
]
