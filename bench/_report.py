"""Shared helpers of the benchmark scripts: statistics and the BENCHMARKS.md sections.

Each script owns one section of BENCHMARKS.md, delimited by HTML comments, and rewrites
only that section, so the scripts can be run independently.  Figures are the median and
the range (min-max) of several runs; the machine is small and noisy, so ratios measured
in the same run matter more than absolute times.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by the scripts under `bench/` (never by hand, never by timed tests). Each figure\n"
    "is the median of several runs with the range (min-max) beside it. The machine is small\n"
    "(2 cores) and shared, so compare ratios measured in the same run rather than absolute\n"
    "times across sections.\n"
)


def median_range(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """``median (min-max)`` of ``values``, each formatted with ``fmt``."""
    low, high = min(values), max(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(low)}-{fmt.format(high)})"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc``; 0 if it is gone).
    The clock ticks every 10 ms: time enough work between two readings."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_line() -> str:
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}."
    )


def write_section(name: str, body: str) -> Path:
    """Replace (or append) the section ``name`` of BENCHMARKS.md, atomically."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with tempfile.NamedTemporaryFile("w", dir=BENCHMARKS_MD.parent, delete=False) as tmp:
        tmp.write(text)
    os.replace(tmp.name, BENCHMARKS_MD)
    return BENCHMARKS_MD
