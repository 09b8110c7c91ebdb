"""The synthetic data set: determinism, CONTRACT §8 invariants, documented ids and queries.

Everything runs on the ``tiny`` size seeded into real databases (SQLite files, and a real
PostgreSQL server for the cross-backend check).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import orjson
import pytest
from sqlalchemy import Connection, func, select, text

from dials_local.data.catalog import workspace_mes
from dials_local.data.generator import SIZES, SeedSummary, seed
from dials_local.data.me_specs import me_spec
from dials_local.data.plan import profile_includes, size_plan
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
    oms_records,
    workspace_metadata,
)
from dials_local.workspaces import WORKSPACES


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, SeedSummary]]:
    database = Database(data_dir=tmp_path_factory.mktemp("seed-tiny"))
    summary = seed(database, "tiny")
    yield database, summary
    database.dispose()


def _digest(database: Database) -> dict[str, str]:
    """sha256 of every table's rows in primary-key order (workspace tables and OMS)."""
    out: dict[str, str] = {}
    for workspace in WORKSPACES:
        with database.engine(workspace).connect() as conn:
            for table in workspace_metadata.sorted_tables:
                out[f"{workspace}.{table.name}"] = _table_digest(conn, table)
    with database.service_engine().connect() as conn:
        out[oms_records.name] = _table_digest(conn, oms_records)
    return out


def _table_digest(conn: Connection, table: object) -> str:
    key = list(table.primary_key.columns)  # type: ignore[attr-defined]
    digest = hashlib.sha256()
    for row in conn.execute(select(table).order_by(*key)):  # type: ignore[call-overload]
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def _conn(database: Database, workspace: str) -> Connection:
    return database.engine(workspace).connect()


# ----------------------------------------------------------------------------- determinism


def test_same_size_and_seed_give_identical_databases(
    tiny: tuple[Database, SeedSummary], tiny_data_dir: Path
) -> None:
    """The session's data set (seeded by ``dials-local seed`` in another process) and
    this module's (seeded in-process) are the same, table by table."""
    other = Database(data_dir=tiny_data_dir)
    try:
        assert _digest(other) == _digest(tiny[0])
    finally:
        other.dispose()


def test_another_seed_changes_the_values_not_the_structure() -> None:
    from dials_local.data.files import all_files
    from dials_local.data.runs import run_conditions

    plan = size_plan("tiny")
    a, b = (run_conditions(367112, 90, s) for s in (2024, 7))
    assert a.n_ls == b.n_ls and a.fill_number == b.fill_number
    assert not np.array_equal(a.inst_lumi, b.inst_lumi)
    files_a, files_b = (
        all_files(plan, {r: run_conditions(r, plan.n_ls[r], s) for r in plan.runs}, s)
        for s in (2024, 7)
    )
    names_a = [f.logical_file_name for f in files_a["ZB22F"]]
    names_b = [f.logical_file_name for f in files_b["ZB22F"]]
    assert names_a != names_b
    # the file the documentation uses is pinned whatever the seed
    assert files_a["ZB23C"][0].file_id == files_b["ZB23C"][0].file_id == 3393809397


@pytest.mark.postgres
def test_postgresql_gets_the_same_content_as_sqlite(
    tiny: tuple[Database, SeedSummary], postgres_url: str
) -> None:
    database = Database(url=postgres_url)
    try:
        started = datetime.now(timezone.utc)
        summary = seed(database, "tiny")
        assert summary.counts == tiny[1].counts
        assert _digest(database) == _digest(tiny[0])
        # The seed refreshed the planner's statistics of what it loaded (autovacuum gets
        # there only later): without them PostgreSQL sorted an ME's rows for every page.
        with database.engine("tracker").connect() as conn:
            analyzed = conn.execute(
                text(
                    "SELECT last_analyze >= :started FROM pg_stat_user_tables "
                    "WHERE schemaname = 'tracker' AND relname = 'fact_th2'"
                ),
                {"started": started},
            ).scalar_one()
        assert analyzed is True
    finally:
        database.dispose()


def test_unknown_size_is_rejected_with_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tiny, demo, large"):
        seed(Database(data_dir=tmp_path), "huge")
    assert SIZES == ("tiny", "demo", "large")


