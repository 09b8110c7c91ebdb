"""The ``flags=`` argument of every plot: which lumisections of the plotted run to mark.

``flags`` may be

* a :class:`~cmsdials.lumi.LumiMask` (a golden JSON's complement, ``dials.ml_bad_lumis
  .bad_mask(...)``, any mask): its lumisections of the run;
* an ML-flag table: an ``ml_bad_lumis`` result, its rows, or a DataFrame with
  ``run_number`` and ``ls_number`` columns (rows of another dataset are left out when the
  table says which dataset it flags);
* a list of lumisection numbers of the plotted run, or of ``(run, ls)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from cmsdials.errors import PlotSelectionError

__all__ = ["flagged_lumisections"]


def _from_pairs(pairs: Iterable[tuple[Any, Any, Any]], run: int, dataset_id: int) -> list[int]:
    """LS numbers of ``(dataset_id or None, run, ls)`` triples in ``run`` (and dataset)."""
    return [
        int(ls)
        for dataset, r, ls in pairs
        if int(r) == run and (dataset is None or int(dataset) == dataset_id)
    ]


def _row_triple(row: Any) -> tuple[Any, Any, Any]:
    if isinstance(row, Mapping):
        return row.get("dataset_id"), row["run_number"], row["ls_number"]
    return getattr(row, "dataset_id", None), row.run_number, row.ls_number


def _listed(flags: Any, run: int, dataset_id: int) -> list[int]:
    items = list(flags)
    if all(isinstance(item, (int, np.integer)) and not isinstance(item, bool) for item in items):
        return [int(item) for item in items]
    if all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
        return _from_pairs(((None, r, ls) for r, ls in items), run, dataset_id)
    try:
        return _from_pairs(map(_row_triple, items), run, dataset_id)
    except (AttributeError, KeyError, TypeError):
        raise PlotSelectionError(
            "flags= takes a LumiMask, an ML-flag table (ml_bad_lumis results, rows or a "
            "DataFrame with run_number and ls_number), or a list of lumisection numbers "
            "or (run, ls) pairs"
        ) from None


def flagged_lumisections(flags: Any, run: int, dataset_id: int) -> np.ndarray:
    """The distinct lumisection numbers of ``run`` that ``flags`` marks, ascending (int64).

    ``dataset_id`` leaves out the rows of ML-flag tables that flag another dataset's run.
    """
    from cmsdials._results import Paginated
    from cmsdials.lumi import LumiMask

    if flags is None:
        lss: list[int] = []
    elif isinstance(flags, LumiMask):
        lss = flags.lumisections(run)
    elif isinstance(flags, Paginated):
        lss = _listed(flags.results, run, dataset_id)
    elif hasattr(flags, "columns") and hasattr(flags, "to_numpy"):  # a DataFrame
        for name in ("run_number", "ls_number"):
            if name not in flags.columns:
                raise PlotSelectionError(
                    f"flags=: the DataFrame has no {name!r} column (an ML-flag table has "
                    "run_number and ls_number)"
                )
        keep = flags["run_number"].to_numpy() == run
        if "dataset_id" in flags.columns:
            keep &= flags["dataset_id"].to_numpy() == dataset_id
        lss = [int(v) for v in flags["ls_number"].to_numpy()[keep]]
    elif isinstance(flags, (str, bytes)) or not isinstance(flags, Iterable):
        raise PlotSelectionError(
            f"flags= takes a LumiMask, an ML-flag table or a list of lumisections, not "
            f"{type(flags).__name__}"
        )
    else:
        lss = _listed(flags, run, dataset_id)
    return np.unique(np.asarray(lss, dtype=np.int64))
