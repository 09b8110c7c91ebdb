"""Models of ``file-index/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._filters import FileIndexFilters
from cmsdials._models import FileIndex, PaginatedFileIndexList
from cmsdials.utils.base_model import PaginatedBaseFilters, PaginatedBaseModel  # noqa: F401 - 2.x re-export

__all__ = ["FileIndex", "FileIndexFilters", "PaginatedFileIndexList"]
