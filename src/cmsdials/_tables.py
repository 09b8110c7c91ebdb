"""Results as tables: pandas DataFrames, Arrow tables, CSV rows.

Histogram rows come from their columns (no Python float per bin on the way); rows of the
other routes come from their models.  One column per model field, in the model's order,
for an empty result too.
"""

from __future__ import annotations

import datetime
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from cmsdials._optional import require

if typing.TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from cmsdials._columns import HistogramColumns

__all__ = [
    "arrow_schema",
    "csv_rows",
    "histogram_frame",
    "histogram_table",
    "model_frame",
    "model_table",
]


# ---------------------------------------------------------------------------------------
# pandas
# ---------------------------------------------------------------------------------------


def histogram_frame(columns: HistogramColumns) -> pd.DataFrame:
    """The rows as a DataFrame; ``data`` holds one numpy array per row (views, no copy)."""
    import numpy as np

    pandas = require("pandas", "pandas", "to_pandas()")
    layout = columns.layout
    arrays = columns.data_arrays()
    # An object array filled element by element: handing numpy a list of equally shaped
    # arrays would stack them into one 3-D array instead.
    data = np.empty(len(arrays), dtype=object)
    for position, array in enumerate(arrays):
        data[position] = array
    values = {name: columns.columns[name] for name in layout.fields if name != "data"}
    values["data"] = data
    return pandas.DataFrame(values, columns=list(layout.fields))


def model_frame(model: type[BaseModel], rows: Sequence[BaseModel]) -> pd.DataFrame:
    """Rows of any route as a DataFrame, one column per model field."""
    pandas = require("pandas", "pandas", "to_pandas()")
    fields = list(model.model_fields)
    values = {name: [getattr(row, name) for row in rows] for name in fields}
    return pandas.DataFrame(values, columns=fields)


# ---------------------------------------------------------------------------------------
# Arrow
# ---------------------------------------------------------------------------------------


def _histogram_data(pa: Any, columns: HistogramColumns, fixed: bool) -> Any:
    """The ``data`` column: fixed-size lists when every row has the same shape."""
    import numpy as np

    values = pa.array(columns.values, type=pa.float64())
    shape = columns.uniform_shape() if fixed else None
    if shape is not None:
        array = values
        for width in reversed(shape):  # innermost: x_bin values per line
            array = pa.FixedSizeListArray.from_arrays(array, width)
        return array
    cols = columns.columns
    # Arrow's list offsets are int32 (2**31 values per column chunk, 16 GB of bins).
    if columns.layout.dims == 1:
        return pa.ListArray.from_arrays(pa.array(columns.offsets().astype(np.int32)), values)
    line_lengths = np.repeat(cols["x_bin"], cols["y_bin"])
    line_offsets = np.zeros(len(line_lengths) + 1, np.int32)
    np.cumsum(line_lengths, out=line_offsets[1:])
    row_offsets = np.zeros(len(columns) + 1, np.int32)
    np.cumsum(cols["y_bin"], out=row_offsets[1:])
    lines = pa.ListArray.from_arrays(pa.array(line_offsets), values)
    return pa.ListArray.from_arrays(pa.array(row_offsets), lines)


def histogram_table(columns: HistogramColumns, *, fixed: bool = True) -> pa.Table:
    """The rows as an Arrow table; ``data`` is a (nested) list column of float64.

    ``fixed=True``: ``fixed_size_list`` when all rows share a shape (``y_bin`` lists of
    ``x_bin`` values for th2), else variable ``list``.  ``fixed=False`` always uses
    variable lists (one schema for a file written page by page).
    """
    pa = require("pyarrow", "arrow", "to_arrow()")
    names = [name for name in columns.layout.fields if name != "data"]
    arrays = [pa.array(columns.columns[name]) for name in names]
    arrays.append(_histogram_data(pa, columns, fixed))
    table = pa.Table.from_arrays(arrays, names=[*names, "data"])
    if not fixed:
        table = table.cast(histogram_schema(columns.layout.dims))
    return table


def histogram_schema(dims: int) -> pa.Schema:
    """The Arrow schema of histogram rows with variable list ``data``."""
    from cmsdials._layout import LAYOUT_1D, LAYOUT_2D

    pa = require("pyarrow", "arrow", "to_arrow()")
    layout = LAYOUT_1D if dims == 1 else LAYOUT_2D
    fields = []
    for name in layout.fields:
        if name in layout.ints:
            fields.append(pa.field(name, pa.int64()))
        elif name in layout.floats:
            fields.append(pa.field(name, pa.float64()))
        elif name in layout.strings:
            fields.append(pa.field(name, pa.string()))
    data = pa.list_(pa.float64()) if dims == 1 else pa.list_(pa.list_(pa.float64()))
    fields.append(pa.field("data", data))
    return pa.schema(fields)


def _arrow_type(pa: Any, annotation: Any) -> tuple[Any, bool]:
    """Arrow type of a model field annotation; ``(type, is_json)``.

    Scalars map to their Arrow types; anything else (lists of dicts of the newer ML model
    shape) is stored as JSON text, which every Parquet/CSV reader can hold.
    """
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    simple = {
        int: pa.int64(),
        float: pa.float64(),
        str: pa.string(),
        bool: pa.bool_(),
        datetime.datetime: pa.timestamp("us", tz="UTC"),
    }
    if annotation in simple:
        return simple[annotation], False
    return pa.string(), True


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """The Arrow schema of a (non-histogram) row model."""
    pa = require("pyarrow", "arrow", "to_arrow()")
    return pa.schema(
        [
            pa.field(name, _arrow_type(pa, info.annotation)[0])
            for name, info in model.model_fields.items()
        ]
    )


def model_table(model: type[BaseModel], rows: Sequence[BaseModel]) -> pa.Table:
    """Rows of any route as an Arrow table (typed by the model's annotations)."""
    pa = require("pyarrow", "arrow", "to_arrow()")
    arrays = []
    for name, info in model.model_fields.items():
        kind, is_json = _arrow_type(pa, info.annotation)
        values = [getattr(row, name) for row in rows]
        if is_json:
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays.append(pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(model))


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return value


def csv_rows(
    model: type[BaseModel], columns: HistogramColumns | None, rows: Sequence[BaseModel]
) -> Iterator[list[Any]]:
    """CSV records (no header) of histogram columns, or of models.

    Histogram ``data`` is written as JSON text (``[[...],...]`` for th2), serialised by
    orjson straight from the float64 arrays.
    """
    if columns is not None:
        layout = columns.layout
        plain = [
            (c if isinstance(c, list) else c.tolist())
            for c in (columns.columns[name] for name in layout.fields if name != "data")
        ]
        for values, data in zip(zip(*plain, strict=True), columns.data_arrays(), strict=True):
            yield [*values, orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode()]
        return
    names = list(model.model_fields)
    for row in rows:
        yield [_csv_value(getattr(row, name)) for name in names]
