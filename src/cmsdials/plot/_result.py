"""What every plotting method returns: the matplotlib objects and the numbers drawn."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Plot"]


@dataclass(frozen=True, repr=False, eq=False)
class Plot:
    """One drawn plot.  Restyle it through ``figure``, ``axes`` and ``artists``.

    Attributes
    ----------
    figure:
        The ``matplotlib.figure.Figure`` (the caller's, when ``ax=`` was given).
    axes:
        The ``Axes`` drawn on; for several trends, a tuple of them, top to bottom.
    artists:
        The artists by role: ``"image"`` (heat maps and 2-D maps), ``"colorbar"``,
        ``"lines"`` (trend lines, overlay steps), ``"flags"`` (the marks of flagged
        lumisections, ``None`` when nothing was flagged), ``"label"`` (the CMS label).
    values:
        The numbers drawn, by name: ``"map"`` (bins x lumisections, NaN columns for missing
        lumisections; or the 2-D map), a statistic's name for trends, ``"histograms"``
        for overlays, ``"reference"`` and ``"ratio"``/``"difference"`` for comparisons.
    lumisections:
        The lumisection of each column, point or line drawn (int64).
    flagged:
        The flagged lumisections that were marked (int64, ascending).
    me, run, dataset:
        What was drawn.
    """

    figure: Any
    axes: Any
    artists: dict[str, Any]
    values: dict[str, np.ndarray]
    lumisections: np.ndarray
    flagged: np.ndarray
    me: str
    run: int
    dataset: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"<Plot of {self.me!r} run {self.run} ({', '.join(self.values)}; "
            f"{len(self.lumisections)} LS, {len(self.flagged)} flagged)>"
        )

    def savefig(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write the figure atomically (format from the suffix: ``.png``, ``.pdf``, ``.svg``).

        The image appears under ``path`` only once complete; ``options`` go to
        ``Figure.savefig`` (``dpi=``, ``bbox_inches=``, ...).
        """
        from cmsdials._writers import atomic_output

        final = Path(path)
        options.setdefault("format", final.suffix.lstrip(".").lower() or "png")
        with atomic_output(final) as temporary:
            self.figure.savefig(temporary, **options)
        return final
