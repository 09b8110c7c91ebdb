"""The ML scorer: its flags line up with the injected anomalies (ground truth)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, select

from dials_local.data.scorer import MIN_ENTRIES, reconstruction_mse, score_workspace
from dials_local.db.engines import Database
from dials_local.db.schema import (
    dim_ml_models_index,
    dim_monitoring_elements,
    fact_ml_bad_lumis,
    local_injected_anomalies,
)


@pytest.fixture(scope="module")
def database(tiny_data_dir: Path) -> Iterator[Database]:
    """The session's tiny data set (only read, or written in rolled-back transactions)."""
    db = Database(data_dir=tiny_data_dir)
    yield db
    db.dispose()


@pytest.fixture
def jetmet(database: Database) -> Iterator[Connection]:
    with database.engine("jetmet").connect() as conn:
        yield conn


def _flags_and_truth(
    conn: Connection,
) -> tuple[set[tuple[int, int, int, int]], set[tuple[int, int, int, int]]]:
    """(model, dataset, run, LS) flagged, and (model, dataset, run, LS) truly anomalous."""
    me_ids = dict(
        conn.execute(select(dim_monitoring_elements.c.me, dim_monitoring_elements.c.me_id)).all()
    )
    models = conn.execute(
        select(dim_ml_models_index).where(dim_ml_models_index.c.active.is_(True))
    ).all()
    assert models
    flagged: set[tuple[int, int, int, int]] = set()
    truth: set[tuple[int, int, int, int]] = set()
    for model in models:
        me_id = me_ids[model.target_me]
        for row in conn.execute(
            select(fact_ml_bad_lumis).where(fact_ml_bad_lumis.c.model_id == model.model_id)
        ):
            assert row.me_id == me_id
            flagged.add((model.model_id, row.dataset_id, row.run_number, row.ls_number))
        for row in conn.execute(
            select(local_injected_anomalies).where(local_injected_anomalies.c.me_id == me_id)
        ):
            truth.add((model.model_id, row.dataset_id, row.run_number, row.ls_number))
    return flagged, truth


def test_flags_line_up_with_the_injected_anomalies(jetmet: Connection) -> None:
    flagged, truth = _flags_and_truth(jetmet)
    assert len(truth) >= 10, "enough ground truth to measure"
    hits = flagged & truth
    precision = len(hits) / len(flagged)
    recall = len(hits) / len(truth)
    assert precision >= 0.8, (precision, sorted(flagged - truth)[:10])
    assert recall >= 0.8, (recall, sorted(truth - flagged)[:10])


def test_documented_lumisection_36_is_flagged_by_model_19(jetmet: Connection) -> None:
    target = jetmet.execute(
        select(dim_ml_models_index.c.target_me).where(dim_ml_models_index.c.model_id == 19)
    ).scalar_one()
    me_id = jetmet.execute(
        select(dim_monitoring_elements.c.me_id).where(dim_monitoring_elements.c.me == target)
    ).scalar_one()
    where = {"dataset_id": 15102369, "run_number": 386951, "ls_number": 36, "me_id": me_id}
    flag = jetmet.execute(select(fact_ml_bad_lumis).filter_by(model_id=19, **where)).one()
    assert flag.mse > 2.5
    truth = jetmet.execute(select(local_injected_anomalies).filter_by(**where)).all()
    assert [t.kind for t in truth] == ["shifted_peak"]


def test_inactive_models_flag_nothing(jetmet: Connection) -> None:
    inactive = (
        jetmet.execute(
            select(dim_ml_models_index.c.model_id).where(dim_ml_models_index.c.active.is_(False))
        )
        .scalars()
        .all()
    )
    assert inactive
    rows = jetmet.execute(
        select(fact_ml_bad_lumis).where(fact_ml_bad_lumis.c.model_id.in_(inactive))
    ).all()
    assert rows == []


def test_rescoring_reproduces_the_stored_flags(jetmet: Connection) -> None:
    def stored() -> list[tuple[object, ...]]:
        query = select(fact_ml_bad_lumis).order_by(*fact_ml_bad_lumis.primary_key.columns)
        return [tuple(r) for r in jetmet.execute(query)]

    before = stored()
    jetmet.rollback()  # end the implicit read transaction: the rescoring gets its own
    transaction = jetmet.begin()
    try:
        written = score_workspace(jetmet)
        assert written == len(before)
        assert stored() == before
    finally:
        transaction.rollback()


def test_metric_is_about_one_for_fluctuations_and_large_for_a_distortion() -> None:
    rng = np.random.default_rng(1)
    x = np.linspace(-4, 4, 50)
    shape = np.exp(-0.5 * x**2)
    shape /= shape.sum()
    entries = rng.uniform(2000, 6000, size=(80, 1))  # luminosity varies along the run
    contents = rng.poisson(entries * shape).astype(float)
    contents[17] = rng.poisson(entries[17] * np.roll(shape, 6))  # a shifted peak
    contents[40, 10:20] = 0.0  # a dead region
    contents[5] = rng.poisson(50 * shape)  # too few entries to judge
    mse = reconstruction_mse(contents)
    normal = np.delete(mse, [5, 17, 40])
    assert 0.6 < np.median(normal) < 1.4
    assert normal.max() < 2.5
    assert mse[17] > 10 and mse[40] > 10
    assert contents[5].sum() < MIN_ENTRIES and mse[5] == 0.0
    assert np.all(np.isfinite(mse))


def test_too_short_runs_are_not_scored() -> None:
    contents = np.full((3, 10), 100.0)
    contents[1, 0] = 5000.0
    assert np.all(reconstruction_mse(contents) == 0.0)
