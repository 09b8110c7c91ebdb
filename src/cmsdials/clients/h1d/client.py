"""Client of ``th1/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import LumisectionHistogram1DClient
from cmsdials.clients.h1d.models import (
    LumisectionHistogram1D,
    LumisectionHistogram1DFilters,
    PaginatedLumisectionHistogram1DList,
)
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = [
    "LumisectionHistogram1D",
    "LumisectionHistogram1DClient",
    "LumisectionHistogram1DFilters",
    "PaginatedLumisectionHistogram1DList",
]
