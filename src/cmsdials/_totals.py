"""What a walk will cost: exact row totals (progress) and the one-time speed hint.

Exact totals, where the server has one (one or a few small requests, made only when
progress is shown):

* run, lumisection, file index: their count routes (``{"count": n}``, CONTRACT §6);
* th1/th2 filtered at most by ME (``me``, ``me_id``, ``me__regex``) or not at all: the
  ``count`` of each ME in ``mes/`` (the rows stored per ME), from the client's ME catalogue
  (``_mes``: the listing the ME-name check uses, fetched once per client);
* th1/th2 filtered at most by dataset, run and lumisection: the ``th1_count``/``th2_count``
  of the matching lumisections, when the lumisection count route says they fit in a few
  pages of 500 (``LUMISECTIONS_FOR_A_TOTAL``).

Other queries (an ME *and* a run range, ``entries__gte``, a file, ...) have no exact total:
progress shows the rows and the rate without one.

The speed hint: a walk of thousands of requests (``HINT_REQUESTS``) with small pages or a
single worker gets one :class:`~cmsdials.errors.PerformanceWarning` saying what to pass
instead - decided before the first request when the total is known, else when the walk
reaches that many requests.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import warnings
from typing import Any

from cmsdials._decode import decode_json
from cmsdials._filters import LumisectionFilters, PaginatedFilters
from cmsdials._mes import HISTOGRAM_DIMS, catalog
from cmsdials._models import PaginatedLumisectionList
from cmsdials._partition import listing, partitionable
from cmsdials._route import RouteBinding
from cmsdials._transport import Retries, Transport
from cmsdials.errors import PerformanceWarning

__all__ = [
    "HINT_REQUESTS",
    "LUMISECTIONS_FOR_A_TOTAL",
    "SpeedHint",
    "exact_total",
    "page_size",
]

#: The server's default and largest page sizes (CONTRACT §5.1).
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 10, 500

#: A walk of at least this many requests gets the speed hint.
HINT_REQUESTS = 1000

#: ``workers=`` the hint suggests: enough to overlap round trips, few enough not to
#: burden a shared server (docs/bulk.md).
HINT_WORKERS = 4

#: At most this many lumisections are listed (500 per request) for a th1/th2 total.
LUMISECTIONS_FOR_A_TOTAL = 10_000

#: Paging fields: they do not change which rows a query selects.
_PAGING = frozenset({"page_size", "next_token"})
#: th1/th2 filters that only select MEs (total from ``mes/``).
_ME_FILTERS = frozenset({"me", "me_id", "me__regex"})
#: th1/th2 filters that the lumisection route has too (total from its th1/th2 counts).
_LS_FILTERS = frozenset(LumisectionFilters.model_fields) - _PAGING


def page_size(filters: PaginatedFilters) -> int:
    """Rows per page the server will send for ``filters``."""
    size = filters.page_size
    if size is None or size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def _count(transport: Transport, path: str, params: dict[str, str], retries: Retries) -> int | None:
    """Rows from a count route; ``None`` if it fails (progress is a nicety: never fail a
    walk because of it)."""
    try:
        answer = transport.request("GET", path, decode_json, params=params, retries=retries)
        return int(answer["count"])
    except Exception:
        return None


def _from_mes(
    transport: Transport, dim: int, selected: dict[str, Any], retries: Retries
) -> int | None:
    """Rows of the MEs ``selected`` chooses, from their ``mes/`` counts."""
    mes = catalog(transport).mes(transport, retries)
    if mes is None:
        return None
    pattern = selected.get("me__regex")
    try:
        # The server's regex dialect (PostgreSQL ``~``) agrees with Python's for the
        # patterns ME names need; the bar's total is corrected if rows outgrow it.
        regex = re.compile(pattern) if pattern is not None else None
    except re.error:
        return None
    return sum(
        me.count
        for me in mes
        if me.dim == dim
        and selected.get("me", me.me) == me.me
        and selected.get("me_id", me.me_id) == me.me_id
        and (regex is None or regex.search(me.me))
    )


def _from_lumisections(
    transport: Transport, dim: int, selected: dict[str, Any], retries: Retries
) -> int | None:
    """Rows of the lumisections ``selected`` chooses, from their th1/th2 counts."""
    params = LumisectionFilters(**selected).to_params()
    lumisections = _count(transport, "lumisection/count/", params, retries)
    if lumisections is None or lumisections > LUMISECTIONS_FOR_A_TOTAL:
        return None
    if lumisections == 0:
        return 0
    try:
        rows = listing(transport, "lumisection/", PaginatedLumisectionList, params, retries)
    except Exception:
        return None
    return sum(int(row.th1_count if dim == 1 else row.th2_count) for row in rows)


def exact_total(binding: RouteBinding, filters: PaginatedFilters, retries: Retries) -> int | None:
    """The number of rows ``filters`` selects, where the server can tell (module doc)."""
    if filters.next_token is not None:
        return None  # starts in the middle: the rows before the cursor are unknown
    transport = binding.transport
    count_path = binding.route.count_path
    if count_path is not None:
        params = {k: v for k, v in filters.to_params().items() if k not in _PAGING}
        return _count(transport, count_path, params, retries)
    dim = HISTOGRAM_DIMS.get(binding.path)
    if dim is None:
        return None
    selected = {
        name: value
        for name, value in filters
        if name not in _PAGING and value is not None and not (isinstance(value, list) and not value)
    }
    if set(selected) <= _ME_FILTERS:
        return _from_mes(transport, dim, selected, retries)
    if set(selected) <= _LS_FILTERS:
        return _from_lumisections(transport, dim, selected, retries)
    return None


#: Call sites that got the hint already (``(file, line)``): once each, whatever the
#: numbers in the message, so that a loop over runs is told once.
_hinted: set[tuple[str, int]] = set()
_hinted_lock = threading.Lock()
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _warn_once(message: str) -> None:
    """``warnings.warn`` at the caller's first frame outside this package, once per site."""
    frame: Any = sys._getframe(0)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    site = (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("?", 0)
    with _hinted_lock:
        if site in _hinted:
            return
        _hinted.add(site)
    warnings.warn(message, PerformanceWarning, stacklevel=level)


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


class SpeedHint:
    """Says once how to make a walk of thousands of small requests faster (module doc)."""

    def __init__(
        self,
        label: str,
        filters: PaginatedFilters,
        *,
        workers: int,
        max_pages: int | None,
    ) -> None:
        self.label = label
        self.size = page_size(filters)
        self.max_pages = max_pages
        self.requests = 0
        self.bigger_pages = self.size < MAX_PAGE_SIZE
        self.more_workers = workers == 1 and filters.next_token is None and partitionable(filters)
        self.given = not (self.bigger_pages or self.more_workers)
        if max_pages is not None and max_pages < HINT_REQUESTS:
            self.given = True  # a bounded walk: nothing to speed up

    def _advice(self, rows: int | None) -> str:
        ways = []
        if self.bigger_pages:
            fewer = (
                f" (about {-(-rows // MAX_PAGE_SIZE):,} requests for the whole query)"
                if rows is not None
                else ""
            )
            ways.append(f"page_size={MAX_PAGE_SIZE} in the filters{fewer}")
        if self.more_workers:
            ways.append(f"workers={HINT_WORKERS} to fetch parts of the query concurrently")
        return " and ".join(ways)

    def expect(self, rows: int | None) -> None:
        """Before the walk: ``rows`` still to fetch (``None``: unknown)."""
        if self.given or rows is None:
            return
        requests = -(-rows // self.size)
        if self.max_pages is not None:
            requests = min(requests, self.max_pages)
        if requests >= HINT_REQUESTS:
            self.given = True
            _warn_once(
                f"this walk of {self.label} will make about {requests:,} requests of "
                f"{_rows(self.size)} each (the query has {rows:,} rows); for fewer, faster "
                f"requests pass {self._advice(rows)}"
            )

    def page(self) -> None:
        """After each page: the hint when the walk reaches ``HINT_REQUESTS`` requests."""
        if self.given:
            return
        self.requests += 1
        if self.requests >= HINT_REQUESTS:
            self.given = True
            _warn_once(
                f"this walk of {self.label} has made {self.requests:,} requests of "
                f"{_rows(self.size)} each so far; for fewer, faster requests pass "
                f"{self._advice(None)}"
            )
