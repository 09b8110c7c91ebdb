"""Helpers of the plot tests: the gallery script as a module, clients of the test server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
TH1_ME = "JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_highPt_Barrel"
TH2_ME = "EcalBarrel/EBOccupancyTask/EBOT digi occupancy"
RUN = 385801
TH2_RUN, TH2_REFERENCE = 367112, 360392


def gallery() -> ModuleType:
    """docs/make_gallery.py, imported (its CASES, SETUP and draw())."""
    spec = importlib.util.spec_from_file_location("make_gallery", REPO / "docs" / "make_gallery.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_gallery"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
