"""The plan of a fetch: which pieces (kind, ME, dataset, run range) make up a slice of DIALS.

A *piece* is the rows of one monitoring element in one dataset over an inclusive range of
runs that exist in that dataset: the unit that is fetched, written (one Parquet file),
retried and resumed.  Pieces are cut so that one holds about ``piece_rows`` rows (default:
about 64 MB of bin contents), never splitting a run; the weight of a run is its
``ls_count`` from the run route, an upper bound of the rows one ME has in it.

The plan is deterministic: the same query against the same server content gives the same
pieces in the same order (kind, me_id, dataset_id, first_run), which is what lets
``shard=(i, n)`` give n disjoint shares that together are the whole plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cmsdials._decode import list_decoder, model_decoder
from cmsdials._filters import DatasetIndexFilters, RunFilters
from cmsdials._models import (
    DatasetIndex,
    MonitoringElement,
    PaginatedDatasetIndexList,
    PaginatedLumisectionHistogram1DList,
    PaginatedLumisectionHistogram2DList,
    PaginatedRunList,
)
from cmsdials._partition import listing
from cmsdials._suggest import closest
from cmsdials._transport import Retries, Transport
from cmsdials.errors import FetchQueryError, NotFoundError, UnknownMEError, did_you_mean

if TYPE_CHECKING:
    from cmsdials._dials import Dials

__all__ = [
    "KINDS",
    "FetchQuery",
    "FetchQueryError",
    "Piece",
    "default_piece_rows",
    "parse_shard",
    "plan_pieces",
    "shard_of",
]

#: The histogram kinds, by ME dimension.
KINDS: Mapping[int, str] = {1: "th1", 2: "th2"}

#: Bytes of bin contents a piece holds by default (float64 bins): about 64 MB.
PIECE_BINS = 8_000_000

#: Rows per piece at most by default (MEs of very few bins): 500 pages of 500 rows.
PIECE_ROWS_MAX = 250_000

#: Datasets per run listing (``dataset_id__in``): keeps the URL short.
_IDS_PER_LISTING = 100


# ---------------------------------------------------------------------------------------
# The query
# ---------------------------------------------------------------------------------------


def _strings(name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise FetchQueryError(f"{name} must be a name or a sequence of names, not {value!r}")
    out = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise FetchQueryError(f"{name} must hold non-empty strings (names), got {item!r}")
        out.append(item)
    if not out:
        raise FetchQueryError(f"{name} is empty: give at least one name, or None for all")
    return tuple(sorted(set(out)))


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FetchQueryError(f"{name} must hold integers, got {value!r}")
    return value


def _dataset_keys(value: Any) -> tuple[str | int, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, int)) else value
    if not isinstance(items, Iterable):
        raise FetchQueryError(
            f"datasets must be a dataset name or id, or a sequence of them, not {value!r}"
        )
    out: set[str | int] = set()
    for item in items:
        name_ok = isinstance(item, str) and bool(item)
        id_ok = isinstance(item, int) and not isinstance(item, bool) and item > 0
        if name_ok or id_ok:
            out.add(item)
        else:
            raise FetchQueryError(
                f"datasets must hold dataset names (str) or ids (positive int), got {item!r}"
            )
    if not out:
        raise FetchQueryError("datasets is empty: give at least one dataset, or None for all")
    # ids first, then names: a stable order for the manifest (JSON keeps int and str)
    return tuple(sorted(out, key=lambda key: (isinstance(key, str), str(key).zfill(20))))


def _run_ranges(value: Any) -> tuple[tuple[int, int], ...] | None:
    if value is None:
        return None
    valid = "a run (int), a range (first, last) or a sequence of them"
    if isinstance(value, int) and not isinstance(value, bool):
        items: list[Any] = [value]
    elif isinstance(value, tuple) and len(value) == 2 and all(type(v) is int for v in value):
        items = [value]  # (first, last): one inclusive range
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise FetchQueryError(f"runs must be {valid}, not {value!r}")
    ranges = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            first = last = item
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            first, last = (_int("runs", v) for v in item)
        else:
            raise FetchQueryError(f"runs must be {valid}; {item!r} is neither")
        if first <= 0 or last < first:
            raise FetchQueryError(
                f"runs: {item!r} is not a valid range (run numbers are positive and a range "
                "is (first, last) with first <= last)"
            )
        ranges.add((first, last))
    if not ranges:
        raise FetchQueryError(f"runs is empty: give {valid}, or None for all runs")
    return tuple(sorted(ranges))


@dataclass(frozen=True)
class FetchQuery:
    """What a fetch selects, normalised (sorted, deduplicated) so that two spellings of
    the same query compare equal (the manifest stores :meth:`to_json`)."""

    mes: tuple[str, ...] | None = None
    me_regex: str | None = None
    datasets: tuple[str | int, ...] | None = None
    dataset_regex: str | None = None
    runs: tuple[tuple[int, int], ...] | None = None

    @classmethod
    def build(
        cls,
        *,
        mes: str | Sequence[str] | None = None,
        me_regex: str | None = None,
        datasets: str | int | Sequence[str | int] | None = None,
        dataset_regex: str | None = None,
        runs: int | tuple[int, int] | Sequence[int | tuple[int, int]] | None = None,
    ) -> FetchQuery:
        """Check and normalise the arguments of ``fetch`` (:class:`FetchQueryError`)."""
        for name, regex in (("me_regex", me_regex), ("dataset_regex", dataset_regex)):
            if regex is None:
                continue
            if not isinstance(regex, str) or not regex:
                raise FetchQueryError(f"{name} must be a non-empty regular expression string")
            try:
                re.compile(regex)
            except re.error as exc:
                raise FetchQueryError(f"{name} {regex!r} is not a valid regex: {exc}") from None
        return cls(
            mes=_strings("mes", mes),
            me_regex=me_regex,
            datasets=_dataset_keys(datasets),
            dataset_regex=dataset_regex,
            runs=_run_ranges(runs),
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``query`` object."""
        return {
            "mes": None if self.mes is None else list(self.mes),
            "me_regex": self.me_regex,
            "datasets": None if self.datasets is None else list(self.datasets),
            "dataset_regex": self.dataset_regex,
            "runs": None if self.runs is None else [list(r) for r in self.runs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FetchQuery:
        """The query stored in a manifest."""
        runs = data.get("runs")
        return cls.build(
            mes=data.get("mes"),
            me_regex=data.get("me_regex"),
            datasets=data.get("datasets"),
            dataset_regex=data.get("dataset_regex"),
            runs=None if runs is None else [tuple(r) for r in runs],
        )

    def selects_run(self, run: int) -> bool:
        """Whether ``run`` is in one of the query's run ranges (all runs when none)."""
        return self.runs is None or any(first <= run <= last for first, last in self.runs)


# ---------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One piece of a fetch: an ME's rows in one dataset over runs ``first_run..last_run``.

    ``id`` is the piece's path below the data set root without ``.parquet``, e.g.
    ``th1/me_id=3/dataset_id=1/runs-367100-367200``.  ``expected_rows`` is the sum of the
    runs' ``ls_count`` (an upper bound: an ME may miss some lumisections), ``None`` when
    unknown.
    """

    id: str
    kind: str
    me: str
    me_id: int
    dataset: str
    dataset_id: int
    first_run: int
    last_run: int
    path: str
    expected_rows: int | None

    @classmethod
    def make(
        cls,
        kind: str,
        me: str,
        me_id: int,
        dataset: str,
        dataset_id: int,
        first_run: int,
        last_run: int,
        expected_rows: int | None,
    ) -> Piece:
        piece_id = f"{kind}/me_id={me_id}/dataset_id={dataset_id}/runs-{first_run}-{last_run}"
        return cls(
            id=piece_id,
            kind=kind,
            me=me,
            me_id=me_id,
            dataset=dataset,
            dataset_id=dataset_id,
            first_run=first_run,
            last_run=last_run,
            path=piece_id + ".parquet",
            expected_rows=expected_rows,
        )

    @property
    def key(self) -> str:
        """The file name of the piece's record in ``_pieces/`` (without ``.json``)."""
        return self.id.replace("/", "__")

    @property
    def sort_key(self) -> tuple[str, int, int, int]:
        return (self.kind, self.me_id, self.dataset_id, self.first_run)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Piece:
        piece = cls.make(
            str(data["kind"]),
            str(data["me"]),
            int(data["me_id"]),
            str(data["dataset"]),
            int(data["dataset_id"]),
            int(data["first_run"]),
            int(data["last_run"]),
            None if data.get("expected_rows") is None else int(data["expected_rows"]),
        )
        if piece.id != data.get("id") or piece.path != data.get("path"):
            raise ValueError(f"piece {data.get('id')!r}: id or path disagree with its fields")
        return piece


def default_piece_rows(bins: int) -> int:
    """Rows per piece for an ME of ``bins`` bins: about 64 MB of float64 contents, at most
    :data:`PIECE_ROWS_MAX` rows (a piece stays quick to retry)."""
    return max(1, min(PIECE_ROWS_MAX, PIECE_BINS // max(1, bins)))


def parse_shard(shard: Any) -> tuple[int, int] | None:
    """``(i, n)`` from ``(i, n)`` or ``"i/n"`` (1-based, ``1 <= i <= n``); ``None`` passes."""
    if shard is None:
        return None
    valid = 'shard must be (i, n) or "i/n" with 1 <= i <= n, e.g. "2/3"'
    if isinstance(shard, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
        if match is None:
            raise FetchQueryError(f"{valid}; got {shard!r}")
        index, count = int(match.group(1)), int(match.group(2))
    elif (
        isinstance(shard, (tuple, list))
        and len(shard) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
    ):
        index, count = shard
    else:
        raise FetchQueryError(f"{valid}; got {shard!r}")
    if count < 1 or not 1 <= index <= count:
        raise FetchQueryError(f"{valid}; got {shard!r}")
    return index, count


def shard_of(pieces: Sequence[Piece], shard: tuple[int, int] | None) -> list[Piece]:
    """The pieces of shard ``(i, n)``: those whose position in the plan is ``i-1`` mod n."""
    if shard is None:
        return list(pieces)
    index, count = shard
    return [piece for position, piece in enumerate(pieces) if position % count == index - 1]


# ---------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------


def _resolve_mes(
    transport: Transport, query: FetchQuery, retries: Retries
) -> list[MonitoringElement]:
    decode = list_decoder(MonitoringElement)
    # Not the client's cached catalogue: a fetch needs an answer, so failures propagate.
    everything: list[MonitoringElement] = transport.request("GET", "mes/", decode, retries=retries)
    where = f"workspace {transport.workspace!r}" if transport.workspace else "the default workspace"
    chosen: dict[int, MonitoringElement] = {}
    if query.mes is None and query.me_regex is None:
        chosen = {me.me_id: me for me in everything}
    by_name = {me.me: me for me in everything}
    for name in query.mes or ():
        found = by_name.get(name)
        if found is None:
            suggestions = closest(name, by_name)
            error = UnknownMEError(
                name, route="fetch", workspace=transport.workspace, suggestions=suggestions
            )
            # The route-level wording (check_me_names=...) does not apply to a fetch.
            error.args = (
                f"no monitoring element named {name!r} in {where}"
                f"{did_you_mean(suggestions)} (dials.mes.list() lists the MEs)",
            )
            raise error
        chosen[found.me_id] = found
    if query.me_regex is not None:
        matched: list[MonitoringElement] = transport.request(
            "GET", "mes/", decode, params={"me__regex": query.me_regex}, retries=retries
        )
        chosen.update((me.me_id, me) for me in matched)
    unusable = [me for me in chosen.values() if me.dim not in KINDS]
    for me in unusable:
        del chosen[me.me_id]
    if not chosen:
        asked = []
        if query.mes:
            asked.append(f"mes={list(query.mes)!r}")
        if query.me_regex is not None:
            asked.append(f"me_regex={query.me_regex!r}")
        raise FetchQueryError(
            f"no 1-D or 2-D monitoring element of {where} matches "
            f"{' or '.join(asked) or 'the query'} ({len(everything)} MEs exist; "
            "dials.mes.list() lists them)"
        )
    return [chosen[me_id] for me_id in sorted(chosen)]


def _all_datasets(transport: Transport, retries: Retries, **filters: Any) -> list[DatasetIndex]:
    params = DatasetIndexFilters(**filters).to_params()
    return listing(transport, "dataset-index/", PaginatedDatasetIndexList, params, retries)


def _resolve_datasets(transport: Transport, query: FetchQuery, retries: Retries) -> dict[int, str]:
    """``{dataset_id: name}`` of the query's datasets (names, ids and regex: their union)."""
    chosen: dict[int, str] = {}
    if query.datasets is None and query.dataset_regex is None:
        return {row.dataset_id: row.dataset for row in _all_datasets(transport, retries)}
    known: list[DatasetIndex] | None = None

    def unknown(key: str | int) -> FetchQueryError:
        nonlocal known
        if known is None:
            known = _all_datasets(transport, retries)
        names = [row.dataset for row in known]
        if isinstance(key, int):
            ids = ", ".join(str(row.dataset_id) for row in known[:10])
            more = ", ..." if len(known) > 10 else ""
            return FetchQueryError(
                f"no dataset with id {key} in the workspace (ids: {ids}{more}; "
                "dials.dataset_index.list() lists them)"
            )
        return FetchQueryError(
            f"no dataset named {key!r} in the workspace{did_you_mean(closest(key, names))} "
            "(dials.dataset_index.list() lists them)"
        )

    decode = model_decoder(DatasetIndex)
    for key in query.datasets or ():
        if isinstance(key, int):
            try:
                row = transport.request("GET", f"dataset-index/{key}/", decode, retries=retries)
            except NotFoundError:
                raise unknown(key) from None
            chosen[row.dataset_id] = row.dataset
        else:
            rows = _all_datasets(transport, retries, dataset=key)
            if not rows:
                raise unknown(key)
            chosen.update((row.dataset_id, row.dataset) for row in rows)
    if query.dataset_regex is not None:
        rows = _all_datasets(transport, retries, dataset__regex=query.dataset_regex)
        if not rows and not chosen:
            raise FetchQueryError(
                f"no dataset of the workspace matches dataset_regex={query.dataset_regex!r} "
                "(dials.dataset_index.list() lists them)"
            )
        chosen.update((row.dataset_id, row.dataset) for row in rows)
    return chosen


def _list_runs(
    transport: Transport, datasets: Iterable[int], query: FetchQuery, retries: Retries
) -> dict[int, list[tuple[int, int]]]:
    """``{dataset_id: [(run, ls_count), ...]}`` in run order, for every run of the datasets
    between the query's lowest and highest run (runs outside the query's ranges included:
    they are where pieces must not span)."""
    low = None if query.runs is None else min(first for first, _ in query.runs)
    high = None if query.runs is None else max(last for _, last in query.runs)
    ids = sorted(datasets)
    found: dict[int, list[tuple[int, int]]] = {dataset_id: [] for dataset_id in ids}
    for start in range(0, len(ids), _IDS_PER_LISTING):
        chunk = ids[start : start + _IDS_PER_LISTING]
        params = RunFilters(
            dataset_id__in=chunk, run_number__gte=low, run_number__lte=high
        ).to_params()
        for run in listing(transport, "run/", PaginatedRunList, params, retries):
            if run.dataset_id in found:
                found[run.dataset_id].append((run.run_number, run.ls_count))
    for runs in found.values():
        runs.sort()
    return found


def _bins(transport: Transport, me: MonitoringElement, retries: Retries) -> int:
    """Bins of one ME (``x_bin`` [x ``y_bin``]), from one row; 1 when it has none."""
    kind = KINDS[me.dim]
    page_model: Any = PaginatedLumisectionHistogram1DList
    if kind == "th2":
        page_model = PaginatedLumisectionHistogram2DList
    page = transport.request(
        "GET",
        f"{kind}/",
        model_decoder(page_model),
        params={"me_id": str(me.me_id), "page_size": "1"},
        retries=retries,
    )
    if not page.results:
        return 1
    row = page.results[0]
    return int(row.x_bin) * (int(row.y_bin) if kind == "th2" else 1)


def _cut(
    runs: Sequence[tuple[int, int]], query: FetchQuery, budget: int
) -> list[tuple[int, int, int]]:
    """``(first_run, last_run, weight)`` of consecutive selected runs, about ``budget`` rows
    each; a run the query leaves out ends a range, a run is never split."""
    ranges: list[tuple[int, int, int]] = []
    current: list[tuple[int, int]] = []

    def close() -> None:
        if current:
            ranges.append((current[0][0], current[-1][0], sum(ls for _, ls in current)))
            current.clear()

    weight = 0
    for run, ls_count in runs:
        if not query.selects_run(run):
            close()
            weight = 0
            continue
        if current and weight + max(1, ls_count) > budget:
            close()
            weight = 0
        current.append((run, ls_count))
        weight += max(1, ls_count)
    close()
    return ranges


def plan_pieces(
    dials: Dials,
    query: FetchQuery,
    *,
    piece_rows: int | None = None,
    retries: Retries = None,
) -> list[Piece]:
    """The pieces of ``query`` on ``dials``' server and workspace, in plan order.

    Parameters
    ----------
    dials:
        The client (its server and workspace are the ones planned against).
    query:
        The slice (:meth:`FetchQuery.build`).
    piece_rows:
        Rows per piece, about (a run is never split); default
        ``max(1, 8_000_000 // bins)`` for an ME of ``bins`` bins (about 64 MB of contents),
        at most 250,000.
    retries:
        Retry policy of the requests (the client's default when ``None``).

    Returns
    -------
    list[Piece]
        Sorted by (kind, me_id, dataset_id, first_run).

    Raises
    ------
    UnknownMEError
        An exact ME name the workspace lacks (with the closest names).
    FetchQueryError
        No ME matched, an unknown dataset, a bad ``piece_rows``.
    """
    if piece_rows is not None and (
        isinstance(piece_rows, bool) or not isinstance(piece_rows, int) or piece_rows < 1
    ):
        raise FetchQueryError(f"piece_rows must be a positive integer or None, not {piece_rows!r}")
    transport = dials._transport
    mes = _resolve_mes(transport, query, retries)
    datasets = _resolve_datasets(transport, query, retries)
    runs = _list_runs(transport, datasets, query, retries)
    if piece_rows is None:
        with ThreadPoolExecutor(min(8, len(mes)), thread_name_prefix="cmsdials-plan") as pool:
            found = pool.map(lambda me: _bins(transport, me, retries), mes)
            bins = {me.me_id: count for me, count in zip(mes, found)}
    pieces = []
    for me in mes:
        budget = piece_rows if piece_rows is not None else default_piece_rows(bins[me.me_id])
        for dataset_id in sorted(datasets):
            for first, last, weight in _cut(runs[dataset_id], query, budget):
                pieces.append(
                    Piece.make(
                        KINDS[me.dim], me.me, me.me_id, datasets[dataset_id], dataset_id,
                        first, last, weight,
                    )
                )  # fmt: skip
    pieces.sort(key=lambda piece: piece.sort_key)
    return pieces
