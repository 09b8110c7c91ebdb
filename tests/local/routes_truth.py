"""Ground truth for the HTTP tests of dials-local: the database a test server serves,
read directly with SQLAlchemy, plus a small HTTP helper.

Expected answers are computed here by brute force (read rows, filter and sort in Python),
never by the server's own query code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import requests
from sqlalchemy import Connection, select, text

from dials_local.db import schema
from dials_local.db.engines import Database
from dials_local.testing import SECRET_HEADER, LocalServer

#: Composite keys / orderings of CONTRACT §5.3.
ORDERING = {
    "fact_dataset_index": ("dataset_id",),
    "fact_file_index": ("dataset_id", "file_id"),
    "fact_run": ("dataset_id", "run_number"),
    "fact_lumisection": ("dataset_id", "run_number", "ls_number"),
    "fact_th1": ("dataset_id", "run_number", "ls_number", "me_id"),
    "fact_th2": ("dataset_id", "run_number", "ls_number", "me_id"),
    "dim_monitoring_elements": ("me_id",),
    "dim_ml_models_index": ("model_id",),
    "fact_ml_bad_lumis": ("model_id", "dataset_id", "run_number", "ls_number", "me_id"),
}


@cache
def database(data_dir: str | None, url: str | None) -> Database:
    """One :class:`Database` per served location (cached for the session)."""
    if url is not None:
        return Database(url=url)
    assert data_dir is not None
    from pathlib import Path

    return Database(data_dir=Path(data_dir))


def db_of(server: LocalServer) -> Database:
    return database(
        str(server.data_dir) if server.database_url is None else None, server.database_url
    )


def rows(server: LocalServer, workspace: str, table: str, **equal: Any) -> list[dict[str, Any]]:
    """Rows of ``table`` in ``workspace`` whose columns equal ``equal``, in the route's
    ordering, as plain dicts."""
    return list(_rows(db_of(server), workspace, table, tuple(sorted(equal.items()))))


@cache
def _rows(
    db: Database, workspace: str, table: str, equal: tuple[tuple[str, Any], ...]
) -> tuple[dict[str, Any], ...]:
    t = schema.WORKSPACE_TABLES[table]
    statement = select(t).where(*(t.c[k] == v for k, v in equal))
    with db.engine(workspace).connect() as conn:
        found = [dict(r._mapping) for r in conn.execute(statement)]
    key = ORDERING.get(table)
    if key:
        found.sort(key=lambda r: tuple(r[k] for k in key))
    return tuple(found)


def service_rows(server: LocalServer, table: str) -> list[dict[str, Any]]:
    """All rows of a service table (``local_oms_records``, ``local_api_clients``)."""
    t = schema.service_metadata.tables[table]
    with db_of(server).service_engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t))]


def names(server: LocalServer, workspace: str) -> tuple[dict[int, str], dict[int, str]]:
    """(dataset_id -> dataset name, me_id -> ME name) of a workspace."""
    datasets = {
        r["dataset_id"]: r["dataset"] for r in rows(server, workspace, "fact_dataset_index")
    }
    mes = {r["me_id"]: r["me"] for r in rows(server, workspace, "dim_monitoring_elements")}
    return datasets, mes


def iso(value: dt.datetime | None) -> str | None:
    """DRF's datetime rendering (CONTRACT §2.2)."""
    if value is None:
        return None
    text = value.isoformat()
    return text + "Z"


def pick(items: Iterable[dict[str, Any]], test: Callable[[dict[str, Any]], bool]) -> list[Any]:
    return [item for item in items if test(item)]


def session(server: LocalServer, workspace: str | None = None) -> requests.Session:
    """A requests session with the server's secret key (and a ``Workspace`` header)."""
    s = requests.Session()
    s.headers[SECRET_HEADER] = server.secret_key
    if workspace is not None:
        s.headers["Workspace"] = workspace
    return s


def get(
    server: LocalServer,
    route: str,
    params: dict[str, Any] | list[tuple[str, Any]] | None = None,
    *,
    workspace: str | None = None,
    status: int = 200,
) -> Any:
    """GET ``/api/v1/<route>`` with credentials; assert the status; return decoded JSON."""
    response = session(server, workspace).get(server.api_url + route, params=params, timeout=30)
    assert response.status_code == status, (route, params, response.status_code, response.text)
    return response.json()


def walk(
    server: LocalServer,
    route: str,
    params: dict[str, Any] | list[tuple[str, Any]],
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """Every page of a list route, following ``next`` URLs; returns the pages."""
    s = session(server, workspace)
    response = s.get(server.api_url + route, params=params, timeout=30)
    assert response.status_code == 200, response.text
    pages = [response.json()]
    while pages[-1]["next"]:
        response = s.get(pages[-1]["next"], timeout=30)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def walk_back(
    server: LocalServer, last_page: dict[str, Any], workspace: str | None = None
) -> list[dict[str, Any]]:
    """``last_page`` and every page before it, following ``previous`` URLs."""
    s = session(server, workspace)
    pages = [last_page]
    while pages[-1]["previous"]:
        response = s.get(pages[-1]["previous"], timeout=30)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def index_names(conn: Connection, schema: str) -> set[str]:
    """The indexes of ``conn``'s database: its SQLite file's, or PostgreSQL ``schema``'s."""
    if conn.dialect.name == "sqlite":
        listed = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        listed = f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}'"
    return set(conn.execute(text(listed)).scalars())


