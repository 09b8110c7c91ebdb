"""Progress of the server side's long jobs (``seed``, ``ingest``, the seeding of ``serve --demo``).

One :class:`Progress` counts work done towards an exact total and shows it on standard
error, in the form that suits where it goes:

* a terminal: a tqdm bar when tqdm is installed (the ``tqdm`` extra), else a plain bar
  redrawn in place at most ten times a second;
* anything else (a log file, a pipe, CI): one line every few seconds, each with the count,
  the total, the rate and the time left, and one at the end, so a log read live shows the
  job moving without thousands of lines;
* ``quiet``: nothing at all.

``$DIALS_LOCAL_PROGRESS_INTERVAL`` sets the seconds between two log lines (default 5).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["INTERVAL_ENV", "Progress"]

#: Environment variable: seconds between two progress lines when stderr is not a terminal.
INTERVAL_ENV = "DIALS_LOCAL_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 5.0
#: Seconds between two redraws of the plain terminal bar (tqdm paces itself).
_REDRAW_INTERVAL = 0.1
_BAR_WIDTH = 20


def _log_interval() -> float:
    """``$DIALS_LOCAL_PROGRESS_INTERVAL`` in seconds, else the default (bad values too)."""
    configured = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        value = float(configured) if configured else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 else DEFAULT_INTERVAL


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: short and unambiguous in a log line."""
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class Progress:
    """Work done out of ``total`` units, shown on ``stream`` (standard error by default).

    ``advance(n)`` is cheap (a counter and, now and then, a clock read), so callers may
    call it per row.  ``stage(text)`` names the part being worked on (a workspace).
    Use it as a context manager, or call :meth:`close` once: it shows the final count.
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "rows",
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.total = max(0, int(total))
        self.unit = unit
        self.done = 0
        self.stage_text = ""
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self._started = time.monotonic()
        self._closed = False
        self._bar: Any = None  # a tqdm bar, when one is used
        if quiet:
            self.mode = "quiet"
        elif self._is_terminal():
            self.mode = "terminal"
            self._bar = self._tqdm_bar()
        else:
            self.mode = "log"
        self._interval = _REDRAW_INTERVAL if self.mode == "terminal" else _log_interval()
        # The first line comes one interval in: a job shorter than that shows its final
        # count only, and an error found at once is the first thing printed.
        self._next_show = self._started + self._interval

    def _is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _tqdm_bar(self) -> Any:
        """A tqdm bar, or ``None`` when tqdm is not installed (the plain bar is used)."""
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(
            total=self.total,
            desc=self.label,
            unit=f" {self.unit}",
            unit_scale=True,
            file=self.stream,
            dynamic_ncols=True,
            leave=True,
        )

    # ------------------------------------------------------------------ counting

    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more units done."""
        self.done += amount
        if self._bar is not None:
            self._bar.update(amount)
        elif self.mode != "quiet" and time.monotonic() >= self._next_show:
            self._show()

    def stage(self, text: str) -> None:
        """Name the part of the job now running (shown beside the count)."""
        self.stage_text = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        """Show the final count (once) and end the bar's line."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.mode != "quiet":
            self._show(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        elif self._bar is not None:
            self._bar.close()  # leave the bar where it stopped; the error follows it
        elif self.mode == "terminal":
            self.stream.write("\n")  # the error message must not overwrite the bar
            self.stream.flush()

    # ------------------------------------------------------------------ showing

    def describe(self, compact: bool = False) -> str:
        """The count, total, share, rate and time left, as one line of text (``compact``:
        short enough to sit beside a bar on a terminal line)."""
        elapsed = time.monotonic() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        share = 100.0 * self.done / self.total if self.total else 100.0
        if compact:
            text = f"{share:3.0f}% {self.done:,}/{self.total:,} {self.unit}, {rate:,.0f}/s"
        else:
            text = (
                f"{self.done:,}/{self.total:,} {self.unit} ({share:.0f}%), "
                f"{rate:,.0f} {self.unit}/s, {_duration(elapsed)} elapsed"
            )
        if 0 < self.done < self.total and rate > 0:
            text += f", ~{_duration((self.total - self.done) / rate)} left"
        if self.stage_text:
            text += f" [{self.stage_text}]"
        return text

    def _show(self, final: bool = False) -> None:
        self._next_show = time.monotonic() + self._interval
        if self.mode == "log":
            self.stream.write(f"{self.label}: {self.describe()}\n")
        else:  # the plain terminal bar, redrawn in place
            share = self.done / self.total if self.total else 1.0
            filled = int(_BAR_WIDTH * min(1.0, share))
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            line = f"{self.label} [{bar}] {self.describe(compact=True)}"
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r" + line[:width].ljust(width) + ("\n" if final else ""))
        self.stream.flush()
