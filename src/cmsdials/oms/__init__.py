"""OMS context for DIALS results (CONTRACT §7.10): every page as a DataFrame, and a join
on ``(run_number, ls_number)``.

``dials.oms`` is an :class:`OMSClient`: ``query(...)`` as in cmsdials 2.4.1,
``query_all(endpoint, filters)`` and ``lumisections(runs)`` as DataFrames (pandas).
:func:`join` puts OMS columns beside histogram rows.  See docs/oms.md.
"""

from __future__ import annotations

from cmsdials._models import OMSFilter, OMSPage
from cmsdials.oms._client import DEFAULT_PAGE_SIZE, OMSClient
from cmsdials.oms._frame import flatten, frame
from cmsdials.oms._join import (
    HOW,
    MATCH,
    MissingLumisectionsError,
    MissingLumisectionsWarning,
    join,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "HOW",
    "MATCH",
    "MissingLumisectionsError",
    "MissingLumisectionsWarning",
    "OMSClient",
    "OMSFilter",
    "OMSPage",
    "flatten",
    "frame",
    "join",
]
