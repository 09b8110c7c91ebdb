"""Families of 1-D distributions that DQM histograms look like.

Each builder returns a *density*: ``density(x, shift, pileup)`` with ``x`` the bin centres
``(1, nbins)``, ``shift`` a column ``(n, 1)`` that moves the distribution by that many
"widths" (per-run drift plus injected ``shifted_peak`` anomalies), and ``pileup`` a column
``(n, 1)`` of pileup relative to nominal (multiplicities grow with it).  The result is
non-negative, broadcastable to ``(n, nbins)`` and not normalised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Density = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _row_exp(log_f: np.ndarray) -> np.ndarray:
    """exp of a log-density, scaled per row so the largest value is 1 (no overflow)."""
    log_f = np.where(np.isfinite(log_f), log_f, -np.inf)
    peak = np.max(log_f, axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    out: np.ndarray = np.exp(log_f - peak)
    return out


def landau(mpv: float, width: float, low: float = 0.03) -> Density:
    """Energy-loss (Landau-like, Moyal) peak plus a small low-charge component."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        loc = mpv + shift * width
        lam = np.clip((x - loc) / width, -30.0, None)
        peak = np.exp(-0.5 * (lam + np.exp(-lam)))
        tail = low * np.exp(-np.clip(x, 0.0, None) / (0.2 * mpv)) * (x > 0)
        out: np.ndarray = peak + tail
        return out

    return density


def gauss(mu: float, sigma: float, tail: float = 0.0, tail_factor: float = 3.0) -> Density:
    """Gaussian core (residuals, positions) with optional wider Gaussian tails."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        loc = mu + shift * sigma
        core = np.exp(-0.5 * ((x - loc) / sigma) ** 2)
        wide = np.exp(-0.5 * ((x - loc) / (tail_factor * sigma)) ** 2) / tail_factor
        out: np.ndarray = (1.0 - tail) * core + tail * wide
        return out

    return density


def multiplicity(mean: float, cv: float, pileup_power: float = 0.0) -> Density:
    """Counts per event (gamma-like); the mean grows with pileup as ``pileup**power``."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        m = mean * np.power(np.clip(pileup, 0.05, None), pileup_power)
        sd = cv * m
        m = np.clip(m + shift * sd, 1e-3, None)
        k = (m / sd) ** 2
        theta = sd**2 / m
        xx = np.clip(x, 1e-3, None)
        return _row_exp((k - 1.0) * np.log(xx) - xx / theta)

    return density


def falling(x0: float, power: float, threshold: float = 0.0) -> Density:
    """A steeply falling spectrum (transverse momenta, energies) above a turn-on."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        scaled = x / (1.0 + 0.05 * shift)
        turn_on = 1.0 / (1.0 + np.exp(-(scaled - threshold) / max(0.05 * threshold, 1e-3)))
        out: np.ndarray = np.power(1.0 + np.clip(scaled, 0.0, None) / x0, -power) * turn_on
        return out

    return density


def rayleigh(sigma: float) -> Density:
    """Missing transverse energy: the magnitude of a 2-D Gaussian vector."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        s = sigma * (1.0 + 0.08 * shift)
        xx = np.clip(x, 0.0, None)
        out: np.ndarray = xx / s**2 * np.exp(-0.5 * (xx / s) ** 2) + 1e-4 * np.exp(-xx / (4 * s))
        return out

    return density


def gamma_peak(mean: float, cv: float) -> Density:
    """A broad skewed peak (sum of transverse energies, vertex track counts)."""
    return multiplicity(mean, cv, 0.0)


def chi2_per_ndf(ndf: float) -> Density:
    """chi2/ndf of track fits: gamma with mean 1."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        xx = np.clip(x / (1.0 + 0.08 * shift), 1e-4, None)
        k = ndf / 2.0
        return _row_exp((k - 1.0) * np.log(xx) - xx * k)

    return density


def flat(amplitude: float = 0.03, periods: int = 6, phase: float = 0.0) -> Density:
    """Azimuthal angles: flat with a small modulation (detector sectors)."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        return 1.0 + amplitude * np.cos(periods * x + phase) + 0.0 * shift

    return density


def plateau(
    edge: float, softness: float, dips: Sequence[tuple[float, float, float]] = ()
) -> Density:
    """Pseudorapidity: flat within the acceptance ``|x| < edge``; ``dips`` = (|x|, width, depth)."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        ax = np.abs(x - 0.1 * shift)
        f = 1.0 / (1.0 + np.exp((ax - edge) / softness))
        for centre, width, depth in dips:
            f = f * (1.0 - depth * np.exp(-0.5 * ((ax - centre) / width) ** 2))
        out: np.ndarray = f
        return out

    return density


def beta(mean: float, concentration: float) -> Density:
    """Fractions in [0, 1] (charged-hadron energy fraction, good-vertex fraction)."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        m = np.clip(mean + 0.04 * shift, 0.02, 0.98)
        a = m * concentration
        b = (1.0 - m) * concentration
        inside = (x > 0.0) & (x < 1.0)
        xx = np.clip(x, 1e-4, 1.0 - 1e-4)
        log_f = (a - 1.0) * np.log(xx) + (b - 1.0) * np.log1p(-xx)
        return _row_exp(np.where(inside, log_f, -np.inf))

    return density


def discrete(weights: Sequence[float] | np.ndarray) -> Density:
    """Fixed bin weights (quality flags, per-readout-unit counts)."""
    w = np.asarray(weights, dtype=np.float64)

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        shaped: np.ndarray = np.broadcast_to(w, np.broadcast_shapes(x.shape, shift.shape))
        copied: np.ndarray = shaped.copy()
        return copied

    return density


def resonance(mass: float, width: float, resolution: float, background: float) -> Density:
    """A mass peak (Z -> ee) over a falling background."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        loc = mass + shift * resolution
        lorentz = 1.0 / (1.0 + ((x - loc) / (0.5 * width)) ** 2)
        gaussian = np.exp(-0.5 * ((x - loc) / resolution) ** 2)
        bkg = background * np.exp(-(x - x.min()) / 25.0)
        out: np.ndarray = 0.4 * lorentz + 0.6 * gaussian + bkg
        return out

    return density


def signed_lobes(position: float, sigma: float) -> Density:
    """q/p of tracks above a momentum cut: two lobes, one per charge."""

    def density(x: np.ndarray, shift: np.ndarray, pileup: np.ndarray) -> np.ndarray:
        loc = position + 0.1 * shift * sigma
        out: np.ndarray = np.exp(-0.5 * ((np.abs(x) - loc) / sigma) ** 2) * (np.abs(x) < 1.0)
        return out

    return density
