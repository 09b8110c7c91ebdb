"""``dials-local ingest-oms``: load OMS JSON:API documents into ``local_oms_records``.

The files are what the OMS API (or DIALS' ``oms-proxy/``, CONTRACT §7.10) answers, saved
as they came: one document ``{"data": [...], "links": ..., "meta": ...}`` per file, a JSON
array of such documents (several pages), or one document per line (JSON Lines).

Every record is checked before the database is touched: a record is an object with an
``id`` and ``attributes`` whose key attributes (``run_number``, ``lumisection_number``,
...; :data:`ENDPOINTS`) are present with the right type; a record given twice is refused.
The error (:class:`OMSIngestError`) names the file, the line or page, ``data[i]`` and the
field.  The load is one transaction: on any error nothing is stored.

Ingested records **replace** the stored records (synthetic or ingested earlier) of the
same group: a run for ``runs`` and ``lumisections``, a fill for ``fills``, a (run,
primary dataset) for ``datasetrates``.  Records of other groups stay.  So the pages of one
run's lumisections belong in one command (several files are one load).  Each endpoint's
records are then kept ordered by their key (run, lumisection, ...), the order the proxy
answers in when no ``sort`` is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, select

from dials_local.data.bulk import BatchWriter, bulk_connection
from dials_local.db.engines import Database
from dials_local.db.schema import oms_records

__all__ = ["ENDPOINTS", "EndpointSpec", "OMSIngestError", "OMSLoad", "ingest_oms"]


@dataclass(frozen=True)
class EndpointSpec:
    """What a record of one OMS endpoint must carry, and how records are grouped."""

    #: Attributes every record must have: name -> ``int`` or ``str``.
    required: dict[str, type]
    #: The attributes naming one record (unique within the endpoint; its sort order).
    identity: tuple[str, ...]
    #: The attributes of the group an ingest replaces (a prefix of ``identity``).
    group: tuple[str, ...]


#: The endpoints that can be ingested (those the clients read; CONTRACT §7.10).
ENDPOINTS: dict[str, EndpointSpec] = {
    "runs": EndpointSpec({"run_number": int}, ("run_number",), ("run_number",)),
    "lumisections": EndpointSpec(
        {"run_number": int, "lumisection_number": int},
        ("run_number", "lumisection_number"),
        ("run_number",),
    ),
    "fills": EndpointSpec({"fill_number": int}, ("fill_number",), ("fill_number",)),
    "datasetrates": EndpointSpec(
        {"run_number": int, "dataset_name": str, "first_lumisection_number": int},
        ("run_number", "dataset_name", "first_lumisection_number"),
        ("run_number", "dataset_name"),
    ),
}


class OMSIngestError(ValueError):
    """A file that cannot be loaded: the message names the file, where in it, the field
    and what is valid."""

    def __init__(
        self, message: str, *, path: Path, location: str | None = None, field: str | None = None
    ) -> None:
        self.path = path
        self.location = location
        self.field = field
        parts = [str(path), location, f"field '{field}'" if field else None]
        super().__init__(": ".join(p for p in parts if p) + f": {message}")


@dataclass
class _Record:
    endpoint: str
    resource_id: str
    resource_type: str
    attributes: dict[str, Any]
    path: Path
    where: str


@dataclass
class OMSLoad:
    """What one ingest stored: per endpoint, records loaded and stored records replaced."""

    loaded: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------- reading


def _documents(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, document)`` of every page in ``path``: one JSON value (a document or an
    array of documents), else JSON Lines."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise OMSIngestError(f"cannot read: {error.strerror or error}", path=path) from None
    try:
        whole = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        lines = raw.splitlines()
        if len([line for line in lines if line.strip()]) < 2:
            where = f"line {error.lineno} column {error.colno}"
            raise OMSIngestError(
                f"not valid JSON ({error.msg})", path=path, location=where
            ) from None
        yield from _json_lines(path, lines)
        return
    if isinstance(whole, list):
        for index, document in enumerate(whole):
            yield f"page {index + 1}", document
    else:
        yield "", whole


def _json_lines(path: Path, lines: list[bytes]) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise OMSIngestError(
                f"not valid JSON ({error.msg}); a file holds one JSON document, an array "
                "of documents, or one document per line",
                path=path,
                location=f"line {number}",
            ) from None


def _join(*parts: str) -> str:
    return ", ".join(part for part in parts if part)


def _records(path: Path, endpoint: str | None) -> Iterator[_Record]:
    """The checked records of one file (``endpoint``: ``--endpoint``, else each record's
    ``type``)."""
    for page, document in _documents(path):
        if not isinstance(document, dict) or not isinstance(document.get("data"), list):
            raise OMSIngestError(
                'not an OMS JSON:API document: expected an object {"data": [...], "links": '
                '..., "meta": ...}',
                path=path,
                location=page or None,
                field="data",
            )
        for index, item in enumerate(document["data"]):
            where = _join(page, f"data[{index}]")
            yield _record(path, where, item, endpoint)


def _record(path: Path, where: str, item: Any, endpoint: str | None) -> _Record:
    if not isinstance(item, dict):
        raise OMSIngestError("a record must be a JSON object", path=path, location=where)
    rid = item.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
        raise OMSIngestError(
            f"must be a non-empty string or an integer, not {rid!r}",
            path=path,
            location=where,
            field="id",
        )
    where = f"{where} (id {str(rid)!r})"
    rtype = item.get("type")
    if rtype is not None and not isinstance(rtype, str):
        raise OMSIngestError(
            f"must be a string, not {rtype!r}", path=path, location=where, field="type"
        )
    name = endpoint or rtype
    if name is None:
        raise OMSIngestError(
            "missing: name the endpoint with --endpoint (" + ", ".join(ENDPOINTS) + ")",
            path=path,
            location=where,
            field="type",
        )
    if name not in ENDPOINTS:
        raise OMSIngestError(
            f"{name!r} is not an endpoint dials-local stores; valid: " + ", ".join(ENDPOINTS),
            path=path,
            location=where,
            field="type",
        )
    if endpoint is not None and rtype is not None and rtype != endpoint:
        raise OMSIngestError(
            f"is {rtype!r} but the file is loaded as {endpoint!r} (--endpoint)",
            path=path,
            location=where,
            field="type",
        )
    attributes = item.get("attributes")
    if not isinstance(attributes, dict):
        raise OMSIngestError("must be a JSON object", path=path, location=where, field="attributes")
    for key, kind in ENDPOINTS[name].required.items():
        value = attributes.get(key)
        if kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
            wanted = "an integer from 0 to 2147483647"
        else:
            ok = isinstance(value, str) and value != ""
            wanted = "a non-empty string"
        if not ok:
            state = "missing" if key not in attributes else f"{value!r} is not {wanted}"
            raise OMSIngestError(
                f"{state} ({name} records need {', '.join(ENDPOINTS[name].required)})",
                path=path,
                location=where,
                field=f"attributes.{key}",
            )
    return _Record(name, str(rid), rtype or name, attributes, path, where)


def read_oms_files(paths: Sequence[Path], endpoint: str | None = None) -> dict[str, list[_Record]]:
    """Every record of ``paths``, checked, by endpoint (nothing stored)."""
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise OMSIngestError(
            f"unknown endpoint {endpoint!r}; valid: " + ", ".join(ENDPOINTS),
            path=paths[0] if paths else Path("."),
            field="--endpoint",
        )
    loaded: dict[str, list[_Record]] = {}
    seen: dict[tuple[object, ...], _Record] = {}
    for path in paths:
        for record in _records(Path(path), endpoint):
            spec = ENDPOINTS[record.endpoint]
            identity = tuple(record.attributes[key] for key in spec.identity)
            for key in ((record.endpoint, "id", record.resource_id), (record.endpoint, identity)):
                if key in seen:
                    first = seen[key]
                    what = "id" if key[1] == "id" else ", ".join(spec.identity)
                    raise OMSIngestError(
                        f"repeats the record at {first.path}: {first.where} (same {what})",
                        path=record.path,
                        location=record.where,
                        field="id" if key[1] == "id" else f"attributes.{spec.identity[-1]}",
                    )
                seen[key] = record
            loaded.setdefault(record.endpoint, []).append(record)
    return loaded


# ------------------------------------------------------------------------- storing


def _key(attributes: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The values of ``names``, or None when a stored record lacks one (kept as it is)."""
    values = tuple(attributes.get(name) for name in names)
    return None if any(value is None for value in values) else values