def test_summary_counts_match_the_database(tiny: tuple[Database, SeedSummary]) -> None:
    database, summary = tiny
    for workspace in WORKSPACES:
        with _conn(database, workspace) as conn:
            for table in (fact_th1, fact_th2, fact_lumisection, fact_file_index):
                stored = conn.execute(select(func.count()).select_from(table)).scalar_one()
                assert summary.counts[workspace].get(table.name, 0) == stored
    assert "tracker" in str(summary) and "oms:" in str(summary)


# ----------------------------------------------------------------------------- CONTRACT §8


@pytest.mark.parametrize("workspace", WORKSPACES)
def test_counters_are_consistent(tiny: tuple[Database, SeedSummary], workspace: str) -> None:
    with _conn(tiny[0], workspace) as conn:
        th_counts: dict[tuple[int, int, int], list[int]] = {}
        for index, table in enumerate((fact_th1, fact_th2)):
            query = select(
                table.c.dataset_id, table.c.run_number, table.c.ls_number, func.count()
            ).group_by(table.c.dataset_id, table.c.run_number, table.c.ls_number)
            for d, r, ls, n in conn.execute(query):
                th_counts.setdefault((d, r, ls), [0, 0])[index] = n
        lumis = {
            (row.dataset_id, row.run_number, row.ls_number): [row.th1_count, row.th2_count]
            for row in conn.execute(select(fact_lumisection))
        }
        assert lumis, "every workspace has lumisections"
        assert {k: v for k, v in lumis.items() if v != [0, 0]} == th_counts

        per_run = Counter((d, r) for d, r, _ in lumis)
        runs = conn.execute(select(fact_run)).all()
        assert {(row.dataset_id, row.run_number): row.ls_count for row in runs} == dict(per_run)
        assert all(0.0 < row.ls_completeness <= 1.0 for row in runs)

        per_me: Counter[int] = Counter()
        for table in (fact_th1, fact_th2):
            for me_id, n in conn.execute(
                select(table.c.me_id, func.count()).group_by(table.c.me_id)
            ):
                per_me[me_id] += n
        mes = conn.execute(select(dim_monitoring_elements)).all()
        # ``count`` is also a tuple method of Row: read the column through the mapping.
        counted = {m.me_id: m._mapping["count"] for m in mes if m._mapping["count"]}
        assert counted == dict(per_me)
        dims = {m.me_id: m.dim for m in mes}
        for table, dim in ((fact_th1, 1), (fact_th2, 2)):
            used = set(conn.execute(select(table.c.me_id).distinct()).scalars())
            assert all(dims[me_id] == dim for me_id in used)


@pytest.mark.parametrize("workspace", WORKSPACES)
def test_histograms_come_from_finished_files_and_hold_finite_bins(
    tiny: tuple[Database, SeedSummary], workspace: str
) -> None:
    with _conn(tiny[0], workspace) as conn:
        status = {
            (row.dataset_id, row.file_id): row.status
            for row in conn.execute(select(fact_file_index))
        }
        datasets = set(conn.execute(select(fact_dataset_index.c.dataset_id)).scalars())
        for table in (fact_th1, fact_th2):
            for row in conn.execute(select(table).limit(3000)):
                assert status[(row.dataset_id, row.file_id)] == "FINISHED"
                assert row.dataset_id in datasets
                data = np.asarray(orjson.loads(row.data), dtype=np.float64)
                shape = (int(row.x_bin),) if table is fact_th1 else (int(row.y_bin), int(row.x_bin))
                assert data.shape == shape
                assert np.all(np.isfinite(data))
                assert isinstance(row.entries, int) and row.entries >= 0
                assert row.x_bin == float(int(row.x_bin)) and row.x_max > row.x_min


def test_files_have_realistic_names_ids_and_failures(tiny: tuple[Database, SeedSummary]) -> None:
    with _conn(tiny[0], "tracker") as conn:
        files = conn.execute(select(fact_file_index)).all()
    statuses = Counter(f.status for f in files)
    assert statuses["FINISHED"] > 0 and statuses["PENDING"] + statuses["STARTED"] > 0
    failed = [f for f in files if f.status not in ("FINISHED", "PENDING", "STARTED")]
    assert failed, "some ingestions failed"
    assert all(f.err_trace.startswith("Traceback (most recent call last):") for f in failed)
    assert all(f.err_trace is None for f in files if f.status == "FINISHED")
    lfn = re.compile(
        r"^/store/(data|express|hidata)/(HI)?Run20\d\d[A-Z]/\w+/DQMIO/[\w-]+/000/\d{3}/\d{3}/00000/"
        r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}\.root$"
    )
    assert all(lfn.match(f.logical_file_name) for f in files)
    global_dbs = [f for f in files if f.file_id != 3393809397]
    assert all(f.file_id % 40 == 37 and 10**9 <= f.file_id < 10**11 for f in global_dbs)
    assert len({f.file_id for f in files}) == len(files)


