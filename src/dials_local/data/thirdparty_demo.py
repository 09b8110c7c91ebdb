"""The synthetic data set's certification JSONs and luminosity (``caf/``, ``brilws/``).

Nothing here is stored: everything follows from the seed record (size and random seed:
the runs, and per lumisection the :class:`~dials_local.data.runs.RunConditions` that OMS's
records and the histogram entries also come from) and from the injected anomalies the
seed stored (``local_injected_anomalies``).  So the luminosity brilcalc reports is OMS's,
in /ub instead of /pb, and the JSONs agree with the seeded runs:

* ``dcs`` - every lumisection with stable beams (the detector was on);
* ``muon`` - those of ``dcs`` without an injected anomaly in a muon workspace;
* ``golden`` - those of ``dcs`` without an injected anomaly in any workspace.

So golden ⊆ muon ⊆ dcs, and every run of a JSON is a seeded run.  One class name per
year and beam (``Collisions24``, ``Collisions23HI``); a run belongs to its era's class.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson
from sqlalchemy import select

from dials_local.data.certification import CertificationFile, LumiRow, caf_url
from dials_local.data.lumi_ranges import ranges
from dials_local.data.plan import size_plan
from dials_local.data.runs import RunConditions, run_conditions
from dials_local.data.seed_state import SeedRecord, read_record
from dials_local.db.engines import Database
from dials_local.db.schema import local_injected_anomalies
from dials_local.workspaces import WORKSPACES

#: Workspaces whose problems make a lumisection bad for muon physics.
MUON_WORKSPACES = ("csc", "muon_staging")

#: Energy per beam (GeV) and brilcalc's luminometer, per beam type.
ENERGY_GEV = {"pp": 6800, "HI": 5360}
SOURCE = {"pp": "HFET", "HI": "HFOC"}
#: What brilcalc says of a lumisection before stable beams are declared.
NOT_STABLE = "FLAT TOP"
STABLE = "STABLE BEAMS"


def class_name_of(conditions: RunConditions) -> str:
    """``Collisions24`` (pp) or ``Collisions23HI`` (heavy ions) for a run's era."""
    era = conditions.era
    return f"Collisions{era.year % 100:02d}{'' if era.beam == 'pp' else 'HI'}"


@dataclass(frozen=True)
class DemoData:
    """The synthetic files (by class name and kind) and run conditions of one seed."""

    files: dict[tuple[str, str], CertificationFile]
    conditions: dict[int, RunConditions]

    def lumi_rows(self, runs: list[int]) -> Iterator[LumiRow]:
        """Luminosity per lumisection of ``runs`` (those of the seed), by run and LS."""
        for run in sorted(runs):
            if run in self.conditions:
                yield from _lumi_rows(self.conditions[run])


def _lumi_rows(run: RunConditions) -> Iterator[LumiRow]:
    beam = run.era.beam
    delivered = run.delivered_pb * 1e6
    recorded = run.recorded_pb * 1e6
    for index in range(run.n_ls):
        ls = index + 1
        stable = bool(run.beams_stable[index])
        yield LumiRow(
            run_number=run.run_number,
            ls_number=ls,
            cms_ls=ls,
            fill_number=run.fill_number,
            time=run.ls_start(ls),
            beamstatus=STABLE if stable else NOT_STABLE,
            energy_gev=ENERGY_GEV[beam],
            delivered_ub=float(delivered[index]),
            recorded_ub=float(recorded[index]),
            avgpu=float(run.pileup[index]),
            source=SOURCE[beam],
        )


def _anomalous(database: Database) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(run, LS) pairs with an injected anomaly: in any workspace, in a muon workspace."""
    anywhere: set[tuple[int, int]] = set()
    muon: set[tuple[int, int]] = set()
    table = local_injected_anomalies
    for workspace in WORKSPACES:
        with database.engine(workspace).connect() as conn:
            pairs = {
                (int(run), int(ls))
                for run, ls in conn.execute(
                    select(table.c.run_number, table.c.ls_number).distinct()
                )
            }
        anywhere |= pairs
        if workspace in MUON_WORKSPACES:
            muon |= pairs
    return anywhere, muon


def _file_name(class_name: str, kind: str, year: int, runs: list[int], hi: bool) -> str:
    first, last = runs[0], runs[-1]
    tag = f"Collisions{year}{'HI' if hi else ''}"
    if kind == "dcs":
        energy = "5p36TeV" if hi else "13p6TeV"
        return f"{class_name}_{energy}_{first}_{last}_DCSOnly_TkPx.json"
    return f"Cert_{tag}_{first}_{last}_{kind.capitalize()}.json"


def build_demo(record: SeedRecord, database: Database) -> DemoData:
    """The synthetic files and conditions of the seed ``record`` describes."""
    plan = size_plan(record.size)
    conditions = {run: run_conditions(run, plan.n_ls[run], record.random_seed) for run in plan.runs}
    anywhere, muon = _anomalous(database)
    by_class: dict[str, list[RunConditions]] = defaultdict(list)
    for number in plan.runs:
        by_class[class_name_of(conditions[number])].append(conditions[number])
    files: dict[tuple[str, str], CertificationFile] = {}
    for class_name, runs in by_class.items():
        numbers = [run.run_number for run in runs]
        ends = max(run.end_time for run in runs)
        bad: dict[str, set[tuple[int, int]]] = {"dcs": set(), "muon": muon, "golden": anywhere}
        for offset, kind in enumerate(("golden", "muon", "dcs")):
            content: dict[str, list[list[int]]] = {}
            for run in runs:
                stable = np.flatnonzero(run.beams_stable) + 1
                good = [int(ls) for ls in stable if (run.run_number, int(ls)) not in bad[kind]]
                if good:
                    content[str(run.run_number)] = ranges(good)
            name = _file_name(class_name, kind, runs[0].era.year, numbers, runs[0].era.beam == "HI")
            # Certified a few days after the class's last run; DCS-only files daily.
            modified = (ends + dt.timedelta(days=1 if kind == "dcs" else 7 + offset)).replace(
                hour=10, minute=15, second=0
            )
            files[class_name, kind] = CertificationFile(
                class_name=class_name,
                kind=kind,
                name=name,
                url=caf_url(class_name, kind, name),
                last_modified=modified,
                size=len(orjson.dumps(content)),
                content=content,
            )
    return DemoData(files=files, conditions=conditions)


_cache: dict[tuple[int, str, int, object], DemoData] = {}
_cache_lock = threading.Lock()


def demo_data(database: Database) -> DemoData | None:
    """The synthetic data of ``database``'s complete seed, or ``None`` when it holds no
    complete seed (ingested data only, or a seed in progress)."""
    record = read_record(database)
    if record is None or not record.complete:
        return None
    key = (id(database), record.size, record.random_seed, record.started_at)
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            found = build_demo(record, database)
            if len(_cache) >= 4:  # a few databases per process (tests): drop the oldest
                del _cache[next(iter(_cache))]
            _cache[key] = found
        return found
