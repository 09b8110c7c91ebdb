"""Client of ``lumisection/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import LumisectionClient
from cmsdials.clients.lumisection.models import (
    Lumisection,
    LumisectionFilters,
    PaginatedLumisectionList,
)
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = ["Lumisection", "LumisectionClient", "LumisectionFilters", "PaginatedLumisectionList"]
