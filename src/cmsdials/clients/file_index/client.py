"""Client of ``file-index/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import FileIndexClient
from cmsdials.clients.file_index.models import FileIndex, FileIndexFilters, PaginatedFileIndexList

__all__ = ["FileIndex", "FileIndexClient", "FileIndexFilters", "PaginatedFileIndexList"]
