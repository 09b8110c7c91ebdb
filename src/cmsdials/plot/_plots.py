"""``.plot``: the plotting methods on th1/th2 results, ``HistogramArray`` and data sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cmsdials.plot._style import DEFAULT_LABEL

if TYPE_CHECKING:
    from cmsdials._arrays import HistogramArray
    from cmsdials.plot._result import Plot
    from cmsdials.plot._select import Series

__all__ = ["Plots"]


class Plots:
    """The plots of a th1/th2 result, ``HistogramArray`` or fetched data set.

    Reached as ``result.plot``, ``array.plot`` or ``dataset.plot(me=..., runs=...)``; made
    directly as ``Plots(source)``.  Every method draws one ME in one run of one dataset:
    ``me=``, ``run=`` and ``dataset=`` choose them when the rows hold several (given here
    once, or per call).  Every method returns a :class:`~cmsdials.plot.Plot` (the figure,
    axes and artists, and the numbers drawn), draws on ``ax=`` when given, and never calls
    ``plt.show()``.

    ``flags=`` marks lumisections on every plot: a :class:`~cmsdials.lumi.LumiMask`, an
    ML-flag table (``dials.ml_bad_lumis.list_all(...)``, its rows or its DataFrame) or a
    list of lumisection numbers (or ``(run, ls)`` pairs).

    ``label=`` is the text beside "CMS" (default ``"Preliminary"``; ``""`` for none).
    Needs the ``plot`` extra (matplotlib, mplhep).
    """

    def __init__(
        self,
        source: Any,
        *,
        me: str | int | None = None,
        run: int | None = None,
        dataset: str | int | None = None,
    ) -> None:
        self._source = source
        self._array: HistogramArray | None = None
        self._me, self._run, self._dataset = me, run, dataset

    def __repr__(self) -> str:
        return f"<Plots of {self._source!r}>"

    @property
    def array(self) -> HistogramArray:
        """The rows as a ``HistogramArray`` (converted once)."""
        if self._array is None:
            from cmsdials.plot._select import as_array

            self._array = as_array(self._source)
        return self._array

    def series(
        self,
        me: str | int | None = None,
        run: int | None = None,
        dataset: str | int | None = None,
    ) -> Series:
        """The rows of one ME, run and dataset, one per lumisection (what a plot draws)."""
        from cmsdials.plot._select import series

        return series(
            self.array,
            me=me if me is not None else self._me,
            run=run if run is not None else self._run,
            dataset=dataset if dataset is not None else self._dataset,
        )

    # -- th1 ------------------------------------------------------------------------------

    def lumisection_map(
        self,
        *,
        me: str | int | None = None,
        run: int | None = None,
        dataset: str | int | None = None,
        flags: Any = None,
        ls_range: tuple[int, int] | None = None,
        normalize: bool = False,
        log: bool = False,
        cmap: str = "viridis",
        label: str | None = DEFAULT_LABEL,
        ax: Any = None,
    ) -> Plot:
        """Heat map of bin contents: the ME's bins (y) against lumisection (x).

        Every lumisection from the first to the last row (or ``ls_range=(first, last)``)
        has a column; one without a row is a gap (NaN), not squeezed out.  ``normalize``
        divides each lumisection by its sum; ``log`` uses a logarithmic colour scale.
        ``Plot.values["map"]`` is the ``(bins, lumisections)`` array drawn.
        """
        from cmsdials.plot._th1 import lumisection_map

        return lumisection_map(
            self.series(me, run, dataset), flags=flags, ls_range=ls_range,
            normalize=normalize, log=log, cmap=cmap, label=label, ax=ax,
        )  # fmt: skip

    def trend(
        self,
        stat: str | Sequence[str] = "mean",
        *,
        me: str | int | None = None,
        run: int | None = None,
        dataset: str | int | None = None,
        flags: Any = None,
        ls_range: tuple[int, int] | None = None,
        label: str | None = DEFAULT_LABEL,
        ax: Any = None,
    ) -> Plot:
        """A statistic against lumisection; several (``stat=["mean", "rms"]``): one panel
        each, sharing the lumisection axis.

        ``"mean"`` and ``"rms"`` (standard deviation) of the bin centres weighted by the
        contents, ``"entries"``, ``"mpv"`` (most probable value: the centre of the fullest
        bin, for charge-like MEs), ``"integral"`` (sum of contents).  Missing lumisections
        are gaps in the line; flagged ones are circled in red.  ``Plot.values[stat]`` holds
        one value per lumisection of ``Plot.lumisections`` (NaN where missing).
        """
        from cmsdials.plot._th1 import trend

        return trend(
            self.series(me, run, dataset), stat, flags=flags, ls_range=ls_range,
            label=label, ax=ax,
        )  # fmt: skip

    def overlay(
        self,
        ls: int | Sequence[int] | None = None,
        *,
        me: str | int | None = None,
        run: int | None = None,
        dataset: str | int | None = None,
        flags: Any = None,
        normalize: bool = False,
        cmap: str = "viridis",
        label: str | None = DEFAULT_LABEL,
        ax: Any = None,
    ) -> Plot:
        """The 1-D histograms of lumisections ``ls`` (default: all) on one axes, coloured by
        lumisection; flagged ones in red, on top.  ``normalize`` divides each by its sum."""
        from cmsdials.plot._th1 import overlay

        return overlay(
            self.series(me, run, dataset), ls, flags=flags, normalize=normalize,
            cmap=cmap, label=label, ax=ax,
        )  # fmt: skip

    # -- th2 ------------------------------------------------------------------------------

    def map(
        self,
        i: int = 0,
        *,
        ls: int | None = None,
        me: str | int | None = None,
        run: int | None = None,
        dataset: str | int | None = None,
        flags: Any = None,
        log: bool = False,
        cmap: str = "viridis",
        label: str | None = DEFAULT_LABEL,
        ax: Any = None,
    ) -> Plot:
        """Row ``i`` of a th2 result as a 2-D map; or, with ``ls=``, that lumisection of
        the ME, run and dataset that ``me=``, ``run=``, ``dataset=`` choose.  A flagged
        lumisection gets a red frame and a "flagged" note."""
        from cmsdials.errors import PlotSelectionError
        from cmsdials.plot._select import series
        from cmsdials.plot._th2 import map_2d

        array = self.array
        if ls is None:
            if not -len(array) <= i < len(array):
                raise PlotSelectionError(f"i={i}: the rows are numbered 0 to {len(array) - 1}")
            row = i % len(array)
            chosen = series(
                array,
                me=int(array.me_id[row]),
                run=int(array.run_number[row]),
                dataset=int(array.dataset_id[row]),
            )
            ls = int(array.ls_number[row])
        else:
            chosen = self.series(me, run, dataset)
        return map_2d(chosen, ls, flags=flags, log=log, cmap=cmap, label=label, ax=ax)

    def compare(
        self,
        reference: Any,
        how: str = "ratio",
        *,
        me: str | int | None = None,
        run: int | None = None,
        dataset: str | int | None = None,
        reference_run: int | None = None,
        reference_dataset: str | int | None = None,
        normalize: bool = True,
        flags: Any = None,
        cmap: str = "RdBu_r",
        label: str | None = DEFAULT_LABEL,
        ax: Any = None,
    ) -> Plot:
        """The run's map, summed over its lumisections, against a reference run's.

        ``reference`` is another th2 result, ``HistogramArray`` or ``Plots`` of the same ME
        (its rows of one run summed; ``reference_run=`` chooses), or a 2-D numpy map.
        ``how="ratio"`` (run / reference; NaN where the reference is 0) or
        ``"difference"`` (run - reference), each map first divided by its total unless
        ``normalize=False``.  Flagged lumisections are left out of the run's sum.
        """
        from cmsdials.plot._th2 import compare

        if isinstance(reference, Plots):
            reference = reference.array
        return compare(
            self.series(me, run, dataset), reference, how, reference_run=reference_run,
            reference_dataset=reference_dataset, normalize=normalize, flags=flags,
            cmap=cmap, label=label, ax=ax,
        )  # fmt: skip
