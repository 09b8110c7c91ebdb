"""Client of ``run/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import RunClient
from cmsdials.clients.run.models import PaginatedRunList, Run, RunFilters

__all__ = ["PaginatedRunList", "Run", "RunClient", "RunFilters"]
