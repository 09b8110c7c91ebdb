"""``dials-local ingest``: load your own rows (JSON Lines or Parquet) into a workspace.

One object per row, with the fields the API returns for that table (CONTRACT §7).  Every
row is validated; a bad one stops the load with an :class:`IngestError` that names the
file, the line (JSON Lines) or row (Parquet), the field and what is valid.  The load is
one transaction: on any error nothing is committed.

What the loader derives (see ``docs/ingest.md``):

* ``dataset`` names are looked up from ``dataset_id``; a row whose dataset is unknown may
  name it (``dataset``) and the dataset-index row is created from the name;
* a th1/th2 row names its ME by ``me`` and/or ``me_id``: resolved, or created (dim 1 for
  th1, 2 for th2); its lumisection and run rows are created when missing;
* counts are recomputed for everything the load touched: ``lumisection.th1_count`` /
  ``th2_count`` (histogram rows of the lumisection), ``run.ls_count`` (lumisection rows of
  the run), ``mes.count`` (th1 + th2 rows of the ME) - given values are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, Table, func, select, update

from dials_local.data.bulk import BatchWriter, bulk_connection
from dials_local.data.ingest_fields import FILE_STATUSES, TABLE_FIELDS, FieldError, coerce
from dials_local.db.engines import Database
from dials_local.db.schema import (
    dim_ml_models_index,
    dim_monitoring_elements,
    fact_dataset_index,
    fact_file_index,
    fact_lumisection,
    fact_ml_bad_lumis,
    fact_run,
    fact_th1,
    fact_th2,
)
from dials_local.progress import Progress
from dials_local.workspaces import WORKSPACES

TABLES = (
    "dataset-index",
    "file-index",
    "run",
    "lumisection",
    "th1",
    "th2",
    "mes",
    "ml-models-index",
    "ml-bad-lumisection",
)

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")

_DATASET_NAME = re.compile(r"^/([^/]+)/([^/]+)/([^/]+)$")
_JSON = orjson.OPT_SERIALIZE_NUMPY


class IngestError(ValueError):
    """A file that cannot be loaded; the message names file, line/row, field, what is valid."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        location: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.location = location
        self.field = field
        parts = [str(path) if path is not None else None, location]
        parts.append(f"field '{field}'" if field else None)
        prefix = ": ".join(p for p in parts if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


# --------------------------------------------------------------------------- reading


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """``(location, record)`` pairs of a JSON Lines, JSON array or Parquet file."""
    return open_records(path)[1]


def open_records(path: Path) -> tuple[int, Iterator[tuple[str, Any]]]:
    """The exact number of records of a file (a progress total) and the records.

    Cheap beside the load itself: Parquet files say their row count in their metadata;
    JSON Lines files are counted line by line (blank lines skipped, as when loading)
    without parsing; a JSON array is parsed anyway, then counted.
    """
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _parquet_count(path), _parquet_records(path)
    if suffix in JSON_SUFFIXES:
        items = _json_array(path)
        if items is not None:
            return len(items), ((f"item {i}", item) for i, item in enumerate(items, start=1))
        return _json_lines_count(path), _json_lines(path)
    valid = ", ".join(JSON_SUFFIXES + PARQUET_SUFFIXES)
    raise IngestError(f"unknown file type {suffix!r}; valid suffixes: {valid}", path=path)


def _json_array(path: Path) -> list[Any] | None:
    """The items of a file holding one JSON array, or ``None`` for JSON Lines."""
    with path.open("rb") as stream:
        if not stream.read(4096).lstrip().startswith(b"["):
            return None
        stream.seek(0)
        try:
            items = orjson.loads(stream.read())
        except orjson.JSONDecodeError as error:
            raise IngestError(f"not valid JSON: {error}", path=path) from None
    if not isinstance(items, list):  # "[1] x" fails above; anything else is a list
        raise IngestError("expected a JSON array of objects", path=path)
    return items


def _json_lines_count(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for line in stream if line.strip())


def _json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise IngestError(
                    f"not valid JSON: {error}", path=path, location=f"line {number}"
                ) from None


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for unreadable files
        raise IngestError(f"not a readable Parquet file: {error}", path=path) from None


def _parquet_count(path: Path) -> int:
    return int(_parquet_file(path).metadata.num_rows)


def _parquet_records(path: Path) -> Iterator[tuple[str, Any]]:
    parquet = _parquet_file(path)
    number = 0
    for batch in parquet.iter_batches(batch_size=2000):
        for record in batch.to_pylist():
            number += 1
            yield f"row {number}", record


# --------------------------------------------------------------------------- loading


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


class _Loader:
    """Validates, resolves and writes the rows of one file into one workspace."""

    def __init__(self, conn: Connection, table: str, path: Path) -> None:
        self.conn = conn
        self.table = table
        self.path = path
        self.fields = TABLE_FIELDS[table]
        self.writer = BatchWriter(conn)
        self.location = ""
        self.datasets: dict[int, str] = dict(
            conn.execute(
                select(fact_dataset_index.c.dataset_id, fact_dataset_index.c.dataset)
            ).all()
        )
        self.mes: dict[int, tuple[str, int]] = {
            row.me_id: (row.me, row.dim) for row in conn.execute(select(dim_monitoring_elements))
        }
        self.me_ids: dict[str, int] = {name: me_id for me_id, (name, _) in self.mes.items()}
        self.models: dict[int, str | None] = dict(
            conn.execute(
                select(dim_ml_models_index.c.model_id, dim_ml_models_index.c.target_me)
            ).all()
        )
        self.files: dict[int, dict[int, str]] = {}  # dataset -> file -> status
        self.lumis: dict[int, set[tuple[int, int]]] = {}  # dataset -> (run, ls)
        self.runs: dict[int, set[int]] = {}  # dataset -> runs
        self.keys: dict[tuple[Any, ...], set[tuple[int, ...]]] = {}  # existing primary keys
        self.seen: dict[tuple[int, ...], str] = {}  # keys of this file -> location
        self.touched_runs: set[tuple[int, int]] = set()
        self.touched_mes: set[int] = set()
        self.rows = 0

    # ----------------------------------------------------------------- helpers

    def error(self, message: str, field: str | None = None) -> IngestError:
        return IngestError(message, path=self.path, location=self.location, field=field)

    def validate(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise self.error(f"expected a JSON object with the {self.table} fields")
        values: dict[str, Any] = {}
        for name, value in record.items():
            spec = self.fields.get(name)
            if spec is None:
                valid = ", ".join(self.fields)
                raise self.error(f"not a {self.table} field; valid fields: {valid}", name)
            if value is None and not spec.required and not spec.nullable:
                continue  # null = not given (Parquet columns hold nulls for absent values)
            try:
                values[name] = coerce(spec, value)
            except FieldError as problem:
                raise self.error(str(problem), name) from None
        for name, spec in self.fields.items():
            if spec.required and name not in values:
                raise self.error("missing (required)", name)
        return values

    def check_unique(self, key: tuple[int, ...], existing: set[tuple[int, ...]], what: str) -> None:
        if key in self.seen:
            raise self.error(f"{what} {key} repeats the row at {self.seen[key]}")
        if key in existing:
            raise self.error(f"{what} {key} already exists in the workspace")
        self.seen[key] = self.location

    def existing(
        self, table: Table, columns: list[str], where: dict[str, int]
    ) -> set[tuple[int, ...]]:
        """Primary keys already in ``table`` for the ``where`` prefix (loaded once, cached)."""
        cache_key = (table.name, *where.items())
        if cache_key not in self.keys:
            query = select(*[table.c[c] for c in columns]).where(
                *[table.c[k] == v for k, v in where.items()]
            )
            self.keys[cache_key] = {tuple(row) for row in self.conn.execute(query)}
        return self.keys[cache_key]

    def dataset(self, values: dict[str, Any]) -> int:
        """The row's dataset id, creating the dataset-index row from ``dataset`` if needed."""
        dataset_id: int = values["dataset_id"]
        name = values.get("dataset")
        known = self.datasets.get(dataset_id)
        if known is not None:
            if name is not None and name != known:
                raise self.error(
                    f"dataset_id {dataset_id} is {known!r} in the dataset index, not {name!r}",
                    "dataset",
                )
            return dataset_id
        if name is None:
            raise self.error(
                f"dataset_id {dataset_id} is not in the dataset index; ingest dataset-index "
                "first or give 'dataset' (the full DBS name) to create it",
                "dataset_id",
            )
        self.writer.add(
            fact_dataset_index, [self.dataset_row({"dataset_id": dataset_id, "dataset": name})]
        )
        self.datasets[dataset_id] = name
        return dataset_id

    def dataset_row(self, values: dict[str, Any]) -> dict[str, Any]:
        match = _DATASET_NAME.match(values["dataset"])
        if match is None:
            raise self.error("expected a DBS dataset name /<primary>/<processed>/<tier>", "dataset")
        primary, processed, tier = match.groups()
        version = re.search(r"-v(\d+)$", processed)
        return {
            "dataset_id": values["dataset_id"],
            "dataset": values["dataset"],
            "era": values.get("era") or processed.split("-", 1)[0],
            "data_tier": values.get("data_tier") or tier,
            "primary_ds_name": values.get("primary_ds_name") or primary,
            "processed_ds_name": values.get("processed_ds_name") or processed,
            "processing_version": values.get("processing_version")
            or (int(version.group(1)) if version else 1),
            "last_modification_date": values.get("last_modification_date") or _now(),
        }

    def file_status(self, dataset_id: int, file_id: int) -> str | None:
        if dataset_id not in self.files:
            query = select(fact_file_index.c.file_id, fact_file_index.c.status).where(
                fact_file_index.c.dataset_id == dataset_id
            )
            self.files[dataset_id] = dict(self.conn.execute(query).all())
        return self.files[dataset_id].get(file_id)

    def ensure_run(self, dataset_id: int, run_number: int) -> None:
        if dataset_id not in self.runs:
            query = select(fact_run.c.run_number).where(fact_run.c.dataset_id == dataset_id)
            self.runs[dataset_id] = set(self.conn.execute(query).scalars())
        if run_number not in self.runs[dataset_id]:
            self.writer.add(
                fact_run,
                [
                    {
                        "dataset_id": dataset_id,
                        "run_number": run_number,
                        "ls_count": 0,
                        "ls_completeness": None,
                    }
                ],
            )
            self.runs[dataset_id].add(run_number)
        self.touched_runs.add((dataset_id, run_number))

    def ensure_lumisection(self, dataset_id: int, run_number: int, ls_number: int) -> None:
        if ls_number < 1:
            raise self.error(f"expected a lumisection number >= 1, got {ls_number}", "ls_number")
        self.ensure_run(dataset_id, run_number)
        if dataset_id not in self.lumis:
            query = select(fact_lumisection.c.run_number, fact_lumisection.c.ls_number).where(
                fact_lumisection.c.dataset_id == dataset_id
            )
            self.lumis[dataset_id] = {tuple(r) for r in self.conn.execute(query)}
        if (run_number, ls_number) not in self.lumis[dataset_id]:
            self.writer.add(
                fact_lumisection,
                [
                    {
                        "dataset_id": dataset_id,
                        "run_number": run_number,
                        "ls_number": ls_number,
                        "th1_count": 0,
                        "th2_count": 0,
                    }
                ],
            )
            self.lumis[dataset_id].add((run_number, ls_number))

    def me(self, values: dict[str, Any], dim: int | None, *, create: bool) -> int:
        """Resolve the row's ME from ``me_id`` and/or ``me`` (create it when allowed)."""
        me_id, name = values.get("me_id"), values.get("me")
        if me_id is None and name is None:
            raise self.error("give 'me' (the ME name) and/or 'me_id'", "me")
        if me_id is not None and me_id in self.mes:
            known_name, known_dim = self.mes[me_id]
            if name is not None and name != known_name:
                raise self.error(f"me_id {me_id} is {known_name!r}, not {name!r}", "me")
        elif name is not None and name in self.me_ids:
            if me_id is not None:
                raise self.error(f"ME {name!r} has me_id {self.me_ids[name]}, not {me_id}", "me_id")
            me_id = self.me_ids[name]
            known_dim = self.mes[me_id][1]
        else:
            if not create or name is None:
                hint = "; give 'me' (its name) to create it" if create else ""
                raise self.error(f"no ME with me_id {me_id} in the workspace{hint}", "me_id")
            assert dim is not None
            me_id = me_id if me_id is not None else max(self.mes, default=0) + 1
            self.add_me(me_id, name, dim)
            known_dim = dim
        if dim is not None and known_dim != dim:
            raise self.error(
                f"ME {self.mes[me_id][0]!r} (me_id {me_id}) is {known_dim}-D; "
                f"{self.table} rows need a {dim}-D ME",
                "me" if name is not None else "me_id",
            )
        return me_id

    def add_me(self, me_id: int, name: str, dim: int) -> None:
        if len(name) > 255:
            raise self.error("ME names are at most 255 characters", "me")
        self.writer.add(
            dim_monitoring_elements, [{"me_id": me_id, "me": name, "count": 0, "dim": dim}]
        )
        self.mes[me_id] = (name, dim)
        self.me_ids[name] = me_id
        self.touched_mes.add(me_id)

    # ----------------------------------------------------------------- tables

    def load(self, location: str, record: Any) -> None:
        self.location = location
        values = self.validate(record)
        getattr(self, "row_" + self.table.replace("-", "_"))(values)
        self.rows += 1

    def row_dataset_index(self, values: dict[str, Any]) -> None:
        dataset_id = values["dataset_id"]
        # Known before this file (the file's own rows are caught as repeats first); tested
        # directly: a set of every dataset per row made big loads quadratic.
        if dataset_id in self.datasets and (dataset_id,) not in self.seen:
            raise self.error(f"dataset_id {(dataset_id,)} already exists in the workspace")
        self.check_unique((dataset_id,), set(), "dataset_id")
        self.writer.add(fact_dataset_index, [self.dataset_row(values)])
        self.datasets[values["dataset_id"]] = values["dataset"]

    def row_file_index(self, values: dict[str, Any]) -> None:
        dataset_id = self.dataset(values)
        file_id = values["file_id"]
        status = values.get("status") or "FINISHED"
        if status not in FILE_STATUSES:
            raise self.error(
                f"expected one of {', '.join(FILE_STATUSES)}, got {status!r}", "status"
            )
        if len(values["logical_file_name"]) > 255:
            raise self.error("at most 255 characters", "logical_file_name")
        trace = values.get("err_trace")
        if trace is not None and len(trace) > 2295:
            raise self.error("at most 2295 characters (the DIALS column size)", "err_trace")
        if self.file_status(dataset_id, file_id) is not None:
            raise self.error(f"file_id {file_id} already exists in dataset {dataset_id}", "file_id")
        self.check_unique((dataset_id, file_id), set(), "(dataset_id, file_id)")
        now = _now()
        self.writer.add(
            fact_file_index,
            [
                {
                    "dataset_id": dataset_id,
                    "file_id": file_id,
                    "file_size": values.get("file_size") or 0,
                    "creation_date": values.get("creation_date") or now,
                    "last_modification_date": values.get("last_modification_date") or now,
                    "logical_file_name": values["logical_file_name"],
                    "status": status,
                    "err_trace": trace,
                }
            ],
        )
        self.files[dataset_id][file_id] = status

    def row_run(self, values: dict[str, Any]) -> None:
        dataset_id = self.dataset(values)
        run_number = values["run_number"]
        self.check_unique((dataset_id, run_number), set(), "(dataset_id, run_number)")
        completeness = values.get("ls_completeness")
        if completeness is not None and not 0.0 <= completeness <= 1.0:
            raise self.error(
                f"expected a fraction in [0, 1] or null, got {completeness}", "ls_completeness"
            )
        self.ensure_run(dataset_id, run_number)
        if completeness is not None:
            self.writer.flush()
            self.conn.execute(
                update(fact_run)
                .where(fact_run.c.dataset_id == dataset_id, fact_run.c.run_number == run_number)
                .values(ls_completeness=completeness)
            )

    def row_lumisection(self, values: dict[str, Any]) -> None:
        dataset_id = self.dataset(values)
        key = (dataset_id, values["run_number"], values["ls_number"])
        self.check_unique(key, set(), "(dataset_id, run_number, ls_number)")
        self.ensure_lumisection(*key)

    def row_th1(self, values: dict[str, Any]) -> None:
        self.histogram(values, 1)

    def row_th2(self, values: dict[str, Any]) -> None:
        self.histogram(values, 2)

    def histogram(self, values: dict[str, Any], dim: int) -> None:
        table = fact_th1 if dim == 1 else fact_th2
        dataset_id = self.dataset(values)
        file_id = values["file_id"]
        status = self.file_status(dataset_id, file_id)
        if status is None:
            raise self.error(
                f"file_id {file_id} is not in the file index of dataset {dataset_id}; "
                "ingest file-index first",
                "file_id",
            )
        if status != "FINISHED":
            raise self.error(
                f"file {file_id} has status {status}; histograms come from FINISHED files",
                "file_id",
            )
        me_id = self.me(values, dim, create=True)
        run_number, ls_number = values["run_number"], values["ls_number"]
        self.ensure_lumisection(dataset_id, run_number, ls_number)
        existing = self.existing(
            table, ["ls_number", "me_id"], {"dataset_id": dataset_id, "run_number": run_number}
        )
        key = (dataset_id, run_number, ls_number, me_id)
        if (ls_number, me_id) in existing:
            raise self.error(
                f"(dataset_id, run_number, ls_number, me_id) {key} already exists in the workspace"
            )
        self.check_unique(key, set(), "(dataset_id, run_number, ls_number, me_id)")
        row = {
            "dataset_id": dataset_id,
            "file_id": file_id,
            "run_number": run_number,
            "ls_number": ls_number,
            "me_id": me_id,
        }
        row.update(self.axis(values, "x"))
        shape: tuple[int, ...] = (row["x_bin"],)
        if dim == 2:
            row.update(self.axis(values, "y"))
            shape = (row["y_bin"], row["x_bin"])
        if values["entries"] < 0:
            raise self.error(f"expected an integer >= 0, got {values['entries']}", "entries")
        row["entries"] = values["entries"]
        row["data"] = self.histogram_data(values["data"], shape)
        for axis in ("x_bin", "y_bin"):
            if axis in row:
                row[axis] = float(row[axis])
        self.writer.add(table, [row])
        self.touched_mes.add(me_id)

    def axis(self, values: dict[str, Any], name: str) -> dict[str, Any]:
        low, high, bins = values[f"{name}_min"], values[f"{name}_max"], values[f"{name}_bin"]
        if bins < 1:
            raise self.error(
                f"expected the number of bins (an integer >= 1), got {bins}", f"{name}_bin"
            )
        if high <= low:
            raise self.error(f"must be greater than {name}_min ({low}), got {high}", f"{name}_max")
        return {f"{name}_min": low, f"{name}_max": high, f"{name}_bin": bins}

    def histogram_data(self, data: Any, shape: tuple[int, ...]) -> str:
        what = (
            f"a list of {shape[0]} numbers (x_bin)"
            if len(shape) == 1
            else f"a list of {shape[0]} rows (y_bin) of {shape[1]} numbers (x_bin) each"
        )
        if isinstance(data, str):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise self.error(f"expected {what}", "data") from None
        try:
            array = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.error(f"expected {what}", "data") from None
        if array.shape != shape:
            raise self.error(f"expected {what}, got shape {array.shape}", "data")
        if not np.all(np.isfinite(array)):
            raise self.error("values must be finite numbers (no NaN/Infinity)", "data")
        return orjson.dumps(array, option=_JSON).decode()

    def row_mes(self, values: dict[str, Any]) -> None:
        dim = values["dim"]
        if dim not in (1, 2):
            raise self.error(f"expected 1 or 2 (1-D MEs go to th1, 2-D to th2), got {dim}", "dim")
        name, me_id = values["me"], values.get("me_id")
        if me_id is not None and me_id in self.mes:
            if self.mes[me_id] == (name, dim):
                self.check_unique((me_id,), set(), "me_id")
                return  # already declared identically
            raise self.error(f"me_id {me_id} already exists as {self.mes[me_id]}", "me_id")
        if name in self.me_ids:
            raise self.error(f"ME {name!r} already exists with me_id {self.me_ids[name]}", "me")
        me_id = me_id if me_id is not None else max(self.mes, default=0) + 1
        self.check_unique((me_id,), set(), "me_id")
        self.add_me(me_id, name, dim)

    def row_ml_models_index(self, values: dict[str, Any]) -> None:
        model_id, alias = values.get("model_id"), values.get("id")
        if model_id is not None and alias is not None and model_id != alias:
            raise self.error(f"'id' ({alias}) and 'model_id' ({model_id}) differ", "id")
        model_id = model_id if model_id is not None else alias
        if model_id is None:
            model_id = max(self.models, default=0) + 1
        if model_id in self.models:
            raise self.error(f"model_id {model_id} already exists in the workspace", "model_id")
        inputs = values.get("input_signature")
        for item in inputs or []:
            if not isinstance(item, dict) or not isinstance(item.get("me"), str):
                raise self.error(
                    'expected a list of objects each with an "me" string', "input_signature"
                )
        target = values.get("target_me") or (inputs[0]["me"] if inputs else None)
        if target is None:
            raise self.error("give 'target_me' (or an input_signature naming an ME)", "target_me")
        tags = values.get("tags")
        for tag in tags or []:
            if not isinstance(tag, dict) or not {"name", "value"} <= set(tag):
                raise self.error('expected null or a list of {"name": ..., "value": ...}', "tags")
        short = target.rsplit("/", 1)[-1]
        filename = values.get("filename") or f"{values.get('name') or 'model_' + short}.onnx"
        now = _now()
        threshold = values.get("anomaly_threshold")
        self.writer.add(
            dim_ml_models_index,
            [
                {
                    "model_id": model_id,
                    "filename": filename,
                    "target_me": target,
                    "active": values["active"],
                    "name": values.get("name") or filename.removesuffix(".onnx"),
                    "revision": values.get("revision") or 1,
                    "ready": values.get("ready", True),
                    "type": values.get("type") or "unknown",
                    "anomaly_threshold": threshold,
                    "builtin_threshold": values.get("builtin_threshold", threshold is None),
                    "description": values.get("description") or "",
                    "flagging_key": values.get("flagging_key"),
                    "metric_key": values.get("metric_key"),
                    "input_signature": orjson.dumps(inputs or [{"me": target}]).decode(),
                    "output_signature": orjson.dumps(values.get("output_signature") or []).decode(),
                    "tags": orjson.dumps(tags).decode() if tags is not None else None,
                    "isvc_service_name": values.get("isvc_service_name"),
                    "isvc_yaml": values.get("isvc_yaml"),
                    "created_by": values.get("created_by") or "dials-local ingest",
                    "modified_by": values.get("modified_by") or "dials-local ingest",
                    "created_at": values.get("created_at") or now,
                    "modified_at": values.get("modified_at") or now,
                }
            ],
        )
        self.models[model_id] = target

    def row_ml_bad_lumisection(self, values: dict[str, Any]) -> None:
        model_id = values["model_id"]
        if model_id not in self.models:
            raise self.error(
                f"model_id {model_id} is not in ml-models-index; ingest the model first", "model_id"
            )
        dataset_id = self.dataset(values)
        if values.get("me_id") is None and values.get("me") is None:
            target = self.models[model_id]
            if target is None or target not in self.me_ids:
                raise self.error(
                    f"no 'me'/'me_id' and the target ME of model {model_id} is unknown", "me"
                )
            values["me"] = target
        me_id = self.me(values, None, create=False)
        metric = values.get("mse", values.get("metric_value"))
        if metric is None:
            raise self.error("give 'mse' (or its C241 name 'metric_value')", "mse")
        other = values.get("metric_value")
        if other is not None and values.get("mse") is not None and other != values["mse"]:
            raise self.error(
                f"'metric_value' ({other}) differs from 'mse' ({values['mse']})", "metric_value"
            )
        run_number, ls_number = values["run_number"], values["ls_number"]
        file_id = values.get("file_id")
        if file_id is None:
            file_id = self.histogram_file(dataset_id, run_number, ls_number, me_id)
        elif self.file_status(dataset_id, file_id) is None:
            raise self.error(
                f"file_id {file_id} is not in the file index of dataset {dataset_id}", "file_id"
            )
        existing = self.existing(
            fact_ml_bad_lumis,
            ["run_number", "ls_number", "me_id"],
            {"model_id": model_id, "dataset_id": dataset_id},
        )
        key = (model_id, dataset_id, run_number, ls_number, me_id)
        if key[2:] in existing:
            raise self.error(
                f"(model_id, dataset_id, run_number, ls_number, me_id) {key} already exists"
            )
        self.check_unique(key, set(), "(model_id, dataset_id, run_number, ls_number, me_id)")
        self.writer.add(
            fact_ml_bad_lumis,
            [
                {
                    "model_id": model_id,
                    "dataset_id": dataset_id,
                    "file_id": file_id,
                    "run_number": run_number,
                    "ls_number": ls_number,
                    "me_id": me_id,
                    "mse": metric,
                }
            ],
        )

    def histogram_file(self, dataset_id: int, run_number: int, ls_number: int, me_id: int) -> int:
        """The file of the flagged histogram (for rows that do not give ``file_id``)."""
        self.writer.flush()
        table = fact_th1 if self.mes[me_id][1] == 1 else fact_th2
        file_id = self.conn.execute(
            select(table.c.file_id).where(
                table.c.dataset_id == dataset_id,
                table.c.run_number == run_number,
                table.c.ls_number == ls_number,
                table.c.me_id == me_id,
            )
        ).scalar()
        if file_id is None:
            raise self.error(
                "missing, and there is no histogram of this lumisection and ME to take it from",
                "file_id",
            )
        return int(file_id)

    # ----------------------------------------------------------------- derived counts

    def finish(self) -> None:
        """Flush and recompute the counters of everything this load touched (CONTRACT §8)."""
        self.writer.flush()
        fl, t1, t2 = fact_lumisection, fact_th1, fact_th2
        for dataset_id, run_number in sorted(self.touched_runs):

            def count(table: Table) -> Any:
                return (
                    select(func.count())
                    .where(
                        table.c.dataset_id == fl.c.dataset_id,
                        table.c.run_number == fl.c.run_number,
                        table.c.ls_number == fl.c.ls_number,
                    )
                    .scalar_subquery()
                )

            self.conn.execute(
                update(fl)
                .where(fl.c.dataset_id == dataset_id, fl.c.run_number == run_number)
                .values(th1_count=count(t1), th2_count=count(t2))
            )
            ls_count = (
                select(func.count())
                .where(fl.c.dataset_id == dataset_id, fl.c.run_number == run_number)
                .scalar_subquery()
            )
            self.conn.execute(
                update(fact_run)
                .where(fact_run.c.dataset_id == dataset_id, fact_run.c.run_number == run_number)
                .values(ls_count=ls_count)
            )
        for me_id in sorted(self.touched_mes):
            total = sum(
                self.conn.execute(select(func.count()).where(t.c.me_id == me_id)).scalar_one()
                for t in (t1, t2)
            )
            self.conn.execute(
                update(dim_monitoring_elements)
                .where(dim_monitoring_elements.c.me_id == me_id)
                .values(count=total)
            )


def ingest(
    database: Database,
    workspace: str,
    table: str,
    path: str | Path,
    *,
    show_progress: bool = False,
) -> int:
    """Load the rows of ``path`` into ``table`` of ``workspace``; returns the rows loaded.

    ``.jsonl``/``.json``/``.ndjson`` files hold one JSON object per line (a JSON array is
    accepted too), ``.parquet`` files one row per object.  The load is one transaction;
    any bad row raises :class:`IngestError` and leaves the database unchanged.
    ``show_progress`` shows rows loaded out of the file's rows on stderr
    (:class:`dials_local.progress.Progress`).
    """
    source = Path(path)
    if workspace not in WORKSPACES:
        raise IngestError(f"unknown workspace {workspace!r}; valid: {', '.join(WORKSPACES)}")
    if table not in TABLES:
        raise IngestError(f"unknown table {table!r}; valid: {', '.join(TABLES)}")
    if not source.is_file():
        raise IngestError("no such file", path=source)
    database.create_all()
    total, records = open_records(source)
    meter = Progress(f"ingest {source.name}", total, "rows", quiet=not show_progress)
    with meter, bulk_connection(database.engine(workspace)) as conn, conn.begin():
        loader = _Loader(conn, table, source)
        for location, record in records:
            loader.load(location, record)
            meter.advance()
        meter.stage("updating counts")
        loader.finish()
    database.analyze(workspace)
    return loader.rows
