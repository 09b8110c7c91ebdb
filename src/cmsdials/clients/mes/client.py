"""Client of ``mes/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import MonitoringElementClient
from cmsdials.clients.mes.models import MEFilters, MonitoringElement
from cmsdials.utils.api_client import BaseAuthorizedNonPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = ["MEFilters", "MonitoringElement", "MonitoringElementClient"]
