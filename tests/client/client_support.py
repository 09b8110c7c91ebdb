"""Helpers of the client tests: seed facts, the server's data as truth, comparisons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select

# Seed facts of CONTRACT §12.9 that the guide's examples use.
DATASET_ID = 14677060
FILE_ID = 3393809397
RUN = 367112
LS = 10
TH1_ME = "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"
JETMET_DATASET = 15042670
JETMET_RUNS = [385801, 385799, 385764]
JETMET_MODELS = [20, 19]


class Truth:
    """What the dials-local holds, read straight from its SQLite files (SQLAlchemy Core)."""

    def __init__(self, data_dir: Any) -> None:
        from dials_local.db.engines import Database

        self.db = Database(data_dir=data_dir)

    def rows(
        self,
        workspace: str,
        table: Table,
        where: Sequence[Any] = (),
        order: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        query = select(table)
        for clause in where:
            query = query.where(clause)
        query = query.order_by(*(table.c[name] for name in order))
        with self.db.engine(workspace).connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def me_ids(
        self, workspace: str, *, name: str | None = None, regex: str | None = None
    ) -> list[int]:
        from dials_local.db.schema import dim_monitoring_elements as mes

        ids = []
        for row in self.rows(workspace, mes, order=["me_id"]):
            if name is not None and row["me"] != name:
                continue
            if regex is not None and not re.search(regex, row["me"]):
                continue
            ids.append(row["me_id"])
        return ids

    def me_name(self, workspace: str, me_id: int) -> str:
        from dials_local.db.schema import dim_monitoring_elements as mes

        (row,) = self.rows(workspace, mes, where=[mes.c.me_id == me_id])
        return str(row["me"])

    def dataset_name(self, workspace: str, dataset_id: int) -> str:
        from dials_local.db.schema import fact_dataset_index as ds

        (row,) = self.rows(workspace, ds, where=[ds.c.dataset_id == dataset_id])
        return str(row["dataset"])

    def dispose(self) -> None:
        self.db.dispose()


def keys(rows: Sequence[Any], *names: str) -> list[tuple[Any, ...]]:
    """Key tuples of model instances or dict rows, for order-sensitive comparisons."""
    out = []
    for row in rows:
        get = row.__getitem__ if isinstance(row, dict) else row.__getattribute__
        out.append(tuple(get(name) for name in names))
    return out
