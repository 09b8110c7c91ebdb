"""``dials.fetch()``: a slice of DIALS written as a resumable, Hive-partitioned Parquet data set.

One call plans the slice into pieces (``_plan``), stores the plan in the manifest on the
first run (``_manifest``; later runs and shards use the stored plan and never re-plan),
then fetches every piece that has no valid record yet: ``list_all`` of one ME in one
dataset over a run range, written to one Parquet file (atomically), then the piece's
record (atomically).  A piece is complete when its record exists and its file has the
recorded size (``verify=True``: and the recorded SHA-256).  Killed at any point, a fetch
run again finishes the missing pieces, and the data set is byte for byte the one an
uninterrupted run writes: a file is only ever renamed into place whole, and its bytes
depend only on the rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmsdials._filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters
from cmsdials._optional import require
from cmsdials._progress import Progress, make_progress, progress_mode
from cmsdials._writers import atomic_output
from cmsdials.auth.base import BaseCredentials
from cmsdials.dataset._manifest import Manifest, PieceRecord
from cmsdials.dataset._plan import FetchQuery, Piece, parse_shard, plan_pieces, shard_of
from cmsdials.errors import FetchIncompleteError, FetchQueryError

if TYPE_CHECKING:
    import pyarrow as pa

    from cmsdials._dials import Dials

__all__ = [
    "FetchIncompleteError",
    "FetchReport",
    "FetchSpec",
    "fetch",
    "fetch_piece",
    "piece_is_complete",
    "run_piece",
]

log = logging.getLogger("cmsdials.fetch")

#: The Hive partition keys: in the directory names, not in the files.
PARTITION_COLUMNS = ("me_id", "dataset_id")

#: Bytes of bin contents per th2 page, about (the page size is chosen from the ME's bins).
_TH2_PAGE_BINS = 400_000
_MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class FetchSpec:
    """Everything a process needs to fetch pieces of a data set: picklable, for Dask
    workers and batch jobs.

    ``credentials`` is a credentials object (:mod:`cmsdials.auth`); its repr never shows
    the secret, nor does this one's.
    """

    base_url: str
    workspace: str | None
    credentials: BaseCredentials
    root: str
    route: str = "api"
    version: str = "v1"

    @classmethod
    def from_dials(cls, dials: Dials, root: str | os.PathLike[str]) -> FetchSpec:
        transport = dials._transport
        return cls(
            base_url=transport.base_url,
            workspace=transport.workspace,
            credentials=transport.creds,
            root=os.fspath(root),
            route=transport.route,
            version=transport.version,
        )

    def dials(self) -> Dials:
        """A new client for this spec (close it when done)."""
        from cmsdials._dials import Dials

        return Dials(
            self.credentials,
            workspace=self.workspace,
            base_url=self.base_url,
            route=self.route,
            version=self.version,
        )


@dataclass
class FetchReport:
    """What one ``fetch`` call did.

    Attributes
    ----------
    path:
        The data set directory.
    pieces_total:
        Pieces of the plan (all shards).
    pieces_done:
        Pieces fetched by this call.
    pieces_skipped:
        Pieces of this call's share that were complete already.
    pieces_failed:
        ``(piece id, error text)`` of the pieces that failed in this call.
    rows, bytes:
        Rows and Parquet bytes written by this call.
    seconds:
        Wall time of the call.
    """

    path: Path
    pieces_total: int = 0
    pieces_done: int = 0
    pieces_skipped: int = 0
    pieces_failed: list[tuple[str, str]] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Whether this call's share of the pieces is complete (nothing failed)."""
        return not self.pieces_failed

    def __str__(self) -> str:
        failed = f", {len(self.pieces_failed)} failed" if self.pieces_failed else ""
        return (
            f"fetch into {str(self.path)!r}: {self.pieces_done} pieces fetched, "
            f"{self.pieces_skipped} already complete{failed} (plan: {self.pieces_total}); "
            f"{self.rows:,} rows, {self.bytes:,} bytes in {self.seconds:.1f} s"
        )


# ---------------------------------------------------------------------------------------
# One piece
# ---------------------------------------------------------------------------------------


