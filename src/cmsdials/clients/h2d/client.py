"""Client of ``th2/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import LumisectionHistogram2DClient
from cmsdials.clients.h2d.models import (
    LumisectionHistogram2D,
    LumisectionHistogram2DFilters,
    PaginatedLumisectionHistogram2DList,
)
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = [
    "LumisectionHistogram2D",
    "LumisectionHistogram2DClient",
    "LumisectionHistogram2DFilters",
    "PaginatedLumisectionHistogram2DList",
]
