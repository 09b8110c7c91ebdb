"""Filter models of every route (import them from here).

Unknown names raise :class:`cmsdials.errors.UnknownFilterError`; lists are sent
comma-separated and booleans as ``True``/``False``.
"""

from cmsdials._filters import (
    BaseFilters,
    DatasetIndexFilters,
    FileIndexFilters,
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
    MEFilters,
    MLBadLumisectionFilters,
    MLModelsIndexFilters,
    PaginatedFilters,
    RunFilters,
)
from cmsdials._models import OMSFilter, OMSPage

__all__ = [
    "BaseFilters",
    "DatasetIndexFilters",
    "FileIndexFilters",
    "LumisectionFilters",
    "LumisectionHistogram1DFilters",
    "LumisectionHistogram2DFilters",
    "MEFilters",
    "MLBadLumisectionFilters",
    "MLModelsIndexFilters",
    "OMSFilter",
    "OMSPage",
    "PaginatedFilters",
    "RunFilters",
]
