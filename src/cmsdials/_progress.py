"""The ``list_all`` progress bar (tqdm, optional)."""

from __future__ import annotations

import sys
from typing import Any

from cmsdials._optional import available, require

__all__ = ["PageProgress", "progress_wanted"]


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


class PageProgress:
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

    def update(self, *, more: bool) -> None:
        """One more page arrived; ``more`` says whether another one follows."""
        self.pages += 1
        if self._bar is not None:
            self._bar.total = max(self._total(more=more), self.pages)
            self._bar.update(1)

    def close(self) -> None:
        """Close the bar (also on errors, so the terminal is left clean)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