def _order(attributes: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """Sort key: records with the identity first, in its order; the others after."""
    key = _key(attributes, names)
    return (1, ()) if key is None else (0, tuple((str(type(v)), v) for v in key))


def _store(conn: Any, endpoint: str, records: Iterable[_Record]) -> int:
    """Replace the groups of ``records`` in ``endpoint``; returns the records replaced."""
    spec = ENDPOINTS[endpoint]
    new = list(records)
    groups = {_key(r.attributes, spec.group) for r in new}
    rows = conn.execute(
        select(oms_records.c.resource_id, oms_records.c.resource_type, oms_records.c.attributes)
        .where(oms_records.c.endpoint == endpoint)
        .order_by(oms_records.c.position)
    ).all()
    merged: list[tuple[tuple[Any, ...], str, str, str]] = []
    replaced = 0
    for rid, rtype, text in rows:
        attributes = orjson.loads(text)
        if _key(attributes, spec.group) in groups:
            replaced += 1
            continue
        merged.append((_order(attributes, spec.identity), rid, rtype, text))
    for record in new:
        text = orjson.dumps(record.attributes).decode()
        order = _order(record.attributes, spec.identity)
        merged.append((order, record.resource_id, record.resource_type, text))
    merged.sort(key=lambda item: item[0])  # stable: stored order kept within a key
    conn.execute(delete(oms_records).where(oms_records.c.endpoint == endpoint))
    writer = BatchWriter(conn)
    writer.add_tuples(
        oms_records,
        ("endpoint", "position", "resource_id", "resource_type", "attributes"),
        [
            (endpoint, position, rid, rtype, text)
            for position, (_, rid, rtype, text) in enumerate(merged)
        ],
    )
    writer.flush()
    return replaced


def ingest_oms(
    database: Database, paths: Sequence[str | Path], endpoint: str | None = None
) -> OMSLoad:
    """Load the OMS documents of ``paths`` in one transaction (see the module's doc).

    Parameters
    ----------
    database:
        The dials-local database (its service tables hold the OMS records).
    paths:
        JSON files as saved from OMS: a document, an array of documents, or JSON Lines.
    endpoint:
        The endpoint of every record (``runs``, ``lumisections``, ``fills``,
        ``datasetrates``); by default each record's ``type``.

    Raises
    ------
    OMSIngestError
        A file, document or record that cannot be loaded; nothing was stored.
    """
    loaded = read_oms_files([Path(p) for p in paths], endpoint)
    result = OMSLoad()
    with bulk_connection(database.service_engine()) as conn, conn.begin():
        for name, records in loaded.items():
            result.replaced[name] = _store(conn, name, records)
            result.loaded[name] = len(records)
    return result
