"""Field declarations of the ingestible tables and the coercion of one value.

Each table lists the fields the API returns for it (CONTRACT §7) with a kind; ``required``
fields must be present and non-null, ``derived`` ones are accepted but recomputed by the
loader (``docs/ingest.md`` says how).  Coercion errors are ``FieldError`` with a message
that says what is valid; the loader adds the file and line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson


class FieldError(ValueError):
    """A value that does not fit its field; ``str()`` says what is valid."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # int, float, str, bool, datetime, json_list, any
    required: bool = False
    nullable: bool = True
    derived: bool = False  # accepted but recomputed by the loader


def _fields(*specs: tuple[str, str, str]) -> dict[str, Field]:
    """Fields from ``(name, kind, flags)``; flags: ``r`` required, ``d`` derived, ``n`` not null."""
    return {
        name: Field(
            name,
            kind,
            required="r" in flags,
            nullable="n" not in flags and "r" not in flags,
            derived="d" in flags,
        )
        for name, kind, flags in specs
    }


TABLE_FIELDS: dict[str, dict[str, Field]] = {
    "dataset-index": _fields(
        ("dataset_id", "int", "r"),
        ("dataset", "str", "r"),
        ("era", "str", ""),
        ("data_tier", "str", ""),
        ("primary_ds_name", "str", ""),
        ("processed_ds_name", "str", ""),
        ("processing_version", "int", ""),
        ("last_modification_date", "datetime", ""),
    ),
    "file-index": _fields(
        ("dataset_id", "int", "r"),
        ("dataset", "str", "d"),
        ("file_id", "int", "r"),
        ("file_size", "int", "n"),
        ("creation_date", "datetime", ""),
        ("last_modification_date", "datetime", ""),
        ("logical_file_name", "str", "r"),
        ("status", "str", "n"),
        ("err_trace", "str", ""),
    ),
    "run": _fields(
        ("dataset_id", "int", "r"),
        ("dataset", "str", "d"),
        ("run_number", "int", "r"),
        ("ls_count", "int", "d"),
        ("ls_completeness", "float", ""),
    ),
    "lumisection": _fields(
        ("dataset_id", "int", "r"),
        ("dataset", "str", "d"),
        ("run_number", "int", "r"),
        ("ls_number", "int", "r"),
        ("th1_count", "int", "d"),
        ("th2_count", "int", "d"),
    ),
    "th1": _fields(
        ("dataset_id", "int", "r"),
        ("dataset", "str", "d"),
        ("me", "str", "n"),
        ("file_id", "int", "r"),
        ("run_number", "int", "r"),
        ("ls_number", "int", "r"),
        ("me_id", "int", "n"),
        ("x_min", "float", "r"),
        ("x_max", "float", "r"),
        ("x_bin", "int", "r"),
        ("entries", "int", "r"),
        ("data", "any", "r"),
    ),
    "mes": _fields(
        ("me_id", "int", "n"),
        ("me", "str", "r"),
        ("count", "int", "d"),
        ("dim", "int", "r"),
    ),
    "ml-models-index": _fields(
        ("model_id", "int", "n"),
        ("id", "int", "n"),
        ("filename", "str", "n"),
        ("target_me", "str", "n"),
        ("active", "bool", "r"),
        ("name", "str", "n"),
        ("revision", "int", "n"),
        ("ready", "bool", "n"),
        ("type", "str", "n"),
        ("anomaly_threshold", "float", ""),
        ("builtin_threshold", "bool", "n"),
        ("description", "str", "n"),
        ("flagging_key", "str", ""),
        ("metric_key", "str", ""),
        ("input_signature", "json_list", "n"),
        ("output_signature", "json_list", "n"),
        ("tags", "json_list", ""),
        ("isvc_service_name", "str", ""),
        ("isvc_yaml", "str", ""),
        ("created_by", "str", "n"),
        ("modified_by", "str", "n"),
        ("created_at", "datetime", "n"),
        ("modified_at", "datetime", "n"),
    ),
    "ml-bad-lumisection": _fields(
        ("model_id", "int", "r"),
        ("dataset_id", "int", "r"),
        ("file_id", "int", "n"),
        ("run_number", "int", "r"),
        ("ls_number", "int", "r"),
        ("me_id", "int", "n"),
        ("me", "str", "n"),
        ("mse", "float", "n"),
        ("metric_value", "float", "n"),
    ),
}
TABLE_FIELDS["th2"] = {
    **{k: v for k, v in TABLE_FIELDS["th1"].items() if k not in ("entries", "data")},
    **_fields(
        ("y_min", "float", "r"),
        ("y_max", "float", "r"),
        ("y_bin", "int", "r"),
        ("entries", "int", "r"),
        ("data", "any", "r"),
    ),
}

FILE_STATUSES = (
    "PENDING", "STARTED", "FILE_NOT_AVAILABLE", "COPY_ERROR", "ROOTFILE_ERROR", "PARSING_ERROR",
    "FINISHED",
)  # fmt: skip

_KIND_TEXT = {
    "int": "an integer",
    "float": "a finite number",
    "str": "a string",
    "bool": "true or false",
    "datetime": "an ISO 8601 date-time like 2024-06-23T22:14:07Z (or epoch seconds)",
    "json_list": "a JSON list (or a string holding one)",
}


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(field: Field, value: Any) -> Any:
    """``value`` converted to the column type of ``field``; raises :class:`FieldError`."""
    if value is None:
        if field.required or not field.nullable:
            raise FieldError(f"must not be null; expected {_KIND_TEXT.get(field.kind, 'a value')}")
        return None
    kind = field.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(f"expected an integer, got {_describe(value)}")
        if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
            raise FieldError(f"expected an integer, got {_describe(value)}")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(f"expected a finite number, got {_describe(value)}")
        if not math.isfinite(value):
            raise FieldError(f"expected a finite number (no NaN/Infinity), got {_describe(value)}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise FieldError(f"expected a string, got {_describe(value)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise FieldError(f"expected true or false, got {_describe(value)}")
        return value
    if kind == "datetime":
        return _datetime(value)
    if kind == "json_list":
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise FieldError(f"expected {_KIND_TEXT[kind]}, got {_describe(value)}") from None
        if not isinstance(value, list):
            raise FieldError(f"expected {_KIND_TEXT[kind]}, got {_describe(value)}")
        return value
    return value


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError(f"expected {_KIND_TEXT['datetime']}, got {_describe(value)}") from None
    else:
        raise FieldError(f"expected {_KIND_TEXT['datetime']}, got {_describe(value)}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
