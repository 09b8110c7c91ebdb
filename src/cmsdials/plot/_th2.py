"""th2 plots: one 2-D map, and a run's map against a reference (ratio or difference)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cmsdials.errors import PlotSelectionError
from cmsdials.plot._flags import flagged_lumisections
from cmsdials.plot._result import Plot
from cmsdials.plot._select import Series, as_array, series
from cmsdials.plot._style import cms_label, figure, modules, unit

__all__ = ["HOW", "compare", "map_2d"]

#: What ``compare`` computes, and the value at which the colour scale is centred.
HOW = {"ratio": 1.0, "difference": 0.0}


def _require_th2(chosen: Series, feature: str) -> None:
    if chosen.dims != 2:
        raise PlotSelectionError(
            f"{feature} draws th2 maps; {chosen.me!r} is a th1 ME: use lumisection_map(), "
            "trend() or overlay()"
        )


def _axis_titles(ax: Any, me: str) -> None:
    symbol = unit(me)
    suffix = f" [{symbol}]" if symbol else ""
    ax.set_xlabel("x" + suffix)
    ax.set_ylabel("y" + suffix)


def _leaf(me: str) -> str:
    return me.rsplit("/", 1)[-1]


def map_2d(
    chosen: Series,
    ls: int,
    *,
    flags: Any = None,
    log: bool = False,
    cmap: str = "viridis",
    label: str | None = None,
    ax: Any = None,
) -> Plot:
    """One lumisection's 2-D map; see ``Plots.map``."""
    _require_th2(chosen, "map()")
    mpl, _, _ = modules("map()")
    lss = chosen.lumisections
    where = np.flatnonzero(lss == ls)
    if len(where) == 0:
        raise PlotSelectionError(
            f"run {chosen.run} has no row of {chosen.me!r} for lumisection {ls} "
            f"(it has {len(lss)} lumisections, {int(lss[0])}-{int(lss[-1])})"
        )
    values = chosen.array.data[int(where[0])]
    assert chosen.array.y_edges is not None
    flagged = flagged_lumisections(flags, chosen.run, chosen.dataset_id)
    flagged = flagged[flagged == ls]
    with figure(ax, "map()") as (fig, ax):
        positive = values[values > 0]
        norm = (
            mpl.colors.LogNorm(vmin=positive.min(), vmax=positive.max())
            if log and positive.size
            else None
        )
        image = ax.pcolormesh(
            chosen.array.x_edges, chosen.array.y_edges, values, cmap=cmap, norm=norm
        )
        colorbar = fig.colorbar(image, ax=ax, pad=0.02)
        colorbar.set_label(f"{_leaf(chosen.me)} entries")
        _axis_titles(ax, chosen.me)
        marks = None
        if len(flagged):
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(3)
            marks = ax.text(
                0.03, 0.95, "flagged", color="red", transform=ax.transAxes, va="top",
                fontweight="bold",
            )  # fmt: skip
        text = cms_label(ax, f"Run {chosen.run}, LS {ls}", label)
    return Plot(
        figure=fig,
        axes=ax,
        artists={"image": image, "colorbar": colorbar, "flags": marks, "label": text},
        values={"map": values},
        lumisections=np.array([ls], dtype=np.int64),
        flagged=flagged,
        me=chosen.me,
        run=chosen.run,
        dataset=chosen.dataset,
    )


def _summed(chosen: Series, leave_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sum of the series' maps without the ``leave_out`` lumisections, and the
    lumisections summed."""
    keep = ~np.isin(chosen.lumisections, leave_out)
    if not keep.any():
        raise PlotSelectionError(
            f"every lumisection of run {chosen.run} is flagged: nothing is left to compare"
        )
    return chosen.array.data[keep].sum(axis=0), chosen.lumisections[keep]


def compare(
    chosen: Series,
    reference: Any,
    how: str = "ratio",
    *,
    reference_run: int | None = None,
    reference_dataset: str | int | None = None,
    normalize: bool = True,
    flags: Any = None,
    cmap: str = "RdBu_r",
    label: str | None = None,
    ax: Any = None,
) -> Plot:
    """The run's map (summed over its lumisections) against a reference; see
    ``Plots.compare``."""
    _require_th2(chosen, "compare()")
    if how not in HOW:
        raise PlotSelectionError(
            f"how={how!r}: compare() computes 'ratio' or 'difference'", list(HOW)
        )
    mpl, _, _ = modules("compare()")
    flagged = flagged_lumisections(flags, chosen.run, chosen.dataset_id)
    mine, summed = _summed(chosen, flagged)
    if isinstance(reference, np.ndarray):
        theirs = np.asarray(reference, dtype=np.float64)
        reference_name = "reference"
    else:
        array = as_array(reference)
        me = chosen.me if chosen.me in array.me_names.values() else None
        other = series(array, me=me, run=reference_run, dataset=reference_dataset)
        theirs = other.array.data.sum(axis=0)
        reference_name = f"run {other.run}"
    if theirs.shape != mine.shape:
        raise PlotSelectionError(
            f"the reference's map has shape {theirs.shape}, the run's {mine.shape}: "
            "compare maps of one binning"
        )
    if normalize:
        mine = mine / mine.sum() if mine.sum() > 0 else mine
        theirs = theirs / theirs.sum() if theirs.sum() > 0 else theirs
    if how == "ratio":
        result = np.divide(mine, theirs, out=np.full_like(mine, np.nan), where=theirs != 0)
    else:
        result = mine - theirs
    centre = HOW[how]
    finite = result[np.isfinite(result)]
    spread = float(np.max(np.abs(finite - centre))) if finite.size else 1.0
    spread = spread or 1.0
    assert chosen.array.y_edges is not None
    with figure(ax, "compare()") as (fig, ax):
        image = ax.pcolormesh(
            chosen.array.x_edges,
            chosen.array.y_edges,
            np.ma.masked_invalid(result),
            cmap=cmap,
            norm=mpl.colors.Normalize(vmin=centre - spread, vmax=centre + spread),
        )
        colorbar = fig.colorbar(image, ax=ax, pad=0.02)
        word = "Ratio" if how == "ratio" else "Difference"
        norm_text = " (normalised)" if normalize else ""
        colorbar.set_label(f"{word} to {reference_name}{norm_text}")
        _axis_titles(ax, chosen.me)
        note = f" ({len(flagged)} flagged LS left out)" if len(flagged) else ""
        text = cms_label(ax, f"Run {chosen.run}{note}", label)
    return Plot(
        figure=fig,
        axes=ax,
        artists={"image": image, "colorbar": colorbar, "flags": None, "label": text},
        values={"map": mine, "reference": theirs, how: result},
        lumisections=summed,
        flagged=flagged[np.isin(flagged, chosen.lumisections)],
        me=chosen.me,
        run=chosen.run,
        dataset=chosen.dataset,
    )
