""":class:`BaseAPIClient`: where a client's server is (2.x base of every client).

Kept apart from :mod:`cmsdials.utils.api_client` so that the sign-in client
(:mod:`cmsdials.auth.client`) can derive from it without importing the route machinery.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["BaseAPIClient"]


class BaseAPIClient:
    """A client of a DIALS instance: ``base_url`` + ``route`` + ``version``.

    Parameters
    ----------
    base_url:
        Server root (default: production, :attr:`PRODUCTION_BASE_URL`).
    route, version:
        API prefix parts (default ``api/`` and ``v1/``).
    """

    PRODUCTION_BASE_URL: ClassVar[str] = "https://cmsdials-api.web.cern.ch/"
    PRODUCTION_API_ROUTE: ClassVar[str] = "api/"
    PRODUCTION_API_VERSION: ClassVar[str] = "v1/"

    base_url: str
    version: str

    def __init__(
        self, base_url: str | None = None, route: str | None = None, version: str | None = None
    ) -> None:
        self.base_url = base_url or self.PRODUCTION_BASE_URL
        # Not declared on the class: the route clients derived from this one use the name
        # ``route`` for their route's declaration (a class attribute).
        vars(self)["route"] = self.PRODUCTION_API_ROUTE if route is None else route
        self.version = self.PRODUCTION_API_VERSION if version is None else version

    @property
    def api_url(self) -> str:
        """``https://cmsdials-api.web.cern.ch/api/v1/``: the prefix of every route."""
        # Empty parts are left out rather than doubling a slash (a server at the root).
        parts = (self.base_url, vars(self).get("route", ""), self.version)
        return "/".join(part.strip("/") for part in parts if part.strip("/")) + "/"
