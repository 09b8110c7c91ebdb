"""Reading the files an operator loads: certification JSONs and brilcalc output.

``load_certification`` and ``load_lumi`` validate the whole file first, then write it in
one transaction: a bad file is refused with the line and field at fault, and nothing of
it is loaded.

Luminosity files are what ``brilcalc lumi --byls`` writes: the CSV of ``-o file.csv``
(``#`` header lines naming the columns, e.g.
``#run:fill,ls,time,beamstatus,E(GeV),delivered(/ub),recorded(/ub),avgpu,source``, any
``-u`` unit), or JSON: the ``detailed`` list (or the whole answer) of DIALS'
``brilws/brilcalc-lumi/?byls=true``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from dials_local.data.certification import (
    KINDS,
    CertificationFile,
    LumiRow,
    caf_url,
    ensure_tables,
    store_file,
    store_lumi,
)
from dials_local.db.engines import Database

#: Units brilcalc writes, as multiples of /ub.
UNITS = {"/mb": 1e-3, "/ub": 1.0, "/nb": 1e3, "/pb": 1e6, "/fb": 1e9, "/ab": 1e12}
TIME_FORMAT = "%m/%d/%y %H:%M:%S"
_INT32 = 2**31 - 1
_CLASS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class LoadError(ValueError):
    """A file refused: the message names the file, line and field."""


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LoadError(f"{path}: cannot read it ({error})") from None


def _json(path: Path, text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise LoadError(f"{path}: not JSON ({error})") from None


def _line_of_run(text: str, run: str) -> int:
    """The 1-based line where ``"run"`` appears as a key (1 when not found)."""
    needle = f'"{run}"'
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return 1


# ------------------------------------------------------------------------- certification


def parse_certification(path: Path) -> tuple[str, dict[str, list[list[int]]]]:
    """The text and the normalised compact content of a certification JSON
    (``{"run": [[first, last], ...]}``; ranges sorted and merged)."""
    text = _read_text(path)
    document = _json(path, text)
    if not isinstance(document, dict):
        raise LoadError(f'{path}: line 1: expected an object {{"run": [[first, last], ...]}}')
    content: dict[str, list[list[int]]] = {}
    for run, ranges in document.items():
        where = f"{path}: line {_line_of_run(text, run)}: run {run!r}"
        if not run.isdigit() or not 0 < int(run) <= _INT32:
            raise LoadError(f"{where}: a run key must be a positive run number")
        if not isinstance(ranges, list):
            raise LoadError(f"{where}: expected a list of [first, last] pairs")
        pairs: list[tuple[int, int]] = []
        for item in ranges:
            valid = (
                isinstance(item, list)
                and len(item) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
                and 0 < item[0] <= item[1] <= _INT32
            )
            if not valid:
                raise LoadError(
                    f"{where}: {orjson.dumps(item).decode()} is not a [first, last] pair of "
                    "lumisection numbers with 0 < first <= last"
                )
            pairs.append((item[0], item[1]))
        merged: list[list[int]] = []
        for first, last in sorted(pairs):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        if merged:
            content[str(int(run))] = merged
    return text, dict(sorted(content.items(), key=lambda item: int(item[0])))


def load_certification(
    database: Database,
    path: Path,
    class_name: str,
    kind: str,
    *,
    name: str | None = None,
    url: str | None = None,
    last_modified: dt.datetime | None = None,
) -> CertificationFile:
    """Store the certification JSON at ``path`` as the file ``name`` (default: the file's
    name) of ``class_name`` and ``kind``; modified now unless ``last_modified``."""
    if kind not in KINDS:
        raise LoadError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    if not _CLASS_NAME.match(class_name):
        raise LoadError(
            f"class name {class_name!r}: use letters, digits, '.', '_' or '-', e.g. Collisions24"
        )
    text, content = parse_certification(path)
    file_name = name or path.name
    if not 0 < len(file_name) <= 255:
        raise LoadError(f"file name {file_name!r}: 1 to 255 characters")
    modified = last_modified or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    file = CertificationFile(
        class_name=class_name,
        kind=kind,
        name=file_name,
        url=url or caf_url(class_name, kind, file_name),
        last_modified=modified.replace(second=0, microsecond=0),
        size=len(text.encode()),
        content=content,
    )
    engine = database.service_engine()
    ensure_tables(engine)
    with engine.begin() as conn:
        store_file(conn, file)
    return file


# ----------------------------------------------------------------------------- luminosity

_UNIT_COLUMN = re.compile(r"^(delivered|recorded)\((/[a-z]b)\)$")


def _unit_columns(header: list[str], where: str) -> tuple[dict[str, str], float]:
    """Map ``delivered``/``recorded`` to their column names; the unit's scale to /ub."""
    columns: dict[str, str] = {}
    units = set()
    for column in header:
        match = _UNIT_COLUMN.match(column)
        if match:
            columns[match[1]] = column
            units.add(match[2])
    for unit in units:
        if unit not in UNITS:
            raise LoadError(f"{where}: unit {unit} unknown; brilcalc writes {', '.join(UNITS)}")
    if len(units) > 1:
        raise LoadError(f"{where}: delivered and recorded in different units")
    return columns, UNITS[units.pop()] if units else 1.0


