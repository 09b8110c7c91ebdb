"""``mes/{dataset_id}/{run_number}/`` (CONTRACT §7.7): the MEs present in the first
lumisection of a run, as a plain array of ``{"me_id", "me", "dim"}``."""

from __future__ import annotations

from sqlalchemy import func, select, union
from starlette.responses import Response

from dials_local.api.context import Call
from dials_local.db.schema import dim_monitoring_elements, fact_lumisection, fact_th1, fact_th2
from dials_local.listing.filters import in_column_range
from dials_local.render import json_response


def mes_by_run(call: Call) -> Response:
    """Distinct MEs with a TH1 or TH2 row in the lowest-numbered lumisection of the
    dataset/run, ordered by ``me_id``; ``[]`` when the run has no lumisection (where DIALS
    fails with 500).  Query parameters are ignored."""
    dataset_id, run_number = int(call.path["dataset_id"]), int(call.path["run_number"])
    if not (
        in_column_range(fact_lumisection, "dataset_id", dataset_id)
        and in_column_range(fact_lumisection, "run_number", run_number)
    ):
        return json_response([])
    lumis = fact_lumisection
    with call.connect() as conn:
        first_ls = conn.execute(
            select(func.min(lumis.c.ls_number)).where(
                lumis.c.dataset_id == dataset_id, lumis.c.run_number == run_number
            )
        ).scalar()
        if first_ls is None:
            return json_response([])
        present = union(
            *(
                select(table.c.me_id).where(
                    table.c.dataset_id == dataset_id,
                    table.c.run_number == run_number,
                    table.c.ls_number == first_ls,
                )
                for table in (fact_th1, fact_th2)
            )
        ).subquery()
        mes = dim_monitoring_elements
        rows = conn.execute(
            select(mes.c.me_id, mes.c.me, mes.c.dim)
            .where(mes.c.me_id.in_(select(present.c.me_id)))
            .order_by(mes.c.me_id)
        )
        return json_response([{"me_id": i, "me": name, "dim": dim} for i, name, dim in rows])
