"""Run conditions: fill, start/end times and per-lumisection luminosity and pileup.

One :class:`RunConditions` per run, shared by every workspace (a run is the same LHC run
wherever it is ingested) and by the OMS-like records.  Histogram entries scale with the
per-lumisection recorded luminosity, so OMS and DIALS data tell the same story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from dials_local.data.names import Era, era_of_run

#: Length of a CMS lumisection in seconds (2^18 LHC orbits).
LS_SECONDS = 23.31

#: Instantaneous luminosity (1e34 cm^-2 s^-1) of a typical lumisection, per beam type;
#: histogram entries are quoted at this luminosity.
NOMINAL_LUMI = {"pp": 1.6, "HI": 6.0e-7}

#: Mean interactions per crossing per unit of instantaneous luminosity, per beam type.
PILEUP_PER_LUMI = {"pp": 31.0, "HI": 0.004 / 6.4e-7}


@dataclass(frozen=True)
class RunConditions:
    """Everything about one run that does not depend on the workspace."""

    run_number: int
    era: Era
    fill_number: int
    start_time: datetime
    n_ls: int
    inst_lumi: np.ndarray  # per LS, at the LS start, in 1e34 cm^-2 s^-1
    recorded_fraction: np.ndarray  # per LS, recorded / delivered
    beams_stable: np.ndarray  # per LS, bool
    pileup: np.ndarray  # per LS, mean number of interactions per crossing

    @property
    def end_time(self) -> datetime:
        return self.start_time + timedelta(seconds=round(self.n_ls * LS_SECONDS))

    def ls_start(self, ls_number: int) -> datetime:
        return self.start_time + timedelta(seconds=round((ls_number - 1) * LS_SECONDS))

    @property
    def delivered_pb(self) -> np.ndarray:
        """Delivered luminosity per LS in pb^-1 (1e34 cm^-2 s^-1 x 23.31 s = 0.2331 pb^-1)."""
        delivered: np.ndarray = self.inst_lumi * LS_SECONDS * 1e-2
        return delivered

    @property
    def recorded_pb(self) -> np.ndarray:
        recorded: np.ndarray = self.delivered_pb * self.recorded_fraction
        return recorded

    def relative_lumi(self) -> np.ndarray:
        """Recorded luminosity per LS relative to the nominal one of the beam type."""
        nominal = NOMINAL_LUMI[self.era.beam] * LS_SECONDS * 1e-2
        rel: np.ndarray = self.recorded_pb / nominal
        return rel

    def relative_pileup(self) -> np.ndarray:
        """Pileup per LS relative to the pileup at nominal luminosity."""
        nominal = NOMINAL_LUMI[self.era.beam] * PILEUP_PER_LUMI[self.era.beam]
        rel: np.ndarray = self.pileup / nominal
        return rel


def run_conditions(run_number: int, n_ls: int, seed: int) -> RunConditions:
    """The conditions of ``run_number`` (deterministic in ``seed``, ``run_number``, ``n_ls``)."""
    era = era_of_run(run_number)
    rng = np.random.default_rng([seed, 101, run_number])
    ls = np.arange(n_ls, dtype=np.float64)
    hours = ls * LS_SECONDS / 3600.0
    if era.beam == "pp":
        # Levelled at the start of the fill, then decaying: the run starts somewhere in it.
        peak = {2022: 1.9, 2023: 2.0, 2024: 2.1}.get(era.year, 2.0)
        offset = rng.uniform(0.0, 9.0)
        level_hours = rng.uniform(2.0, 6.0) if era.year >= 2023 else 0.0
        t = offset + hours
        decay = np.exp(-np.clip(t - level_hours, 0.0, None) / rng.uniform(11.0, 16.0))
        inst = peak * decay
    else:
        peak = 6.4e-7
        t = rng.uniform(0.0, 4.0) + hours
        inst = peak * np.exp(-t / rng.uniform(3.0, 5.0))
    inst = inst * (1.0 + 0.01 * rng.standard_normal(n_ls))
    stable = np.ones(n_ls, dtype=bool)
    if rng.random() < 0.3:
        # Some runs start before "stable beams" is declared: little luminosity there.
        ramp = int(rng.integers(2, 6))
        stable[:ramp] = False
        inst[:ramp] *= rng.uniform(0.02, 0.08, ramp)
    inst = np.clip(inst, 0.0, None)
    recorded_fraction = np.clip(0.975 + 0.01 * rng.standard_normal(n_ls), 0.9, 1.0)
    pileup = inst * PILEUP_PER_LUMI[era.beam]
    return RunConditions(
        run_number=run_number,
        era=era,
        fill_number=era.fill(run_number),
        start_time=era.run_start(run_number),
        n_ls=n_ls,
        inst_lumi=inst,
        recorded_fraction=recorded_fraction,
        beams_stable=stable,
        pileup=pileup,
    )
