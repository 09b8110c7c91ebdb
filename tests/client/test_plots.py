"""Plots (cmsdials.plot) of what the session's dials-local serves: the numbers drawn.

Checks that do not depend on pixels: the heat map is the stacked histograms with NaN
columns where lumisections are missing, trends equal numpy on the same array, the marked
lumisections are the flagged ones, 2-D maps and comparisons equal numpy; what matplotlib
holds (image arrays, marker positions) is compared, not only what the Plot reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from plot_support import RUN, TH1_ME, TH2_ME, TH2_REFERENCE, TH2_RUN

from cmsdials import Dials, LumiMask
from cmsdials._arrays import HistogramArray
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import PlotSelectionError
from cmsdials.plot import Plot, Plots


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def jetmet_client(target: Any) -> Iterator[Dials]:
    creds = Credentials(token=target.secret)
    with Dials(creds, workspace="jetmet", base_url=target.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def th1(jetmet_client: Dials) -> Any:
    result = jetmet_client.h1d.list_all({"me": TH1_ME, "run_number": RUN}, enable_progress=False)
    assert result.num_rows > 50
    return result


@pytest.fixture(scope="module")
def ml_flags(jetmet_client: Dials) -> Any:
    table = jetmet_client.ml_bad_lumis.list_all(
        {"me": TH1_ME, "run_number": RUN}, enable_progress=False
    )
    assert table.num_rows > 0, "the test needs flagged lumisections"
    return table


@pytest.fixture(scope="module")
def maps(target: Any) -> Any:
    creds = Credentials(token=target.secret)
    with Dials(creds, workspace="ecal", base_url=target.base_url) as client:
        return client.h2d.list_all({"me": TH2_ME}, enable_progress=False)


def _expected_map(array: Any, first: int, last: int) -> np.ndarray:
    """Bins x lumisections first..last, by a loop over rows: NaN where no row."""
    grid = np.full((array.data.shape[1], last - first + 1), np.nan)
    for row, ls in zip(array.data, array.ls_number.tolist()):
        grid[:, ls - first] = row
    return grid


# -- the lumisection heat map ----------------------------------------------------------------


def test_heat_map_is_the_stacked_histograms_with_gaps(th1: Any) -> None:
    array = th1.to_numpy()
    kept = LumiMask({RUN: [[1, 30], [41, 90]]}).apply(array)  # LS 31-40 missing
    plot = kept.plot.lumisection_map()
    assert isinstance(plot, Plot)
    last = int(array.ls_number.max())
    expected = _expected_map(kept, 1, last)
    assert np.isnan(expected[:, 30:40]).all() and not np.isnan(expected[:, :30]).any()
    np.testing.assert_array_equal(plot.values["map"], expected)
    np.testing.assert_array_equal(plot.lumisections, np.arange(1, last + 1))
    drawn = plot.artists["image"].get_array()
    np.testing.assert_array_equal(np.ma.filled(drawn, np.nan), expected)
    assert drawn.mask[:, 30:40].all() and not drawn.mask[:, :30].any()
    left, right, bottom, top = plot.artists["image"].get_extent()
    assert (left, right) == (0.5, last + 0.5)
    assert (bottom, top) == (array.x_edges[0], array.x_edges[-1])
    assert plot.axes.get_xlabel() == "Lumisection"
    assert plot.axes.get_ylabel() == "CHFrac_highPt_Barrel"
    assert plot.artists["flags"] is None and len(plot.flagged) == 0


def test_heat_map_normalized_divides_each_lumisection_by_its_sum(th1: Any) -> None:
    plot = th1.plot.lumisection_map(normalize=True)
    array = th1.to_numpy()
    expected = _expected_map(array, 1, int(array.ls_number.max()))
    np.testing.assert_allclose(plot.values["map"], expected / expected.sum(axis=0))
    assert plot.artists["colorbar"].ax.get_ylabel() == "Fraction per bin"


def test_several_mes_runs_or_datasets_need_a_choice(jetmet_client: Dials) -> None:
    both = jetmet_client.h1d.list_all(
        {
            "me__regex": "CHFrac_highPt_(Barrel|EndCap)$",
            "run_number__gte": 385799,
            "run_number__lte": RUN,
        },
        enable_progress=False,
    ).to_numpy()
    assert isinstance(both, HistogramArray)
    with pytest.raises(PlotSelectionError, match="2 MEs: choose one with me=") as info:
        both.plot.lumisection_map()
    assert TH1_ME in info.value.suggestions
    with pytest.raises(PlotSelectionError, match="runs: choose one with run="):
        both.plot.lumisection_map(me=TH1_ME)
    with pytest.raises(PlotSelectionError, match="did you mean"):
        both.plot.lumisection_map(me=TH1_ME + "x", run=RUN)
    plot = Plots(both, me=TH1_ME, run=RUN).lumisection_map()
    assert plot.me == TH1_ME and plot.run == RUN
    assert plot.values["map"].shape[1] == int(plot.lumisections[-1])


def test_th1_plots_refuse_th2_and_the_reverse(th1: Any, maps: Any) -> None:
    with pytest.raises(PlotSelectionError, match="th2 ME: use map"):
        maps.plot.lumisection_map(run=TH2_RUN)
    with pytest.raises(PlotSelectionError, match="th1 ME: use lumisection_map"):
        th1.plot.map()


# -- trends ------------------------------------------------------------------------------------


def test_trend_values_equal_numpy_on_the_same_array(th1: Any) -> None:
    array = th1.to_numpy()
    centres = (array.x_edges[:-1] + array.x_edges[1:]) / 2
    plot = th1.plot.trend(["mean", "rms", "entries", "mpv", "integral"])
    order = np.argsort(array.ls_number)
    data = array.data[order]
    mean = np.array([np.average(centres, weights=row) for row in data])
    rms = np.array([np.sqrt(np.average((centres - m) ** 2, weights=row)) for row, m in
                    zip(data, mean)])  # fmt: skip
    expected = {
        "mean": mean,
        "rms": rms,
        "entries": array.entries[order].astype(float),
        "mpv": centres[[int(np.argmax(row)) for row in data]],
        "integral": data.sum(axis=1),
    }
    lss = array.ls_number[order]
    assert len(plot.axes) == 5
    for (name, values), line in zip(expected.items(), plot.artists["lines"]):
        np.testing.assert_allclose(plot.values[name][lss - 1], values, rtol=1e-12)
        np.testing.assert_allclose(line.get_ydata()[lss - 1], values, rtol=1e-12)
    assert plot.axes[-1].get_xlabel().startswith("Lumisection")


def test_trend_has_gaps_where_lumisections_are_missing(th1: Any) -> None:
    kept = LumiMask({RUN: [[1, 30], [41, 90]]}).apply(th1.to_numpy())
    plot = kept.plot.trend("mean")
    assert np.isnan(plot.values["mean"][30:40]).all()
    assert np.isfinite(plot.values["mean"][:30]).all()


def test_unknown_statistic_is_refused_with_the_valid_ones(th1: Any) -> None:
    with pytest.raises(PlotSelectionError, match=r"did you mean 'mean'.*one of mean, rms"):
        th1.plot.trend("meen")


# -- flags -------------------------------------------------------------------------------------


def _marked_x(artist: Any) -> list[float]:
    return sorted(float(x) for x in artist.get_offsets()[:, 0])


def test_flagged_lumisections_are_the_ones_marked(th1: Any, ml_flags: Any) -> None:
    expected = sorted({row.ls_number for row in ml_flags.results})
    for flags in (
        ml_flags,  # the ML-flag table
        ml_flags.results,  # its rows
        ml_flags.to_pandas(),  # its frame
        LumiMask.from_results(ml_flags),  # a mask
        expected,  # lumisection numbers
        [(RUN, ls) for ls in expected] + [(1, 5)],  # (run, ls) pairs; another run's ignored
    ):
        heat = th1.plot.lumisection_map(flags=flags)
        assert heat.flagged.tolist() == expected
        assert _marked_x(heat.artists["flags"]) == expected
        trend = th1.plot.trend("mean", flags=flags)
        assert _marked_x(trend.artists["flags"]) == expected
        marked_y = sorted(trend.artists["flags"].get_offsets()[:, 1].tolist())
        assert marked_y == sorted(trend.values["mean"][np.array(expected) - 1].tolist())
        plt.close("all")


def test_flags_of_another_dataset_are_not_marked(th1: Any, ml_flags: Any) -> None:
    frame = ml_flags.to_pandas()
    frame["dataset_id"] = frame["dataset_id"] + 1
    assert len(th1.plot.lumisection_map(flags=frame).flagged) == 0


def test_bad_flags_are_refused() -> None:
    from cmsdials.plot._flags import flagged_lumisections

    with pytest.raises(PlotSelectionError, match="flags= takes a LumiMask"):
        flagged_lumisections("385801:5", RUN, 1)
    with pytest.raises(PlotSelectionError, match="flags= takes a LumiMask"):
        flagged_lumisections([object()], RUN, 1)


# -- overlays ----------------------------------------------------------------------------------


def test_overlay_draws_the_chosen_lumisections_and_flags_them(th1: Any) -> None:
    array = th1.to_numpy()
    chosen = list(range(60, 80))
    plot = th1.plot.overlay(ls=chosen, normalize=True, flags=[62, 70, 200])
    rows = [int(np.flatnonzero(array.ls_number == ls)[0]) for ls in chosen]
    expected = array.data[rows] / array.data[rows].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(plot.values["histograms"], expected)
    assert plot.lumisections.tolist() == chosen
    assert plot.flagged.tolist() == [62, 70]
    assert len(plot.artists["lines"]) == 18 and len(plot.artists["flags"]) == 2
    red = matplotlib.colors.to_rgba("red")
    assert all(matplotlib.colors.to_rgba(a.get_edgecolor()) == red for a in plot.artists["flags"])
    flagged_values = [a.get_data().values for a in plot.artists["flags"]]
    np.testing.assert_allclose(flagged_values, expected[[2, 10]])
    with pytest.raises(PlotSelectionError, match=r"no row .* for lumisections \[500\]"):
        th1.plot.overlay(ls=[1, 500])


# -- th2 ---------------------------------------------------------------------------------------


def test_map_draws_one_row(maps: Any) -> None:
    array = maps.to_numpy()
    plot = maps.plot.map(3)
    np.testing.assert_array_equal(plot.values["map"], array.data[3])
    np.testing.assert_array_equal(
        np.ravel(plot.artists["image"].get_array()), array.data[3].ravel()
    )
    row = int(np.flatnonzero((array.run_number == TH2_RUN) & (array.ls_number == 10))[0])
    by_ls = maps.plot.map(ls=10, run=TH2_RUN, flags=[10])
    np.testing.assert_array_equal(by_ls.values["map"], array.data[row])
    assert by_ls.flagged.tolist() == [10] and by_ls.artists["flags"].get_text() == "flagged"
    with pytest.raises(PlotSelectionError, match="rows are numbered 0 to"):
        maps.plot.map(len(array))


@pytest.mark.parametrize("how", ["ratio", "difference"])
def test_compare_equals_numpy(maps: Any, how: str) -> None:
    array = maps.to_numpy()
    mine = array.data[(array.run_number == TH2_RUN) & (array.ls_number != 5)].sum(axis=0)
    theirs = array.data[array.run_number == TH2_REFERENCE].sum(axis=0)
    mine, theirs = mine / mine.sum(), theirs / theirs.sum()
    plot = maps.plot.compare(maps, how, run=TH2_RUN, reference_run=TH2_REFERENCE, flags=[5])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(theirs != 0, mine / theirs, np.nan) if how == "ratio" else mine - theirs
    np.testing.assert_allclose(plot.values[how], expected)
    assert plot.flagged.tolist() == [5] and 5 not in plot.lumisections.tolist()
    with pytest.raises(PlotSelectionError, match="shape"):
        maps.plot.compare(np.ones((3, 3)), run=TH2_RUN)


# -- the objects users hold --------------------------------------------------------------------


def test_every_holder_draws_the_same_map(th1: Any, tmp_path: Path, jetmet_client: Dials) -> None:
    from cmsdials import open_dataset

    expected = th1.plot.lumisection_map().values["map"]
    np.testing.assert_array_equal(th1.to_numpy().plot.lumisection_map().values["map"], expected)
    jetmet_client.fetch(tmp_path / "ds", mes=[TH1_ME], runs=(RUN, RUN), progress=False)
    dataset = open_dataset(tmp_path / "ds")
    np.testing.assert_array_equal(
        dataset.plot(me=TH1_ME, runs=RUN).lumisection_map().values["map"], expected
    )


def test_plots_draw_on_the_callers_axes_and_never_show(th1: Any, monkeypatch: Any) -> None:
    shown: list[Any] = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(a))
    fig, ax = plt.subplots()
    plot = th1.plot.trend("rms", ax=ax)
    assert plot.figure is fig and plot.axes is ax and shown == []
    written = plot.savefig(Path(os.environ.get("TMPDIR", "/tmp")) / f"trend-{os.getpid()}.pdf")
    assert written.read_bytes().startswith(b"%PDF")
    written.unlink()


def test_repr_html_summarises(th1: Any, maps: Any, jetmet_client: Dials) -> None:
    text = th1._repr_html_()
    assert "th1" in text and TH1_ME in text and f"{th1.num_rows:,}" in text
    assert "50 bins [0, 1]" in text and "1 (385801)" in text
    array_text = maps.to_numpy()._repr_html_()
    assert "th2" in array_text and "72 bins [0, 360] &times; 34 bins [-85, 85]" in array_text
    assert "2 (360392&ndash;367112)" in array_text
    runs = jetmet_client.run.list_all({}, enable_progress=False)._repr_html_()
    assert "run_number" in runs and len(runs) < 2000


def test_importing_cmsdials_and_its_plot_package_imports_no_matplotlib() -> None:
    code = (
        "import sys, cmsdials, cmsdials.plot; "
        "print(sorted(m for m in ('matplotlib', 'mplhep', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- the command -------------------------------------------------------------------------------


def _cmsdials(target: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALS_", "CMSDIALS_"))}
    env.update(DIALS_BASE_URL=target.base_url, DIALS_SECRET_KEY=target.secret)
    return subprocess.run(
        [sys.executable, "-m", "cmsdials", "-q", *args],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_command_writes_png_and_pdf(target: Any, tmp_path: Path) -> None:
    done = _cmsdials(target, "-w", "jetmet", "plot", "lumisection-map", TH1_ME, "--run",
                     str(RUN), "--flag-ls", "10-12", "-o", str(tmp_path / "map.png"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "map.png").read_bytes().startswith(b"\x89PNG")
    compare = ["compare", TH2_ME, "--run", str(TH2_RUN), "--reference-run", str(TH2_REFERENCE)]
    done = _cmsdials(target, "-w", "ecal", "plot", *compare, "-o", str(tmp_path / "c.pdf"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_command_errors_are_one_line(target: Any, tmp_path: Path) -> None:
    done = _cmsdials(target, "-w", "jetmet", "plot", "trend", TH1_ME, "--run", str(RUN),
                     "--stat", "meen", "-o", str(tmp_path / "t.png"))  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "did you mean 'mean'" in done.stderr
    assert not (tmp_path / "t.png").exists()
