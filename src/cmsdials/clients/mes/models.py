"""Models of ``mes/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import MEFilters
from cmsdials._models import MonitoringElement
from cmsdials.utils.base_model import CleanableBaseModel  # noqa: F401 - 2.x re-export

__all__ = ["MEFilters", "MonitoringElement"]
