"""The binning and the expected shape of every ME, decided from its name.

Binnings follow CMSSW where the booking is known (``dim_basis: cmssw-booking``) and are
plausible elsewhere; ``docs/data.md`` lists them.  :func:`me_spec` raises ``KeyError`` for
a name no rule covers, so a new ME in ``monitoring_elements.json`` fails loudly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Optional

import numpy as np

from dials_local.data import maps
from dials_local.data import shapes1d as s1
from dials_local.data.names import stable_hash

PI = math.pi

#: Expected value of a non-count ME (efficiency, ratio) on its bin-centre grid.
ValueFn = Callable[[np.ndarray, Optional[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Axis:
    """Uniform binning: ``nbins`` bins from ``lo`` to ``hi``."""

    nbins: int
    lo: float
    hi: float

    def centers(self) -> np.ndarray:
        width = (self.hi - self.lo) / self.nbins
        out: np.ndarray = self.lo + (np.arange(self.nbins) + 0.5) * width
        return out


@dataclass(frozen=True)
class MESpec:
    """How one ME's histograms look: axes, mean entries per LS, expected shape."""

    name: str
    kind: str  # shape family, e.g. "landau", "gauss", "flat", "map", "ratio"
    x: Axis
    y: Axis | None
    entries: float  # mean entries per lumisection at nominal luminosity
    pdf1d: s1.Density | None = None
    pdf2d: maps.MapDensity | None = None
    value: ValueFn | None = None  # set for non-count MEs (values are not counts)
    shiftable: bool = True  # whether a "shifted_peak" anomaly makes sense
    drift: float = 0.15  # run-to-run spread of the peak position, in widths
    overflow: float = 0.01  # fraction of fills outside the axis range (counted in entries)

    @property
    def dim(self) -> int:
        return 1 if self.y is None else 2

    @property
    def cells(self) -> int:
        return self.x.nbins * (1 if self.y is None else self.y.nbins)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.x.nbins,) if self.y is None else (self.y.nbins, self.x.nbins)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Bin-centre grids ``(X, Y)`` of shape ``(ny, nx)`` (2-D MEs only)."""
        assert self.y is not None
        xx, yy = np.meshgrid(self.x.centers(), self.y.centers())
        return xx, yy


Builder = Callable[[str, "re.Match[str]", bool, np.random.Generator], MESpec]
_RULES: list[tuple[re.Pattern[str], Builder]] = []


def rule(pattern: str) -> Callable[[Builder], Builder]:
    """Register a builder for the ME names that ``re.search(pattern)`` matches."""

    def register(builder: Builder) -> Builder:
        _RULES.append((re.compile(pattern), builder))
        return builder

    return register


def _h1(
    name: str,
    kind: str,
    axis: tuple[int, float, float],
    entries: float,
    pdf: s1.Density,
    **extra: object,
) -> MESpec:
    return MESpec(name=name, kind=kind, x=Axis(*axis), y=None, entries=entries, pdf1d=pdf, **extra)  # type: ignore[arg-type]


def _h2(
    name: str,
    x: tuple[int, float, float],
    y: tuple[int, float, float],
    entries: float,
    pdf: maps.MapDensity,
) -> MESpec:
    return MESpec(
        name=name, kind="map", x=Axis(*x), y=Axis(*y), entries=entries, pdf2d=pdf, shiftable=False
    )


# ----------------------------------------------------------------------------- tracker


@rule(r"PixelPhase1/Tracks/(PXBarrel/charge_PXLayer_(\d)|charge_PXBarrel)$")
def _pixel_barrel_charge(
    name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator
) -> MESpec:
    layer = int(m.group(2) or 0)
    mpv = {0: 21500.0, 1: 19500.0, 2: 21500.0, 3: 22500.0, 4: 23000.0}[layer]
    entries = {0: 10500.0, 1: 3600.0, 2: 2800.0, 3: 2300.0, 4: 1900.0}[layer]
    return _h1(name, "landau", (100, 0.0, 80000.0), entries, s1.landau(mpv, 2300.0))


@rule(r"PixelPhase1/Tracks/(PXForward/charge_PXDisk_[+-]\d|charge_PXForward)$")
def _pixel_forward_charge(
    name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator
) -> MESpec:
    entries = 5400.0 if name.endswith("PXForward") else 900.0
    return _h1(name, "landau", (100, 0.0, 80000.0), entries, s1.landau(22000.0, 2400.0))


@rule(r"PixelPhase1/Tracks/PX(Barrel|Forward)/size_PX(Layer|Disk)_([+-]?\d)$")
def _pixel_size(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    barrel = m.group(1) == "Barrel"
    mean = 5.2 - 0.3 * int(m.group(3)) if barrel else 2.8
    entries = 2600.0 if barrel else 900.0
    return _h1(name, "multiplicity", (50, 0.0, 50.0), entries, s1.multiplicity(mean, 0.55))


@rule(r"PixelPhase1/Tracks/num_clusters_ontrack_PX(Barrel|Forward)$")
def _pixel_nclusters(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    mean = 420.0 if m.group(1) == "Barrel" else 180.0
    return _h1(name, "multiplicity", (100, 0.0, 2000.0), 1500.0, s1.multiplicity(mean, 0.3, 1.0))


@rule(r"NormalizedHitResiduals_(TIB|TOB|TID|TEC)_")
def _strip_residuals(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    entries = 6000.0 if m.group(1) in ("TIB", "TOB") else 2500.0
    sigma = 1.0 + 0.05 * (stable_hash(name) % 5)
    return _h1(name, "gauss", (100, -5.0, 5.0), entries, s1.gauss(0.0, sigma, 0.12, 3.0))


@rule(r"Summary_ClusterStoNCorr__OnTrack__(TIB|TOB|TID|TEC)_")
def _strip_ston(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    mpv = {"TIB": 21.0, "TOB": 27.0, "TID": 22.0, "TEC": 25.0}[m.group(1)]
    entries = 6000.0 if m.group(1) in ("TIB", "TOB") else 2500.0
    return _h1(name, "landau", (100, 0.0, 100.0), entries, s1.landau(mpv, 2.4, 0.01))


@rule(r"SiStrip/MechanicalView/MainDiagonal Position$")
def _strip_diagonal(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "gauss", (100, 0.0, 2.5), 1500.0, s1.gauss(1.25, 0.12, 0.05))


@rule(r"SiStrip/MechanicalView/NumberOfClustersIn(Pixel|Strip)$")
def _strip_nclusters(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    pixel = m.group(1) == "Pixel"
    axis = (100, 0.0, 8000.0) if pixel else (100, 0.0, 40000.0)
    mean = 1800.0 if pixel else 9000.0
    return _h1(name, "multiplicity", axis, 1500.0, s1.multiplicity(mean, 0.3, 1.0))


@rule(r"/NumberOfTracks_GenTk$")
def _ntracks(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "multiplicity", (100, 0.0, 500.0), 1500.0, s1.multiplicity(110.0, 0.35, 1.0))


@rule(r"/NumberOfRecHitsPerTrack(_Strip|_Pixel)?_GenTk$")
def _nhits(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    if m.group(1) == "_Pixel":
        return _h1(name, "gauss", (10, 0.0, 10.0), 30000.0, s1.gauss(4.2, 0.9))
    mean, sigma = (12.5, 3.2) if m.group(1) else (17.0, 3.5)
    return _h1(name, "gauss", (40, 0.0, 40.0), 30000.0, s1.gauss(mean, sigma, 0.05))


@rule(r"/TrackPt(Highpurity|Tight|Loose)?_ImpactPoint_GenTk$")
def _track_pt(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    threshold = 1.0 if "/pt_1/" in name else 0.1
    return _h1(name, "falling", (100, 0.0, 100.0), 30000.0, s1.falling(1.3, 5.5, threshold))


@rule(r"/TrackEta(Highpurity|Tight|Loose)?_ImpactPoint_GenTk$")
def _track_eta(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    pdf = s1.plateau(2.5, 0.05, [(1.3, 0.15, 0.2)])
    return _h1(name, "plateau", (60, -3.0, 3.0), 30000.0, pdf)


@rule(r"/TrackPhi_ImpactPoint_GenTk$")
def _track_phi(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "flat", (64, -3.2, 3.2), 30000.0, s1.flat(0.04, 3), shiftable=False)


@rule(r"/Chi2oNDF_GenTk$")
def _chi2(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "chi2", (100, 0.0, 10.0), 30000.0, s1.chi2_per_ndf(12.0))


@rule(r"/DistanceOfClosestApproachToBS(dz)?_GenTk$")
def _dca(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    if m.group(1):
        return _h1(name, "gauss", (100, -20.0, 20.0), 30000.0, s1.gauss(0.0, 4.0, 0.05, 2.5))
    return _h1(name, "gauss", (100, -0.1, 0.1), 30000.0, s1.gauss(0.0, 0.004, 0.2, 6.0))


@rule(r"/TrackQoverP_ImpactPoint_GenTk$")
def _qoverp(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "lobes", (100, -1.0, 1.0), 30000.0, s1.signed_lobes(0.25, 0.15))


@rule(r"/Quality_GenTk$")
def _quality(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(
        name, "discrete", (3, 0.0, 3.0), 30000.0, s1.discrete([1.0, 0.93, 0.86]), shiftable=False
    )


@rule(r"/NumberofTracks_(Hardvtx|PUvtx|Hardvtx_PUvtx)_GenTk$")
def _vertex_tracks(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    which = m.group(1)
    if which == "Hardvtx_PUvtx":  # CMSSW: book1D, 2 bins 0..2
        return _h1(
            name, "discrete", (2, 0.0, 2.0), 1500.0, s1.discrete([0.05, 0.95]), shiftable=False
        )
    if which == "Hardvtx":
        return _h1(name, "multiplicity", (100, 0.0, 100.0), 1500.0, s1.multiplicity(25.0, 0.5))
    return _h1(name, "multiplicity", (100, 0.0, 2000.0), 1500.0, s1.multiplicity(700.0, 0.3, 1.0))


@rule(r"/NumberOfGoodPVtx_offline$")
def _npv(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "multiplicity", (100, 0.0, 100.0), 1500.0, s1.multiplicity(35.0, 0.18, 1.0))


@rule(r"/GoodPVtxNumberOfTracks_offline$")
def _pv_tracks(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "multiplicity", (100, 0.0, 100.0), 50000.0, s1.gamma_peak(22.0, 0.6))


@rule(r"/FractionOfGoodPVtx_offline$")
def _pv_fraction(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "beta", (50, 0.0, 1.0), 1500.0, s1.beta(0.92, 40.0))


@rule(r"OfflinePV/offlinePrimaryVertices/tagDiff[XY]$")
def _pv_diff(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "gauss", (100, -0.01, 0.01), 1500.0, s1.gauss(0.0, 0.0012, 0.1, 4.0))


@rule(r"PixelPhase1/Tracks/clusterposition_zphi_ontrack$")
def _zphi_all(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    n = 50 if coarse else 200
    return _h2(name, (n, -30.0, 30.0), (n, -PI, PI), 120000.0, maps.pixel_zphi((1, 2, 3, 4), rng))


@rule(r"clusterposition_zphi_ontrack_PXLayer_(\d)$")
def _zphi_layer(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    nx, ny = (16, 20) if coarse else (32, 40)
    pdf = maps.pixel_zphi((int(m.group(1)),), rng)
    return _h2(name, (nx, -30.0, 30.0), (ny, -PI, PI), 30000.0, pdf)


@rule(r"clusterposition_xy_ontrack_PXDisk_[+-]\d$")
def _disk_xy(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    n = 20 if coarse else 40
    return _h2(name, (n, -20.0, 20.0), (n, -20.0, 20.0), 8000.0, maps.pixel_disk_xy(rng))


@rule(r"(digi_occupancy|clusters)_per_SignedModuleCoord_per_SignedLadderCoord_PXLayer_(\d)$")
def _barrel_modules(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    layer = int(m.group(2))
    half = maps._LADDERS[layer] // 2
    entries = (150000.0 if m.group(1) == "digi_occupancy" else 40000.0) * (1.2 - 0.1 * layer)
    pdf = maps.pixel_barrel_modules(maps._LADDERS[layer], rng, dead=min(layer - 1, 2))
    return _h2(name, (9, -4.5, 4.5), (2 * half + 1, -half - 0.5, half + 0.5), entries, pdf)


@rule(r"(digi_occupancy|clusters)_per_SignedDiskCoord_per_SignedBladePanelCoord_PXRing_(\d)$")
def _forward_panels(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    blades = 11 if m.group(2) == "1" else 17
    entries = 60000.0 if m.group(1) == "digi_occupancy" else 16000.0
    pdf = maps.pixel_forward_panels(blades, rng, dead=1)
    return _h2(name, (7, -3.5, 3.5), (2 * blades + 1, -blades - 0.5, blades + 0.5), entries, pdf)


@rule(r"/TrackEtaPhi_ImpactPoint_GenTk$")
def _eta_phi(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h2(name, (24, -2.5, 2.5), (24, -PI, PI), 30000.0, maps.eta_phi(rng))


@rule(r"/TkEtaPhi_(Ratio|RelativeDifference)_byFoldingmap(_op)?_ImpactPoint_GenTk$")
def _eta_phi_ratio(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    ratio = m.group(1) == "Ratio"

    def value(x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        # folding maps compare phi-symmetric halves: ~1 (ratio) or a few % (difference)
        assert y is not None
        asymmetry = 0.02 * np.cos(2.0 * y) + 0.01 * np.sign(x)
        inside = np.abs(x) < 2.4
        return np.where(inside, 1.0 + asymmetry if ratio else asymmetry, 0.0)

    return MESpec(
        name=name, kind="ratio", x=Axis(24, -2.5, 2.5), y=Axis(24, -PI, PI), entries=30000.0,
        value=value, shiftable=False,
    )  # fmt: skip


# ----------------------------------------------------------------------------- csc


@rule(r"CSC/CSCOfflineMonitor/recHits/hRHGlobal[mp](\d)$")
def _csc(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    station = int(m.group(1))
    n = 50 if coarse else 100  # CMSSW: book2D 100x100, -800..800 cm
    entries = 12000.0 * (1.1 - 0.15 * station)
    return _h2(
        name, (n, -800.0, 800.0), (n, -800.0, 800.0), entries, maps.csc_station(station, rng)
    )


# ----------------------------------------------------------------------------- ecal


@rule(r"EcalBarrel/EBOccupancyTask/EBOT digi occupancy$")
def _eb_occupancy(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    x, y = (
        ((72, 0.0, 360.0), (34, -85.0, 85.0)) if coarse else ((360, 0.0, 360.0), (170, -85.0, 85.0))
    )
    return _h2(name, x, y, 250000.0, maps.ecal_barrel(rng))


@rule(r"EcalEndcap/EEOccupancyTask/EEOT digi occupancy EE [+-]$")
def _ee_occupancy(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    n = 50 if coarse else 100
    return _h2(name, (n, 0.0, 100.0), (n, 0.0, 100.0), 60000.0, maps.ecal_endcap(rng))


@rule(r"Ecal(Barrel|Endcap)/E[BE]OccupancyTask/E[BE]OT DCC entries$")
def _dcc(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    n = 36 if m.group(1) == "Barrel" else 18
    weights = rng.uniform(0.85, 1.15, n)
    entries = 250000.0 if n == 36 else 120000.0
    return _h1(name, "discrete", (n, 0.0, float(n)), entries, s1.discrete(weights), shiftable=False)


# ----------------------------------------------------------------------------- egamma


@rule(r"Egamma/Electrons/Ele5_TagAndProbe/ele\d_vertexPt_(barrel|endcaps)$")
def _ele_pt(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    entries = 350.0 if m.group(1) == "barrel" else 200.0
    return _h1(name, "gauss", (100, 0.0, 100.0), entries, s1.gauss(40.0, 8.0, 0.3, 2.5))


@rule(r"Egamma/Electrons/Ele5_TagAndProbe/ele2_vertexEta$")
def _ele_eta(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    pdf = s1.plateau(2.5, 0.04, [(1.5, 0.04, 0.9)])  # ECAL barrel-endcap gap
    return _h1(name, "plateau", (50, -2.5, 2.5), 550.0, pdf)


@rule(r"Egamma/Electrons/Ele5_TagAndProbe/ele5_vertexZ$")
def _ele_z(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "gauss", (50, -25.0, 25.0), 550.0, s1.gauss(0.0, 4.0, 0.05))


@rule(r"Egamma/Electrons/Ele5_TagAndProbe/ele10_Eop_(barrel|endcaps)$")
def _ele_eop(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    sigma = 0.08 if m.group(1) == "barrel" else 0.12
    entries = 350.0 if m.group(1) == "barrel" else 200.0
    return _h1(name, "gauss", (100, 0.0, 5.0), entries, s1.gauss(1.0, sigma, 0.3, 4.0))


@rule(r"Egamma/Electrons/Ele5_TagAndProbe/ele10(1|2)_(eta|phi)Eff$")
def _ele_eff(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    if m.group(2) == "eta":
        axis = Axis(50, -2.5, 2.5)

        def value(x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
            gap = np.abs(np.abs(x) - 1.5) < 0.06
            return np.where(gap, 0.55, 0.93 - 0.05 * np.abs(x) / 2.5)

    else:
        axis = Axis(64, -3.2, 3.2)

        def value(x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
            flat: np.ndarray = 0.91 + 0.01 * np.cos(x)
            return flat

    return MESpec(
        name=name, kind="ratio", x=axis, y=None, entries=550.0, value=value, shiftable=False
    )


@rule(r"Egamma/Electrons/Ele5_TagAndProbe/ele201_mee_os$")
def _mee(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "resonance", (60, 60.0, 120.0), 300.0, s1.resonance(91.19, 2.49, 2.0, 0.05))


# ----------------------------------------------------------------------------- hcal


@rule(r"Hcal/DigiTask/(Occupancy|OccupancyCut)/depth/(depth\d|depthHO)$")
def _hcal(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    cut = m.group(1) == "OccupancyCut"
    y = (18, 0.5, 72.5) if coarse else (72, 0.5, 72.5)
    pdf = maps.hcal_depth(m.group(2), rng, cut)
    return _h2(name, (83, -41.5, 41.5), y, 30000.0 if cut else 150000.0, pdf)


# ----------------------------------------------------------------------------- muon_staging


@rule(r"DT/02-Segments/Wheel-?\d/numberOfSegments_W-?\d$")
def _dt(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    # CMSSW: book2D, 12 sectors x 4 stations
    return _h2(name, (12, 0.5, 12.5), (4, 0.5, 4.5), 3000.0, maps.dt_segments(rng))


# ----------------------------------------------------------------------------- jetmet


@rule(r"JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_(low|medium|high)Pt_(Barrel|EndCap)$")
def _chfrac(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    mean = 0.62 if m.group(2) == "Barrel" else 0.55
    entries = {"low": 5000.0, "medium": 4000.0, "high": 3000.0}[m.group(1)]
    return _h1(name, "beta", (50, 0.0, 1.0), entries, s1.beta(mean, 6.0))


@rule(r"JetMET/Jet/Cleanedak4PFJetsCHS/ChMultiplicity_(low|medium|high)Pt_(Barrel|EndCap)$")
def _chmult(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    mean = {"low": 8.0, "medium": 12.0, "high": 18.0}[m.group(1)]
    entries = {"low": 5000.0, "medium": 4000.0, "high": 3000.0}[m.group(1)]
    return _h1(name, "multiplicity", (60, 0.0, 60.0), entries, s1.multiplicity(mean, 0.45))


@rule(r"JetMET/Jet/Cleanedak4PFJets(CHS|Puppi)/Constituents$")
def _constituents(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "multiplicity", (100, 0.0, 100.0), 20000.0, s1.multiplicity(25.0, 0.45))


@rule(r"JetMET/Jet/Cleanedak4PFJets(CHS|Puppi)/Eta(_uncor)?$")
def _jet_eta(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    pdf = s1.plateau(4.7, 0.1, [(1.4, 0.2, 0.15), (3.0, 0.15, 0.3)])
    return _h1(name, "plateau", (120, -6.0, 6.0), 20000.0, pdf)


@rule(r"JetMET/Jet/Cleanedak4PFJets(CHS|Puppi)/JetEnergyCorr$")
def _jec(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "gauss", (60, 0.0, 3.0), 20000.0, s1.gauss(1.12, 0.08, 0.2, 3.0))


@rule(r"JetMET/Jet/Cleanedak4PFJets(CHS|Puppi)/NJets$")
def _njets(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "multiplicity", (50, 0.0, 50.0), 5000.0, s1.multiplicity(4.5, 0.55))


@rule(r"JetMET/Jet/Cleanedak4PFJets(CHS|Puppi)/Phi(_Barrel|_EndCap)?$")
def _jet_phi(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    entries = {None: 20000.0, "_Barrel": 12000.0, "_EndCap": 8000.0}[m.group(2)]
    return _h1(name, "flat", (70, -PI, PI), entries, s1.flat(0.03, 18), shiftable=False)


@rule(r"JetMET/Jet/Cleanedak4PFJets(CHS|Puppi)/Pt$")
def _jet_pt(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "falling", (100, 0.0, 500.0), 20000.0, s1.falling(30.0, 4.5, 30.0))


@rule(r"JetMET/MET/pfMETT1/Cleaned/METSig$")
def _met_sig(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "multiplicity", (50, 0.0, 20.0), 5000.0, s1.multiplicity(2.2, 0.95))


@rule(r"JetMET/MET/pfMETT1/Cleaned/MET_2$")
def _met(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "rayleigh", (100, 0.0, 500.0), 5000.0, s1.rayleigh(25.0))


@rule(r"JetMET/MET/pfMETT1/Cleaned/METPhi$")
def _met_phi(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "flat", (60, -PI, PI), 5000.0, s1.flat(0.05, 1, 0.3), shiftable=False)


@rule(r"JetMET/MET/pfMETT1/Cleaned/SumET$")
def _sumet(name: str, m: re.Match[str], coarse: bool, rng: np.random.Generator) -> MESpec:
    return _h1(name, "multiplicity", (100, 0.0, 4000.0), 5000.0, s1.gamma_peak(1100.0, 0.35))


# ----------------------------------------------------------------------------- lookup


@cache
def me_spec(name: str, *, coarse: bool = False, seed: int = 2024) -> MESpec:
    """The spec of ME ``name``; ``coarse`` gives tiny's coarser binning of big maps."""
    for pattern, builder in _RULES:
        match = pattern.search(name)
        if match:
            rng = np.random.default_rng([seed, 202, stable_hash(name)])
            return builder(name, match, coarse, rng)
    raise KeyError(f"no shape rule for ME {name!r}")
