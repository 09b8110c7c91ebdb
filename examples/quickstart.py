"""Quickstart: read DIALS histograms from a local DIALS, the same way as from CERN's.

Starts dials-local with its demo data set (seeded into ./dials-data on the first run),
lists the per-lumisection pixel cluster-charge histograms of one ME with filters and a
progress bar, converts them to pandas and prints a short summary.

    python examples/quickstart.py

Against the real service, only the credentials and the base URL change:
``Dials(Credentials.from_creds_file())`` instead of the local server's secret key.
"""

from __future__ import annotations

import sys

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.filters import LumisectionHistogram1DFilters, RunFilters
from dials_local.testing import LocalServer

ME = "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"


def main() -> None:
    print("Starting dials-local with the demo data set (first run: seeds ./dials-data)...")
    with LocalServer("dials-data", size="demo", progress=True) as server:
        dials = Dials(Credentials(token=server.secret_key), base_url=server.base_url)
        print(f"dials-local is serving {server.base_url}\n")

        runs = dials.run.list_all(RunFilters(page_size=500)).to_pandas()
        first_runs = sorted(int(run) for run in runs["run_number"].unique())[:3]
        print(f"{len(runs)} (dataset, run) pairs; reading {ME} for runs {first_runs}")

        histograms = dials.h1d.list_all(
            LumisectionHistogram1DFilters(
                me=ME,
                run_number__gte=first_runs[0],
                run_number__lte=first_runs[-1],
                entries__gte=1,
                page_size=100,
            ),
            enable_progress=True,
        )
        frame = histograms.to_pandas()

    print(f"\n{len(frame)} histograms of {ME}")
    print(
        f"binning: {frame['x_bin'].iloc[0]:.0f} bins from {frame['x_min'].iloc[0]} "
        f"to {frame['x_max'].iloc[0]}"
    )
    summary = frame.groupby("run_number").agg(
        lumisections=("ls_number", "count"),
        entries_mean=("entries", "mean"),
        entries_min=("entries", "min"),
    )
    print(summary.to_string())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
