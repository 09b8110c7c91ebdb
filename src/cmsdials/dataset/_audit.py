"""The coverage audit of a fetched data set: is everything there, once, and still current?

Three checks, each reported on its own:

* **missing pieces**: a piece of the plan without a record, without its file, or whose
  file's size or SHA-256 is not the recorded one (a file changed or cut by hand);
* **duplicates**: a (dataset, run, lumisection, ME) present more than once in the data
  (within a piece or across pieces);
* **mismatches**: per piece, the rows the server has now (one listing of the piece's
  query: DIALS has no th1/th2 count route, CONTRACT §1) against the rows on disk, naming
  the (run, lumisection) present on one side only.

The server check reads every piece's rows again: it costs what the fetch cost
(``workers=`` runs pieces concurrently).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmsdials._filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters
from cmsdials._optional import require
from cmsdials._progress import make_progress, progress_mode
from cmsdials.dataset._fetch import _page_size, _th2_bins
from cmsdials.dataset._manifest import Manifest, PieceRecord
from cmsdials.dataset._plan import Piece

if TYPE_CHECKING:
    from cmsdials._dials import Dials

__all__ = ["AuditReport", "Duplicate", "Mismatch", "MissingPiece", "audit"]

#: (run, lumisection) pairs named per side in a mismatch, at most.
SHOWN_KEYS = 20


@dataclass(frozen=True)
class MissingPiece:
    """A piece that is not (validly) on disk; ``reason`` says why."""

    id: str
    reason: str


@dataclass(frozen=True)
class Duplicate:
    """A row key found ``copies`` times in the data set."""

    kind: str
    me_id: int
    dataset_id: int
    run_number: int
    ls_number: int
    copies: int


@dataclass(frozen=True)
class Mismatch:
    """A piece whose rows on disk differ from the server's current rows.

    ``only_on_server`` / ``only_on_disk``: the (run, lumisection) pairs found on one side
    only (sorted; the first :data:`SHOWN_KEYS` of each).
    """

    id: str
    server_rows: int
    disk_rows: int
    only_on_server: list[tuple[int, int]]
    only_on_disk: list[tuple[int, int]]


@dataclass
class AuditReport:
    """The result of :func:`audit`.

    Attributes
    ----------
    path:
        The data set.
    pieces:
        Pieces in the plan.
    missing_pieces, duplicates, mismatches:
        What the three checks found (module doc); empty lists when all is well.
    server_checked:
        Whether the rows were compared with the server.
    """

    path: Path
    pieces: int
    missing_pieces: list[MissingPiece] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    server_checked: bool = True

    @property
    def ok(self) -> bool:
        """Every piece there, no duplicate, and the server agrees."""
        return not (self.missing_pieces or self.duplicates or self.mismatches)

    def __str__(self) -> str:
        lines = [
            f"audit of {str(self.path)!r}: {self.pieces} pieces, "
            + ("OK" if self.ok else "problems found")
        ]
        lines.append(f"  missing pieces: {len(self.missing_pieces)}")
        lines.extend(f"    {m.id}: {m.reason}" for m in self.missing_pieces[:SHOWN_KEYS])
        lines.append(f"  duplicated (dataset, run, ls, ME) rows: {len(self.duplicates)}")
        lines.extend(
            f"    {d.kind} me_id={d.me_id} dataset_id={d.dataset_id} run {d.run_number} "
            f"ls {d.ls_number}: {d.copies} copies"
            for d in self.duplicates[:SHOWN_KEYS]
        )
        if not self.server_checked:
            lines.append("  server not checked")
            return "\n".join(lines)
        lines.append(f"  pieces that differ from the server: {len(self.mismatches)}")
        for m in self.mismatches[:SHOWN_KEYS]:
            lines.append(f"    {m.id}: {m.server_rows} rows on the server, {m.disk_rows} on disk")
            if m.only_on_server:
                lines.append(f"      only on the server (run, ls): {_pairs(m.only_on_server)}")
            if m.only_on_disk:
                lines.append(f"      only on disk (run, ls): {_pairs(m.only_on_disk)}")
        return "\n".join(lines)


def _pairs(pairs: list[tuple[int, int]]) -> str:
    return ", ".join(f"({run}, {ls})" for run, ls in pairs)


def _root_of(dataset: Any) -> Path:
    if isinstance(dataset, (str, os.PathLike)):
        return Path(dataset)
    if isinstance(dataset, Manifest):
        return dataset.root
    manifest = getattr(dataset, "manifest", None)
    if isinstance(manifest, Manifest):
        return manifest.root
    root = getattr(dataset, "root", None) or getattr(dataset, "path", None)
    if isinstance(root, (str, os.PathLike)):
        return Path(root)
    raise TypeError(
        f"audit() takes a data set directory, a Manifest or an opened data set, not {dataset!r}"
    )


def _disk_keys(root: Path, piece: Piece, record: PieceRecord | None) -> tuple[Any, str | None]:
    """``(keys, problem)``: the (run, ls) keys of the piece's file, or why there are none."""
    if record is None:
        return None, "no record (never completed)"
    target = root / piece.path
    try:
        content = target.read_bytes()
    except FileNotFoundError:
        return None, f"file {piece.path} missing"
    except OSError as exc:
        return None, f"file {piece.path} unreadable: {exc}"
    if len(content) != record.bytes:
        return None, f"file {piece.path} has {len(content)} bytes, {record.bytes} recorded"
    if hashlib.sha256(content).hexdigest() != record.sha256:
        return None, f"file {piece.path} does not have the recorded SHA-256"
    pa = require("pyarrow", "arrow", "audit()")
    parquet = require("pyarrow.parquet", "arrow", "audit()")
    table = parquet.read_table(pa.BufferReader(content), columns=["run_number", "ls_number"])
    keys = list(zip(table.column("run_number").to_pylist(), table.column("ls_number").to_pylist()))
    return keys, None


