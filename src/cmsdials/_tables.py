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

from cmsdials._gc import gc_paused
from cmsdials._optional import require

if typing.TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from cmsdials._columns import HistogramColumns

__all__ = [
    "INCUMBENT_FRAME_COLUMNS",
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


#: cmsdials 2.4.1's column order for th1/th2 frames: its models' field order, which puts
#: the two names first (the server sends ``dataset_id`` first).  Scripts written for it
#: may select columns by position.
INCUMBENT_FRAME_COLUMNS = {
    1: ("dataset", "me", "dataset_id", "file_id", "run_number", "ls_number", "me_id",
        "x_min", "x_max", "x_bin", "entries", "data"),
    2: ("dataset", "me", "dataset_id", "file_id", "run_number", "ls_number", "me_id",
        "x_min", "x_max", "x_bin", "y_min", "y_max", "y_bin", "entries", "data"),
}  # fmt: skip

#: Fields 2.4.1's models declare as ``float``: their frame columns are float64 there.
_INCUMBENT_FLOATS = ("x_bin", "y_bin")


def _data_cells(columns: HistogramColumns, data_as: str) -> Any:
    """The ``data`` column of a histogram frame, as a 1-D object array.

    ``"numpy"``: th1 cells are 1-D float64 arrays; th2 cells are lists of 1-D float64
    arrays (one per line ``data[iy]``), not 2-D arrays: Arrow (``df.to_parquet``) only
    converts 1-D arrays inside a cell.  All are views of ``columns.values``.
    ``"list"``: Python lists of floats (lists of lists for th2), as cmsdials 2.4.1.
    """
    import numpy as np

    n = len(columns)
    shape = columns.uniform_shape()
    with gc_paused():  # millions of new objects (floats or views): nothing to collect
        if data_as == "list":
            if shape is not None:
                cells: list[Any] = columns.values.reshape((n, *shape)).tolist()
            else:
                cells = [array.tolist() for array in columns.data_arrays()]
        elif columns.layout.dims == 1:
            cells = columns.data_arrays()
        elif shape is not None:
            height = shape[0]
            lines = list(columns.values.reshape((n * height, shape[1])))
            cells = [lines[k * height : (k + 1) * height] for k in range(n)]
        else:
            cells = [list(array) for array in columns.data_arrays()]
        # Filled element by element: handing numpy a list of equally shaped arrays (or
        # lists) would stack them into one multi-dimensional array instead.
        data = np.empty(n, dtype=object)
        for position, cell in enumerate(cells):
            data[position] = cell
    return data


def histogram_frame(columns: HistogramColumns, data_as: str = "numpy") -> pd.DataFrame:
    """The rows as a DataFrame with 2.4.1's columns, order and dtypes (see ``to_pandas``)."""
    pandas = require("pandas", "pandas", "to_pandas()")
    layout = columns.layout
    order = INCUMBENT_FRAME_COLUMNS[layout.dims]
    names = [*order, *(name for name in layout.fields if name not in order)]
    values: dict[str, Any] = {}
    for name in names:
        if name == "data":
            values[name] = _data_cells(columns, data_as)
        elif name in _INCUMBENT_FLOATS:
            values[name] = columns.columns[name].astype("float64")
        else:
            values[name] = columns.columns[name]
    return pandas.DataFrame(values, columns=names)


def model_frame(model: type[BaseModel], rows: Sequence[BaseModel]) -> pd.DataFrame:
    """Rows of any route as a DataFrame, one column per model field."""
    pandas = require("pandas", "pandas", "to_pandas()")
    fields = list(model.model_fields)
    values = {name: [getattr(row, name) for row in rows] for name in fields}
    return pandas.DataFrame(values, columns=fields)


# ---------------------------------------------------------------------------------------
# Arrow
# ---------------------------------------------------------------------------------------


# ``pa.array`` asks pandas whether its argument is a pandas object, which imports pandas
# (0.4 s) on first use: the arrays are built from their buffers instead, so that
# ``to_arrow()`` and the Parquet writers do not pay for pandas.


def _numeric(pa: Any, array: Any, arrow_type: Any) -> Any:
    """An Arrow array sharing the memory of a 1-D numpy array (no nulls)."""
    import numpy as np

    array = np.ascontiguousarray(array)
    return pa.Array.from_buffers(arrow_type, len(array), [None, pa.py_buffer(array)])


#: The largest offset of an Arrow ``string``/``list`` column (int32 offsets).
_INT32_MAX = 2**31 - 1


def _strings(pa: Any, values: Sequence[str]) -> Any:
    """An Arrow ``string`` array of ``values`` (a page repeats few distinct names)."""
    import numpy as np

    if not values:
        return pa.nulls(0)  # the type ``pa.array([])`` gives an empty column, as before
    distinct = {value: code for code, value in enumerate(dict.fromkeys(values))}
    encoded = [value.encode() for value in distinct]
    codes = np.fromiter(map(distinct.__getitem__, values), np.int64, len(values))
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))[codes]
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > _INT32_MAX:
        return pa.array(values, pa.string())  # Arrow splits it into chunks
    data = b"".join(map(encoded.__getitem__, codes.tolist()))
    return pa.Array.from_buffers(
        pa.string(),
        len(values),
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)],
    )


