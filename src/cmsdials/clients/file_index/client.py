"""Client of ``file-index/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import FileIndexClient
from cmsdials.clients.file_index.models import FileIndex, FileIndexFilters, PaginatedFileIndexList
from cmsdials.utils.api_client import BaseAuthorizedPaginatedAPIClient  # noqa: F401 - 2.x re-export

__all__ = ["FileIndex", "FileIndexClient", "FileIndexFilters", "PaginatedFileIndexList"]
