"""Writing rows: an aligned table, CSV, JSON, JSON lines or Parquet.

On a terminal the table is for reading: rich's alignment, thousands separators, rounded
floats, short times, long cells cut to the terminal's width.  Anywhere else (a pipe, a
file) the same table holds the exact values - every digit, full text, no colour, no
separators - so that ``cmsdials runs | awk ...`` sees what the server sent.  CSV, JSON and
Parquet are always exact: CSV and Parquet as ``to_csv()`` / ``to_parquet()`` of a
``list_all`` result write them, JSON as ``row.model_dump(mode="json")``.
"""

from __future__ import annotations

import csv
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson
from pydantic import BaseModel

from cmsdials._results import Paginated
from cmsdials._tables import csv_rows
from cmsdials._writers import atomic_output, write_csv, write_parquet

__all__ = ["FORMATS", "emit", "emit_json", "is_terminal"]

FORMATS = ("table", "csv", "json", "jsonl", "parquet")

#: Characters of a list or object shown in a terminal cell before it is cut.
_CELL_JSON = 40


def is_terminal() -> bool:
    """Whether standard output is a terminal (someone reads it)."""
    try:
        return sys.stdout.isatty()
    except (ValueError, AttributeError):
        return False


# -- cells ---------------------------------------------------------------------------------


def exact_cell(value: Any) -> str:
    """A value as text without loss: what a script reading the table needs."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        text: str = orjson.dumps(value).decode()
        return text
    return str(value)


def terminal_cell(value: Any) -> str:
    """A value for a person: separators, rounding, short times, lists summarised."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e9 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime.datetime):
        moment: datetime.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.tzinfo else "")
    if isinstance(value, list) and value and all(isinstance(v, (int, float, list)) for v in value):
        return f"[{_count_values(value):,} values]"
    if isinstance(value, (list, dict)):
        text = orjson.dumps(value).decode()
        return text if len(text) <= _CELL_JSON else text[: _CELL_JSON - 1] + "…"
    return str(value)


def _count_values(value: list[Any]) -> int:
    return sum(_count_values(v) if isinstance(v, list) else 1 for v in value)


def _numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in present
    )


# -- tables --------------------------------------------------------------------------------


def _plain_table(names: Sequence[str], records: Sequence[Sequence[Any]]) -> None:
    cells = [[exact_cell(value) for value in record] for record in records]
    widths = [len(name) for name in names]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row)]
    right = [_numeric([record[i] for record in records]) for i in range(len(names))]
    out = sys.stdout
    for row in [list(names), *cells]:
        parts = [
            cell.rjust(width) if is_right else cell.ljust(width)
            for cell, width, is_right in zip(row, widths, right)
        ]
        out.write("  ".join(parts).rstrip() + "\n")


def _rich_table(names: Sequence[str], records: Sequence[Sequence[Any]], caption: str) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
    cells = [[terminal_cell(value) for value in record] for record in records]
    numeric = [_numeric([record[i] for record in records]) for i in range(len(names))]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]
    # A cut number is a wrong number: numbers keep their width, text shares what is left.
    left = console.width - sum(w for w, n in zip(widths, numeric) if n) - 3 * len(names)
    texts = [w for w, n in zip(widths, numeric) if not n]
    share = _fair_share(texts, max(left, 8 * len(texts)))
    for i, name in enumerate(names):
        table.add_column(
            name,
            justify="right" if numeric[i] else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[i] if numeric[i] else min(widths[i], share),
        )
    for row in cells:
        table.add_row(*row)
    console.print(table)
    if caption:
        Console(stderr=True, highlight=False).print(caption, style="dim")


def _fair_share(widths: Sequence[int], room: int) -> int:
    """The largest width cap that fits ``widths`` into ``room`` (narrow columns keep
    theirs, wide ones are cut to the cap)."""
    cap = room
    while cap > 1 and sum(min(w, cap) for w in widths) > room:
        cap -= 1
    return cap


def _vertical(names: Sequence[str], record: Sequence[Any]) -> None:
    if is_terminal():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(box=box.SIMPLE, show_header=False, show_edge=False, pad_edge=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for name, value in zip(names, record):
            table.add_row(name, terminal_cell(value))
        Console(highlight=False).print(table)
        return
    width = max((len(name) for name in names), default=0)
    for name, value in zip(names, record):
        sys.stdout.write(f"{name.ljust(width)}  {exact_cell(value)}".rstrip() + "\n")


# -- formats -------------------------------------------------------------------------------


def _write_text(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with atomic_output(output) as temporary:
        temporary.write_text(text, encoding="utf-8")


def emit_json(value: Any, output: Path | None) -> None:
    """``value`` as indented JSON, to standard output or atomically to ``output``."""
    _write_text(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n", output)


def emit(
    rows: Sequence[BaseModel],
    model: type[BaseModel],
    fmt: str,
    output: Path | None,
    *,
    page: type[Paginated[Any]] | None = None,
    single: bool = False,
) -> None:
    """Write ``rows`` (instances of ``model``) in format ``fmt``.

    ``page``: the route's page model (Parquet then follows ``list_all().to_parquet()``,
    histograms included); ``single``: one object (``get``), shown field by field and as a
    JSON object rather than a list.
    """
    names = list(model.model_fields)
    if fmt == "parquet":
        if output is None:
            raise click.UsageError("--format parquet writes a file: give --output PATH")
        if page is not None:
            page.from_models(list(rows), next=None, previous=None).to_parquet(output)
        else:
            write_parquet(output, model, None, [(None, rows)])
        return
    if fmt == "csv":
        if output is not None:
            write_csv(output, model, [(None, rows)])
            return
        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(csv_rows(model, None, rows))
        sys.stdout.flush()
        return
    if fmt in ("json", "jsonl"):
        dumped = [row.model_dump(mode="json") for row in rows]
        if fmt == "jsonl":
            _write_text("".join(orjson.dumps(item).decode() + "\n" for item in dumped), output)
        else:
            emit_json(dumped[0] if single and dumped else dumped, output)
        return
    if output is not None:
        raise click.UsageError("--output is for csv, json, jsonl and parquet, not table")
    records = [[getattr(row, name) for name in names] for row in rows]
    if single and records:
        _vertical(names, records[0])
    elif is_terminal():
        _rich_table(names, records, f"{len(records):,} row{'s' if len(records) != 1 else ''}")
    else:
        _plain_table(names, records)
