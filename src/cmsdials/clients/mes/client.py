"""Client of ``mes/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import MonitoringElementClient
from cmsdials.clients.mes.models import MEFilters, MonitoringElement

__all__ = ["MEFilters", "MonitoringElement", "MonitoringElementClient"]
