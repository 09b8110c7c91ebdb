"""``dials-local seed``: build the deterministic synthetic data set into a Database.

The same ``size`` and ``random_seed`` always give the same database content: every random
draw comes from a numpy Generator seeded by the seed plus stable ids (workspace, dataset,
run, ME), never from the clock.  Each workspace is written in one transaction; histogram
rows are generated a chunk of lumisections at a time and inserted in batches, so memory
stays flat even for ``large``.  See ``docs/data.md`` for what each size contains.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete

from dials_local.data.bulk import BatchWriter, bulk_connection
from dials_local.data.catalog import MEDef, workspace_mes
from dials_local.data.files import DQMIOFile, all_files
from dials_local.data.histograms import MEHistograms, RunSlice
from dials_local.data.models import model_rows
from dials_local.data.names import stable_hash
from dials_local.data.oms import oms_records
from dials_local.data.plan import DatasetSpec, Ingestion, SizePlan, profile_includes, size_plan
from dials_local.data.runs import RunConditions, run_conditions
from dials_local.data.scorer import score_workspace
from dials_local.data.shapes import me_spec
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
    local_injected_anomalies,
    workspace_metadata,
)
from dials_local.db.schema import (
    oms_records as oms_table,
)
from dials_local.workspaces import WORKSPACES

SIZES = ("tiny", "demo", "large")

#: Values (bins x lumisections) generated per chunk of a run.
CHUNK_VALUES = 2_000_000

#: Trigger rate of each primary dataset relative to ZeroBias (scales histogram entries).
RATE_FACTOR = {"StreamExpress": 1.25, "StreamHIExpressRawPrime": 1.1}

Progress = Callable[[str], None]

_LS_ME = itemgetter(3, 4)  # (ls_number, me_id) of a histogram row tuple


@dataclass
class SeedSummary:
    """Rows written per workspace and table, OMS records per endpoint, elapsed time."""

    size: str
    random_seed: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    oms: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def total(self, table: str) -> int:
        return sum(c.get(table, 0) for c in self.counts.values())

    def __str__(self) -> str:
        tables = [
            "fact_dataset_index", "fact_file_index", "fact_run", "fact_lumisection",
            "fact_th1", "fact_th2", "dim_monitoring_elements", "dim_ml_models_index",
            "fact_ml_bad_lumis", "local_injected_anomalies",
        ]  # fmt: skip
        short = [
            "datasets",
            "files",
            "runs",
            "lumis",
            "th1",
            "th2",
            "mes",
            "models",
            "flags",
            "truth",
        ]
        width = max(len(w) for w in [*self.counts, "workspace"])
        lines = [
            f"seeded size={self.size} seed={self.random_seed} in {self.seconds:.1f} s",
            "workspace".ljust(width) + "".join(s.rjust(10) for s in short),
        ]
        for workspace, counts in self.counts.items():
            lines.append(
                workspace.ljust(width) + "".join(str(counts.get(t, 0)).rjust(10) for t in tables)
            )
        lines.append("total".ljust(width) + "".join(str(self.total(t)).rjust(10) for t in tables))
        lines.append("oms: " + ", ".join(f"{k}={v}" for k, v in self.oms.items()))
        return "\n".join(lines)


def _dataset_row(dataset: DatasetSpec, files: list[DQMIOFile]) -> dict[str, Any]:
    name = dataset.name
    latest = max(f.created for f in files)
    return {
        "dataset_id": dataset.dataset_id,
        "dataset": name.name,
        "era": name.acquisition_era,
        "data_tier": name.tier,
        "primary_ds_name": name.primary,
        "processed_ds_name": name.processed,
        "processing_version": name.processing_version,
        "last_modification_date": latest + timedelta(hours=2),
    }


#: Per dataset: run -> lumisection limit of the workspace's ingestion (None: whole run).
RunLimits = dict[int, "int | None"]


def _ingested_here(file: DQMIOFile, limits: RunLimits) -> bool:
    if file.run_number not in limits:
        return False
    limit = limits[file.run_number]
    return limit is None or file.first_ls <= limit


def _file_status(file: DQMIOFile, limits: RunLimits) -> str:
    if not _ingested_here(file, limits):
        return "PENDING"  # this workspace's ingestion has not reached the file yet
    return file.failure or "FINISHED"


def _file_rows(files: list[DQMIOFile], limits: RunLimits) -> list[dict[str, Any]]:
    rows = []
    for f in files:
        status = _file_status(f, limits)
        rows.append(
            {
                "dataset_id": f.dataset_id,
                "file_id": f.file_id,
                "file_size": f.file_size,
                "creation_date": f.created,
                "last_modification_date": f.created,
                "logical_file_name": f.logical_file_name,
                "status": status,
                "err_trace": f.err_trace if status == f.failure else None,
            }
        )
    pending = [r for r in rows if r["status"] == "PENDING"]
    if pending:
        # the ingestion queue is working on the oldest pending file
        min(pending, key=lambda r: (r["creation_date"], r["file_id"]))["status"] = "STARTED"
    return rows


def _run_slice(
    dataset: DatasetSpec, run: RunConditions, files: list[DQMIOFile], limits: RunLimits
) -> RunSlice | None:
    ls: list[int] = []
    file_ids: list[int] = []
    for f in files:
        if f.run_number == run.run_number and _file_status(f, limits) == "FINISHED":
            ls.extend(range(f.first_ls, f.last_ls + 1))
            file_ids.extend([f.file_id] * (f.last_ls - f.first_ls + 1))
    if not ls:
        return None
    order = np.argsort(ls)
    ls_numbers = np.asarray(ls)[order]
    return RunSlice(
        dataset_id=dataset.dataset_id,
        run_number=run.run_number,
        ls_numbers=ls_numbers,
        file_ids=np.asarray(file_ids)[order],
        rel_lumi=run.relative_lumi()[ls_numbers - 1],
        rel_pileup=run.relative_pileup()[ls_numbers - 1],
        rate_factor=RATE_FACTOR.get(dataset.name.primary, 1.0),
    )


def _seed_run(
    writer: BatchWriter,
    workspace: str,
    plan: SizePlan,
    ingestion: Ingestion,
    mes: list[MEDef],
    run: RunSlice,
    seed: int,
    me_counts: dict[int, int],
) -> None:
    specs = [me_spec(me.name, coarse=plan.coarse_maps, seed=seed) for me in mes]
    forced: dict[str, dict[int, str]] = defaultdict(dict)
    for ws, key, run_number, ls, me_name, kind in plan.forced_anomalies:
        if (ws, key, run_number) == (workspace, ingestion.dataset, run.run_number):
            forced[me_name][ls] = kind
    generators = [
        MEHistograms(
            spec,
            me.me_id,
            run,
            np.random.default_rng(
                [seed, 303, stable_hash(workspace), run.dataset_id, run.run_number, me.me_id]
            ),
            forced.get(me.name),
        )
        for me, spec in zip(mes, specs)
    ]
    n = len(run.ls_numbers)
    cells = sum(spec.cells for spec in specs)
    chunk = max(1, min(n, CHUNK_VALUES // max(cells, 1)))
    columns = {g.spec.dim: g.columns for g in generators}
    for start in range(0, n, chunk):
        index = slice(start, min(n, start + chunk))
        th1: list[tuple[Any, ...]] = []
        th2: list[tuple[Any, ...]] = []
        for generator in generators:
            (th1 if generator.spec.dim == 1 else th2).extend(generator.rows(index))
        for dim, rows, table in ((1, th1, fact_th1), (2, th2, fact_th2)):
            rows.sort(key=_LS_ME)  # primary-key order inserts faster
            writer.add_tuples(table, columns.get(dim, ()), rows)
    n1 = sum(1 for me in mes if me.dim == 1)
    n2 = len(mes) - n1
    writer.add(
        fact_lumisection,
        (
            {
                "dataset_id": run.dataset_id,
                "run_number": run.run_number,
                "ls_number": int(ls),
                "th1_count": n1,
                "th2_count": n2,
            }
            for ls in run.ls_numbers
        ),
    )
    for me in mes:
        me_counts[me.me_id] += n
    truth = []
    for generator in generators:
        for ls, anomaly in sorted(generator.anomalies.items()):
            truth.append(
                {
                    "dataset_id": run.dataset_id,
                    "run_number": run.run_number,
                    "ls_number": ls,
                    "me_id": generator.me_id,
                    "kind": anomaly.kind,
                    "detail": anomaly.detail(generator.spec),
                }
            )
    writer.add(local_injected_anomalies, truth)


def clear_workspace(conn: Connection) -> None:
    """Delete every row of the workspace tables (re-seeding replaces the data)."""
    for table in reversed(workspace_metadata.sorted_tables):
        conn.execute(delete(table))


def _seed_workspace(
    conn: Connection,
    workspace: str,
    plan: SizePlan,
    conditions: dict[int, RunConditions],
    files: dict[str, list[DQMIOFile]],
    seed: int,
    progress: Progress,
) -> dict[str, int]:
    clear_workspace(conn)
    # Secondary indexes of the histogram tables are built once at the end: maintaining
    # them row by row costs more than the inserts (the transaction restores them on error).
    deferred = [index for table in (fact_th1, fact_th2) for index in table.indexes]
    for index in deferred:
        index.drop(conn)
    writer = BatchWriter(conn)
    all_mes = workspace_mes(workspace)
    me_counts: dict[int, int] = defaultdict(int)
    ingestions = plan.workspaces.get(workspace, ())
    ingested: dict[str, RunLimits] = defaultdict(dict)
    for ingestion in ingestions:
        for run_number in ingestion.runs:
            ingested[ingestion.dataset][run_number] = ingestion.ls_limit
    for key in ingested:
        dataset = plan.datasets[key]
        writer.add(fact_dataset_index, [_dataset_row(dataset, files[key])])
        writer.add(fact_file_index, _file_rows(files[key], ingested[key]))
    for ingestion in ingestions:
        dataset = plan.datasets[ingestion.dataset]
        mes = [m for m in all_mes if profile_includes(workspace, ingestion.profile, m.name, m.dim)]
        for run_number in ingestion.runs:
            run = _run_slice(
                dataset,
                conditions[run_number],
                files[ingestion.dataset],
                ingested[ingestion.dataset],
            )
            if run is None:
                continue  # every file of the run failed: no run row, like the ETL
            _seed_run(writer, workspace, plan, ingestion, mes, run, seed, me_counts)
            writer.add(
                fact_run,
                [
                    {
                        "dataset_id": dataset.dataset_id,
                        "run_number": run_number,
                        "ls_count": len(run.ls_numbers),
                        "ls_completeness": round(len(run.ls_numbers) / plan.n_ls[run_number], 4),
                    }
                ],
            )
        progress(
            f"{workspace}: {dataset.name.name} ({ingestion.profile}, {len(ingestion.runs)} runs)"
        )
    writer.add(
        dim_monitoring_elements,
        [
            {"me_id": m.me_id, "me": m.name, "count": me_counts[m.me_id], "dim": m.dim}
            for m in all_mes
        ],
    )
    writer.add(dim_ml_models_index, model_rows(workspace, coarse=plan.coarse_maps, seed=seed))
    writer.flush()
    for index in deferred:
        index.create(conn)
    counts = dict(writer.counts)
    counts[fact_ml_bad_lumis.name] = score_workspace(conn)
    return counts


def seed(
    database: Database,
    size: str = "demo",
    *,
    random_seed: int = 2024,
    progress: Progress | None = None,
) -> SeedSummary:
    """Create the tables and fill every workspace and the OMS records with ``size`` data.

    Existing workspace data and OMS records are replaced (API clients are kept).  Raises
    ``ValueError`` for an unknown size.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; valid sizes: {', '.join(SIZES)}")
    report: Progress = progress or (lambda _message: None)
    started = time.perf_counter()
    plan = size_plan(size)
    database.create_all()
    conditions = {r: run_conditions(r, plan.n_ls[r], random_seed) for r in plan.runs}
    files = all_files(plan, conditions, random_seed)
    summary = SeedSummary(size=size, random_seed=random_seed)
    for workspace in WORKSPACES:
        with bulk_connection(database.engine(workspace)) as conn, conn.begin():
            summary.counts[workspace] = _seed_workspace(
                conn, workspace, plan, conditions, files, random_seed, report
            )
        report(f"{workspace}: done ({time.perf_counter() - started:.1f} s)")
    with bulk_connection(database.service_engine()) as conn, conn.begin():
        conn.execute(delete(oms_table))
        writer = BatchWriter(conn)
        for record in oms_records(plan, conditions, random_seed):
            writer.add(oms_table, [record])
            summary.oms[record["endpoint"]] = summary.oms.get(record["endpoint"], 0) + 1
        writer.flush()
    report(f"oms: done ({time.perf_counter() - started:.1f} s)")
    summary.seconds = time.perf_counter() - started
    return summary