# ----------------------------------------------------------------------------- documented ids


def test_tracker_anchor_ids_of_the_usage_guide(tiny: tuple[Database, SeedSummary]) -> None:
    with _conn(tiny[0], "tracker") as conn:
        dataset = conn.execute(
            select(fact_dataset_index).where(fact_dataset_index.c.dataset_id == 14677060)
        ).one()
        assert dataset.dataset == "/ZeroBias/Run2023C-PromptReco-v1/DQMIO"
        assert dataset.era == "Run2023C" and dataset.processing_version == 1
        file = conn.execute(
            select(fact_file_index).where(
                fact_file_index.c.dataset_id == 14677060, fact_file_index.c.file_id == 3393809397
            )
        ).one()
        assert file.status == "FINISHED"
        assert conn.execute(
            select(fact_run).where(
                fact_run.c.dataset_id == 14677060, fact_run.c.run_number == 367112
            )
        ).one()
        key = (fact_lumisection.c.dataset_id == 14677060, fact_lumisection.c.run_number == 367112)
        assert conn.execute(
            select(fact_lumisection).where(*key, fact_lumisection.c.ls_number == 10)
        ).one()
        anchor = (
            fact_th1.c.dataset_id == 14677060,
            fact_th1.c.run_number == 367112,
            fact_th1.c.ls_number == 10,
        )
        charge = conn.execute(select(fact_th1).where(*anchor, fact_th1.c.me_id == 1)).one()
        assert (charge.x_min, charge.x_max, charge.x_bin) == (0.0, 80000.0, 100.0)
        assert charge.file_id == 3393809397
        contents = np.asarray(orjson.loads(charge.data))
        peak = (np.argmax(contents) + 0.5) * 800.0
        assert 15000 < peak < 30000, "Landau-like charge peaks near 21 ke"
        assert contents[-20:].sum() < contents.sum() * 0.05, "with a falling tail"
        assert conn.execute(select(fact_th1).where(*anchor, fact_th1.c.me_id == 96)).one()
        th2 = conn.execute(
            select(fact_th2).where(
                fact_th2.c.dataset_id == 14677060,
                fact_th2.c.run_number == 367112,
                fact_th2.c.ls_number == 10,
                fact_th2.c.me_id == 100,
            )
        ).one()
        assert th2.y_bin > 1
        mes = {m.me_id: (m.me, m.dim) for m in conn.execute(select(dim_monitoring_elements))}
    assert mes[1] == ("PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2", 1)
    assert mes[96][1] == 1 and mes[100][1] == 2
    assert sorted(mes) == list(range(1, 150))


def test_h2d_example_query_returns_200_rows_over_3_runs(tiny: tuple[Database, SeedSummary]) -> None:
    with _conn(tiny[0], "tracker") as conn:
        mes = conn.execute(select(dim_monitoring_elements)).all()
        ids = [m.me_id for m in mes if re.search("PXBarrel", m.me)]
        rows = conn.execute(
            select(fact_th2.c.run_number).where(
                fact_th2.c.me_id.in_(ids), fact_th2.c.ls_number == 78, fact_th2.c.entries >= 100
            )
        ).all()
    assert len(rows) >= 200
    assert len({r.run_number for r in rows}) >= 3


def test_tracker_run_range_lumisections_and_2024B(tiny: tuple[Database, SeedSummary]) -> None:
    with _conn(tiny[0], "tracker") as conn:
        runs = conn.execute(
            select(fact_run.c.run_number).where(fact_run.c.run_number.between(360392, 365000))
        ).scalars()
        assert 360392 in set(runs)
        lumis = conn.execute(
            select(func.count()).where(fact_lumisection.c.run_number == 360392)
        ).scalar_one()
        assert lumis > 50
        names = dict(
            conn.execute(
                select(fact_dataset_index.c.dataset_id, fact_dataset_index.c.dataset)
            ).all()
        )
        matching = [d for d, name in names.items() if re.search("2024B", name)]
        assert matching
        files = conn.execute(
            select(func.count()).where(fact_file_index.c.dataset_id.in_(matching))
        ).scalar_one()
        assert files > 0


