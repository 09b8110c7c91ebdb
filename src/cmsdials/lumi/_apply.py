"""``mask.apply(x)``: keep the rows of ``x`` whose (run, lumisection) is in the mask.

Histogram results, ``HistogramArray`` objects, DataFrames and Arrow tables are filtered
with one vectorised membership test (``LumiMask.contains_array``) and one take: no Python
loop over the rows.  Results of the other routes hold row models, filtered as a list.
A fetched data set is read with the mask's runs pushed down to the Parquet scan, then
masked.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from cmsdials._optional import require
from cmsdials.errors import LumiMaskError, LumiMaskTypeError
from cmsdials.lumi._sources import frame_columns

if TYPE_CHECKING:
    from cmsdials.lumi._mask import LumiMask

__all__ = ["apply", "run_ranges"]

_OUTPUTS = ("pandas", "numpy", "arrow")


def apply(mask: LumiMask, data: Any, **options: Any) -> Any:
    """``data`` restricted to the lumisections of ``mask``.

    Parameters
    ----------
    mask:
        The lumisections to keep.
    data:
        * a results object (``list``/``list_all`` of th1, th2, lumisection,
          ml_bad_lumis...): a results object of the same class with the kept rows, in
          order (th1/th2 rows stay columns; ``results`` is built on first read as
          usual).  ``run/`` results (no ``ls_number``) keep the runs the mask has.
        * a ``HistogramArray``: a ``HistogramArray`` of the kept rows.
        * a ``pandas.DataFrame`` (``run_column``/``ls_column`` options, default
          ``run_number``/``ls_number``): ``frame[keep]`` (index labels kept).
        * a ``pyarrow.Table``: ``table.filter(keep)``.
        * a ``FetchedDataset`` (``cmsdials.dataset.open_dataset``): read with
          ``output="pandas"`` (default), ``"numpy"`` or ``"arrow"``, the mask's runs pushed
          down as ``runs=``; other options (``me``, ``datasets``, ``kind``, ``columns``)
          go to that reader.
    """
    from cmsdials._results import Paginated
    from cmsdials.dataset import FetchedDataset

    if isinstance(data, FetchedDataset):
        return _apply_dataset(mask, data, **options)
    if options.keys() - {"run_column", "ls_column"}:
        unknown = sorted(options.keys() - {"run_column", "ls_column"})
        raise LumiMaskTypeError(
            f"apply() got unexpected options {unknown} for {type(data).__name__} "
            "(run_column and ls_column apply to frames and tables)"
        )
    if isinstance(data, Paginated):
        return _apply_results(mask, data)
    # A HistogramArray exists only once numpy and its module are imported: no import here
    # (model results are filtered without numpy).
    arrays = sys.modules.get("cmsdials._arrays")
    if arrays is not None and isinstance(data, arrays.HistogramArray):
        return _apply_array(mask, data)
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        runs, lss = frame_columns(
            data, options.get("run_column", "run_number"), options.get("ls_column", "ls_number")
        )
        return data[mask.contains_array(runs, lss)]
    if module == "pyarrow" and hasattr(data, "column_names"):
        return _apply_arrow(mask, data, **options)
    raise LumiMaskTypeError(
        "apply() takes a results object, a HistogramArray, a pandas.DataFrame, a "
        f"pyarrow.Table or a FetchedDataset, not {type(data).__name__}"
    )


def _apply_results(mask: LumiMask, result: Any) -> Any:
    cls = type(result)
    extra = {"exc_type": result.exc_type, "exc_formatted": result.exc_formatted}
    if cls.histogram_layout() is not None:
        np = require("numpy", "numpy", "LumiMask.apply()")
        columns = result.histogram_columns()
        keep = mask.contains_array(columns.columns["run_number"], columns.columns["ls_number"])
        return cls.from_columns(
            result.next, result.previous, columns.take(np.flatnonzero(keep)), **extra
        )
    fields = cls.row_model().model_fields
    if "run_number" not in fields:
        raise LumiMaskTypeError(
            f"{cls.row_model().__name__} rows have no run_number: nothing to mask"
        )
    if "ls_number" in fields:
        rows = [row for row in result.results if mask.contains(row.run_number, row.ls_number)]
    else:
        runs = set(mask.runs)
        rows = [row for row in result.results if row.run_number in runs]
    return cls.from_models(rows, next=result.next, previous=result.previous, **extra)


def _apply_array(mask: LumiMask, array: Any) -> Any:
    np = require("numpy", "numpy", "LumiMask.apply()")
    keep = np.flatnonzero(mask.contains_array(array.run_number, array.ls_number))
    return array.take(keep)


def _apply_arrow(mask: LumiMask, table: Any, **options: Any) -> Any:
    pa = require("pyarrow", "arrow", "LumiMask.apply()")
    run_column = options.get("run_column", "run_number")
    ls_column = options.get("ls_column", "ls_number")
    for name in (run_column, ls_column):
        if name not in table.column_names:
            raise LumiMaskError(f"the table has no column {name!r} ({table.column_names})")
    keep = mask.contains_array(
        table.column(run_column).to_numpy(), table.column(ls_column).to_numpy()
    )
    return table.filter(pa.array(keep))


def run_ranges(runs: list[int]) -> list[tuple[int, int]]:
    """Ascending runs as maximal ``(first, last)`` ranges of consecutive run numbers."""
    out: list[tuple[int, int]] = []
    for run in runs:
        if out and run == out[-1][1] + 1:
            out[-1] = (out[-1][0], run)
        else:
            out.append((run, run))
    return out


def _apply_dataset(mask: LumiMask, dataset: Any, **options: Any) -> Any:
    output = options.pop("output", "pandas")
    if output not in _OUTPUTS:
        raise LumiMaskTypeError(f"output must be one of {_OUTPUTS}, not {output!r}")
    reader = getattr(dataset, f"to_{output}")
    # An empty mask pushes down nothing (runs=[] would not mean "no run"): every row then
    # fails the membership test below.
    # The caller's runs= narrows further (the mask still applies after the read).
    runs = options.pop("runs") if "runs" in options else (run_ranges(mask.runs) or None)
    if output == "numpy":
        options.pop("columns", None)
        return apply(mask, reader(runs=runs, **options))
    columns = options.pop("columns", None)
    if columns is None:
        return apply(mask, reader(runs=runs, **options))
    # The membership test needs the key columns; the caller's selection comes after.
    wanted = list(columns) if not isinstance(columns, str) else [columns]
    read = wanted + [name for name in ("run_number", "ls_number") if name not in wanted]
    kept = apply(mask, reader(runs=runs, columns=read, **options))
    if output == "pandas":
        return kept[wanted]
    return kept.select(wanted)
