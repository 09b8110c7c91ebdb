"""Time the plots on 1,000 lumisections x 100 bins (issue #15: well under a second).

    python bench/plots.py

Synthetic rows (no server): a HistogramArray of one ME in one run, every tenth lumisection
flagged.  Each plot is drawn 7 times (Agg canvas, drawing included) after a warm-up;
median and range.  Not a test: the machine's load decides the numbers.  Writes the
section "plots" of BENCHMARKS.md.
"""

from __future__ import annotations

import time

import matplotlib

from _report import machine_line, median_range, write_section

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from cmsdials._arrays import HistogramArray

LUMISECTIONS, BINS, REPEATS = 1000, 100, 7


def synthetic() -> HistogramArray:
    rng = np.random.default_rng(15)
    n = LUMISECTIONS
    ones = np.ones(n, dtype=np.int64)
    return HistogramArray(
        data=rng.poisson(50, size=(n, BINS)).astype(np.float64),
        dataset_id=ones,
        run_number=ones * 367112,
        ls_number=np.arange(1, n + 1, dtype=np.int64),
        me_id=ones,
        entries=ones * 50 * BINS,
        file_id=ones,
        x_edges=np.linspace(0.0, 1.0, BINS + 1),
        y_edges=None,
        me_names={1: "Bench/charge"},
        dataset_names={1: "/Bench/Run/DQMIO"},
    )


def timings(draw: object) -> list[float]:
    """Seconds of each of REPEATS draws of ``draw()``."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        plot = draw()  # type: ignore[operator]
        plot.figure.canvas.draw()
        times.append(time.perf_counter() - start)
        plt.close(plot.figure)
    return times


def main() -> None:
    array = synthetic()
    flags = list(range(10, LUMISECTIONS + 1, 10))
    cases = {
        "lumisection_map": lambda: array.plot.lumisection_map(flags=flags),
        "trend mean": lambda: array.plot.trend("mean", flags=flags),
        "trend mean,rms,entries": lambda: array.plot.trend(["mean", "rms", "entries"]),
        "overlay 20 LS": lambda: array.plot.overlay(ls=range(1, 21), flags=flags),
    }
    timings(cases["lumisection_map"])  # warm-up: imports, fonts
    rows = []
    for name, draw in cases.items():
        ms = [t * 1000 for t in timings(draw)]
        rows.append(f"| `{name}` | {median_range(ms, '{:.0f}')} |")
        print(f"  {name:<24} {rows[-1]}", flush=True)
    lines = [
        "## Plots: 1,000 lumisections x 100 bins",
        "",
        "`python bench/plots.py`: a synthetic `HistogramArray` of one ME in one run (no",
        f"server), every tenth lumisection flagged; each plot drawn {REPEATS} times on",
        "matplotlib's Agg canvas after a warm-up (imports, fonts), drawing included.",
        "",
        "| plot | ms |",
        "|---|---|",
        *rows,
        "",
        machine_line(),
    ]
    print(f"wrote {write_section('plots', chr(10).join(lines))}")


if __name__ == "__main__":
    main()
