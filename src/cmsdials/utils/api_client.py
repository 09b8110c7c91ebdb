"""The 2.x names of the route-client base classes.

They are the classes the client is built from, not copies: every route client of
:class:`~cmsdials.Dials` is a :class:`BaseAuthorizedAPIClient` (the paginated ones a
:class:`BaseAuthorizedPaginatedAPIClient`, ``mes`` a
:class:`BaseAuthorizedNonPaginatedAPIClient`), and every client a :class:`BaseAPIClient`.
A route client made on its own takes 2.x's arguments::

    RunClient(creds, "tracker", base_url="http://localhost:8000/").list()
"""

from __future__ import annotations

from cmsdials._optional import installed
from cmsdials._resources import PaginatedResource, Resource, UnpaginatedResource
from cmsdials.auth.base import BaseCredentials
from cmsdials.utils._base_client import BaseAPIClient
from cmsdials.utils.base_model import (
    TCleanableFilterClass,
    TDataModel,
    TPaginatedFilterClass,
    TPaginationModel,
)
from cmsdials.utils.logger import logger

__all__ = [
    "TQDM_INSTALLED",
    "BaseAPIClient",
    "BaseAuthorizedAPIClient",
    "BaseAuthorizedNonPaginatedAPIClient",
    "BaseAuthorizedPaginatedAPIClient",
    "BaseCredentials",
    "TCleanableFilterClass",
    "TDataModel",
    "TPaginatedFilterClass",
    "TPaginationModel",
    "logger",
]

#: A client of one DIALS route in a workspace: ``get``.
BaseAuthorizedAPIClient = Resource

#: A paginated route: ``get``, ``list``, ``list_all`` (and the bulk methods).
BaseAuthorizedPaginatedAPIClient = PaginatedResource

#: A route answering a plain list (``mes/``): ``get``, ``list``.
BaseAuthorizedNonPaginatedAPIClient = UnpaginatedResource

#: ``True`` when tqdm is installed (``list_all`` can show a progress bar).
TQDM_INSTALLED: bool = installed("tqdm")
