"""What each size of the synthetic data set contains: eras, runs, datasets, ingestion.

A plan is pure structure (which runs, how many lumisections, which workspace ingested
which runs of which dataset with which ME profile); it does not depend on the random
seed.  Values (histogram contents, file names, anomalies) are drawn later from the seed.

Structure mirrors real DIALS: datasets and their DQMIO files are global (DBS ids are the
same in every workspace), each workspace ingests the datasets whose primary dataset its
ETL configuration lists, and ingestion may lag (files of runs a workspace did not ingest
yet are ``PENDING`` there).

ME profiles say which of a workspace's MEs a dataset's DQMIO files carry:

* ``full`` - every ME of the workspace;
* ``pixel`` - the tracker ``core`` MEs plus the 12 ``PXBarrel`` 2-D maps;
* ``core`` - a small per-workspace list (tracker: 10 1-D MEs and one 24x24 map), like
  a reduced nanoDQMIO selection; lets ``large`` reach 10^5 lumisections per ME.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dials_local.data.names import ERAS, DatasetName, dataset_id_estimate, stable_hash

PROFILES = ("full", "pixel", "core")

#: Tracker MEs carried by every profile (1-D ones first; one 24x24 eta-phi map).
TRACKER_CORE_MES: tuple[str, ...] = (
    "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2",
    "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_1",
    "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_3",
    "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_4",
    "PixelPhase1/Tracks/PXBarrel/size_PXLayer_2",
    "PixelPhase1/Tracks/num_clusters_ontrack_PXBarrel",
    "SiStrip/MechanicalView/TIB/layer_1/Summary_ClusterStoNCorr__OnTrack__TIB__layer__1",
    "SiStrip/MechanicalView/TIB/layer_1/NormalizedHitResiduals_TIB__Layer__1",
    "Tracking/TrackParameters/highPurityTracks/pt_1/GeneralProperties/NumberOfTracks_GenTk",
    "Tracking/PrimaryVertices/highPurityTracks/pt_0to1/offline/NumberOfGoodPVtx_offline",
    "Tracking/TrackParameters/highPurityTracks/pt_1/GeneralProperties/TrackEtaPhi_ImpactPoint_GenTk",
)


def profile_includes(workspace: str, profile: str, me_name: str, dim: int) -> bool:
    """Whether DQMIO files of a dataset with ``profile`` carry ``me_name`` in ``workspace``."""
    if profile == "full" or workspace != "tracker":
        return True
    if me_name in TRACKER_CORE_MES:
        return True
    return profile == "pixel" and dim == 2 and "/PXBarrel/" in me_name


@dataclass(frozen=True)
class DatasetSpec:
    """A DBS dataset and the runs its DQMIO files cover."""

    key: str
    name: DatasetName
    runs: tuple[int, ...]

    @property
    def dataset_id(self) -> int:
        return dataset_id_estimate(self.name)


@dataclass(frozen=True)
class Ingestion:
    """The runs of one dataset that one workspace has ingested, and the ME profile."""

    dataset: str  # DatasetSpec.key
    runs: tuple[int, ...]
    profile: str = "full"
    #: ingestion lag: only files starting at or before this lumisection are ingested
    #: (later files of the run are still PENDING in this workspace); None = all
    ls_limit: int | None = None


@dataclass(frozen=True)
class SizePlan:
    """Everything structural about one size of the synthetic data set."""

    name: str
    n_ls: dict[int, int]  # run number -> lumisections of the run (as OMS knows it)
    datasets: dict[str, DatasetSpec]
    workspaces: dict[str, tuple[Ingestion, ...]]
    ls_per_file: tuple[int, int]  # DQMIO files cover this many lumisections (min, max)
    coarse_maps: bool  # coarser binnings for big 2-D maps (tiny only)
    failed_file_fraction: float = 0.04
    #: (workspace, dataset key, run, ls, ME name, anomaly kind): anomalies the docs rely on.
    forced_anomalies: tuple[tuple[str, str, int, int, str, str], ...] = ()
    #: lumisections that documented examples read, per run (key 0: every run);
    #: the DQMIO files holding them are never among the failed ones.
    pinned_ls: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def is_pinned(self, run_number: int, ls_number: int) -> bool:
        return any(ls_number in self.pinned_ls.get(key, ()) for key in (run_number, 0))

    @property
    def runs(self) -> list[int]:
        """Every run that any dataset covers, ascending."""
        return sorted({r for d in self.datasets.values() for r in d.runs})

    def dataset_keys_with_run(self, run_number: int) -> list[str]:
        return [k for k, d in self.datasets.items() if run_number in d.runs]


def era_runs(era_name: str, count: int, pinned: tuple[int, ...] = ()) -> tuple[int, ...]:
    """``count`` run numbers spread over an era (always including ``pinned``)."""
    era = ERAS[era_name]
    span = era.last_run - era.first_run
    runs = set(pinned)
    i = 0
    while len(runs) < count:
        jitter = stable_hash(era_name, i) % max(1, span // (3 * count))
        runs.add(era.first_run + (i * span) // count + jitter)
        i += 1
    return tuple(sorted(runs))


def _lengths(runs: list[int], lo: int, hi: int, salt: str) -> dict[int, int]:
    return {r: lo + stable_hash(salt, r) % (hi - lo + 1) for r in runs}


# Dataset definitions shared by all sizes (the runs differ per size).
_DATASET_NAMES: dict[str, DatasetName] = {
    "ZB22F": DatasetName("ZeroBias", "Run2022F", "PromptReco-v1"),
    "ZB22G": DatasetName("ZeroBias", "Run2022G", "PromptReco-v1"),
    "ZB23C": DatasetName("ZeroBias", "Run2023C", "PromptReco-v1"),
    "ZB24B": DatasetName("ZeroBias", "Run2024B", "PromptReco-v1"),
    "ZB24C": DatasetName("ZeroBias", "Run2024C", "PromptReco-v1"),
    "ZB24F": DatasetName("ZeroBias", "Run2024F", "PromptReco-v1"),
    "EXP24B": DatasetName("StreamExpress", "Run2024B", "Express-v1"),
    "EXP24C": DatasetName("StreamExpress", "Run2024C", "Express-v1"),
    "HIF23": DatasetName("HIForward0", "HIRun2023A", "PromptReco-v2"),
    "HIP23": DatasetName("HIPhysicsRawPrime0", "HIRun2023A", "PromptReco-v2"),
    "HIEXP23": DatasetName("StreamHIExpressRawPrime", "HIRun2023A", "Express-v2"),
    "MU22G": DatasetName("Muon", "Run2022G", "PromptReco-v1"),
    "MU0_24C": DatasetName("Muon0", "Run2024C", "PromptReco-v1"),
    "EG24F": DatasetName("EGamma0", "Run2024F", "PromptReco-v1"),
    "JM22F": DatasetName("JetMET", "Run2022F", "PromptReco-v1"),
    "JM0_24G": DatasetName("JetMET0", "Run2024G", "PromptReco-v1"),
    "JM0_24I": DatasetName("JetMET0", "Run2024I", "PromptReco-v1"),
    "USER23C": DatasetName(
        "ZeroBias",
        "Run2023C",
        "fsimone-crab_Run2023C-v1_DQMIO_ZeroBias_2023C_jun24-00000000000000000000000000000000",
        tier="USER",
        user="fsimone",
    ),
}

# Runs and lumisections that documented examples use (CONTRACT §12.9, usage guide).
RUN_ANCHOR = 367112  # tracker: dataset 14677060, LS 10, me_id 1/96/100
RUN_LUMI_EXAMPLE = 360392  # dials.lumi.list_all(LumisectionFilters(run_number=360392))
RUN_OMS = 382921  # OMS examples: > 100 lumisections and ZeroBias datasetrates rows
JETMET_RUNS = (385764, 385799, 385801)  # dataset 15042670, cert-json/golden-json examples
RUN_ML_LS36 = 386951  # dataset 15102369, flagged by model 19 at LS 36
H2D_LS = 78  # h2d example: me__regex=PXBarrel, ls_number=78, entries__gte=100

_METSIG = "JetMET/MET/pfMETT1/Cleaned/METSig"
_SUMET = "JetMET/MET/pfMETT1/Cleaned/SumET"
_FORCED = (
    ("jetmet", "JM0_24I", RUN_ML_LS36, 36, _METSIG, "shifted_peak"),
    ("jetmet", "JM0_24G", 385801, 41, _METSIG, "noise_burst"),
    ("jetmet", "JM0_24G", 385801, 42, _METSIG, "noise_burst"),
    ("jetmet", "JM0_24G", 385764, 20, _SUMET, "shifted_peak"),
)
_PINNED_LS = {0: (H2D_LS,), RUN_ANCHOR: (10,), RUN_ML_LS36: (36,), 385801: (41, 42), 385764: (20,)}


def _plan(
    name: str,
    *,
    era_counts: dict[str, int],
    ls_range: tuple[int, int],
    ls_overrides: dict[int, int],
    era_ls_range: dict[str, tuple[int, int]] | None = None,
    workspaces: dict[str, list[tuple[Any, ...]]],
    ls_per_file: tuple[int, int],
    coarse_maps: bool,
    failed_file_fraction: float = 0.04,
) -> SizePlan:
    pinned_runs: dict[str, tuple[int, ...]] = {
        "Run2022F": (RUN_LUMI_EXAMPLE,),
        "Run2023C": (RUN_ANCHOR,),
        "Run2024F": (RUN_OMS,),
        "Run2024G": JETMET_RUNS,
        "Run2024I": (RUN_ML_LS36,),
    }
    runs_by_era = {
        era: era_runs(era, count, pinned_runs.get(era, ())) for era, count in era_counts.items()
    }
    datasets: dict[str, DatasetSpec] = {}
    plan_ws: dict[str, tuple[Ingestion, ...]] = {}
    for workspace, entries in workspaces.items():
        ingestions = []
        claimed: set[tuple[str, int]] = set()  # the first entry naming a run decides its profile
        for key, selection, profile, *limit in entries:
            dataset_name = _DATASET_NAMES[key]
            era_run_list = runs_by_era[dataset_name.era]
            if key not in datasets:
                datasets[key] = DatasetSpec(key, dataset_name, era_run_list)
            chosen = era_run_list[selection] if isinstance(selection, slice) else selection
            runs = tuple(r for r in chosen if (key, r) not in claimed)
            claimed.update((key, r) for r in runs)
            if runs:
                ingestions.append(Ingestion(key, runs, profile, limit[0] if limit else None))
        plan_ws[workspace] = tuple(ingestions)
    n_ls: dict[int, int] = {}
    for era, era_run_list in runs_by_era.items():
        lo, hi = (era_ls_range or {}).get(era, ls_range)
        n_ls.update(_lengths(list(era_run_list), lo, hi, salt=name))
    datasets_runs = {r for d in datasets.values() for r in d.runs}
    n_ls = {r: v for r, v in n_ls.items() if r in datasets_runs}
    n_ls.update({r: v for r, v in ls_overrides.items() if r in n_ls})
    return SizePlan(
        name=name,
        n_ls=n_ls,
        datasets=datasets,
        workspaces=plan_ws,
        ls_per_file=ls_per_file,
        coarse_maps=coarse_maps,
        failed_file_fraction=failed_file_fraction,
        forced_anomalies=_FORCED,
        pinned_ls=_PINNED_LS,
    )


ALL = slice(None)


def _tiny() -> SizePlan:
    return _plan(
        "tiny",
        era_counts={
            "Run2022F": 4,
            "Run2023C": 4,
            "Run2024B": 4,
            "Run2024F": 4,
            "Run2024G": 3,
            "Run2024I": 2,
            "HIRun2023A": 2,
        },
        ls_range=(79, 86),
        ls_overrides={RUN_OMS: 140, RUN_ANCHOR: 90},
        workspaces={
            "csc": [("EXP24B", slice(0, 1), "full")],
            "ecal": [("ZB22F", (RUN_LUMI_EXAMPLE,), "full"), ("ZB23C", (RUN_ANCHOR,), "full")],
            "egamma": [("EG24F", slice(0, 2), "full")],
            "hcal": [("ZB23C", (RUN_ANCHOR,), "full")],
            "jetmet": [("JM0_24G", ALL, "full"), ("JM0_24I", (RUN_ML_LS36,), "full")],
            "muon_staging": [("USER23C", slice(0, 2), "full")],
            "tracker": [
                ("ZB23C", (RUN_ANCHOR,), "full"),
                ("ZB23C", ALL, "pixel"),
                ("ZB22F", ALL, "pixel"),
                ("ZB24B", ALL, "pixel"),
                ("EXP24B", slice(0, 3), "pixel"),
                ("ZB24F", slice(1, 4), "pixel"),
                ("HIF23", ALL, "core"),
            ],
        },
        ls_per_file=(25, 60),
        coarse_maps=True,
        # few files in tiny: fail more of them so that every status shows up in tests
        failed_file_fraction=0.15,
    )


def _demo() -> SizePlan:
    return _plan(
        "demo",
        era_counts={
            "Run2022F": 8,
            "Run2023C": 8,
            "Run2024B": 6,
            "Run2024C": 6,
            "Run2024F": 8,
            "Run2024G": 8,
            "Run2024I": 4,
            "HIRun2023A": 4,
            "Run2022G": 3,
        },
        ls_range=(90, 260),
        ls_overrides={RUN_OMS: 420, RUN_ANCHOR: 140},
        workspaces={
            # big maps (ecal 360x170, hcal 16 x 83x72, csc 100x100): the first file only
            "csc": [("EXP24B", slice(0, 1), "full", 1), ("MU0_24C", slice(0, 1), "full", 1)],
            "ecal": [
                ("ZB22F", (RUN_LUMI_EXAMPLE,), "full", 1),
                ("ZB23C", (RUN_ANCHOR,), "full", 1),
            ],
            "egamma": [("EG24F", slice(0, 4), "full")],
            "hcal": [("ZB23C", (RUN_ANCHOR,), "full", 1), ("ZB22F", slice(1, 2), "full", 1)],
            "jetmet": [
                ("JM0_24G", ALL, "full"),
                ("JM0_24I", ALL, "full"),
                ("JM22F", slice(0, 3), "full"),
            ],
            "muon_staging": [("USER23C", slice(0, 4), "full")],
            "tracker": [
                ("ZB23C", (RUN_ANCHOR,), "full"),
                ("ZB23C", slice(1, 7), "pixel", 78),
                ("ZB22F", slice(0, 6), "pixel", 78),
                ("EXP24B", slice(0, 6), "pixel", 78),
                ("ZB23C", ALL, "core"),
                ("ZB22F", ALL, "core"),
                ("ZB24B", ALL, "core"),
                ("EXP24B", ALL, "core"),
                ("ZB24C", ALL, "core"),
                ("EXP24C", ALL, "core"),
                ("ZB24F", ALL, "core"),
                ("HIF23", ALL, "core"),
                ("HIP23", ALL, "core"),
            ],
        },
        ls_per_file=(30, 90),
        coarse_maps=False,
    )


def _large() -> SizePlan:
    return _plan(
        "large",
        era_counts={
            "Run2022F": 60,
            "Run2022G": 20,
            "Run2023C": 70,
            "Run2024B": 30,
            "Run2024C": 40,
            "Run2024F": 60,
            "Run2024G": 40,
            "Run2024I": 16,
            "HIRun2023A": 20,
        },
        ls_range=(150, 560),
        ls_overrides={RUN_OMS: 1210, RUN_ANCHOR: 140},
        # short runs in 2024B: the full-profile ones, which carry the biggest maps
        era_ls_range={"Run2024B": (100, 140)},
        workspaces={
            "csc": [("EXP24B", slice(0, 1), "full"), ("MU0_24C", slice(0, 1), "full")],
            "ecal": [("ZB22F", slice(0, 2), "full"), ("ZB23C", (RUN_ANCHOR,), "full")],
            "egamma": [("EG24F", slice(0, 20), "full")],
            "hcal": [("ZB23C", (RUN_ANCHOR,), "full"), ("ZB22F", slice(0, 2), "full")],
            "jetmet": [
                ("JM0_24G", ALL, "full"),
                ("JM0_24I", ALL, "full"),
                ("JM22F", slice(0, 10), "full"),
            ],
            "muon_staging": [("USER23C", slice(0, 20), "full")],
            "tracker": [
                ("ZB23C", (RUN_ANCHOR,), "full"),
                ("ZB24B", slice(0, 9), "full"),
                ("EXP24B", slice(0, 9), "full"),
                ("ZB23C", ALL, "core"),
                ("ZB22F", ALL, "core"),
                ("ZB22G", ALL, "core"),
                ("ZB24B", ALL, "core"),
                ("EXP24B", ALL, "core"),
                ("ZB24C", ALL, "core"),
                ("EXP24C", ALL, "core"),
                ("ZB24F", ALL, "core"),
                ("HIF23", ALL, "core"),
                ("HIP23", ALL, "core"),
                ("HIEXP23", ALL, "core"),
            ],
        },
        ls_per_file=(60, 250),
        coarse_maps=False,
    )


_BUILDERS = {"tiny": _tiny, "demo": _demo, "large": _large}


def size_plan(size: str) -> SizePlan:
    """The plan of ``size`` (one of ``tiny``, ``demo``, ``large``)."""
    if size not in _BUILDERS:
        raise ValueError(f"unknown size {size!r}; valid sizes: {', '.join(_BUILDERS)}")
    return _BUILDERS[size]()