def _page_size(kind: str, bins: int) -> int:
    if kind == "th1":
        return _MAX_PAGE_SIZE
    return max(1, min(_MAX_PAGE_SIZE, _TH2_PAGE_BINS // max(1, bins)))


def _file_table(result: Any, kind: str) -> pa.Table:
    """The rows of ``result`` as written to a piece file: the columns of ``to_arrow()``
    without the partition keys, ``data`` as variable lists (one schema for every ME of
    a kind, whatever its binning)."""
    from cmsdials._tables import histogram_table

    table = histogram_table(result.histogram_columns(), fixed=False)
    return table.select([name for name in table.column_names if name not in PARTITION_COLUMNS])


def _parquet_bytes(table: pa.Table) -> bytes:
    pa = require("pyarrow", "arrow", "fetch()")
    parquet = require("pyarrow.parquet", "arrow", "fetch()")
    sink = pa.BufferOutputStream()
    # One row group, no timestamps in the metadata: same rows, same bytes.
    parquet.write_table(table, sink, row_group_size=max(1, table.num_rows))
    return bytes(sink.getvalue().to_pybytes())


def _remove_stale_parts(target: Path) -> None:
    """Temporary files a killed run left for this piece (one process fetches a piece)."""
    with suppress(OSError):
        for stale in target.parent.glob(f".{target.name}.*.part"):
            with suppress(FileNotFoundError):
                stale.unlink()


def piece_is_complete(root: Path, piece: Piece, *, verify: bool = False) -> PieceRecord | None:
    """The record of ``piece`` if the piece is complete: a record, and a file of the
    recorded size (``verify``: and the recorded SHA-256); else ``None``."""
    record = PieceRecord.read(root, piece.id)
    if record is None:
        return None
    target = root / piece.path
    try:
        if target.stat().st_size != record.bytes:
            return None
        if verify and hashlib.sha256(target.read_bytes()).hexdigest() != record.sha256:
            return None
    except OSError:
        return None
    return record


def fetch_piece(dials: Dials, root: str | os.PathLike[str], piece: Piece) -> PieceRecord:
    """Fetch ``piece`` with ``dials`` and write its file, then its record, under ``root``."""
    base = Path(root)
    if piece.kind == "th1":
        bins_guess = 1
        filters: Any = LumisectionHistogram1DFilters
        route: Any = dials.h1d
    else:
        bins_guess = 0
        filters = LumisectionHistogram2DFilters
        route = dials.h2d
    size = _page_size(piece.kind, bins_guess or _th2_bins(dials, piece))
    query = filters(
        me_id=piece.me_id,
        dataset_id=piece.dataset_id,
        run_number__gte=piece.first_run,
        run_number__lte=piece.last_run,
        page_size=size,
    )
    result = route.list_all(query, enable_progress=False)
    content = _parquet_bytes(_file_table(result, piece.kind))
    target = base / piece.path
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(target)
    _remove_stale_parts(PieceRecord.path_in(base, piece.id))
    with atomic_output(target) as temporary:
        temporary.write_bytes(content)
    record = PieceRecord(
        id=piece.id,
        rows=int(result.num_rows),
        sha256=hashlib.sha256(content).hexdigest(),
        bytes=len(content),
    )
    record.write(base)
    return record


_bins_cache: dict[tuple[str, str | None, int], int] = {}
_bins_lock = threading.Lock()


def _th2_bins(dials: Dials, piece: Piece) -> int:
    """Bins of a th2 ME (one row of it, once per process), for its page size."""
    key = (dials.base_url, dials.workspace_name, piece.me_id)
    with _bins_lock:
        found = _bins_cache.get(key)
    if found is not None:
        return found
    page = dials.h2d.list(
        LumisectionHistogram2DFilters(me_id=piece.me_id, dataset_id=piece.dataset_id, page_size=1)
    )
    bins = 1
    if page.results:
        row = page.results[0]
        bins = int(row.x_bin) * int(row.y_bin)
    with _bins_lock:
        _bins_cache[key] = bins
    return bins


def run_piece(spec: FetchSpec, piece: Piece) -> PieceRecord:
    """Fetch one piece end to end in a client of its own (Dask tasks, batch jobs)."""
    with spec.dials() as dials:
        return fetch_piece(dials, spec.root, piece)


# ---------------------------------------------------------------------------------------
# A whole fetch
# ---------------------------------------------------------------------------------------


class _Progress:
    """Rows against the expected rows, and the pieces done in the bar's description or
    the log line's label; thread-safe."""

    def __init__(self, mode: str | None, pieces: int, rows: int | None) -> None:
        self.pieces = pieces
        self.done = 0
        self._lock = threading.Lock()
        self._shown: Progress = make_progress(mode, label=self._label(), total=rows, unit="row")
        self._shown.describe(self._label())

    def _label(self) -> str:
        return f"fetch {self.done}/{self.pieces} pieces"

    def piece(self, rows: int) -> None:
        with self._lock:
            self.done += 1
            self._shown.describe(self._label())
            self._shown.page(rows, more=self.done < self.pieces)

    def close(self, complete: bool) -> None:
        with self._lock:
            self._shown.close(complete=complete)


def _normalise_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise FetchQueryError(f"workers must be a positive integer, not {workers!r}")
    return int(workers)


def fetch(
    dials: Dials,
    path: str | os.PathLike[str],
    *,
    mes: str | Sequence[str] | None = None,
    me_regex: str | None = None,
    datasets: str | int | Sequence[str | int] | None = None,
    dataset_regex: str | None = None,
    runs: int | tuple[int, int] | Sequence[int | tuple[int, int]] | None = None,
    shard: tuple[int, int] | str | None = None,
    workers: int = 1,
    piece_rows: int | None = None,
    progress: bool | None = None,
    verify: bool = False,
    dask_client: Any = None,
) -> FetchReport:
    """Fetch a slice of DIALS into the data set at ``path`` (see ``Dials.fetch``)."""
    started = time.monotonic()
    require("pyarrow.parquet", "arrow", "fetch()")
    require("numpy", "numpy", "fetch()")
    query = FetchQuery.build(
        mes=mes, me_regex=me_regex, datasets=datasets, dataset_regex=dataset_regex, runs=runs
    )
    share = parse_shard(shard)
    workers = _normalise_workers(workers)
    root = Path(path)
    manifest, _ = Manifest.create_or_check(
        root,
        query,
        server=dials.base_url,
        workspace=dials.workspace_name,
        plan=lambda: plan_pieces(dials, query, piece_rows=piece_rows),
    )
    report = FetchReport(path=root, pieces_total=len(manifest.pieces))
    mine = shard_of(manifest.pieces, share)
    todo = []
    for piece in mine:
        if piece_is_complete(root, piece, verify=verify) is not None:
            report.pieces_skipped += 1
        else:
            todo.append(piece)
    known = [piece.expected_rows for piece in todo]
    total = None if any(rows is None for rows in known) else sum(r or 0 for r in known)
    shown = _Progress(progress_mode(progress) if todo else None, len(todo), total)
    try:
        if dask_client is not None and todo:
            _on_dask(dials, root, todo, dask_client, report, shown)
        elif todo:
            _in_threads(dials, root, todo, workers, report, shown)
    finally:
        shown.close(complete=not report.pieces_failed)
        # The records are the truth: the table is refreshed from them, also after errors.
        with suppress(OSError):
            manifest.write()
        report.seconds = time.monotonic() - started
    if report.pieces_failed:
        raise FetchIncompleteError(report)
    return report


def _done(report: FetchReport, shown: _Progress, record: PieceRecord) -> None:
    report.pieces_done += 1
    report.rows += record.rows
    report.bytes += record.bytes
    shown.piece(record.rows)


def _failed(report: FetchReport, shown: _Progress, piece: Piece, exc: BaseException) -> None:
    text = f"{type(exc).__name__}: {exc}"
    log.warning("piece %s failed: %s", piece.id, text)
    report.pieces_failed.append((piece.id, text))
    shown.piece(0)


def _in_threads(
    dials: Dials,
    root: Path,
    pieces: list[Piece],
    workers: int,
    report: FetchReport,
    shown: _Progress,
) -> None:
    if workers == 1:
        for piece in pieces:
            try:
                record = fetch_piece(dials, root, piece)
            except Exception as exc:
                _failed(report, shown, piece, exc)
            else:
                _done(report, shown, record)
        return
    dials._transport.reserve_connections(workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="cmsdials-fetch")
    try:
        futures = {pool.submit(fetch_piece, dials, root, piece): piece for piece in pieces}
        for future in as_completed(futures):
            piece = futures[future]
            try:
                record = future.result()
            except Exception as exc:
                _failed(report, shown, piece, exc)
            else:
                _done(report, shown, record)
    except BaseException:
        # Ctrl-C: pieces not started are dropped; those in flight finish their write.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _on_dask(
    dials: Dials,
    root: Path,
    pieces: list[Piece],
    client: Any,
    report: FetchReport,
    shown: _Progress,
) -> None:
    from cmsdials.dataset import _dask

    spec = FetchSpec.from_dials(dials, root)
    by_id = {piece.id: piece for piece in pieces}
    accounted: set[str] = set()

    def on_result(entry: Any) -> None:
        if isinstance(entry, PieceRecord):
            accounted.add(entry.id)
            _done(report, shown, entry)
            return
        piece = by_id.get(str(getattr(entry, "piece_id", "")))
        if piece is not None:
            accounted.add(piece.id)
            error = getattr(entry, "exception", None) or RuntimeError(str(entry.error))
            _failed(report, shown, piece, error)

    failure: BaseException | None = None
    try:
        _dask.run_pieces_on_dask(spec, pieces, client, on_result=on_result)
    except Exception as exc:  # the pieces not reported yet are decided below
        failure = exc
    for piece in pieces:
        if piece.id in accounted:
            continue
        # A record on disk counts: a task may have completed before the error.
        found = piece_is_complete(root, piece)
        if found is None:
            _failed(report, shown, piece, failure or RuntimeError("no record was written"))
        else:
            _done(report, shown, found)
