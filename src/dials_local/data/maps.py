"""2-D occupancy maps with detector structure (modules, ladders, rings, towers, chambers).

Each builder returns ``density(X, Y)`` where ``X``/``Y`` are the bin-centre grids of shape
``(ny, nx)`` (rows per y, CONTRACT §7.6); the result is a non-negative expected occupancy
of that shape, zero where the detector has no channel.  ``rng`` draws the *static*
structure of one ME (efficiency spread, permanently dead modules): stable over runs, so a
per-run reference absorbs it and only episodic anomalies stand out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MapDensity = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _cell_index(v: np.ndarray) -> np.ndarray:
    index: np.ndarray = np.rint(v).astype(np.int64)
    return index


def pixel_barrel_modules(ladders: int, rng: np.random.Generator, dead: int) -> MapDensity:
    """Module x ladder map of a barrel layer (signed coordinates; coordinate 0 is empty)."""
    half = ladders // 2
    efficiency = rng.uniform(0.85, 1.15, size=(2 * half + 1, 9))
    for _ in range(dead):
        efficiency[rng.integers(0, 2 * half + 1), rng.integers(0, 9)] = 0.0

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        module = _cell_index(x)
        ladder = _cell_index(y)
        present = (module != 0) & (ladder != 0) & (np.abs(module) <= 4) & (np.abs(ladder) <= half)
        eff = efficiency[np.clip(ladder + half, 0, 2 * half), np.clip(module + 4, 0, 8)]
        # longer clusters at large |z| (inclined tracks) give more digis per module
        out: np.ndarray = np.where(present, eff * (1.0 + 0.12 * np.abs(module)), 0.0)
        return out

    return density


def pixel_forward_panels(blades: int, rng: np.random.Generator, dead: int) -> MapDensity:
    """Disk x blade map of a forward ring (signed coordinates; coordinate 0 is empty)."""
    efficiency = rng.uniform(0.85, 1.15, size=(2 * blades + 1, 7))
    for _ in range(dead):
        efficiency[rng.integers(0, 2 * blades + 1), rng.integers(0, 7)] = 0.0

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        disk = _cell_index(x)
        blade = _cell_index(y)
        present = (disk != 0) & (blade != 0) & (np.abs(disk) <= 3) & (np.abs(blade) <= blades)
        eff = efficiency[np.clip(blade + blades, 0, 2 * blades), np.clip(disk + 3, 0, 6)]
        out: np.ndarray = np.where(present, eff, 0.0)
        return out

    return density


_LADDERS = {1: 12, 2: 28, 3: 44, 4: 64}
_RADIUS = {1: 2.9, 2: 6.8, 3: 10.9, 4: 16.0}


def pixel_zphi(layers: tuple[int, ...], rng: np.random.Generator) -> MapDensity:
    """Cluster positions z x phi on barrel layers: 8 modules in z, ladder stripes in phi."""
    hole_phi = rng.uniform(-np.pi, np.pi)
    hole_z = rng.uniform(-20.0, 20.0)

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        total = np.zeros_like(x)
        inside = np.abs(x) < 26.7
        gap = np.abs(((x + 26.7) % 6.675) - 3.3375) > 3.2  # module boundaries in z
        for layer in layers:
            stripes = 1.0 + 0.35 * np.cos(_LADDERS[layer] * y)  # overlapping ladders
            total += stripes / _RADIUS[layer] ** 2
        total = np.where(inside, total * np.where(gap, 0.3, 1.0), 0.0)
        dead = (np.abs(y - hole_phi) < 0.12) & (np.abs(x - hole_z) < 3.3)
        out: np.ndarray = np.where(dead, 0.0, total)
        return out

    return density


def pixel_disk_xy(rng: np.random.Generator) -> MapDensity:
    """Cluster positions x y on a forward disk: two rings of blades (22 and 34)."""
    phase = rng.uniform(0, 2 * np.pi)

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.hypot(x, y)
        theta = np.arctan2(y, x)
        inner = (r > 4.5) & (r < 10.5)
        outer = (r >= 10.5) & (r < 16.0)
        blades = np.where(inner, 22, 34)
        f = (1.0 + 0.4 * np.cos(blades * theta + phase)) / np.clip(r, 1.0, None)
        out: np.ndarray = np.where(inner | outer, f, 0.0)
        return out

    return density


def eta_phi(rng: np.random.Generator, edge: float = 2.4) -> MapDensity:
    """Track eta x phi: flat in phi, plateau in eta, a region of reduced efficiency."""
    weak_eta = rng.uniform(-2.0, 2.0)
    weak_phi = rng.uniform(-3.0, 3.0)

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        f = 1.0 / (1.0 + np.exp((np.abs(x) - edge) / 0.08))
        f = f * (1.0 - 0.25 * np.exp(-0.5 * ((np.abs(x) - 1.3) / 0.15) ** 2))
        f = f * (1.0 + 0.04 * np.cos(3 * y))
        weak = (np.abs(x - weak_eta) < 0.3) & (np.abs(y - weak_phi) < 0.3)
        out: np.ndarray = np.where(weak, 0.6 * f, f)
        return out

    return density


def csc_station(station: int, rng: np.random.Generator) -> MapDensity:
    """CSC rechit positions x y (cm) of one endcap station: rings of chambers."""
    if station == 1:
        rings = [(100.0, 260.0, 36), (275.0, 465.0, 36), (505.0, 695.0, 36)]
    else:
        rings = [(140.0, 345.0, 18), (355.0, 700.0, 36)]
    dead_ring = int(rng.integers(0, len(rings)))
    dead_chamber = int(rng.integers(0, rings[dead_ring][2])) if rng.random() < 0.5 else -1

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.hypot(x, y)
        theta = np.mod(np.arctan2(y, x), 2 * np.pi)
        total = np.zeros_like(x)
        for i, (r_in, r_out, chambers) in enumerate(rings):
            ring = (r >= r_in) & (r < r_out)
            chamber = np.floor(theta / (2 * np.pi / chambers)).astype(np.int64)
            f = np.exp(-r / 350.0) * (1.0 + 0.2 * np.cos(chambers * theta))
            if i == dead_ring:
                f = np.where(chamber == dead_chamber, 0.0, f)
            total += np.where(ring, f, 0.0)
        return total

    return density


def ecal_barrel(rng: np.random.Generator) -> MapDensity:
    """EB digi occupancy iphi x ieta: 36 supermodules, a few permanently masked towers."""
    towers = [(int(rng.integers(0, 72)), int(rng.integers(0, 34))) for _ in range(2)]

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        f = 1.0 + 0.3 * (np.abs(y) / 85.0) ** 2
        f = f * np.where(np.mod(x, 20.0) < 1.0, 0.9, 1.0)  # supermodule edges
        tower_phi = np.floor(x / 5.0)
        tower_eta = np.floor((y + 85.0) / 5.0)
        for tp, te in towers:
            f = np.where((tower_phi == tp) & (tower_eta == te), 0.0, f)
        out: np.ndarray = f
        return out

    return density


def ecal_endcap(rng: np.random.Generator) -> MapDensity:
    """EE digi occupancy ix x iy: an annulus of crystals, busier near the beam pipe."""
    dead_x, dead_y = rng.uniform(20, 80, size=2)

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.hypot(x - 50.0, y - 50.0)
        present = (r > 11.0) & (r < 50.5)
        f = 1.0 / np.clip(r - 6.0, 1.0, None) ** 1.2
        dead = (np.abs(x - dead_x) < 2.5) & (np.abs(y - dead_y) < 2.5)
        out: np.ndarray = np.where(present & ~dead, f, 0.0)
        return out

    return density


# |ieta| ranges of HCAL depths (HB 1-16, HE 16-29, HF 29-41, HO 1-15), Phase-1 segmentation.
_HCAL_COVERAGE: dict[str, list[tuple[int, int]]] = {
    "depth1": [(1, 41)],
    "depth2": [(1, 28), (29, 41)],
    "depth3": [(1, 28)],
    "depth4": [(1, 28)],
    "depth5": [(17, 28)],
    "depth6": [(18, 28)],
    "depth7": [(19, 28)],
    "depthHO": [(1, 15)],
}


def hcal_depth(depth: str, rng: np.random.Generator, cut: bool) -> MapDensity:
    """HCAL digi occupancy ieta x iphi of one depth: coarser iphi in HE/HF, HO only |ieta|<=15."""
    coverage = _HCAL_COVERAGE[depth]
    dead_ieta = int(rng.integers(1, 16)) * (1 if rng.random() < 0.5 else -1)
    dead_iphi = int(rng.integers(1, 73))

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ieta = _cell_index(x)
        iphi = _cell_index(y)
        a = np.abs(ieta)
        present = np.zeros(x.shape, dtype=bool)
        for lo, hi in coverage:
            present |= (a >= lo) & (a <= hi)
        present &= (ieta != 0) & (iphi >= 1) & (iphi <= 72)
        present &= ~((a >= 21) & (iphi % 2 == 0))  # 10-degree towers beyond |ieta| 20
        present &= ~((a >= 40) & (iphi % 4 != 3))  # 20-degree towers in the last HF rings
        f = 1.0 + 0.04 * a + np.where(a >= 29, 1.5, 0.0)
        if cut:
            f = f * np.where(a >= 29, 0.5, 0.15)
        dead = (ieta == dead_ieta) & (np.abs(iphi - dead_iphi) <= 1)
        out: np.ndarray = np.where(present & ~dead, f, 0.0)
        return out

    return density


def dt_segments(rng: np.random.Generator) -> MapDensity:
    """DT segments sector x station of one wheel; MB4 of sectors 4 and 10 has two chambers."""
    spread = rng.uniform(0.9, 1.1, size=(4, 12))

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        sector = np.clip(_cell_index(x), 1, 12)
        station = np.clip(_cell_index(y), 1, 4)
        f = np.array([1.0, 0.9, 0.8, 0.6])[station - 1] * spread[station - 1, sector - 1]
        double = (station == 4) & ((sector == 4) | (sector == 10))
        out: np.ndarray = np.where(double, 1.8 * f, f)
        return out

    return density
