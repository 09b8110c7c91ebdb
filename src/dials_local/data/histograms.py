"""Per-lumisection histogram rows of one ME in one run: shape, fluctuation, anomalies.

For every ingested lumisection the expected number of entries is the ME's nominal
entries x the dataset's rate factor x the lumisection's recorded luminosity relative to
nominal; bin contents are Poisson-fluctuated around that many entries times the ME's
normalised shape (floats, integral).  Non-count MEs (efficiencies, ratios) get Gaussian
noise that shrinks with the entries.  Anomalies from :mod:`anomalies` are applied before
the fluctuation, so a detector can only see them through the noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from dials_local.data.anomalies import Anomaly, apply_to_rates, apply_to_values, plan_anomalies
from dials_local.data.me_specs import MESpec

_JSON = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class RunSlice:
    """The ingested lumisections of one (dataset, run) in one workspace."""

    dataset_id: int
    run_number: int
    ls_numbers: np.ndarray  # ascending
    file_ids: np.ndarray  # DQMIO file holding each lumisection
    rel_lumi: np.ndarray  # recorded luminosity relative to nominal, per lumisection
    rel_pileup: np.ndarray  # pileup relative to nominal, per lumisection
    rate_factor: float  # the dataset's trigger rate relative to ZeroBias


def _normalise(density: np.ndarray) -> np.ndarray:
    total = density.sum(axis=-1, keepdims=True)
    out: np.ndarray = np.divide(density, total, out=np.zeros_like(density), where=total > 0)
    return out


class MEHistograms:
    """Generates the rows of one ME over a run, a chunk of lumisections at a time.

    The random stream is consumed in call order, so a fixed chunking gives the same rows.
    """

    def __init__(
        self,
        spec: MESpec,
        me_id: int,
        run: RunSlice,
        rng: np.random.Generator,
        forced: dict[int, str] | None = None,
    ) -> None:
        self.spec = spec
        self.me_id = me_id
        self.run = run
        self.rng = rng
        self.drift = float(rng.normal(0.0, spec.drift)) if spec.shiftable else 0.0
        self.nominal = self._nominal_shape()
        self.anomalies: dict[int, Anomaly] = plan_anomalies(
            spec, run.ls_numbers, self.nominal, rng, forced
        )
        self._axes: dict[str, float] = {
            "x_min": spec.x.lo,
            "x_max": spec.x.hi,
            "x_bin": float(spec.x.nbins),
        }
        if spec.y is not None:
            self._axes.update(y_min=spec.y.lo, y_max=spec.y.hi, y_bin=float(spec.y.nbins))

    def _nominal_shape(self) -> np.ndarray:
        spec = self.spec
        if spec.value is not None:
            if spec.y is None:
                return spec.value(spec.x.centers(), None).ravel()
            xx, yy = spec.grid()
            return spec.value(xx, yy).ravel()
        if spec.pdf2d is not None:
            xx, yy = spec.grid()
            return _normalise(spec.pdf2d(xx, yy).ravel())
        assert spec.pdf1d is not None
        one = np.ones((1, 1))
        density = spec.pdf1d(spec.x.centers()[None, :], one * self.drift, one)
        row: np.ndarray = _normalise(np.broadcast_to(density, (1, spec.x.nbins)))[0]
        return row

    def _shape_rows(self, index: slice, shifts: np.ndarray) -> np.ndarray:
        """Normalised expected shape per lumisection of the chunk, ``(k, cells)``."""
        spec = self.spec
        k = len(shifts)
        if spec.pdf1d is None:
            return np.broadcast_to(self.nominal, (k, spec.cells))
        density = spec.pdf1d(
            spec.x.centers()[None, :],
            (self.drift + shifts)[:, None],
            self.run.rel_pileup[index][:, None],
        )
        return _normalise(np.broadcast_to(density, (k, spec.cells)))

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names of the tuples :meth:`rows` returns (``ls_number`` at index 3)."""
        return (
            "dataset_id",
            "file_id",
            "run_number",
            "ls_number",
            "me_id",
            *self._axes,
            "entries",
            "data",
        )

    def rows(self, index: slice) -> list[tuple[Any, ...]]:
        """Rows (tuples in :attr:`columns` order) of the chunk ``index`` of the run."""
        spec, run = self.spec, self.run
        ls_numbers = run.ls_numbers[index]
        n_entries = spec.entries * run.rate_factor * run.rel_lumi[index]
        anomalies = [self.anomalies.get(int(ls)) for ls in ls_numbers]
        if spec.value is not None:
            data, entries = self._values(n_entries, anomalies)
        else:
            data, entries = self._counts(index, n_entries, anomalies)
        axes = tuple(self._axes.values())
        file_ids = run.file_ids[index].tolist()
        dumps = orjson.dumps
        shape = spec.shape
        return [
            (
                run.dataset_id,
                file_ids[i],
                run.run_number,
                ls,
                self.me_id,
                *axes,
                int(entries[i]),
                dumps(data[i].reshape(shape), option=_JSON).decode(),
            )
            for i, ls in enumerate(ls_numbers.tolist())
        ]

    def _counts(
        self, index: slice, n_entries: np.ndarray, anomalies: list[Anomaly | None]
    ) -> tuple[np.ndarray, np.ndarray]:
        shifts = np.array(
            [a.strength if a is not None and a.kind == "shifted_peak" else 0.0 for a in anomalies]
        )
        lam = self._shape_rows(index, shifts) * n_entries[:, None]
        if any(a is not None for a in anomalies):
            lam = np.array(lam, copy=True)
            for i, anomaly in enumerate(anomalies):
                if anomaly is not None and anomaly.kind != "shifted_peak":
                    apply_to_rates(lam[i], anomaly, float(n_entries[i]))
        counts = self._fluctuate(lam)
        outside = self.rng.poisson(n_entries * self.spec.overflow)
        return counts, counts.sum(axis=1) + outside

    def _fluctuate(self, lam: np.ndarray) -> np.ndarray:
        """Poisson counts around ``lam``; the Gaussian limit (rounded) above 30 expected.

        The Gaussian draw is several times cheaper than numpy's Poisson sampler, and at
        30 expected counts and more the two are indistinguishable in a histogram.
        """
        counts = np.rint(lam + np.sqrt(lam) * self.rng.standard_normal(lam.shape))
        small = lam < 30.0
        if small.any():
            counts[small] = self.rng.poisson(lam[small])
        clipped: np.ndarray = np.clip(counts, 0.0, None)
        return clipped

    def _values(
        self, n_entries: np.ndarray, anomalies: list[Anomaly | None]
    ) -> tuple[np.ndarray, np.ndarray]:
        spec = self.spec
        entries = self.rng.poisson(n_entries)
        per_cell = np.clip(entries / spec.cells, 1.0, None)[:, None]
        noise = self.rng.standard_normal((len(entries), spec.cells)) * 0.3 / np.sqrt(per_cell)
        defined = (self.nominal != 0) & (entries[:, None] > 0)
        values = np.where(
            defined, self.nominal + noise * np.maximum(np.abs(self.nominal), 0.1), 0.0
        )
        for i, anomaly in enumerate(anomalies):
            if anomaly is not None:
                apply_to_values(values[i], anomaly)
        return np.round(values, 4), entries
