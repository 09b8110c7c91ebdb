"""Client of ``workspaces/`` (re-exported; declared once in ``cmsdials._route_clients``)."""

from cmsdials._route_clients import WorkspaceClient
from cmsdials.auth.base import BaseCredentials  # noqa: F401 - 2.x re-export
from cmsdials.utils.api_client import BaseAPIClient  # noqa: F401 - 2.x re-export
from cmsdials.utils.logger import logger  # noqa: F401 - 2.x re-export

__all__ = ["WorkspaceClient"]
