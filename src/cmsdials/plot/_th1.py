"""th1 plots of one ME in one run: the lumisection heat map, trends and overlays.

Each takes a :class:`~cmsdials.plot._select.Series` (one row per lumisection) and draws
lumisections on a continuous axis: a lumisection without a row is a gap (a NaN column, a
break in a line), never squeezed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cmsdials.errors import PlotSelectionError
from cmsdials.plot._flags import flagged_lumisections
from cmsdials.plot._result import Plot
from cmsdials.plot._select import Series
from cmsdials.plot._style import axis_title, cms_label, figure, modules, unit

__all__ = ["STATS", "lumisection_map", "overlay", "statistic", "trend"]

#: The statistics ``trend`` draws, and their axis titles (``{}``: the ME's axis title).
STATS = {
    "mean": "Mean{}",
    "rms": "RMS{}",
    "entries": "Entries",
    "mpv": "MPV{}",
    "integral": "Integral",
}
#: Colour of flagged lumisections on every plot.
FLAG_COLOR = "red"


def _require_th1(series: Series, feature: str) -> None:
    if series.dims != 1:
        raise PlotSelectionError(
            f"{feature} draws th1 histograms; {series.me!r} is a th2 ME: use map() or compare()"
        )


def _ls_axis(series: Series, ls_range: tuple[int, int] | None) -> np.ndarray:
    """Every lumisection from the first to the last (or ``ls_range``), present or not."""
    lss = series.lumisections
    if ls_range is None:
        first, last = int(lss[0]), int(lss[-1])
    else:
        first, last = int(ls_range[0]), int(ls_range[1])
        if first > last or first < 1:
            raise PlotSelectionError(
                f"ls_range={ls_range!r}: give (first, last) with 1 <= first <= last"
            )
    return np.arange(first, last + 1, dtype=np.int64)


def _spread(series: Series, axis: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (one per present lumisection, on axis 0) placed on ``axis``: NaN where a
    lumisection has no row."""
    out = np.full((len(axis), *values.shape[1:]), np.nan)
    lss = series.lumisections
    inside = (lss >= axis[0]) & (lss <= axis[-1])
    out[lss[inside] - axis[0]] = values[inside]
    return out


def statistic(series: Series, stat: str) -> np.ndarray:
    """One value per present lumisection (NaN for an empty histogram).

    ``mean`` and ``rms`` (standard deviation) from the bin centres weighted by the bin
    contents, ``mpv`` the centre of the fullest bin, ``entries`` the row's ``entries``,
    ``integral`` the sum of the bin contents.
    """
    if stat not in STATS:
        from cmsdials._suggest import closest
        from cmsdials.errors import did_you_mean

        suggestions = closest(stat, STATS)
        raise PlotSelectionError(
            f"stat={stat!r} is not a statistic{did_you_mean(suggestions)} "
            f"(one of {', '.join(STATS)})",
            suggestions,
        )
    data = series.array.data
    if stat == "entries":
        return series.array.entries.astype(np.float64)
    sums: np.ndarray = data.sum(axis=1)
    if stat == "integral":
        return sums
    edges = series.array.x_edges
    centres = (edges[:-1] + edges[1:]) / 2
    empty = sums <= 0
    safe = np.where(empty, 1.0, sums)
    if stat == "mpv":
        return np.where(empty, np.nan, centres[np.argmax(data, axis=1)])
    mean = (data @ centres) / safe
    if stat == "mean":
        return np.where(empty, np.nan, mean)
    variance = (data * (centres[None, :] - mean[:, None]) ** 2).sum(axis=1) / safe
    return np.where(empty, np.nan, np.sqrt(variance))


def _flag_marks(ax: Any, flagged: np.ndarray) -> Any:
    """Red triangles along the top edge of ``ax`` at the flagged lumisections."""
    if len(flagged) == 0:
        return None
    return ax.scatter(
        flagged,
        np.full(len(flagged), 0.97),
        transform=ax.get_xaxis_transform(),
        marker="v",
        s=60,
        color=FLAG_COLOR,
        edgecolors="white",
        linewidths=0.8,
        zorder=5,
        clip_on=False,
        label="flagged",
    )


