"""Plots of DIALS histograms in CMS style: lumisection heat maps, trends, overlays, 2-D maps.

The plotting methods are reached from what a user holds (``result.plot``,
``array.plot``, ``dataset.plot(me=...)``: a :class:`Plots`) and return a :class:`Plot`.
See docs/plots.md.  Importing this package imports neither matplotlib nor mplhep (the
``plot`` extra): the first drawing does.
"""

from __future__ import annotations

from cmsdials.errors import PlotSelectionError
from cmsdials.plot._plots import Plots
from cmsdials.plot._result import Plot

__all__ = ["Plot", "PlotSelectionError", "Plots"]
