"""Compact HTML summaries for notebooks (``_repr_html_`` of results and arrays).

A notebook shows an object's ``_repr_html_`` instead of its repr: for a result of
thousands of histograms that is one small table (kind, rows, shape, MEs, runs,
lumisection range, binning), not pages of floats.  Nothing here imports numpy or
matplotlib unless the object already holds numpy arrays.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["array_html", "results_html"]

#: At most this many names are listed in a cell.
_NAMES = 3


def _names(names: Iterable[str]) -> str:
    distinct = list(dict.fromkeys(names))
    shown = ", ".join(html.escape(name) for name in distinct[:_NAMES])
    more = f" &hellip; ({len(distinct)} in all)" if len(distinct) > _NAMES else ""
    return shown + more


def _span(values: Sequence[int]) -> str:
    if not len(values):
        return "&ndash;"
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}&ndash;{high}"


def _binning(binning: Sequence[float]) -> str:
    axes = [binning[i : i + 3] for i in range(0, len(binning), 3)]
    return " &times; ".join(f"{int(b[2])} bins [{b[0]:g}, {b[1]:g}]" for b in axes)


def _table(title: str, rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left'>{name}</th><td style='text-align:left'>{value}</td></tr>"
        for name, value in rows
    )
    return f"<div><b>{html.escape(title)}</b><table>{cells}</table></div>"


def _runs(runs: Sequence[int]) -> str:
    distinct = sorted(set(runs))
    return f"{len(distinct)} ({_span(distinct)})" if distinct else "&ndash;"


def array_html(array: Any) -> str:
    """The summary of a ``HistogramArray``."""
    runs = array.run_number.tolist()
    kind = "th1" if array.y_edges is None else "th2"
    rows = [
        ("kind", kind),
        ("shape", html.escape(str(tuple(array.data.shape)))),
        ("MEs", _names(array.me_names.values()) or "&ndash;"),
        ("datasets", _names(array.dataset_names.values()) or "&ndash;"),
        ("runs", _runs(runs)),
        ("lumisections", _span(array.ls_number.tolist())),
    ]
    if len(array):
        rows.append(("binning", _binning(array.binning)))
    return _table("HistogramArray", rows)


def results_html(result: Any) -> str:
    """The summary of a results object (th1/th2 or any other route)."""
    page = type(result)
    model = page.row_model().__name__
    columns, models = result._source()
    layout = page.histogram_layout()
    rows: list[tuple[str, str]] = [("rows", f"{result.num_rows:,}")]
    if layout is not None:
        rows.insert(0, ("kind", "th1" if layout.dims == 1 else "th2"))
        if columns is not None:
            cols = columns.columns
            mes, datasets = cols["me"], cols["dataset"]
            runs, lss = cols["run_number"].tolist(), cols["ls_number"].tolist()
            binnings = list(zip(*(cols[name].tolist() for name in layout.binning_fields)))
        else:
            mes = [row.me for row in models]
            datasets = [row.dataset for row in models]
            runs = [row.run_number for row in models]
            lss = [row.ls_number for row in models]
            binnings = [tuple(getattr(row, name) for name in layout.binning_fields)
                        for row in models]  # fmt: skip
        distinct = list(dict.fromkeys(binnings))
        rows += [
            ("MEs", _names(mes) or "&ndash;"),
            ("datasets", _names(datasets) or "&ndash;"),
            ("runs", _runs(runs)),
            ("lumisections", _span(lss)),
            ("binning", (_binning(distinct[0]) if len(distinct) == 1 else
                         f"{len(distinct)} binnings") if distinct else "&ndash;"),
        ]  # fmt: skip
    else:
        fields = list(page.row_model().model_fields)
        rows.append(("fields", html.escape(", ".join(fields))))
    if result.next is not None:
        rows.append(("complete", "no: more pages (resume_from=)"))
    if result.exc_type is not None:
        rows.append(("failed", html.escape(str(result.exc_type))))
    return _table(f"{page.__name__} of {model}", rows)