def _offsets(pa: Any, offsets: Any) -> Any:
    import numpy as np

    return _numeric(pa, offsets.astype(np.int32), pa.int32())


def _histogram_data(pa: Any, columns: HistogramColumns, fixed: bool) -> Any:
    """The ``data`` column: fixed-size lists when every row has the same shape."""
    import numpy as np

    values = _numeric(pa, columns.values, pa.float64())
    shape = columns.uniform_shape() if fixed else None
    if shape is not None:
        array = values
        for width in reversed(shape):  # innermost: x_bin values per line
            array = pa.FixedSizeListArray.from_arrays(array, width)
        return array
    cols = columns.columns
    # Arrow's list offsets are int32 (2**31 values per column chunk, 16 GB of bins).
    if columns.layout.dims == 1:
        return pa.ListArray.from_arrays(_offsets(pa, columns.offsets()), values)
    line_lengths = np.repeat(cols["x_bin"], cols["y_bin"])
    line_offsets = np.zeros(len(line_lengths) + 1, np.int32)
    np.cumsum(line_lengths, out=line_offsets[1:])
    row_offsets = np.zeros(len(columns) + 1, np.int32)
    np.cumsum(cols["y_bin"], out=row_offsets[1:])
    lines = pa.ListArray.from_arrays(_offsets(pa, line_offsets), values)
    return pa.ListArray.from_arrays(_offsets(pa, row_offsets), lines)


def histogram_table(columns: HistogramColumns, *, fixed: bool = True) -> pa.Table:
    """The rows as an Arrow table; ``data`` is a (nested) list column of float64.

    ``fixed=True``: ``fixed_size_list`` when all rows share a shape (``y_bin`` lists of
    ``x_bin`` values for th2), else variable ``list``.  ``fixed=False`` always uses
    variable lists (one schema for a file written page by page).
    """
    pa = require("pyarrow", "arrow", "to_arrow()")
    layout = columns.layout
    names = [name for name in layout.fields if name != "data"]
    arrays = []
    for name in names:
        column = columns.columns[name]
        if name in layout.strings:
            arrays.append(_strings(pa, column))
        else:
            arrays.append(_numeric(pa, column, pa.int64() if name in layout.ints else pa.float64()))
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


# `X | Y` annotations have their own origin from Python 3.10 on (typing.Union before).
_UNION_ORIGINS = (typing.Union, getattr(types, "UnionType", typing.Union))


def _arrow_type(pa: Any, annotation: Any) -> tuple[Any, bool]:
    """Arrow type of a model field annotation; ``(type, is_json)``.

    Scalars map to their Arrow types; anything else (lists of dicts of the newer ML model
    shape) is stored as JSON text, which every Parquet/CSV reader can hold.
    """
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in _UNION_ORIGINS and len(args) == 1:
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
    if isinstance(value, (list, dict)):
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
        for values, data in zip(zip(*plain), columns.data_arrays()):
            yield [*values, orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode()]
        return
    names = list(model.model_fields)
    for row in rows:
        yield [_csv_value(getattr(row, name)) for name in names]
