"""Masks read from what the client returns: results objects, rows, ``cert_json`` answers,
``HistogramArray`` objects and DataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cmsdials._suggest import closest
from cmsdials.errors import LumiMaskError, LumiMaskTypeError, did_you_mean

if TYPE_CHECKING:
    from cmsdials.lumi._mask import LumiMask

__all__ = ["frame_columns", "mask_of_cert_json", "mask_of_results"]


def frame_columns(frame: Any, run_column: str, ls_column: str) -> tuple[Any, Any]:
    """The run and lumisection columns of a DataFrame as numpy arrays, or an error naming
    the missing column and the closest ones."""
    names = [str(name) for name in getattr(frame, "columns", ())]
    for column in (run_column, ls_column):
        if column not in names:
            suggestions = closest(column, names)
            raise LumiMaskError(
                f"the frame has no column {column!r}{did_you_mean(suggestions)} "
                f"(columns: {', '.join(names) or 'none'}); pass run_column= / ls_column="
            )
    return frame[run_column].to_numpy(), frame[ls_column].to_numpy()


def mask_of_cert_json(cls: type[LumiMask], answer: Mapping[Any, Any]) -> LumiMask:
    """The lumisections a ``cert_json`` answer flags (CONTRACT §7.9.1: ``{run: {ls: [flags]}}``;
    a lumisection is flagged when its list of flags is not empty)."""
    pairs: list[tuple[Any, Any]] = []
    for run, by_ls in answer.items():
        if not isinstance(by_ls, Mapping):
            raise LumiMaskError(
                f"run {run!r}: a cert_json answer maps each run to {{ls: [flags]}}, "
                f"not {type(by_ls).__name__}"
            )
        pairs.extend((int(run), int(ls)) for ls, flags in by_ls.items() if flags)
    return cls.from_pairs(pairs)


def _pair_of_row(row: Any) -> tuple[Any, Any]:
    if isinstance(row, Mapping):
        return row["run_number"], row["ls_number"]
    return row.run_number, row.ls_number


def mask_of_results(cls: type[LumiMask], results: Any) -> LumiMask:
    """See ``LumiMask.from_results``."""
    from cmsdials._results import Paginated

    if isinstance(results, Paginated):
        if type(results).histogram_layout() is not None:
            columns = results.histogram_columns().columns
            return cls.from_arrays(columns["run_number"], columns["ls_number"])
        fields = type(results).row_model().model_fields
        if "run_number" not in fields or "ls_number" not in fields:
            raise LumiMaskError(
                f"{type(results).row_model().__name__} rows have no (run_number, ls_number): "
                "a mask is made of lumisections (lumisection, th1, th2, ml_bad_lumis results)"
            )
        return cls.from_pairs(_pair_of_row(row) for row in results.results)
    if isinstance(results, Mapping):
        values = list(results.values())
        if values and all(isinstance(value, Mapping) for value in values):
            return mask_of_cert_json(cls, results)
        return cls.from_json(results)
    if (
        hasattr(results, "run_number")
        and hasattr(results, "ls_number")
        and hasattr(results, "data")
    ):  # a HistogramArray
        return cls.from_arrays(results.run_number, results.ls_number)
    if hasattr(results, "columns") and hasattr(results, "to_numpy"):  # a DataFrame
        return cls.from_frame(results)
    if isinstance(results, Iterable) and not isinstance(results, (str, bytes)):
        try:
            return cls.from_pairs(_pair_of_row(row) for row in results)
        except (AttributeError, KeyError) as exc:
            raise LumiMaskTypeError(
                f"rows must have run_number and ls_number (attributes or keys): {exc}"
            ) from None
    raise LumiMaskTypeError(
        "LumiMask.from_results takes a results object, rows, a cert_json answer, a "
        f"HistogramArray or a DataFrame, not {type(results).__name__}"
    )
