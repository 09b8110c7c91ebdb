"""The workspace's monitoring elements, fetched once per client: ME-name checks and totals.

A th1/th2 query whose ``me=`` names no ME answers an empty list, which looks exactly like
"no data".  Before such a query the client looks the name up in the workspace's ``mes/``
listing and raises :class:`~cmsdials.errors.UnknownMEError` with the closest names.  The
listing is one small request, made once per client (one transport: one server and one
workspace) and only when an exact ``me`` filter is used (or for a progress total); it is
kept for the client's lifetime (MEs are added by ingestion, rarely, and a new client sees
them).  ``Dials(..., check_me_names=False)`` turns the check off.

The same listing gives exact totals for progress bars: ``mes/`` counts the rows of each ME.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cmsdials._decode import list_decoder
from cmsdials._models import MonitoringElement
from cmsdials._suggest import closest
from cmsdials._transport import Retries, Transport
from cmsdials.errors import UnknownMEError

if TYPE_CHECKING:
    from cmsdials._filters import BaseFilters

__all__ = ["HISTOGRAM_DIMS", "MECatalog", "catalog", "check_me_name"]

log = logging.getLogger("cmsdials")

#: Routes whose ``me`` filter is an exact ME name -> the dimension of their MEs (``None``:
#: any).
ME_ROUTES: Mapping[str, int | None] = {"th1/": 1, "th2/": 2, "ml-bad-lumisection/": None}

#: The histogram routes and the dimension of their MEs.
HISTOGRAM_DIMS: Mapping[str, int] = {"th1/": 1, "th2/": 2}


class MECatalog:
    """The MEs of one client's workspace, fetched on first use.

    Attributes
    ----------
    check_names:
        Whether exact ME names are checked (``Dials(check_me_names=...)``).
    """

    def __init__(self) -> None:
        self.check_names = True
        self._lock = threading.Lock()
        self._mes: list[MonitoringElement] | None = None
        self._tried = False

    def mes(self, transport: Transport, retries: Retries) -> list[MonitoringElement] | None:
        """The workspace's MEs; ``None`` when ``mes/`` could not be read (not retried:
        the checks are a help, and the data request will report what is wrong)."""
        with self._lock:  # one request, even when several threads ask at once
            if not self._tried:
                try:
                    self._mes = transport.request(
                        "GET", "mes/", list_decoder(MonitoringElement), retries=retries
                    )
                except Exception as exc:  # a nicety: never fail a query because of it
                    log.debug("ME names not checked: mes/ failed: %s", exc)
                self._tried = True
            return self._mes


_CATALOGS: weakref.WeakKeyDictionary[Transport, MECatalog] = weakref.WeakKeyDictionary()
_CATALOGS_LOCK = threading.Lock()


def catalog(transport: Transport) -> MECatalog:
    """The ME catalogue of ``transport``'s client (created empty on first use)."""
    with _CATALOGS_LOCK:
        found = _CATALOGS.get(transport)
        if found is None:
            found = _CATALOGS[transport] = MECatalog()
        return found


def check_me_name(
    route_path: str, transport: Transport, filters: BaseFilters, retries: Retries
) -> None:
    """Raise :class:`UnknownMEError` when ``filters.me`` names no ME of the right dimension.

    Only for routes whose ``me`` is an exact ME name (th1, th2, ml-bad-lumisection), only
    when ``me`` is set and the check is on.
    """
    name: Any = getattr(filters, "me", None)
    if not isinstance(name, str) or route_path not in ME_ROUTES:
        return
    mes_catalog = catalog(transport)
    if not mes_catalog.check_names:
        return
    mes = mes_catalog.mes(transport, retries)
    if mes is None:
        return
    wanted = ME_ROUTES[route_path]
    for me in mes:
        if me.me == name:
            if wanted is not None and me.dim != wanted:
                raise UnknownMEError(
                    name,
                    route=route_path,
                    workspace=transport.workspace,
                    suggestions=[],
                    dim=me.dim,
                )
            return
    names = [me.me for me in mes if wanted is None or me.dim == wanted]
    raise UnknownMEError(
        name,
        route=route_path,
        workspace=transport.workspace,
        suggestions=closest(name, names),
    )
