"""``dials.oms``: 2.4.1's ``query`` plus walks of every page into DataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cmsdials._models import OMSFilter, OMSPage
from cmsdials._optional import require
from cmsdials._route_clients import OMSProxyClient
from cmsdials._suggest import checked_keywords
from cmsdials._transport import Retries
from cmsdials.oms._frame import frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_PAGE_SIZE", "OMSClient"]

#: Records asked for per request by the walks (OMS answers up to 100 000 per page).
DEFAULT_PAGE_SIZE = 5000

#: The key of a lumisection in the frames of :meth:`OMSClient.lumisections`.
LS_KEY = ("run_number", "ls_number")


def _runs(runs: int | Iterable[int]) -> list[int]:
    """One run or several, as a sorted list without repeats."""
    if isinstance(runs, bool):
        raise TypeError("runs must be a run number or an iterable of run numbers")
    if isinstance(runs, int):
        return [runs]
    values = sorted({int(run) for run in runs})
    if not values:
        raise ValueError("runs is empty: give a run number or a list of run numbers")
    return values


class OMSClient(OMSProxyClient):
    """``oms-proxy/``: :meth:`query` exactly as cmsdials 2.4.1, and DataFrames of every
    page (:meth:`query_all`, :meth:`lumisections`; need pandas)."""

    @checked_keywords()
    def pages(
        self,
        endpoint: str,
        filters: Sequence[OMSFilter] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        params: Mapping[str, str] | None = None,
        retries: Retries = None,
    ) -> list[dict[str, Any]]:
        """Every page of ``endpoint`` that matches ``filters`` (OMS documents, in order).

        Pages are asked for with ``page[offset]``/``page[limit]`` until
        ``meta.totalResourceCount`` records have come (or a page comes back empty).
        ``params``: other OMS parameters (``sort``, ``fields``).
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        documents: list[dict[str, Any]] = []
        offset = 0
        while True:
            pages = [
                OMSPage(attribute_name="offset", value=offset),
                OMSPage(attribute_name="limit", value=page_size),
            ]
            document = self.query(endpoint, filters, pages, retries, params=params)
            documents.append(document)
            got = len(document.get("data") or ())
            total = (document.get("meta") or {}).get("totalResourceCount")
            offset += got
            if got == 0 or not isinstance(total, int) or offset >= total:
                return documents

    @checked_keywords()
    def query_all(
        self,
        endpoint: str,
        filters: Sequence[OMSFilter] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        params: Mapping[str, str] | None = None,
        retries: Retries = None,
    ) -> pd.DataFrame:
        """Every record of ``endpoint`` that matches ``filters``, as one flat DataFrame.

        One row per record in OMS' order, one column per attribute (``{"value",
        "units"}`` attributes give their value; units in ``frame.attrs["units"]``;
        see :func:`cmsdials.oms.frame`).
        """
        require("pandas", "pandas", "dials.oms.query_all()")
        return frame(
            self.pages(endpoint, filters, page_size=page_size, params=params, retries=retries)
        )

    @checked_keywords()
    def lumisections(
        self,
        runs: int | Iterable[int],
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        retries: Retries = None,
    ) -> pd.DataFrame:
        """OMS' lumisections of one run or several, indexed by ``(run_number, ls_number)``.

        Rows sorted by run then lumisection; the OMS attributes are the columns
        (``lumisection_number`` becomes the index level ``ls_number``, as in DIALS).  A
        run OMS does not know contributes no rows (``frame.attrs["missing_runs"]`` lists
        them).  Ready for :func:`cmsdials.oms.join`.
        """
        pd = require("pandas", "pandas", "dials.oms.lumisections()")
        wanted = _runs(runs)
        parts = []
        missing = []
        units: dict[str, str] = {}
        for run in wanted:
            part = self.query_all(
                "lumisections",
                [OMSFilter(attribute_name="run_number", value=run, operator="EQ")],
                page_size=page_size,
                retries=retries,
            )
            units.update(part.attrs.get("units", {}))
            if len(part):
                parts.append(part)
            else:
                missing.append(run)
        if parts:
            result = pd.concat(parts, ignore_index=True)
            result = result.rename(columns={"lumisection_number": "ls_number"})
            result = result.sort_values(list(LS_KEY), kind="stable").set_index(list(LS_KEY))
        else:
            index = pd.MultiIndex.from_arrays([[], []], names=list(LS_KEY))
            result = pd.DataFrame(index=index)
        result.attrs["units"] = units
        result.attrs["missing_runs"] = missing
        return result