def test_ecal_example_has_endcap_maps_in_2022_runs(tiny: tuple[Database, SeedSummary]) -> None:
    with _conn(tiny[0], "ecal") as conn:
        mes = conn.execute(select(dim_monitoring_elements)).all()
        ids = [m.me_id for m in mes if re.search("EEOT digi occupancy EE +", m.me)]
        n = conn.execute(
            select(func.count()).where(
                fact_th2.c.me_id.in_(ids),
                fact_th2.c.entries >= 100,
                fact_th2.c.run_number.between(360392, 365000),
            )
        ).scalar_one()
    assert n > 0


def test_every_workspace_has_its_primary_datasets_and_mes(
    tiny: tuple[Database, SeedSummary],
) -> None:
    from dials_local.data.catalog import primary_dataset_patterns

    for workspace in WORKSPACES:
        with _conn(tiny[0], workspace) as conn:
            names = list(conn.execute(select(fact_dataset_index.c.dataset)).scalars())
            mes = conn.execute(select(dim_monitoring_elements)).all()
        patterns = [
            re.escape(p).replace(r"\*", ".*") + "$" for p in primary_dataset_patterns(workspace)
        ]
        assert names and all(any(re.match(p, n) for p in patterns) for n in names), workspace
        assert [(m.me_id, m.me, m.dim) for m in mes] == [
            (m.me_id, m.name, m.dim) for m in workspace_mes(workspace)
        ]


# ----------------------------------------------------------------------------- jetmet models


def test_jetmet_models_index(tiny: tuple[Database, SeedSummary]) -> None:
    with _conn(tiny[0], "jetmet") as conn:
        models = conn.execute(
            select(dim_ml_models_index).order_by(dim_ml_models_index.c.model_id)
        ).all()
        me_names = set(conn.execute(select(dim_monitoring_elements.c.me)).scalars())
    assert [m.model_id for m in models] == list(range(1, 21))
    by_id = {m.model_id: m for m in models}
    assert by_id[19].active and by_id[20].active and not by_id[1].active
    assert by_id[19].filename == "model_METSig_checkpoint_20240720.onnx"
    for m in models:
        assert m.target_me in me_names
        assert m.filename.startswith("model_") and m.filename.endswith(".onnx")
        inputs = orjson.loads(m.input_signature)
        assert isinstance(inputs, list) and inputs and all("me" in i for i in inputs)
        assert inputs[0]["me"] == m.target_me
        assert isinstance(orjson.loads(m.output_signature), list)
        tags = orjson.loads(m.tags) if m.tags is not None else None
        assert tags is None or all(set(t) == {"name", "value"} for t in tags)
        assert m.name and m.revision >= 1 and m.type and m.description
        assert m.created_by and m.modified_by and m.created_at <= m.modified_at
        if m.active:
            assert m.anomaly_threshold is not None and m.anomaly_threshold > 0


def test_jetmet_flags_for_the_documented_runs(tiny: tuple[Database, SeedSummary]) -> None:
    with _conn(tiny[0], "jetmet") as conn:
        flags = conn.execute(
            select(fact_ml_bad_lumis).where(
                fact_ml_bad_lumis.c.model_id.in_([19, 20]),
                fact_ml_bad_lumis.c.dataset_id == 15042670,
                fact_ml_bad_lumis.c.run_number.in_([385801, 385799, 385764]),
            )
        ).all()
        assert flags
        for run_number in {f.run_number for f in flags}:
            lumis = set(
                conn.execute(
                    select(fact_lumisection.c.ls_number).where(
                        fact_lumisection.c.dataset_id == 15042670,
                        fact_lumisection.c.run_number == run_number,
                    )
                ).scalars()
            )
            bad = {f.ls_number for f in flags if f.run_number == run_number}
            assert bad < lumis
            assert min(lumis) < min(bad) and max(bad) < max(lumis), "golden JSON has a gap"
        ls36 = conn.execute(
            select(fact_ml_bad_lumis).where(
                fact_ml_bad_lumis.c.model_id == 19,
                fact_ml_bad_lumis.c.dataset_id == 15102369,
                fact_ml_bad_lumis.c.run_number == 386951,
                fact_ml_bad_lumis.c.ls_number == 36,
            )
        ).one()
        assert ls36.mse > 0


