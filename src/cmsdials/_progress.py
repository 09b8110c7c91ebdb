"""Progress of bulk reads: a tqdm bar on a terminal, log lines elsewhere, or nothing.

Every walk (``list_all``, ``stream``, ``pages``, ``iter_all``, the ``to_*`` methods of a
stream) and ``get_many`` count **rows** (keys for ``get_many``), against an exact total
where one is known (``_totals``) - else the count and the rate are shown without a total.

``enable_progress``:

* ``None`` (default): a tqdm bar when tqdm is installed and someone is watching (stderr is
  a terminal, or a Jupyter kernel); otherwise (batch jobs, HTCondor, a terminal without
  tqdm) a line on the ``cmsdials.progress`` logger every few seconds
  (``$CMSDIALS_PROGRESS_INTERVAL``, default 5), at INFO level: it shows when the
  application's logging shows INFO (``logging.basicConfig(level=logging.INFO)``), as
  library logs do.  When nothing would be shown, nothing is computed (no count request).
* ``True``: a tqdm bar wherever stderr goes (as cmsdials 2.4.1); needs the ``tqdm`` extra.
* ``False``: nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from cmsdials._optional import available, require

__all__ = [
    "INTERVAL_ENV",
    "BarProgress",
    "LogProgress",
    "Progress",
    "make_progress",
    "progress_mode",
]

#: The logger of the progress lines (a child of ``cmsdials``).
log = logging.getLogger("cmsdials.progress")

#: Seconds between two progress log lines; the environment variable overrides it.
INTERVAL_ENV = "CMSDIALS_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 5.0


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    ip = get_ipython() if get_ipython is not None else None
    return type(ip).__name__ == "ZMQInteractiveShell"


def _interactive() -> bool:
    stderr = sys.stderr
    tty = bool(stderr is not None and hasattr(stderr, "isatty") and stderr.isatty())
    return tty or _in_notebook()


def _logging_shows_progress() -> bool:
    """True when a line logged at INFO on ``cmsdials.progress`` would be written somewhere
    (the application configured logging for it), not only to Python's last resort."""
    return log.isEnabledFor(logging.INFO) and log.hasHandlers()


def progress_mode(enable_progress: bool | None) -> str | None:
    """``"bar"``, ``"log"`` or ``None`` (nothing to show) for ``enable_progress``.

    ``True`` without tqdm raises :class:`~cmsdials.errors.MissingDependencyError`
    naming the ``tqdm`` extra.
    """
    if enable_progress is None:
        if available("tqdm") and _interactive():
            return "bar"
        return "log" if _logging_shows_progress() else None
    if enable_progress:
        require("tqdm.auto", "tqdm", "enable_progress=True")
        return "bar"
    return None


def _interval() -> float:
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 else DEFAULT_INTERVAL


class Progress:
    """What a walk reports to (this base class shows nothing).

    ``page(rows, more=...)`` once per page in result order; ``close(complete=...)`` at the
    end, also on errors (``complete=False``), so a bar leaves the terminal clean.
    """

    total: int | None = None

    def page(self, rows: int, *, more: bool) -> None:
        """``rows`` more rows arrived; ``more`` says whether other pages follow."""

    def close(self, *, complete: bool = False) -> None:
        """The walk ended: ``complete`` when it fetched everything it was asked for."""

    def describe(self, label: str) -> None:
        """Show ``label`` from now on (e.g. ``fetch 3/12 pieces``)."""

    def _grown_total(self, done: int, *, more: bool) -> int | None:
        """The total, raised when the rows outgrow it (rows added since it was counted)."""
        if self.total is not None and done > self.total:
            self.total = done + (1 if more else 0)
        return self.total


class BarProgress(Progress):
    """A tqdm bar counting ``unit`` (rows) against ``total`` (``None``: no total; the bar
    then shows the count and the rate)."""

    def __init__(self, total: int | None, initial: int = 0, unit: str = "row") -> None:
        tqdm = require("tqdm.auto", "tqdm", "enable_progress=True").tqdm
        self.total = None if total is None else max(total, initial)
        self._bar: Any = tqdm(desc="Progress", total=self.total, initial=initial, unit=unit)

    def describe(self, label: str) -> None:
        if self._bar is not None:
            self._bar.set_description(label, refresh=False)

    def page(self, rows: int, *, more: bool) -> None:
        if self._bar is None:
            return
        total = self._grown_total(self._bar.n + rows, more=more)
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(rows)

    def close(self, *, complete: bool = False) -> None:
        if self._bar is None:
            return
        if complete and self._bar.total != self._bar.n:
            # The walk fetched all it was asked for: fewer rows than counted (max_pages
            # cut a partition short, rows deleted meanwhile) still end the bar at 100 %.
            self._bar.total = self._bar.n
            self._bar.refresh()
        self._bar.close()
        self._bar = None


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class LogProgress(Progress):
    """A line on the ``cmsdials.progress`` logger every :func:`_interval` seconds:
    ``th1/: 12,340/98,765 rows (12%), 2,345 rows/s, about 36 s left``; a last line with
    the time taken at the end when any line was written (a short walk writes none)."""

    def __init__(self, label: str, total: int | None, initial: int = 0, unit: str = "rows") -> None:
        self.label = label
        self.total = None if total is None else max(total, initial)
        self.unit = unit
        self.initial = initial
        self.done = initial
        self.interval = _interval()
        self.started = self.last = time.monotonic()
        self.lines = 0

    def describe(self, label: str) -> None:
        self.label = label

    def _rate(self, now: float) -> float:
        elapsed = now - self.started
        return (self.done - self.initial) / elapsed if elapsed > 0 else 0.0

    def page(self, rows: int, *, more: bool) -> None:
        self.done += rows
        self._grown_total(self.done, more=more)
        now = time.monotonic()
        if more and now - self.last >= self.interval:
            self.last = now
            self.lines += 1
            rate = self._rate(now)
            if self.total:
                left = f", about {_duration((self.total - self.done) / rate)} left" if rate else ""
                log.info(
                    "%s: %s/%s %s (%.0f%%), %s %s/s%s",
                    self.label, _count(self.done), _count(self.total), self.unit,
                    100.0 * self.done / self.total, _count(rate), self.unit, left,
                )  # fmt: skip
            else:
                log.info(
                    "%s: %s %s, %s %s/s", self.label, _count(self.done), self.unit,
                    _count(rate), self.unit,
                )  # fmt: skip

    def close(self, *, complete: bool = False) -> None:
        if not self.lines:
            return
        now = time.monotonic()
        state = "done" if complete else "stopped"
        log.info(
            "%s: %s after %s %s in %s (%s %s/s)", self.label, state, _count(self.done),
            self.unit, _duration(now - self.started), _count(self._rate(now)), self.unit,
        )  # fmt: skip
        self.lines = 0


def make_progress(
    mode: str | None, *, label: str, total: int | None, initial: int = 0, unit: str = "row"
) -> Progress:
    """The display for ``mode`` (see :func:`progress_mode`)."""
    if mode == "bar":
        return BarProgress(total, initial, unit)
    if mode == "log":
        return LogProgress(label, total, initial, unit + "s")
    return Progress()