def lumisection_map(
    series: Series,
    *,
    flags: Any = None,
    ls_range: tuple[int, int] | None = None,
    normalize: bool = False,
    log: bool = False,
    cmap: str = "viridis",
    label: str | None = None,
    ax: Any = None,
) -> Plot:
    """The heat map of bin (y) against lumisection (x); see ``Plots.lumisection_map``."""
    _require_th1(series, "lumisection_map()")
    mpl, _, _ = modules("lumisection_map()")
    axis = _ls_axis(series, ls_range)
    rows = series.array.data
    if normalize:
        sums = rows.sum(axis=1, keepdims=True)
        rows = np.divide(rows, sums, out=np.zeros_like(rows), where=sums > 0)
    grid = _spread(series, axis, rows).T  # (bins, lumisections)
    flagged = flagged_lumisections(flags, series.run, series.dataset_id)
    flagged = flagged[(flagged >= axis[0]) & (flagged <= axis[-1])]
    edges = series.array.x_edges
    with figure(ax, "lumisection_map()") as (fig, ax):
        positive = grid[np.isfinite(grid) & (grid > 0)]
        norm = (
            mpl.colors.LogNorm(vmin=positive.min(), vmax=positive.max())
            if log and positive.size
            else None
        )
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            extent=(axis[0] - 0.5, axis[-1] + 0.5, edges[0], edges[-1]),
            cmap=cmap,
            norm=norm,
        )
        colorbar = fig.colorbar(image, ax=ax, pad=0.02)
        colorbar.set_label("Fraction per bin" if normalize else "Entries per bin")
        ax.set_xlabel("Lumisection")
        ax.set_ylabel(axis_title(series.me))
        marks = _flag_marks(ax, flagged)
        text = cms_label(ax, f"Run {series.run}", label)
    return Plot(
        figure=fig,
        axes=ax,
        artists={"image": image, "colorbar": colorbar, "flags": marks, "label": text},
        values={"map": grid},
        lumisections=axis,
        flagged=flagged,
        me=series.me,
        run=series.run,
        dataset=series.dataset,
    )


def trend(
    series: Series,
    stat: str | Sequence[str] = "mean",
    *,
    flags: Any = None,
    ls_range: tuple[int, int] | None = None,
    label: str | None = None,
    ax: Any = None,
) -> Plot:
    """Statistics against lumisection, one panel each; see ``Plots.trend``."""
    _require_th1(series, "trend()")
    stats = [stat] if isinstance(stat, str) else list(stat)
    if not stats:
        raise PlotSelectionError(f"stat= names no statistic (one or more of {', '.join(STATS)})")
    if ax is not None and len(stats) > 1:
        raise PlotSelectionError("ax= takes one Axes: draw one statistic on it (stat='mean')")
    values = {name: statistic(series, name) for name in stats}
    axis = _ls_axis(series, ls_range)
    flagged = flagged_lumisections(flags, series.run, series.dataset_id)
    flagged = flagged[(flagged >= axis[0]) & (flagged <= axis[-1])]
    spread = {name: _spread(series, axis, value) for name, value in values.items()}
    lines = []
    marks = []
    with figure(ax, "trend()", nrows=len(stats)) as (fig, axes):
        panels = (axes,) if len(stats) == 1 else axes
        for panel, name in zip(panels, stats):
            (line,) = panel.plot(axis, spread[name], marker="o", markersize=3, linewidth=1.2)
            lines.append(line)
            symbol = unit(series.me)
            panel.set_ylabel(STATS[name].format(f" [{symbol}]" if symbol else ""))
            present = flagged[np.isfinite(spread[name][flagged - axis[0]])]
            marks.append(
                panel.scatter(
                    present,
                    spread[name][present - axis[0]],
                    s=50,
                    facecolors="none",
                    edgecolors=FLAG_COLOR,
                    linewidths=1.5,
                    zorder=5,
                    label="flagged",
                )
                if len(present)
                else None
            )
            if len(present) and panel is panels[0]:
                panel.legend(loc="best", fontsize="small")
        panels[-1].set_xlabel(f"Lumisection ({axis_title(series.me).split(' [')[0]})")
        text = cms_label(panels[0], f"Run {series.run}", label)
    return Plot(
        figure=fig,
        axes=axes,
        artists={
            "lines": lines,
            "flags": marks[0] if len(marks) == 1 else marks,
            "label": text,
        },
        values=spread,
        lumisections=axis,
        flagged=flagged,
        me=series.me,
        run=series.run,
        dataset=series.dataset,
    )


