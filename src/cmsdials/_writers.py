"""Parquet and CSV files written page by page, and only ever complete.

Data is written to a temporary file next to the destination (same directory, so the final
rename stays on one file system and is atomic) and renamed to the destination name only
when every page is written.  An exception or an interrupt removes the temporary file; a
killed process may leave a ``.<name>.<random>.part`` file behind, never a truncated file
under the destination name.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel
from typing_extensions import TypeAlias

from cmsdials._optional import require
from cmsdials._tables import arrow_schema, csv_rows, histogram_schema, histogram_table, model_table

if TYPE_CHECKING:
    from cmsdials._columns import HistogramColumns

__all__ = ["Chunk", "atomic_output", "write_csv", "write_parquet"]

#: One page (or a whole result) to write: histogram columns (then no models), or
#: ``None`` and the row models.
Chunk: TypeAlias = "tuple[HistogramColumns | None, Sequence[BaseModel]]"


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; rename it to ``path`` when the block completes."""
    final = Path(path)
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.part")
    # Created with the usual permissions (0o666 minus the umask), as open() would.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    os.replace(temporary, final)


def write_parquet(
    path: str | os.PathLike[str], model: type[BaseModel], dims: int | None, chunks: Iterable[Chunk]
) -> Path:
    """Write ``chunks`` to a Parquet file, one row group per chunk.

    ``dims`` is 1 or 2 for histogram routes (``data`` as list / list of lists of float64),
    ``None`` for the others (typed by the row model).
    """
    parquet = require("pyarrow.parquet", "arrow", "to_parquet()")
    if dims is not None:
        # Histogram rows are written from columns (recent pyarrow installs without numpy).
        require("numpy", "numpy", "to_parquet()")
    schema = histogram_schema(dims) if dims is not None else arrow_schema(model)
    with atomic_output(path) as temporary, parquet.ParquetWriter(temporary, schema) as writer:
        for columns, rows in chunks:
            if columns is not None:
                table = histogram_table(columns, fixed=False)
            else:
                table = model_table(model, rows)
            if table.num_rows:
                writer.write_table(table)
    return Path(path)


def write_csv(
    path: str | os.PathLike[str], model: type[BaseModel], chunks: Iterable[Chunk]
) -> Path:
    """Write ``chunks`` to a CSV file with a header of the model's field names."""
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(list(model.model_fields))
        for columns, rows in chunks:
            writer.writerows(csv_rows(model, columns, rows))
    return Path(path)
