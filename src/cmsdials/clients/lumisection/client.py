"""Client of ``lumisection/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import LumisectionClient
from cmsdials.clients.lumisection.models import (
    Lumisection,
    LumisectionFilters,
    PaginatedLumisectionList,
)

__all__ = ["Lumisection", "LumisectionClient", "LumisectionFilters", "PaginatedLumisectionList"]