# ----------------------------------------------------------------------------- OMS


def _oms(database: Database, endpoint: str) -> list[dict[str, object]]:
    with database.service_engine().connect() as conn:
        rows = conn.execute(
            select(oms_records.c.attributes)
            .where(oms_records.c.endpoint == endpoint)
            .order_by(oms_records.c.position)
        ).scalars()
        return [orjson.loads(a) for a in rows]


def test_oms_records(tiny: tuple[Database, SeedSummary]) -> None:
    database = tiny[0]
    runs = {r["run_number"]: r for r in _oms(database, "runs")}
    run = runs[382921]
    for key in ("fill_number", "start_time", "end_time", "b_field", "energy", "delivered_lumi",
                "recorded_lumi", "last_lumisection_number", "sequence"):  # fmt: skip
        assert key in run
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", str(run["start_time"]))
    lumis = [r for r in _oms(database, "lumisections") if r["run_number"] == 382921]
    assert len(lumis) > 100 and len(lumis) == run["last_lumisection_number"]
    assert {"beams_stable", "cms_active", "delivered_lumi", "recorded_lumi"} <= set(lumis[0])
    rates = [
        r
        for r in _oms(database, "datasetrates")
        if r["run_number"] == 382921 and r["dataset_name"] == "ZeroBias"
    ]
    assert len(rates) > 100
    for workspace in WORKSPACES:
        with _conn(database, workspace) as conn:
            assert set(conn.execute(select(fact_run.c.run_number)).scalars()) <= set(runs)


# ----------------------------------------------------------------------------- sizes


def test_size_plans_reach_the_benchmark_volumes() -> None:
    """Structural check of ``large`` (and ``demo``) without generating them."""
    for size, charge_min, eta_phi_min, big_map_min in (
        ("large", 100_000, 20_000, 2_000),
        ("demo", 1_000, 1_000, 100),
    ):
        plan = size_plan(size)
        lumis = {"core": 0, "pixel": 0, "full": 0}
        for ingestion in plan.workspaces["tracker"]:
            lumis[ingestion.profile] += sum(plan.n_ls[r] for r in ingestion.runs)
        expected = 1.0 - 2 * plan.failed_file_fraction  # failed files drop some lumisections
        assert (lumis["core"] + lumis["pixel"] + lumis["full"]) * expected >= charge_min
        assert lumis["full"] * expected >= big_map_min, size
        assert sum(lumis.values()) * expected >= eta_phi_min
    plan = size_plan("large")
    core = [
        m for m in workspace_mes("tracker") if profile_includes("tracker", "core", m.name, m.dim)
    ]
    th1 = [m for m in core if m.dim == 1]
    assert sum(plan.n_ls[r] for i in plan.workspaces["tracker"] for r in i.runs) * len(th1) > 10**6
    assert me_spec("PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2").x.nbins == 100
    eta_phi = me_spec(
        "Tracking/TrackParameters/highPurityTracks/pt_1/GeneralProperties/TrackEtaPhi_ImpactPoint_GenTk"
    )
    assert (eta_phi.x.nbins, eta_phi.y.nbins) == (24, 24)  # type: ignore[union-attr]
    big = me_spec("PixelPhase1/Tracks/clusterposition_zphi_ontrack")
    assert (big.x.nbins, big.y.nbins) == (200, 200)  # type: ignore[union-attr]


def test_docs_binning_table_matches_the_code() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "data.md"
    rows = re.findall(
        r"^\| (\w+) \| (\d+) \| `([^`]+)` \| (\d) \| ([^|]+) \| ([^|]*) \|", docs.read_text(), re.M
    )
    expected = []
    for workspace in WORKSPACES:
        for me in workspace_mes(workspace):
            spec, coarse = me_spec(me.name), me_spec(me.name, coarse=True)

            def fmt(s: object) -> str:
                axes = [s.x] + ([s.y] if s.y is not None else [])  # type: ignore[attr-defined]
                return " x ".join(f"{a.nbins} [{a.lo:g}, {a.hi:g}]" for a in axes)

            full, small = fmt(spec), fmt(coarse)
            expected.append(
                (
                    workspace,
                    str(me.me_id),
                    me.name,
                    str(me.dim),
                    full,
                    "" if small == full else small,
                )
            )
    assert [(w, i, n, d, b.strip(), t.strip()) for w, i, n, d, b, t in rows] == expected
