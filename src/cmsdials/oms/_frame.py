"""OMS JSON:API documents as flat pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cmsdials._optional import require

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["flatten", "frame"]


def _is_quantity(value: object) -> bool:
    """OMS' ``{"value": v, "units": u}`` (units may be absent or null)."""
    return isinstance(value, Mapping) and "value" in value and set(value) <= {"value", "units"}


def flatten(attributes: Mapping[str, Any], units: dict[str, str]) -> dict[str, Any]:
    """One record's attributes as flat columns.

    ``{"value": v, "units": u}`` becomes the column itself (``v``; ``u`` is put in
    ``units``); other nested objects become ``parent.child`` columns; lists stay cells.
    """
    flat: dict[str, Any] = {}
    for name, value in attributes.items():
        if _is_quantity(value):
            flat[name] = value["value"]
            if value.get("units"):
                units.setdefault(name, str(value["units"]))
        elif isinstance(value, Mapping):
            for child, inner in flatten(value, {}).items():
                flat[f"{name}.{child}"] = inner
        else:
            flat[name] = value
    return flat


def _meta_units(document: Mapping[str, Any], units: dict[str, str]) -> None:
    """Units that OMS reports in ``meta.fields`` (``{"name": {"units": "pb^-1"}}``)."""
    fields = (document.get("meta") or {}).get("fields") or {}
    if isinstance(fields, Mapping):
        for name, described in fields.items():
            if isinstance(described, Mapping) and described.get("units"):
                units.setdefault(str(name), str(described["units"]))


def frame(documents: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The records of one or more OMS documents (pages) as one DataFrame.

    One row per record, in the documents' order; one column per attribute (flattened
    with :func:`flatten`, columns in order of first appearance; a record without an
    attribute has a missing value there).  ``frame.attrs["units"]`` maps columns to their
    units where OMS gave them; ``frame.attrs["ids"]`` holds the records' ids.
    """
    pd = require("pandas", "pandas", "OMS DataFrames")
    pages = [documents] if isinstance(documents, Mapping) else list(documents)
    units: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    ids: list[str] = []
    for document in pages:
        _meta_units(document, units)
        for record in document.get("data") or ():
            rows.append(flatten(record.get("attributes") or {}, units))
            ids.append(str(record.get("id")))
    result = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    result.attrs["units"] = units
    result.attrs["ids"] = ids
    return result
