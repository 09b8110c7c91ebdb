"""OMS-like records (``local_oms_records``) for the runs of the synthetic data set.

Three endpoints, with attribute names as the CMS Online Monitoring System uses them:

* ``runs`` - one record per run that any workspace has (fill, times, magnet, energy,
  luminosity, last lumisection, trigger/HLT keys, ...);
* ``lumisections`` - one per lumisection of those runs (times, luminosity, pileup,
  beam and subsystem flags);
* ``datasetrates`` - one per (run, primary dataset, lumisection): rate and events.

Luminosities are in pb^-1 (instantaneous ones in 1e34 cm^-2 s^-1), times ISO 8601 UTC with
``Z``.  The luminosity per lumisection is the one that scaled the histogram entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson

from dials_local.data.plan import SizePlan
from dials_local.data.runs import LS_SECONDS, RunConditions

#: Primary datasets OMS reports rates for, per beam type (plus those of the plan's datasets).
BASE_DATASETS = {"pp": ("ZeroBias",), "HI": ("HIForward0", "HIPhysicsRawPrime0")}

# Typical recorded rates (Hz) of primary datasets at nominal luminosity.
_RATE_HZ = {
    "ZeroBias": 180.0,
    "JetMET": 450.0,
    "JetMET0": 420.0,
    "EGamma0": 380.0,
    "Muon": 320.0,
    "Muon0": 300.0,
    "HIForward0": 900.0,
    "HIPhysicsRawPrime0": 3000.0,
}

_COMPONENTS = [
    "BPIX", "CASTOR", "CSC", "CTPPS", "DAQ", "DCS", "DQM", "DT", "ECAL", "ES", "FPIX",
    "GEM", "HCAL", "HF", "L1SCOUT", "PIXEL", "RPC", "SCAL", "TCDS", "TRACKER", "TRG",
]  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_CMSSW = {2022: "CMSSW_12_4_11", 2023: "CMSSW_13_0_10", 2024: "CMSSW_14_0_12"}


def _hlt_key(run: RunConditions) -> str:
    year = run.era.year
    if run.era.beam == "pp":
        return f"/cdaq/physics/Run{year}/2e34/v1.{run.run_number % 7}.{run.run_number % 3}/HLT/V1"
    return f"/cdaq/physics/Run{year}HI/HIon/v1.{run.run_number % 5}/HLT/V2"


def _run_attributes(run: RunConditions, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 505, run.run_number])
    era = run.era
    pp = era.beam == "pp"
    year = era.year
    hlt_rate, l1_rate = ((1500, 2200), (95000, 110000)) if pp else ((2500, 5000), (30000, 50000))
    delivered = float(run.delivered_pb.sum())
    recorded = float(run.recorded_pb.sum())
    return {
        "run_number": run.run_number,
        "fill_number": run.fill_number,
        "start_time": iso(run.start_time),
        "end_time": iso(run.end_time),
        "duration": round(run.n_ls * LS_SECONDS),
        "last_lumisection_number": run.n_ls,
        "b_field": round(float(3.8 + rng.normal(0, 0.0003)), 4),
        "energy": 6800 if pp else 5360,
        "delivered_lumi": round(delivered, 6),
        "recorded_lumi": round(recorded, 6),
        "init_lumi": round(float(run.inst_lumi[0]), 9),
        "end_lumi": round(float(run.inst_lumi[-1]), 9),
        "sequence": "GLOBAL-RUN",
        "stable_beam": bool(run.beams_stable.any()),
        "fill_type_runtime": "PROTONS" if pp else "IONS",
        "fill_type_party1": "PROTON" if pp else "PB82",
        "fill_type_party2": "PROTON" if pp else "PB82",
        "l1_hlt_mode": f"collisions{year}" if pp else f"hi{year}",
        "l1_key": f"l1_trg_collisions{year}/v{70 + run.run_number % 30}",
        "hlt_key": _hlt_key(run),
        "l1_menu": (
            f"L1Menu_Collisions{year}_v1_{run.run_number % 4}_0"
            if pp
            else f"L1Menu_CollisionsHeavyIons{year}_v1_0_0"
        ),
        "cmssw_version": _CMSSW[year],
        "initial_prescale_index": int(rng.integers(1, 4)),
        "hlt_physics_rate": round(float(rng.uniform(*hlt_rate)), 2),
        "l1_rate": round(float(rng.uniform(*l1_rate)), 1),
        "clock_type": "LHC",
        "tier0_transfer": True,
        "components": _COMPONENTS,
    }  # fmt: skip


def _lumisection_attributes(run: RunConditions, index: int) -> dict[str, Any]:
    ls = index + 1
    start = run.ls_start(ls)
    stable = bool(run.beams_stable[index])
    inst = float(run.inst_lumi[index])
    end_inst = float(run.inst_lumi[min(index + 1, run.n_ls - 1)])
    return {
        "run_number": run.run_number,
        "lumisection_number": ls,
        "fill_number": run.fill_number,
        "start_time": iso(start),
        "end_time": iso(start + timedelta(seconds=LS_SECONDS)),
        "delivered_lumi": round(float(run.delivered_pb[index]), 9),
        "recorded_lumi": round(float(run.recorded_pb[index]), 9),
        "init_lumi": round(inst, 9),
        "end_lumi": round(end_inst, 9),
        "pileup": round(float(run.pileup[index]), 3),
        "beams_stable": stable,
        "beam1_present": True,
        "beam2_present": True,
        "beam1_stable": stable,
        "beam2_stable": stable,
        "cms_active": True,
        "physics_flag": stable,
        "bpix_ready": stable,
        "fpix_ready": stable,
        "tibtid_ready": stable,
        "tob_ready": stable,
        "tecm_ready": stable,
        "tecp_ready": stable,
        "ebm_ready": True,
        "ebp_ready": True,
        "eem_ready": True,
        "eep_ready": True,
        "hbhea_ready": True,
        "hf_ready": True,
        "ho_ready": True,
        "csc_ready": stable,
        "dt_ready": stable,
        "rpc_ready": stable,
        "gem_ready": stable,
    }


def _datasets_of(plan: SizePlan, run: RunConditions) -> list[str]:
    names = set(BASE_DATASETS[run.era.beam])
    for key in plan.dataset_keys_with_run(run.run_number):
        primary = plan.datasets[key].name.primary
        if not primary.startswith("Stream"):  # streams are not primary datasets
            names.add(primary)
    return sorted(names)


def oms_records(
    plan: SizePlan, conditions: dict[int, RunConditions], seed: int
) -> Iterator[dict[str, Any]]:
    """Rows of ``local_oms_records`` (``endpoint, position, resource_id, resource_type,
    attributes``), endpoint by endpoint, runs ascending."""
    runs = [conditions[r] for r in plan.runs]
    for position, run in enumerate(runs):
        yield _record("runs", position, str(run.run_number), _run_attributes(run, seed))
    position = 0
    for run in runs:
        for index in range(run.n_ls):
            attributes = _lumisection_attributes(run, index)
            yield _record("lumisections", position, f"{run.run_number}_{index + 1}", attributes)
            position += 1
    position = 0
    for run in runs:
        rng = np.random.default_rng([seed, 506, run.run_number])
        rel = run.relative_lumi()
        for name in _datasets_of(plan, run):
            rate = _RATE_HZ.get(name, 200.0) * np.clip(rel, 0.0, None)
            rate = rate * (1.0 + 0.02 * rng.standard_normal(run.n_ls))
            events = rng.poisson(np.clip(rate, 0.0, None) * LS_SECONDS)
            for index in range(run.n_ls):
                ls = index + 1
                attributes = {
                    "run_number": run.run_number,
                    "dataset_name": name,
                    "first_lumisection_number": ls,
                    "last_lumisection_number": ls,
                    "start_time": iso(run.ls_start(ls)),
                    "rate": round(float(events[index]) / LS_SECONDS, 3),
                    "events": int(events[index]),
                }
                yield _record("datasetrates", position, f"{run.run_number}_{name}_{ls}", attributes)
                position += 1


def _record(
    endpoint: str, position: int, resource_id: str, attributes: dict[str, Any]
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "position": position,
        "resource_id": resource_id,
        "resource_type": endpoint,
        "attributes": orjson.dumps(attributes).decode(),
    }
