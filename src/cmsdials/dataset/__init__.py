"""Slices of DIALS on disk: ``dials.fetch()`` writes them, resumably, and
:func:`open_dataset` reads them back (docs/datasets.md).

A data set is a directory with a manifest (``_manifest.json``), one record per completed
piece (``_pieces/``) and one Parquet file per piece in two Hive-partitioned trees,
``th1/me_id=<id>/dataset_id=<id>/`` and ``th2/...``.
"""

from __future__ import annotations

from cmsdials.dataset._audit import AuditReport, audit
from cmsdials.dataset._fetch import FetchIncompleteError, FetchReport, FetchSpec, run_piece
from cmsdials.dataset._manifest import (
    Manifest,
    ManifestError,
    ManifestMismatchError,
    PieceRecord,
)
from cmsdials.dataset._plan import FetchQuery, FetchQueryError, Piece, plan_pieces
from cmsdials.dataset._read import DatasetSelectionError, FetchedDataset, open_dataset

__all__ = [
    "AuditReport",
    "DatasetSelectionError",
    "FetchIncompleteError",
    "FetchQuery",
    "FetchQueryError",
    "FetchReport",
    "FetchSpec",
    "FetchedDataset",
    "Manifest",
    "ManifestError",
    "ManifestMismatchError",
    "Piece",
    "PieceRecord",
    "audit",
    "open_dataset",
    "plan_pieces",
    "run_piece",
]
