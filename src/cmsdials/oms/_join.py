"""OMS columns beside histogram results, on ``(run_number, ls_number)``."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from cmsdials._optional import require
from cmsdials.errors import MissingLumisectionsError, MissingLumisectionsWarning

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HOW", "MATCH", "MissingLumisectionsError", "MissingLumisectionsWarning", "join"]

#: The ways :func:`join` treats lumisections found on one side only.
HOW = ("outer", "left", "inner", "strict")
#: The column :func:`join` adds: where each row's lumisection was found.
MATCH = "oms_match"
KEY = ["run_number", "ls_number"]


def _histogram_frame(histograms: Any) -> pd.DataFrame:
    """``histograms`` as a DataFrame whose rows are its rows, in order."""
    pd = require("pandas", "pandas", "cmsdials.oms.join()")
    if isinstance(histograms, pd.DataFrame):
        return histograms.reset_index(drop=True)
    from cmsdials._arrays import HistogramArray

    if isinstance(histograms, HistogramArray):
        # One row per histogram of the array (row k describes data[k]); the bins stay
        # in the array.
        names = ("dataset_id", "run_number", "ls_number", "me_id", "entries", "file_id")
        return pd.DataFrame({name: getattr(histograms, name) for name in names})
    to_pandas = getattr(histograms, "to_pandas", None)
    if callable(to_pandas):  # a results object (Paginated) or a fetched data set
        result = to_pandas()
        if isinstance(result, pd.DataFrame):
            return result.reset_index(drop=True)
    raise TypeError(
        "join() takes a DataFrame, a results object (list_all), a HistogramArray or a "
        f"fetched data set (open_dataset), not {type(histograms).__name__}"
    )


def _oms_frame(oms: pd.DataFrame) -> pd.DataFrame:
    """``oms`` with ``run_number`` and ``ls_number`` as columns, one row per lumisection."""
    names = [name for name in oms.index.names if name is not None]
    flat = oms.reset_index() if names else oms
    if "ls_number" not in flat.columns and "lumisection_number" in flat.columns:
        flat = flat.rename(columns={"lumisection_number": "ls_number"})
    lacking = [name for name in KEY if name not in flat.columns]
    if lacking:
        raise ValueError(
            f"the OMS frame has no {' or '.join(lacking)}: give a frame of lumisections "
            "(dials.oms.lumisections(runs), or query_all('lumisections', ...)) with "
            "run_number and ls_number (or lumisection_number) as columns or index levels"
        )
    repeated = flat.duplicated(KEY)
    if repeated.any():
        first = flat.loc[repeated, KEY].iloc[0].tolist()
        raise ValueError(f"the OMS frame has lumisection {tuple(first)} more than once")
    return flat


def _describe(pairs: Any) -> str:
    shown = ", ".join(f"({run}, {ls})" for run, ls in pairs[:5])
    return shown + (f" and {len(pairs) - 5} more" if len(pairs) > 5 else "")


def join(histograms: Any, oms: pd.DataFrame, how: str = "outer") -> pd.DataFrame:
    """OMS columns beside each histogram row, matched on ``(run_number, ls_number)``.

    Parameters
    ----------
    histograms:
        Histogram (or lumisection) rows: a DataFrame with ``run_number`` and
        ``ls_number`` columns, a results object (``dials.h1d.list_all(...)``), a
        :class:`~cmsdials.HistogramArray` (its index columns; row ``k`` of the result
        is ``array.data[k]``) or a fetched data set (``open_dataset(...)``).
    oms:
        One row per lumisection: ``dials.oms.lumisections(runs)``, or a frame with
        ``run_number`` and ``ls_number``/``lumisection_number`` columns.
    how:
        What to do with lumisections found on one side only; none is ever dropped
        without a word:

        * ``"outer"`` (default): every histogram row, then a row for each OMS
          lumisection that no histogram row has (histogram columns missing);
        * ``"left"``: the histogram rows only; OMS lumisections without histograms are
          left out with a :class:`MissingLumisectionsWarning` naming them;
        * ``"inner"``: rows found on both sides only, with a warning naming the others;
        * ``"strict"``: :class:`MissingLumisectionsError` unless both sides have the
          same lumisections.

    Returns
    -------
    pandas.DataFrame
        The histogram rows in their order (index ``0..n-1``), their columns, then the
        OMS columns (a name both have gets the suffix ``_oms``), and :data:`MATCH`
        (``"oms_match"``): ``"both"``, ``"no_oms"`` (no OMS record for the lumisection)
        or ``"no_histograms"`` (an OMS lumisection no histogram row has).
    """
    pd = require("pandas", "pandas", "cmsdials.oms.join()")
    if how not in HOW:
        raise ValueError(f"how must be one of {', '.join(map(repr, HOW))}, not {how!r}")
    left = _histogram_frame(histograms)
    lacking = [name for name in KEY if name not in left.columns]
    if lacking:
        raise ValueError(f"the histogram rows have no {' or '.join(lacking)} column")
    right = _oms_frame(oms)
    merged = left.merge(
        right, on=KEY, how="left", suffixes=("", "_oms"), indicator=True, validate="many_to_one"
    )
    merged.index = left.index
    status = merged.pop("_merge").map({"both": "both", "left_only": "no_oms"}).astype(object)
    merged[MATCH] = status
    keys = pd.MultiIndex.from_frame(right[KEY])
    seen = pd.MultiIndex.from_frame(left[KEY])
    extra = right[~keys.isin(seen)].sort_values(KEY, kind="stable")
    no_oms = merged.loc[merged[MATCH] == "no_oms", KEY].drop_duplicates()
    no_oms_pairs = list(no_oms.itertuples(index=False, name=None))
    extra_pairs = list(extra[KEY].itertuples(index=False, name=None))
    if how == "strict" and (no_oms_pairs or extra_pairs):
        parts = []
        if no_oms_pairs:
            parts.append(f"{len(no_oms_pairs)} without OMS records: {_describe(no_oms_pairs)}")
        if extra_pairs:
            parts.append(f"{len(extra_pairs)} without histograms: {_describe(extra_pairs)}")
        raise MissingLumisectionsError(
            "lumisections on one side only (how='strict'): " + "; ".join(parts)
        )
    left_out = []
    if how == "inner" and no_oms_pairs:
        merged = merged[merged[MATCH] == "both"]
        left_out.append(
            f"the histogram rows of {len(no_oms_pairs)} lumisections without OMS records: "
            + _describe(no_oms_pairs)
        )
    if how in ("left", "inner") and extra_pairs:
        left_out.append(
            f"{len(extra_pairs)} OMS lumisections that no histogram row has: "
            + _describe(extra_pairs)
        )
    if left_out:  # one warning per call, naming both sides
        warnings.warn(
            f"join(how={how!r}) left out " + "; and ".join(left_out),
            MissingLumisectionsWarning,
            stacklevel=2,
        )
    if how == "outer" and extra_pairs:
        tail = extra.rename(
            columns={c: f"{c}_oms" for c in extra.columns if c not in KEY and c in left.columns}
        )
        tail = tail.assign(**{MATCH: "no_histograms"})
        tail.index = pd.RangeIndex(len(left), len(left) + len(tail))
        merged = pd.concat([merged, tail], axis=0)
    return merged
