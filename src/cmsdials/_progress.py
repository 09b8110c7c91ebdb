"""Progress bars of bulk reads (tqdm, optional).

Where the route has a count route (run, lumisection, file index; CONTRACT §6) the total is
known: the bar counts rows and shows an ETA.  Elsewhere (th1, th2, ...) the number of
pages is not known in advance and the bar counts pages, raising its total as pages keep
coming.  Nothing is printed when progress is disabled.
"""

from __future__ import annotations

import sys
from typing import Any

from cmsdials._optional import available, require

__all__ = ["PageProgress", "Progress", "RowProgress", "progress_wanted"]


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    ip = get_ipython() if get_ipython is not None else None
    return type(ip).__name__ == "ZMQInteractiveShell"


def progress_wanted(enable_progress: bool | None) -> bool:
    """Resolve ``enable_progress``: ``None`` means "when tqdm is installed and someone
    is watching" (stderr is a terminal, or a Jupyter kernel)."""
    if enable_progress is not None:
        return bool(enable_progress)
    if not available("tqdm"):
        return False
    stderr = sys.stderr
    interactive = bool(stderr is not None and hasattr(stderr, "isatty") and stderr.isatty())
    return interactive or _in_notebook()


class Progress:
    """What a walk reports to: one call per page, and a close at the end."""

    def page(self, rows: int, *, more: bool) -> None:
        """A page of ``rows`` rows arrived; ``more`` says whether others follow."""

    def close(self) -> None:
        """Close the bar (also on errors, so the terminal is left clean)."""


class RowProgress(Progress):
    """Counts rows against a known total (from a count route): rate and ETA in rows."""

    def __init__(self, enabled: bool, total: int, initial: int = 0) -> None:
        self._bar: Any = None
        if enabled:
            tqdm = require("tqdm.auto", "tqdm", "enable_progress=True").tqdm
            self._bar = tqdm(
                desc="Progress", total=max(total, initial), initial=initial, unit="row"
            )

    def page(self, rows: int, *, more: bool) -> None:
        if self._bar is not None:
            if not more:
                self._bar.total = self._bar.n + rows  # rows changed since the count
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class PageProgress(Progress):
    """Counts pages; the total is unknown, so it is raised as pages keep coming.

    While the server says there is a next page the total is "pages so far + 1" (capped by
    ``max_pages``); at the end it is the number of pages fetched.
    """

    def __init__(self, enabled: bool, max_pages: int | None) -> None:
        self.max_pages = max_pages
        self.pages = 0
        self._bar: Any = None
        if enabled:
            tqdm = require("tqdm.auto", "tqdm", "enable_progress=True").tqdm
            self._bar = tqdm(desc="Progress", total=self._total(more=True), unit="page")

    def _total(self, *, more: bool) -> int:
        total = self.pages + 1 if more else self.pages
        return min(total, self.max_pages) if self.max_pages is not None else total

    def page(self, rows: int, *, more: bool) -> None:
        self.pages += 1
        if self._bar is not None:
            self._bar.total = max(self._total(more=more), self.pages)
            self._bar.update(1)

    def close(self) -> None:
        """Close the bar (also on errors, so the terminal is left clean)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
