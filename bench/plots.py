"""Time the plots on 1,000 lumisections x 100 bins (issue #15: well under a second).

    python bench/plots.py

Synthetic rows (no server): a HistogramArray of one ME in one run, every tenth lumisection
flagged.  Prints the best of 5 for each plot, drawing included (Agg canvas), and is not a
test: the machine's load decides the numbers.
"""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from cmsdials._arrays import HistogramArray

LUMISECTIONS, BINS, REPEATS = 1000, 100, 5


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


def best(draw: object) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        plot = draw()  # type: ignore[operator]
        plot.figure.canvas.draw()
        times.append(time.perf_counter() - start)
        plt.close(plot.figure)
    return min(times)


def main() -> None:
    array = synthetic()
    flags = list(range(10, LUMISECTIONS + 1, 10))
    cases = {
        "lumisection_map": lambda: array.plot.lumisection_map(flags=flags),
        "trend mean": lambda: array.plot.trend("mean", flags=flags),
        "trend mean,rms,entries": lambda: array.plot.trend(["mean", "rms", "entries"]),
        "overlay 20 LS": lambda: array.plot.overlay(ls=range(1, 21), flags=flags),
    }
    best(cases["lumisection_map"])  # warm-up: imports, fonts
    print(f"{LUMISECTIONS} lumisections x {BINS} bins, best of {REPEATS}, drawing included")
    for name, draw in cases.items():
        print(f"  {name:<24} {best(draw) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
