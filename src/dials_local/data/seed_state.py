"""Whether the synthetic data set was seeded completely: the seed record, and what a database holds.

A seed writes one workspace per transaction (on SQLite every workspace is its own file, so
one transaction cannot span them).  To make the whole seed all-or-nothing as seen from the
outside, it keeps a record in the service database (table ``local_seed_state``):

1. before any data is written: the size, the random seed and state ``seeding``;
2. after each workspace (and the OMS records) is committed: that step and its row counts;
3. after the last step: state ``complete``.

A record left in state ``seeding`` is an interrupted seed (Ctrl-C, a crash, a full disk):
``serve --demo``, ``seed`` and ``LocalServer`` all read it here and finish the seed (the
steps not recorded done; each step replaces its workspace, so redoing one is harmless)
instead of serving a half-empty database.  Databases seeded by older versions have no
record: their data is treated as data (kept), never as a seed to finish.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, select

from dials_local.db.engines import SERVICE_SQLITE_FILE, Database
from dials_local.db.schema import workspace_metadata
from dials_local.workspaces import WORKSPACES

#: The record's own metadata: created on first use, beside the service tables.
state_metadata = MetaData()

seed_state = Table(
    "local_seed_state",
    state_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one record
    Column("size", String(16), nullable=False),
    Column("random_seed", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # "seeding" or "complete"
    Column("done", Text, nullable=False),  # JSON {step: {table: rows}} of committed steps
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
)

_RECORD_ID = 1
SEEDING = "seeding"
COMPLETE = "complete"
#: The step after the workspaces: the OMS-like records of the service database.
OMS_STEP = "oms"

#: How a table is named in messages: by its API route, as ``ingest`` names them.
TABLE_LABELS: dict[str, str] = {
    "fact_dataset_index": "dataset-index",
    "fact_file_index": "file-index",
    "fact_run": "run",
    "fact_lumisection": "lumisection",
    "fact_th1": "th1",
    "fact_th2": "th2",
    "dim_monitoring_elements": "mes",
    "dim_ml_models_index": "ml-models-index",
    "fact_ml_bad_lumis": "ml-bad-lumisection",
    "local_injected_anomalies": "injected-anomalies",
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class SeedRecord:
    """What the last seed of a database was, and how far it got."""

    size: str
    random_seed: int
    complete: bool
    #: Committed steps (workspaces, then ``oms``) -> rows written per table.
    done: dict[str, dict[str, int]] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def interrupted(self) -> bool:
        return not self.complete

    def describe(self) -> str:
        """``the 'tiny' data set (seed 2024), started 2025-01-02 10:00 UTC``."""
        seed = "" if self.random_seed == 2024 else f" (random seed {self.random_seed})"
        when = f", started {self.started_at:%Y-%m-%d %H:%M} UTC" if self.started_at else ""
        return f"the '{self.size}' data set{seed}{when}"


def _service_exists(database: Database) -> bool:
    """False for a data directory without a service database (never seeded nor served):
    reading must not create one there."""
    return database.data_dir is None or (database.data_dir / SERVICE_SQLITE_FILE).exists()


def read_record(database: Database) -> SeedRecord | None:
    """The seed record, or ``None`` when this database was never seeded (by this version)."""
    if not _service_exists(database):
        return None
    engine = database.service_engine()
    state_metadata.create_all(engine)
    with engine.connect() as conn:
        row = conn.execute(select(seed_state).where(seed_state.c.id == _RECORD_ID)).first()
    if row is None:
        return None
    return SeedRecord(
        size=row.size,
        random_seed=row.random_seed,
        complete=row.state == COMPLETE,
        done=orjson.loads(row.done),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def record_start(
    database: Database, size: str, random_seed: int, done: Mapping[str, dict[str, int]]
) -> None:
    """Record a seed as started (committed before any of its data is written).

    ``done`` holds the steps of an interrupted seed of the same size that this one
    finishes (empty for a seed from scratch).
    """
    engine = database.service_engine()
    state_metadata.create_all(engine)
    values = {
        "size": size,
        "random_seed": random_seed,
        "state": SEEDING,
        "done": orjson.dumps(dict(done)).decode(),
        "started_at": _utcnow(),
        "finished_at": None,
    }
    with engine.begin() as conn:
        conn.execute(seed_state.delete())
        conn.execute(seed_state.insert().values(id=_RECORD_ID, **values))


def record_step(database: Database, step: str, counts: Mapping[str, int]) -> None:
    """Record ``step`` (a workspace, or :data:`OMS_STEP`) as committed, with its rows."""
    with database.service_engine().begin() as conn:
        text = conn.execute(
            select(seed_state.c.done).where(seed_state.c.id == _RECORD_ID)
        ).scalar_one()
        done = orjson.loads(text)
        # str()/int(): table names are SQLAlchemy's str subclass, which orjson refuses
        done[step] = {str(name): int(rows) for name, rows in counts.items()}
        conn.execute(
            seed_state.update()
            .where(seed_state.c.id == _RECORD_ID)
            .values(done=orjson.dumps(done).decode())
        )


def record_complete(database: Database) -> None:
    """Record the seed as complete: written only once every step is committed."""
    with database.service_engine().begin() as conn:
        conn.execute(
            seed_state.update()
            .where(seed_state.c.id == _RECORD_ID)
            .values(state=COMPLETE, finished_at=_utcnow())
        )


# --------------------------------------------------------------------------- holdings


def has_data(database: Database) -> bool:
    """True when any table of any workspace holds a row (tables must exist: ``create_all``).

    Every table counts, not only the dataset index: rows loaded with ``ingest`` into
    ``mes`` alone are data a seed must not silently replace.
    """
    for workspace in WORKSPACES:
        with database.engine(workspace).connect() as conn:
            for table in workspace_metadata.sorted_tables:
                if conn.execute(select(1).select_from(table).limit(1)).first() is not None:
                    return True
    return False


def holdings(database: Database) -> dict[str, dict[str, int]]:
    """Rows per workspace and table, leaving out empty tables and workspaces."""
    found: dict[str, dict[str, int]] = {}
    for workspace in WORKSPACES:
        with database.engine(workspace).connect() as conn:
            counts = {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in workspace_metadata.sorted_tables
            }
        counts = {name: rows for name, rows in counts.items() if rows}
        if counts:
            found[workspace] = counts
    return found


def describe_holdings(found: Mapping[str, Mapping[str, int]]) -> list[str]:
    """One line per workspace: ``tracker: 6 dataset-index, 1,631 lumisection, ... rows``."""
    order = list(TABLE_LABELS)
    lines = []
    for workspace, counts in found.items():
        parts = [
            f"{rows:,} {TABLE_LABELS.get(name, name)}"
            for name, rows in sorted(
                counts.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99
            )
        ]
        lines.append(f"{workspace}: {', '.join(parts)} rows")
    return lines


def changed_since(record: SeedRecord, found: Mapping[str, Mapping[str, int]]) -> int:
    """Rows added or removed since the recorded seed (ingested rows, mostly).

    Tables are compared by count, so a replaced row is not seen; it is a hint for the
    refusal message, not an audit.
    """
    changed = 0
    for workspace in set(record.done) | set(found):
        if workspace == OMS_STEP:
            continue
        seeded = record.done.get(workspace, {})
        now = found.get(workspace, {})
        for table in set(seeded) | set(now):
            changed += abs(now.get(table, 0) - seeded.get(table, 0))
    return changed