def _row(record: Mapping[str, Any], columns: dict[str, str], scale: float, where: str) -> LumiRow:
    """One lumisection from a brilcalc record (CSV strings or JSON values)."""

    def field(name: str) -> Any:
        key = columns.get(name, name)
        if key not in record or record[key] in (None, ""):
            raise LoadError(f"{where}: field {key!r} is missing")
        return record[key]

    def number(name: str, kind: type[int] | type[float]) -> Any:
        value = field(name)
        try:
            result = kind(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            result = None
        if result is None or (kind is float and not result == result) or result < 0:
            raise LoadError(
                f"{where}: field {columns.get(name, name)!r}: {value!r} is not a "
                f"non-negative {'integer' if kind is int else 'number'}"
            )
        if kind is int and result > _INT32:
            raise LoadError(f"{where}: field {name!r}: {value!r} is too large")
        return result

    if "run:fill" in columns or "run:fill" in record:
        run_fill = str(field("run:fill"))
        parts = run_fill.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise LoadError(f"{where}: field 'run:fill': {run_fill!r} is not RUN:FILL")
        run, fill = int(parts[0]), int(parts[1])
    else:
        run, fill = number("run", int), number("fill", int)
    ls_text = str(field("ls"))
    ls_parts = ls_text.split(":")
    if not 1 <= len(ls_parts) <= 2 or not all(p.isdigit() for p in ls_parts):
        raise LoadError(f"{where}: field 'ls': {ls_text!r} is not LS:CMSLS")
    ls = int(ls_parts[0])
    cms_ls = int(ls_parts[-1])
    if not 0 < run <= _INT32 or not 0 < ls <= _INT32 or cms_ls > _INT32 or fill > _INT32:
        raise LoadError(f"{where}: run, fill and lumisection must be positive 32-bit numbers")
    time_text = str(field("time"))
    try:
        time = dt.datetime.strptime(time_text, TIME_FORMAT)
    except ValueError:
        raise LoadError(f"{where}: field 'time': {time_text!r} is not mm/dd/yy HH:MM:SS") from None
    beamstatus = str(field("beamstatus"))
    if len(beamstatus) > 32:
        raise LoadError(f"{where}: field 'beamstatus': longer than 32 characters")
    source = str(record.get("source") or "")[:32]
    return LumiRow(
        run_number=run,
        ls_number=ls,
        cms_ls=cms_ls,
        fill_number=fill,
        time=time,
        beamstatus=beamstatus,
        energy_gev=round(number("E(GeV)", float)),
        delivered_ub=number("delivered", float) * scale,
        recorded_ub=number("recorded", float) * scale,
        avgpu=number("avgpu", float),
        source=source,
    )


def _csv_rows(path: Path, text: str) -> Iterator[LumiRow]:
    header: list[str] | None = None
    columns: dict[str, str] = {}
    scale = 1.0
    in_summary = False
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path}: line {number}"
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            if body.lower().startswith("summary"):
                in_summary = True
            elif body.startswith("run:fill") and not in_summary:
                header = next(csv.reader([body]))
                if "ls" not in header:
                    raise LoadError(
                        f"{where}: per-run output (no 'ls' column): load the output of "
                        "brilcalc lumi --byls"
                    )
                columns, scale = _unit_columns(header, where)
            continue
        if header is None:
            raise LoadError(f"{where}: data before the '#run:fill,ls,...' header line")
        values = next(csv.reader([stripped]))
        if len(values) != len(header):
            raise LoadError(
                f"{where}: {len(values)} fields, the header names {len(header)}: "
                + ",".join(header)
            )
        yield _row(dict(zip(header, values)), columns, scale, where)
    if header is None:
        raise LoadError(f"{path}: no '#run:fill,ls,...' header line: not brilcalc lumi CSV output")


def _json_rows(path: Path, text: str) -> Iterator[LumiRow]:
    document = _json(path, text)
    if isinstance(document, dict) and "detailed" in document:
        document = document["detailed"]
    if not isinstance(document, list):
        raise LoadError(f'{path}: expected a list of lumisections or {{"detailed": [...]}}')
    for index, record in enumerate(document):
        where = f"{path}: item {index}"
        if not isinstance(record, dict):
            raise LoadError(f"{where}: expected an object")
        columns, scale = _unit_columns(list(record), where)
        yield _row(record, columns, scale, where)


def parse_lumi(path: Path) -> list[LumiRow]:
    """Every lumisection of a brilcalc output file, luminosities in /ub."""
    text = _read_text(path)
    looks_json = text.lstrip()[:1] in ("[", "{")
    rows = list(_json_rows(path, text) if looks_json else _csv_rows(path, text))
    seen: set[tuple[int, int]] = set()
    for row in rows:
        key = (row.run_number, row.ls_number)
        if key in seen:
            raise LoadError(f"{path}: run {key[0]} lumisection {key[1]} appears twice")
        seen.add(key)
    if not rows:
        raise LoadError(f"{path}: no lumisection in the file")
    return rows


def load_lumi(database: Database, path: Path) -> list[LumiRow]:
    """Store the lumisections of ``path``, replacing the stored ones of its runs."""
    rows = parse_lumi(path)
    engine = database.service_engine()
    ensure_tables(engine)
    with engine.begin() as conn:
        store_lumi(conn, rows)
    return rows
