"""Client of ``run/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import RunClient
from cmsdials.clients.run.models import PaginatedRunList, Run, RunFilters
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = ["PaginatedRunList", "Run", "RunClient", "RunFilters"]
