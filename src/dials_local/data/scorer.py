"""A real anomaly scorer for the ML models index: flags lumisections from the histograms.

For each *active* model of a workspace, its target ME's per-lumisection histograms are
read back from ``fact_th1`` and scored run by run:

1. each lumisection's histogram ``h`` (``N`` entries in range) is compared with a
   *reconstruction* ``N * r``, where ``r`` is the run's robust reference shape: the
   bin-wise median of the normalised histograms (the bin-wise mean where the median is 0,
   i.e. in sparse tails) - a stand-in for an autoencoder trained on good data;
2. the metric is the mean squared Poisson-standardised residual,
   ``mse = mean_i (h_i - N r_i)^2 / max(N r_i, 1)``, about 1 for a statistically
   compatible lumisection whatever its luminosity;
3. lumisections with ``mse > anomaly_threshold`` (and enough entries) are written to
   ``fact_ml_bad_lumis`` with that ``mse``.

Because the reference is per run, slow drifts and permanent features are absorbed and
only lumisection-level changes (the injected anomalies) stand out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, delete, insert, select

from dials_local.db.schema import (
    dim_ml_models_index,
    dim_monitoring_elements,
    fact_ml_bad_lumis,
    fact_th1,
)

#: Lumisections with fewer entries in range are not scored (too little to judge).
MIN_ENTRIES = 200
#: Runs with fewer scorable lumisections have no usable reference.
MIN_LUMISECTIONS = 5
#: Threshold for models whose row has no ``anomaly_threshold``.
DEFAULT_THRESHOLD = 2.5


@dataclass(frozen=True)
class RunHistograms:
    """One ME's histograms over one (dataset, run)."""

    dataset_id: int
    run_number: int
    ls_numbers: np.ndarray
    file_ids: np.ndarray
    contents: np.ndarray  # (lumisections, bins)


def reconstruction_mse(contents: np.ndarray) -> np.ndarray:
    """The per-lumisection metric of the module docstring (0 where not scorable)."""
    totals = contents.sum(axis=1)
    usable = totals >= MIN_ENTRIES
    mse = np.zeros(len(contents))
    if usable.sum() < MIN_LUMISECTIONS:
        return mse
    shapes = contents[usable] / totals[usable, None]
    median = np.median(shapes, axis=0)
    reference = np.where(median > 0, median, shapes.mean(axis=0))
    reference = reference / reference.sum()
    expected = totals[usable, None] * reference[None, :]
    pulls = (contents[usable] - expected) ** 2 / np.maximum(expected, 1.0)
    mse[usable] = pulls.mean(axis=1)
    return mse


def _runs_of(conn: Connection, me_id: int) -> Iterator[RunHistograms]:
    query = (
        select(
            fact_th1.c.dataset_id,
            fact_th1.c.run_number,
            fact_th1.c.ls_number,
            fact_th1.c.file_id,
            fact_th1.c.data,
        )
        .where(fact_th1.c.me_id == me_id)
        .order_by(fact_th1.c.dataset_id, fact_th1.c.run_number, fact_th1.c.ls_number)
    )
    key: tuple[int, int] | None = None
    ls: list[int] = []
    files: list[int] = []
    data: list[list[float]] = []
    for row in conn.execute(query):
        if key is not None and (row.dataset_id, row.run_number) != key:
            yield RunHistograms(key[0], key[1], np.array(ls), np.array(files), _matrix(data))
            ls, files, data = [], [], []
        key = (row.dataset_id, row.run_number)
        ls.append(row.ls_number)
        files.append(row.file_id)
        data.append(orjson.loads(row.data))
    if key is not None:
        yield RunHistograms(key[0], key[1], np.array(ls), np.array(files), _matrix(data))


def _matrix(data: list[list[float]]) -> np.ndarray:
    width = max((len(d) for d in data), default=0)
    out = np.zeros((len(data), width))
    for i, d in enumerate(data):
        out[i, : len(d)] = d  # rows of another binning would not compare; pad defensively
    return out


def score_workspace(conn: Connection, *, batch_size: int = 5000) -> int:
    """Score every active model of the workspace behind ``conn``; returns rows written.

    Existing ``fact_ml_bad_lumis`` rows of those models are replaced.
    """
    models = conn.execute(
        select(
            dim_ml_models_index.c.model_id,
            dim_ml_models_index.c.target_me,
            dim_ml_models_index.c.anomaly_threshold,
        )
        .where(dim_ml_models_index.c.active.is_(True))
        .order_by(dim_ml_models_index.c.model_id)
    ).all()
    written = 0
    for model in models:
        me = conn.execute(
            select(dim_monitoring_elements.c.me_id, dim_monitoring_elements.c.dim).where(
                dim_monitoring_elements.c.me == model.target_me
            )
        ).first()
        conn.execute(
            delete(fact_ml_bad_lumis).where(fact_ml_bad_lumis.c.model_id == model.model_id)
        )
        if me is None or me.dim != 1:
            continue  # the ETL runs a model only when its target ME was ingested
        threshold = (
            model.anomaly_threshold if model.anomaly_threshold is not None else DEFAULT_THRESHOLD
        )
        pending: list[dict[str, Any]] = []
        for run in _runs_of(conn, me.me_id):
            mse = reconstruction_mse(run.contents)
            for i in np.flatnonzero(mse > threshold):
                pending.append(
                    {
                        "model_id": model.model_id,
                        "dataset_id": run.dataset_id,
                        "file_id": int(run.file_ids[i]),
                        "run_number": run.run_number,
                        "ls_number": int(run.ls_numbers[i]),
                        "me_id": me.me_id,
                        "mse": round(float(mse[i]), 6),
                    }
                )
            if len(pending) >= batch_size:
                conn.execute(insert(fact_ml_bad_lumis), pending)
                written += len(pending)
                pending = []
        if pending:
            conn.execute(insert(fact_ml_bad_lumis), pending)
            written += len(pending)
    return written
