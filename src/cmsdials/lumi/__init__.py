"""Lumi masks: sets of (run, lumisection) pairs in the CMS compact JSON format.

``LumiMask`` reads golden, DCS, muon and DIALS ML JSONs (files, URLs, dicts, results
objects, DataFrames), combines them with ``|``, ``&``, ``-``, tests membership one pair at a
time or over numpy arrays, and filters histogram results, arrays, frames and fetched data
sets (``mask.apply(x)``).  ``compare(a, b)`` shows per run what only one of two masks has.
See docs/lumi.md.
"""

from __future__ import annotations

from cmsdials.errors import LumiMaskError, LumiMaskTypeError
from cmsdials.lumi._apply import apply
from cmsdials.lumi._compare import MaskComparison, RunDifference, compare
from cmsdials.lumi._mask import MAX_NUMBER, LumiMask

__all__ = [
    "MAX_NUMBER",
    "LumiMask",
    "LumiMaskError",
    "LumiMaskTypeError",
    "MaskComparison",
    "RunDifference",
    "apply",
    "compare",
]
