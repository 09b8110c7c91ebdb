"""What a plot is drawn from: a :class:`HistogramArray`, narrowed to one ME, run and dataset.

Every plotting method takes the object the user holds (a th1/th2 result, a
``HistogramArray``, a fetched data set) and turns it into a :class:`Series`: the rows of
one ME in one run of one dataset, one row per lumisection, in lumisection order.  Where
the object holds several, ``me=``, ``run=`` and ``dataset=`` choose; without them the
error lists what there is to choose from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cmsdials._suggest import closest
from cmsdials.errors import PlotSelectionError, did_you_mean

if TYPE_CHECKING:
    from cmsdials._arrays import HistogramArray

__all__ = ["Series", "as_array", "series"]

#: At most this many choices are listed in an error.
_LISTED = 10


@dataclass(frozen=True)
class Series:
    """The rows of one ME, run and dataset, one per lumisection, by lumisection.

    Attributes
    ----------
    array:
        The rows (a ``HistogramArray``; ``array.ls_number`` ascending and distinct).
    me, run, dataset, dataset_id:
        What the rows are: the ME's name, the run, the dataset's name and id.
    """

    array: HistogramArray
    me: str
    run: int
    dataset: str
    dataset_id: int

    @property
    def lumisections(self) -> np.ndarray:
        """The lumisection numbers present, ascending (int64)."""
        return np.asarray(self.array.ls_number, dtype=np.int64)

    @property
    def dims(self) -> int:
        """1 for th1 rows, 2 for th2 rows."""
        return 1 if self.array.y_edges is None else 2


def as_array(source: Any) -> HistogramArray:
    """``source`` as a ``HistogramArray``: itself, or a th1/th2 result's ``to_numpy()``."""
    from cmsdials._arrays import HistogramArray
    from cmsdials._results import Paginated

    if isinstance(source, HistogramArray):
        return source
    if isinstance(source, Paginated):
        array = source.to_numpy()
        assert isinstance(array, HistogramArray)
        return array
    raise PlotSelectionError(
        "plots are drawn from th1/th2 results, a HistogramArray or a fetched data set "
        f"(dataset.plot(me=...)), not {type(source).__name__}"
    )


def _listed(values: list[str]) -> str:
    more = f", ... ({len(values)} in all)" if len(values) > _LISTED else ""
    return ", ".join(values[:_LISTED]) + more


def _choose_me(array: HistogramArray, me: str | int | None) -> int:
    present = [int(i) for i in np.unique(array.me_id)]
    names = {i: array.me_names.get(i, str(i)) for i in present}
    if me is None:
        if len(present) == 1:
            return present[0]
        raise PlotSelectionError(
            f"the rows hold {len(present)} MEs: choose one with me= "
            f"({_listed(list(names.values()))})",
            list(names.values()),
        )
    for i, name in names.items():
        if me == name or (isinstance(me, int) and me == i):
            return i
    suggestions = closest(str(me), list(names.values()))
    raise PlotSelectionError(
        f"me={me!r} is not among the rows' MEs{did_you_mean(suggestions)} "
        f"({_listed(list(names.values()))})",
        suggestions,
    )


def _choose(values: np.ndarray, wanted: int | None, what: str, argument: str) -> int:
    present = [int(v) for v in np.unique(values)]
    if wanted is None:
        if len(present) == 1:
            return present[0]
        raise PlotSelectionError(
            f"the rows hold {len(present)} {what}s: choose one with {argument}= "
            f"({_listed([str(v) for v in present])})",
            [str(v) for v in present],
        )
    if int(wanted) not in present:
        raise PlotSelectionError(
            f"{argument}={wanted!r} is not among the rows' {what}s "
            f"({_listed([str(v) for v in present])})",
            [str(v) for v in present],
        )
    return int(wanted)


def _dataset_id(array: HistogramArray, dataset: str | int | None) -> int | None:
    """A dataset given by name or id, as its id (``None`` stays ``None``)."""
    if dataset is None or isinstance(dataset, int):
        return dataset
    for i, name in array.dataset_names.items():
        if name == dataset:
            return i
    names = list(array.dataset_names.values())
    suggestions = closest(dataset, names)
    raise PlotSelectionError(
        f"dataset={dataset!r} is not among the rows' datasets{did_you_mean(suggestions)} "
        f"({_listed(names)})",
        suggestions,
    )


def series(
    source: Any,
    me: str | int | None = None,
    run: int | None = None,
    dataset: str | int | None = None,
) -> Series:
    """The rows of ``source`` for one ME, run and dataset, ordered by lumisection.

    Raises :class:`~cmsdials.errors.PlotSelectionError` when a choice is needed and
    missing, names something the rows do not hold, or when the rows hold a lumisection
    twice.
    """
    array = as_array(source)
    if len(array) == 0:
        raise PlotSelectionError("there are no rows to plot (the result is empty)")
    me_id = _choose_me(array, me)
    keep = array.me_id == me_id
    if run is not None:  # a run often names its dataset: choose it first
        keep &= array.run_number == _choose(array.run_number[keep], run, "run", "run")
    dataset_id = _choose(array.dataset_id[keep], _dataset_id(array, dataset), "dataset", "dataset")
    keep &= array.dataset_id == dataset_id
    run_number = _choose(array.run_number[keep], run, "run", "run")
    keep &= array.run_number == run_number
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(array.ls_number[rows], kind="stable")]
    lss = array.ls_number[rows]
    if len(lss) > 1 and bool((lss[1:] == lss[:-1]).any()):
        twice = sorted({int(v) for v in lss[1:][lss[1:] == lss[:-1]]})
        raise PlotSelectionError(
            f"run {run_number} holds lumisections {twice[:_LISTED]} more than once for "
            f"this ME and dataset: deduplicate the rows first"
        )
    return Series(
        array=array.take(rows),
        me=array.me_names.get(me_id, str(me_id)),
        run=run_number,
        dataset=array.dataset_names.get(dataset_id, str(dataset_id)),
        dataset_id=dataset_id,
    )
