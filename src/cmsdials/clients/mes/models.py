"""Models of ``mes/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import MEFilters
from cmsdials._models import MonitoringElement

__all__ = ["MEFilters", "MonitoringElement"]
