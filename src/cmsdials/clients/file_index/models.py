"""Models of ``file-index/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import FileIndexFilters
from cmsdials._models import FileIndex, PaginatedFileIndexList

__all__ = ["FileIndex", "FileIndexFilters", "PaginatedFileIndexList"]
