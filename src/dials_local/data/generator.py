"""``dials-local seed``: build the deterministic synthetic data set into a Database.

The same ``size`` and ``random_seed`` always give the same database content: every random
draw comes from a numpy Generator seeded by the seed plus stable ids (workspace, dataset,
run, ME), never from the clock.  Each workspace is written in one transaction; histogram
rows are generated a chunk of lumisections at a time and inserted in batches, so memory
stays flat even for ``large``.  See ``docs/data.md`` for what each size contains.

A seed is recorded in the service database as it goes (:mod:`dials_local.data.seed_state`):
started, each workspace committed, complete.  An interrupted seed is therefore visible, and
:class:`SeedJob` with ``resume=True`` finishes it.
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
from dials_local.data.me_specs import me_spec
from dials_local.data.ml_models import model_rows
from dials_local.data.names import stable_hash
from dials_local.data.oms import oms_records
from dials_local.data.plan import DatasetSpec, Ingestion, SizePlan, profile_includes, size_plan
from dials_local.data.runs import RunConditions, run_conditions
from dials_local.data.scorer import score_workspace
from dials_local.data.seed_state import (
    OMS_STEP,
    read_record,
    record_complete,
    record_start,
    record_step,
)
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
from dials_local.progress import Progress
from dials_local.workspaces import WORKSPACES

SIZES = ("tiny", "demo", "large")

#: Values (bins x lumisections) generated per chunk of a run.
CHUNK_VALUES = 2_000_000

#: Trigger rate of each primary dataset relative to ZeroBias (scales histogram entries).
RATE_FACTOR = {"StreamExpress": 1.25, "StreamHIExpressRawPrime": 1.1}

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
    meter: Progress | None,
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
        if meter is not None:
            meter.advance(len(th1) + len(th2))
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


@dataclass(frozen=True)
class _IngestionWork:
    """The runs of one ingestion of one workspace, as they will be written."""

    ingestion: Ingestion
    dataset: DatasetSpec
    mes: list[MEDef]
    #: (run number, the lumisections of its FINISHED files); runs whose files all failed
    #: are left out (no run row, like the ETL).
    runs: list[RunSlice]

    @property
    def histogram_rows(self) -> int:
        """th1 + th2 rows this ingestion writes: one per lumisection and ME."""
        return sum(len(run.ls_numbers) for run in self.runs) * len(self.mes)


def _ingested_runs(plan: SizePlan, workspace: str) -> dict[str, RunLimits]:
    """Dataset key -> run -> lumisection limit of what ``workspace`` ingested."""
    ingested: dict[str, RunLimits] = defaultdict(dict)
    for ingestion in plan.workspaces.get(workspace, ()):
        for run_number in ingestion.runs:
            ingested[ingestion.dataset][run_number] = ingestion.ls_limit
    return ingested


def _workspace_work(
    workspace: str,
    plan: SizePlan,
    conditions: dict[int, RunConditions],
    files: dict[str, list[DQMIOFile]],
) -> list[_IngestionWork]:
    """Everything ``workspace`` will hold, before any value is drawn: the exact amount of
    work is known up front (progress totals)."""
    ingested = _ingested_runs(plan, workspace)
    all_mes = workspace_mes(workspace)
    work = []
    for ingestion in plan.workspaces.get(workspace, ()):
        dataset = plan.datasets[ingestion.dataset]
        mes = [m for m in all_mes if profile_includes(workspace, ingestion.profile, m.name, m.dim)]
        runs = []
        for run_number in ingestion.runs:
            run = _run_slice(
                dataset,
                conditions[run_number],
                files[ingestion.dataset],
                ingested[ingestion.dataset],
            )
            if run is not None:
                runs.append(run)
        work.append(_IngestionWork(ingestion, dataset, mes, runs))
    return work


def _seed_workspace(
    conn: Connection,
    workspace: str,
    plan: SizePlan,
    work: list[_IngestionWork],
    files: dict[str, list[DQMIOFile]],
    seed: int,
    progress: Callable[[str], None],
    meter: Progress | None,
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
    ingested = _ingested_runs(plan, workspace)
    for key in ingested:
        dataset = plan.datasets[key]
        writer.add(fact_dataset_index, [_dataset_row(dataset, files[key])])
        writer.add(fact_file_index, _file_rows(files[key], ingested[key]))
    for item in work:
        for run in item.runs:
            _seed_run(
                writer, workspace, plan, item.ingestion, item.mes, run, seed, me_counts, meter
            )
            writer.add(
                fact_run,
                [
                    {
                        "dataset_id": item.dataset.dataset_id,
                        "run_number": run.run_number,
                        "ls_count": len(run.ls_numbers),
                        "ls_completeness": round(
                            len(run.ls_numbers) / plan.n_ls[run.run_number], 4
                        ),
                    }
                ],
            )
        progress(
            f"{workspace}: {item.dataset.name.name} ({item.ingestion.profile}, "
            f"{len(item.ingestion.runs)} runs)"
        )
    if meter is not None:
        meter.stage(f"{workspace}: indexes and ML flags")
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


class SeedJob:
    """One seed of ``size`` into ``database``: what it will write, and :meth:`run`.

    Built before anything is written, so that the exact amount of work
    (:attr:`histogram_rows`) is known for progress totals.  With ``resume=True`` an
    interrupted seed of the same size and random seed (see :mod:`seed_state`) is finished:
    the steps it committed are kept and only the others are written.
    """

    def __init__(
        self,
        database: Database,
        size: str = "demo",
        *,
        random_seed: int = 2024,
        resume: bool = False,
    ) -> None:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; valid sizes: {', '.join(SIZES)}")
        self.database = database
        self.size = size
        self.random_seed = random_seed
        self.plan = size_plan(size)
        previous = read_record(database) if resume else None
        #: Steps already committed by the interrupted seed this one finishes.
        self.done: dict[str, dict[str, int]] = {}
        if (
            previous is not None
            and previous.interrupted
            and (previous.size, previous.random_seed) == (size, random_seed)
        ):
            self.done = dict(previous.done)
        self.conditions = {
            r: run_conditions(r, self.plan.n_ls[r], random_seed) for r in self.plan.runs
        }
        self.files = all_files(self.plan, self.conditions, random_seed)
        self.work = {
            workspace: _workspace_work(workspace, self.plan, self.conditions, self.files)
            for workspace in WORKSPACES
            if workspace not in self.done
        }

    @property
    def histogram_rows(self) -> int:
        """th1 + th2 rows still to write: the unit of the progress total."""
        return sum(item.histogram_rows for work in self.work.values() for item in work)

    @property
    def steps(self) -> list[str]:
        """Every step of a seed: the workspaces, then the OMS records."""
        return [*WORKSPACES, OMS_STEP]

    def run(
        self, *, progress: Callable[[str], None] | None = None, meter: Progress | None = None
    ) -> SeedSummary:
        """Write the data set; ``progress`` gets a message per ingestion and step,
        ``meter`` is advanced by every histogram row written."""
        report = progress or (lambda _message: None)
        database, plan, seed = self.database, self.plan, self.random_seed
        started = time.perf_counter()
        database.create_all()
        record_start(database, self.size, seed, self.done)
        summary = SeedSummary(size=self.size, random_seed=seed)
        for workspace in WORKSPACES:
            if workspace in self.done:
                summary.counts[workspace] = self.done[workspace]
                continue
            if meter is not None:
                meter.stage(workspace)
            with bulk_connection(database.engine(workspace)) as conn, conn.begin():
                counts = _seed_workspace(
                    conn, workspace, plan, self.work[workspace], self.files, seed, report, meter
                )
            database.analyze(workspace)
            # Recorded only once committed: a step interrupted before this is redone.
            record_step(database, workspace, counts)
            summary.counts[workspace] = counts
            report(f"{workspace}: done ({time.perf_counter() - started:.1f} s)")
        if OMS_STEP in self.done:
            summary.oms = self.done[OMS_STEP]
        else:
            if meter is not None:
                meter.stage("OMS records")
            with bulk_connection(database.service_engine()) as conn, conn.begin():
                conn.execute(delete(oms_table))
                writer = BatchWriter(conn)
                for record in oms_records(plan, self.conditions, seed):
                    writer.add(oms_table, [record])
                    summary.oms[record["endpoint"]] = summary.oms.get(record["endpoint"], 0) + 1
                writer.flush()
            record_step(database, OMS_STEP, summary.oms)
        record_complete(database)
        report(f"oms: done ({time.perf_counter() - started:.1f} s)")
        summary.seconds = time.perf_counter() - started
        return summary


def seed(
    database: Database,
    size: str = "demo",
    *,
    random_seed: int = 2024,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
) -> SeedSummary:
    """Create the tables and fill every workspace and the OMS records with ``size`` data.

    Existing workspace data and OMS records are replaced (API clients are kept).  The seed
    is recorded in the service database (:mod:`dials_local.data.seed_state`) so that an
    interrupted one is detected; ``resume=True`` finishes such a seed instead of starting
    over.  Raises ``ValueError`` for an unknown size.
    """
    job = SeedJob(database, size, random_seed=random_seed, resume=resume)
    return job.run(progress=progress)