def _server_keys(dials: Dials, piece: Piece) -> list[tuple[int, int]]:
    if piece.kind == "th1":
        filters: Any = LumisectionHistogram1DFilters
        route: Any = dials.h1d
        size = _page_size("th1", 1)
    else:
        filters = LumisectionHistogram2DFilters
        route = dials.h2d
        size = _page_size("th2", _th2_bins(dials, piece))
    result = route.list_all(
        filters(
            me_id=piece.me_id,
            dataset_id=piece.dataset_id,
            run_number__gte=piece.first_run,
            run_number__lte=piece.last_run,
            page_size=size,
        ),
        enable_progress=False,
    )
    columns = result.histogram_columns().columns
    return list(zip(columns["run_number"].tolist(), columns["ls_number"].tolist()))


def audit(
    dataset: Any,
    dials: Dials | None,
    *,
    workers: int = 1,
    progress: bool | None = None,
) -> AuditReport:
    """Check a fetched data set against its plan, for duplicates, and against the server.

    Parameters
    ----------
    dataset:
        The data set: its directory, its :class:`Manifest`, or an opened data set
        (``cmsdials.open_dataset(path)``).
    dials:
        A client of the data set's server and workspace; ``None`` skips the server check.
    workers:
        Pieces listed on the server at once.
    progress:
        As ``fetch``'s (pieces checked against the server).

    Returns
    -------
    AuditReport
        ``.ok`` when all is well; ``str()`` of it is a readable summary.
    """
    root = _root_of(dataset)
    manifest = Manifest.load(root)
    report = AuditReport(path=root, pieces=len(manifest.pieces), server_checked=dials is not None)
    on_disk: dict[str, list[tuple[int, int]]] = {}
    counts: Counter[tuple[str, int, int, int, int]] = Counter()
    for piece in manifest.pieces:
        keys, problem = _disk_keys(root, piece, manifest.records.get(piece.id))
        if problem is not None:
            report.missing_pieces.append(MissingPiece(piece.id, problem))
            continue
        on_disk[piece.id] = keys
        counts.update((piece.kind, piece.me_id, piece.dataset_id, run, ls) for run, ls in keys)
    report.duplicates = [
        Duplicate(kind, me_id, dataset_id, run, ls, copies)
        for (kind, me_id, dataset_id, run, ls), copies in sorted(counts.items())
        if copies > 1
    ]
    if dials is None:
        return report
    checked = [piece for piece in manifest.pieces if piece.id in on_disk]
    shown = make_progress(
        progress_mode(progress) if checked else None,
        label="audit",
        total=len(checked),
        unit="piece",
    )
    lock = threading.Lock()

    def compare(piece: Piece) -> Mismatch | None:
        server = _server_keys(dials, piece)
        disk = on_disk[piece.id]
        with lock:
            shown.page(1, more=True)
        if sorted(server) == sorted(disk):
            return None
        server_set, disk_set = set(server), set(disk)
        return Mismatch(
            piece.id,
            server_rows=len(server),
            disk_rows=len(disk),
            only_on_server=sorted(server_set - disk_set)[:SHOWN_KEYS],
            only_on_disk=sorted(disk_set - server_set)[:SHOWN_KEYS],
        )

    complete = False
    try:
        results: Iterable[Mismatch | None]
        if workers <= 1:
            results = [compare(piece) for piece in checked]
        else:
            dials._transport.reserve_connections(workers)
            with ThreadPoolExecutor(workers, thread_name_prefix="cmsdials-audit") as pool:
                results = list(pool.map(compare, checked))
        report.mismatches = [m for m in results if m is not None]
        complete = True
    finally:
        shown.close(complete=complete)
    return report
