"""Draw the plot gallery of docs/plots.md from dials-local's demo data.

    python docs/make_gallery.py            # seeds a dials-local (tiny data set) in a temporary
                                           # directory, serves it, draws docs/gallery/*.png
    python docs/make_gallery.py --out DIR  # somewhere else

The images are also the baselines of the image tests (tests/client/test_plots_images.py
runs the same CASES against the test session's dials-local, which serves the same
deterministic data, and compares with these files).  Each case's code is shown beside its
image in docs/plots.md (a test checks that the page shows exactly this code).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GALLERY = Path(__file__).resolve().parent / "gallery"
#: Resolution of the images (the CMS style draws 10 x 10 inch figures).
DPI = 50

#: What every case can use: two clients and the rows the gallery draws.
SETUP = """\
th1 = jetmet.h1d.list_all(
    {"me": "JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_highPt_Barrel", "run_number": 385801}
)
flags = jetmet.ml_bad_lumis.list_all(  # the ML-flag table of this ME
    {"me": "JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_highPt_Barrel", "run_number": 385801}
)
maps = ecal.h2d.list_all({"me": "EcalBarrel/EBOccupancyTask/EBOT digi occupancy"})
"""


@dataclass(frozen=True)
class Case:
    """One gallery image: its file name, title, and the code that draws it (``plot = ...``)."""

    name: str
    title: str
    code: str


CASES = [
    Case(
        "lumisection_map",
        "Heat map of bin against lumisection, ML flags marked",
        "plot = th1.plot.lumisection_map(flags=flags)\n",
    ),
    Case(
        "lumisection_map_gaps",
        "Missing lumisections are gaps, not squeezed out",
        "from cmsdials import LumiMask\n\n"
        'kept = LumiMask({"385801": [[1, 30], [41, 82]]}).apply(th1.to_numpy())\n'
        "plot = kept.plot.lumisection_map(normalize=True, flags=[35, 50, 51])\n",
    ),
    Case(
        "trend",
        "Mean, RMS and entries against lumisection",
        'plot = th1.plot.trend(["mean", "rms", "entries"], flags=flags)\n',
    ),
    Case(
        "overlay",
        "Histograms of chosen lumisections, coloured by lumisection",
        "plot = th1.plot.overlay(ls=range(60, 80), normalize=True, flags=flags)\n",
    ),
    Case(
        "map",
        "One 2-D map",
        "plot = maps.plot.map(ls=10, run=367112)\n",
    ),
    Case(
        "compare_ratio",
        "A run against a reference run: ratio",
        'plot = maps.plot.compare(maps, "ratio", run=367112, reference_run=360392)\n',
    ),
    Case(
        "compare_difference",
        "A run against a reference run: difference",
        'plot = maps.plot.compare(maps, "difference", run=367112, reference_run=360392)\n',
    ),
]


def namespace(jetmet: Any, ecal: Any) -> dict[str, Any]:
    """The names every case's code sees: the clients and what SETUP fetched."""
    names: dict[str, Any] = {"jetmet": jetmet, "ecal": ecal}
    exec(SETUP, names)
    return names


def draw(case: Case, names: dict[str, Any], path: Path) -> Any:
    """Run ``case``'s code with ``names`` and write its figure to ``path``; the Plot."""
    import matplotlib.pyplot as plt

    local = dict(names)
    exec(case.code, local)
    plot = local["plot"]
    try:
        plot.savefig(path, dpi=DPI)
    finally:
        plt.close(plot.figure)
    return plot


def draw_all(jetmet: Any, ecal: Any, out: Path) -> list[Path]:
    """Every case into ``out`` (created); the files written."""
    out.mkdir(parents=True, exist_ok=True)
    names = namespace(jetmet, ecal)
    paths = []
    for case in CASES:
        path = out / f"{case.name}.png"
        draw(case, names, path)
        paths.append(path)
    return paths


@contextmanager
def demo_clients() -> Iterator[tuple[Any, Any]]:
    """Clients of a fresh dials-local serving the tiny data set (``jetmet``, ``ecal``)."""
    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials
    from dials_local.testing import LocalServer, seed_data_dir

    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = stack.enter_context(LocalServer(seed_data_dir(data_dir, "tiny")))
        creds = Credentials(token=server.secret_key)
        jetmet = stack.enter_context(Dials(creds, workspace="jetmet", base_url=server.base_url))
        ecal = stack.enter_context(Dials(creds, workspace="ecal", base_url=server.base_url))
        yield jetmet, ecal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GALLERY, help="directory of the images")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    with demo_clients() as (jetmet, ecal):
        for path in draw_all(jetmet, ecal, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