def _chosen_rows(series: Series, ls: int | Sequence[int] | None) -> np.ndarray:
    lss = series.lumisections
    if ls is None:
        return np.arange(len(lss))
    wanted = np.atleast_1d(np.asarray(ls, dtype=np.int64))
    missing = sorted(set(wanted.tolist()) - set(lss.tolist()))
    if missing:
        raise PlotSelectionError(
            f"run {series.run} has no row of {series.me!r} for lumisections {missing[:10]} "
            f"(it has {len(lss)} lumisections, {int(lss[0])}-{int(lss[-1])})"
        )
    return np.searchsorted(lss, np.unique(wanted))


def overlay(
    series: Series,
    ls: int | Sequence[int] | None = None,
    *,
    flags: Any = None,
    normalize: bool = False,
    cmap: str = "viridis",
    label: str | None = None,
    ax: Any = None,
) -> Plot:
    """The histograms of chosen lumisections on one axes; see ``Plots.overlay``."""
    _require_th1(series, "overlay()")
    mpl, _, _ = modules("overlay()")
    rows = _chosen_rows(series, ls)
    chosen = series.lumisections[rows]
    histograms = series.array.data[rows]
    if normalize:
        sums = histograms.sum(axis=1, keepdims=True)
        histograms = np.divide(histograms, sums, out=np.zeros_like(histograms), where=sums > 0)
    flagged_all = flagged_lumisections(flags, series.run, series.dataset_id)
    is_flagged = np.isin(chosen, flagged_all)
    edges = series.array.x_edges
    colours = mpl.colormaps[cmap]
    norm = mpl.colors.Normalize(vmin=int(chosen[0]), vmax=max(int(chosen[-1]), int(chosen[0]) + 1))
    lines: list[Any] = []
    marks: list[Any] = []
    with figure(ax, "overlay()") as (fig, ax):
        for values, number, bad in zip(histograms, chosen.tolist(), is_flagged.tolist()):
            if bad:
                continue
            lines.append(ax.stairs(values, edges, color=colours(norm(number)), linewidth=1))
        # Flagged lumisections last, on top, in one colour.
        for values, bad in zip(histograms, is_flagged.tolist()):
            if bad:
                marks.append(
                    ax.stairs(
                        values,
                        edges,
                        color=FLAG_COLOR,
                        linewidth=2,
                        zorder=4,
                        label="flagged" if not marks else None,
                    )
                )
        mappable = mpl.cm.ScalarMappable(norm=norm, cmap=colours)
        colorbar = fig.colorbar(mappable, ax=ax, pad=0.02)
        colorbar.set_label("Lumisection")
        ax.set_xlabel(axis_title(series.me))
        ax.set_ylabel("Fraction per bin" if normalize else "Entries per bin")
        ax.set_xlim(edges[0], edges[-1])
        if marks:
            ax.legend(loc="upper right", fontsize="small")
        text = cms_label(ax, f"Run {series.run}", label)
    return Plot(
        figure=fig,
        axes=ax,
        artists={"lines": lines, "flags": marks or None, "colorbar": colorbar, "label": text},
        values={"histograms": histograms},
        lumisections=chosen,
        flagged=chosen[is_flagged],
        me=series.me,
        run=series.run,
        dataset=series.dataset,
    )
