"""Injected anomalies: what they are, where they go, and how they change a histogram.

Kinds (the ``kind`` column of ``local_injected_anomalies``):

* ``dead_module`` - a region stops responding: contiguous well-populated bins of a 1-D
  histogram, or a block of cells (one module, tower, chamber) of a 2-D map, read zero;
* ``hot_channel`` - one bin/cell fires far too often;
* ``noise_burst`` - coherent noise adds flat hits on top of the physics (1-D and maps);
* ``shifted_peak`` - the distribution moves by several widths (gain / calibration /
  scale change; only for peaked 1-D shapes).

Anomalies come in episodes of 1-4 consecutive ingested lumisections of one ME (a detector
problem lasts a while), at a rate of about :data:`RATE_PER_LS` per ME and lumisection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from dials_local.data.me_specs import MESpec

KINDS = ("dead_module", "hot_channel", "noise_burst", "shifted_peak")
RATE_PER_LS = 0.003


@dataclass(frozen=True)
class Anomaly:
    """One anomalous (lumisection, ME); ``cells`` are flat bin indices it touches."""

    ls_number: int
    kind: str
    strength: float
    cells: tuple[int, ...] = ()

    def detail(self, spec: MESpec) -> str:
        """JSON description stored with the ground truth."""
        info: dict[str, object] = {"strength": round(self.strength, 3)}
        if self.cells:
            if spec.y is None:
                info["bins"] = [min(self.cells), max(self.cells)]
            else:
                nx = spec.x.nbins
                info["cells_xy"] = [[c % nx, c // nx] for c in self.cells[:25]]
        return orjson.dumps(info).decode()


def applicable_kinds(spec: MESpec) -> tuple[str, ...]:
    if spec.kind == "ratio":
        return ("dead_module", "hot_channel")
    if spec.kind in ("flat", "discrete"):
        return ("dead_module", "hot_channel")
    if spec.dim == 2:
        return ("dead_module", "hot_channel", "noise_burst")
    return KINDS if spec.shiftable else KINDS[:3]


def _region(
    kind: str, spec: MESpec, expected: np.ndarray, rng: np.random.Generator
) -> tuple[int, ...]:
    """Cells an anomaly touches, chosen where the expected occupancy is substantial."""
    flat = np.abs(expected.ravel())
    populated = (
        np.flatnonzero(flat >= 0.25 * flat.max()) if flat.max() > 0 else np.arange(flat.size)
    )
    if populated.size == 0:
        populated = np.arange(flat.size)
    if kind == "hot_channel":
        return (int(rng.choice(populated)),)
    if spec.y is None:
        width = max(1, round(populated.size * rng.uniform(0.05, 0.15)))
        start = int(rng.integers(0, max(1, populated.size - width + 1)))
        return tuple(int(c) for c in populated[start : start + width])
    # a block of about 1/12 x 1/12 of the map around a present cell (a module, a tower)
    nx, ny = spec.x.nbins, spec.y.nbins
    centre = int(rng.choice(populated))
    cx, cy = centre % nx, centre // nx
    hx, hy = max(0, nx // 24), max(0, ny // 24)
    xs = np.arange(max(0, cx - hx), min(nx, cx + hx + 1))
    ys = np.arange(max(0, cy - hy), min(ny, cy + hy + 1))
    return tuple(int(y * nx + x) for y in ys for x in xs)


def _strength(kind: str, rng: np.random.Generator) -> float:
    # Ranges run from subtle (near what per-lumisection statistics can reveal) to gross.
    if kind == "hot_channel":
        return float(rng.uniform(1.0, 8.0))  # extra hits, in units of the busiest cell
    if kind == "noise_burst":
        return float(rng.uniform(0.1, 1.0))  # extra flat hits, as a fraction of the entries
    if kind == "shifted_peak":
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 4.0))  # in widths
    return 0.0


def plan_anomalies(
    spec: MESpec,
    ls_numbers: np.ndarray,
    expected: np.ndarray,
    rng: np.random.Generator,
    forced: dict[int, str] | None = None,
) -> dict[int, Anomaly]:
    """Anomalies of one ME in one run: ``{ls_number: Anomaly}`` over ``ls_numbers``.

    ``expected`` is the ME's nominal shape (to place regions); ``forced`` maps lumisections
    to kinds that must be injected there (the documented examples).
    """
    out: dict[int, Anomaly] = {}
    kinds = applicable_kinds(spec)
    n = len(ls_numbers)
    for _ in range(int(rng.poisson(RATE_PER_LS * n))):
        kind = str(rng.choice(kinds))
        length = min(int(rng.geometric(0.55)), 4)
        start = int(rng.integers(0, n))
        cells = _region(kind, spec, expected, rng) if kind in ("dead_module", "hot_channel") else ()
        strength = _strength(kind, rng)
        for ls in ls_numbers[start : start + length]:
            out.setdefault(int(ls), Anomaly(int(ls), kind, strength, cells))
    for ls, kind in (forced or {}).items():
        if ls in set(ls_numbers.tolist()):
            cells = (
                _region(kind, spec, expected, rng) if kind in ("dead_module", "hot_channel") else ()
            )
            # documented examples get an unmistakable anomaly
            strength = {"hot_channel": 8.0, "noise_burst": 1.0, "shifted_peak": 4.0}.get(kind, 0.0)
            out[ls] = Anomaly(ls, kind, strength, cells)
    return out


def apply_to_rates(lam: np.ndarray, anomaly: Anomaly, n_entries: float) -> None:
    """Modify one lumisection's expected counts (flat ``cells`` vector) in place.

    ``shifted_peak`` is applied by the caller (it changes the shape, not the counts).
    """
    if anomaly.kind == "dead_module":
        lam[list(anomaly.cells)] = 0.0
    elif anomaly.kind == "hot_channel":
        lam[list(anomaly.cells)] += anomaly.strength * max(float(lam.max()), 1.0)
    elif anomaly.kind == "noise_burst":
        support = lam > 0
        count = max(int(support.sum()), 1)
        lam[support] += anomaly.strength * n_entries / count


def apply_to_values(values: np.ndarray, anomaly: Anomaly) -> None:
    """Modify one lumisection's values of a non-count ME (efficiency, ratio) in place."""
    if anomaly.kind == "dead_module":
        values[list(anomaly.cells)] = 0.0
    elif anomaly.kind == "hot_channel":
        values[list(anomaly.cells)] = values[list(anomaly.cells)] * 3.0 + 1.0
