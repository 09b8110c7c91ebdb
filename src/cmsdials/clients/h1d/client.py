"""Client of ``th1/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import LumisectionHistogram1DClient
from cmsdials.clients.h1d.models import (
    LumisectionHistogram1D,
    LumisectionHistogram1DFilters,
    PaginatedLumisectionHistogram1DList,
)

__all__ = [
    "LumisectionHistogram1D",
    "LumisectionHistogram1DClient",
    "LumisectionHistogram1DFilters",
    "PaginatedLumisectionHistogram1DList",
]
