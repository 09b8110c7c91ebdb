"""The gallery's images (docs/gallery/, drawn by docs/make_gallery.py) are the baselines:
every case drawn again from the session's dials-local (the same deterministic tiny data)
must match its committed image within a tolerance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.testing.compare import compare_images
from plot_support import REPO, gallery

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials

GALLERY = gallery()
#: RMS difference of pixel values (0-255) allowed: fonts and anti-aliasing vary a little
#: between matplotlib and FreeType releases; a moved or missing artist does not fit in it.
TOLERANCE = 3.0


@pytest.fixture(scope="module")
def names(target: Any) -> Iterator[dict[str, Any]]:
    creds = Credentials(token=target.secret)
    with ExitStack() as stack:
        jetmet = stack.enter_context(Dials(creds, workspace="jetmet", base_url=target.base_url))
        ecal = stack.enter_context(Dials(creds, workspace="ecal", base_url=target.base_url))
        yield GALLERY.namespace(jetmet, ecal)


@pytest.mark.parametrize("case", GALLERY.CASES, ids=lambda case: case.name)
def test_image_matches_the_gallery(case: Any, names: dict[str, Any], tmp_path: Path) -> None:
    baseline = GALLERY.GALLERY / f"{case.name}.png"
    assert baseline.exists(), f"run docs/make_gallery.py to draw {baseline.name}"
    actual = tmp_path / f"{case.name}.png"
    GALLERY.draw(case, names, actual)
    assert compare_images(str(baseline), str(actual), tol=TOLERANCE) is None


def test_plots_doc_shows_every_case_with_its_code() -> None:
    page = (REPO / "docs" / "plots.md").read_text()
    assert GALLERY.SETUP in page
    for case in GALLERY.CASES:
        assert case.code in page, case.name
        assert f"gallery/{case.name}.png" in page
