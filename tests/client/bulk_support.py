"""Helpers of the bulk-read tests: the server's rows in the API's shape, and comparisons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from client_support import Truth

from dials_local.db import schema

TH = ("dataset_id", "run_number", "ls_number", "me_id")


def histogram_rows(truth: Truth, workspace: str, dims: int, where: Sequence[Any] = ()) -> list[dict[str, Any]]:  # fmt: skip  # noqa: E501
    """th1/th2 rows as the API returns them (names looked up, ``data`` decoded), in order."""
    table = schema.fact_th1 if dims == 1 else schema.fact_th2
    me_names = {
        row["me_id"]: row["me"] for row in truth.rows(workspace, schema.dim_monitoring_elements)
    }
    datasets = {
        row["dataset_id"]: row["dataset"]
        for row in truth.rows(workspace, schema.fact_dataset_index)
    }
    rows = []
    for row in truth.rows(workspace, table, where, TH):
        out = {
            "dataset_id": row["dataset_id"],
            "dataset": datasets[row["dataset_id"]],
            "me": me_names[row["me_id"]],
            "file_id": row["file_id"],
            "run_number": row["run_number"],
            "ls_number": row["ls_number"],
            "me_id": row["me_id"],
            "x_min": row["x_min"],
            "x_max": row["x_max"],
            "x_bin": int(row["x_bin"]),
        }
        if dims == 2:
            out.update(y_min=row["y_min"], y_max=row["y_max"], y_bin=int(row["y_bin"]))
        out["entries"] = row["entries"]
        out["data"] = json.loads(row["data"])
        rows.append(out)
    return rows


def dumped(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Row models as plain dicts (what to compare with :func:`histogram_rows`)."""
    return [row.model_dump() for row in rows]