def results(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page["results"]]


def decode_data(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _json_or(text: str | None, default: Any) -> Any:
    return default if text is None else json.loads(text)


def expected_object(
    server: LocalServer, workspace: str, prefix: str, row: dict[str, Any]
) -> dict[str, Any]:
    """The object a list route should emit for a database row (CONTRACT §7 key order)."""
    datasets, mes = names(server, workspace)
    r = row
    if prefix == "dataset-index":
        return {
            "dataset_id": r["dataset_id"],
            "dataset": r["dataset"],
            "era": r["era"],
            "data_tier": r["data_tier"],
            "primary_ds_name": r["primary_ds_name"],
            "processed_ds_name": r["processed_ds_name"],
            "processing_version": r["processing_version"],
            "last_modification_date": iso(r["last_modification_date"]),
        }
    if prefix == "file-index":
        return {
            "dataset_id": r["dataset_id"],
            "dataset": datasets.get(r["dataset_id"]),
            "file_id": r["file_id"],
            "file_size": r["file_size"],
            "creation_date": iso(r["creation_date"]),
            "last_modification_date": iso(r["last_modification_date"]),
            "logical_file_name": r["logical_file_name"],
            "status": r["status"],
            "err_trace": r["err_trace"],
        }
    if prefix == "run":
        return {
            "dataset_id": r["dataset_id"],
            "dataset": datasets.get(r["dataset_id"]),
            "run_number": r["run_number"],
            "ls_count": r["ls_count"],
            "ls_completeness": r["ls_completeness"],
        }
    if prefix == "lumisection":
        return {
            "dataset_id": r["dataset_id"],
            "dataset": datasets.get(r["dataset_id"]),
            "run_number": r["run_number"],
            "ls_number": r["ls_number"],
            "th1_count": r["th1_count"],
            "th2_count": r["th2_count"],
        }
    if prefix in ("th1", "th2"):
        obj = {
            "dataset_id": r["dataset_id"],
            "dataset": datasets.get(r["dataset_id"]),
            "me": mes.get(r["me_id"]),
            "file_id": r["file_id"],
            "run_number": r["run_number"],
            "ls_number": r["ls_number"],
            "me_id": r["me_id"],
            "x_min": r["x_min"],
            "x_max": r["x_max"],
            "x_bin": int(r["x_bin"]),
        }
        if prefix == "th2":
            obj.update(y_min=r["y_min"], y_max=r["y_max"], y_bin=int(r["y_bin"]))
        obj.update(entries=r["entries"], data=decode_data(r["data"]))
        return obj
    if prefix == "mes":
        return {"me_id": r["me_id"], "me": r["me"], "count": r["count"], "dim": r["dim"]}
    if prefix == "ml-models-index":
        return {
            "model_id": r["model_id"],
            "filename": r["filename"],
            "target_me": r["target_me"],
            "active": r["active"],
            "id": r["model_id"],
            "name": r["name"],
            "revision": r["revision"],
            "ready": r["ready"],
            "type": r["type"],
            "anomaly_threshold": r["anomaly_threshold"],
            "builtin_threshold": r["builtin_threshold"],
            "description": r["description"],
            "flagging_key": r["flagging_key"],
            "metric_key": r["metric_key"],
            "input_signature": _json_or(r["input_signature"], []),
            "output_signature": _json_or(r["output_signature"], []),
            "tags": _json_or(r["tags"], None),
            "isvc_service_name": r["isvc_service_name"],
            "isvc_yaml": r["isvc_yaml"],
            "created_by": r["created_by"],
            "modified_by": r["modified_by"],
            "created_at": iso(r["created_at"]),
            "modified_at": iso(r["modified_at"]),
        }
    if prefix == "ml-bad-lumisection":
        return {
            "model_id": r["model_id"],
            "dataset_id": r["dataset_id"],
            "file_id": r["file_id"],
            "run_number": r["run_number"],
            "ls_number": r["ls_number"],
            "me_id": r["me_id"],
            "mse": r["mse"],
            "metric_value": r["mse"],
        }
    raise ValueError(prefix)


#: Route prefix -> table.
TABLE_OF = {
    "dataset-index": "fact_dataset_index",
    "file-index": "fact_file_index",
    "run": "fact_run",
    "lumisection": "fact_lumisection",
    "th1": "fact_th1",
    "th2": "fact_th2",
    "mes": "dim_monitoring_elements",
    "ml-models-index": "dim_ml_models_index",
    "ml-bad-lumisection": "fact_ml_bad_lumis",
}


def first_rows(server: LocalServer, workspace: str, table: str, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of a (possibly big) table in ordering order, reading one
    (dataset, run) at a time instead of the whole table."""
    t = schema.WORKSPACE_TABLES[table]
    if "run_number" not in t.c or "model_id" in t.c:
        return rows(server, workspace, table)[:n]
    with db_of(server).engine(workspace).connect() as conn:
        pairs = sorted({tuple(r) for r in conn.execute(select(t.c.dataset_id, t.c.run_number))})
    found: list[dict[str, Any]] = []
    for dataset_id, run_number in pairs:
        found += rows(server, workspace, table, dataset_id=dataset_id, run_number=run_number)
        if len(found) >= n:
            break
    return found[:n]
