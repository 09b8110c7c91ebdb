"""Helpers of the data-set read and Dask tests: frame comparisons, ME regexes, pieces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cmsdials.dataset._manifest import PieceRecord


def assert_frames_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns, order and dtypes; same rows in the same order; ``data`` cells equal
    (arrays, or lists of line arrays for th2)."""
    assert list(got.columns) == list(expected.columns)
    assert list(got.dtypes) == list(expected.dtypes), (got.dtypes, expected.dtypes)
    assert len(got) == len(expected)
    plain = [name for name in expected.columns if name != "data"]
    pd.testing.assert_frame_equal(
        got[plain].reset_index(drop=True), expected[plain].reset_index(drop=True)
    )
    if "data" in expected.columns:
        for mine, theirs in zip(got["data"], expected["data"]):
            assert type(mine) is type(theirs)
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def regex_of(names: Sequence[str]) -> str:
    """A ``me__regex`` matching exactly ``names``."""
    import re

    return "^(" + "|".join(re.escape(name) for name in names) + ")$"


def make_pending(root: Path, piece_ids: Sequence[str]) -> None:
    """Undo pieces of a fetched data set: their file and record removed (as before the
    fetch reached them)."""
    for piece_id in piece_ids:
        (root / (piece_id + ".parquet")).unlink()
        PieceRecord.path_in(root, piece_id).unlink()
