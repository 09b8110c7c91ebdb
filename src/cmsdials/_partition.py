"""Cutting a query into independent cursor walks that merge back by concatenation.

The histogram and lumisection routes are ordered by ``dataset_id, run_number, ...``
(CONTRACT §5.3) and filter on ``dataset_id`` (exact) and ``run_number__gte/__lte``.  So a
query restricted to one dataset and a range of runs is a contiguous slice of the full
result; slices taken dataset by dataset in increasing ``dataset_id``, and within a dataset
by increasing run ranges that touch each other, concatenate to exactly the full result.

Which datasets and runs exist comes from two small listings, made concurrently: the
dataset index (with the caller's dataset filters) and the run route (same dataset filters,
same run bounds), whose ``ls_count`` weighs each run.  Runs are grouped into about
``3 x workers`` slices of similar weight, so that walks finish at similar times.  The
first slice of a dataset has no lower run bound and its last slice no upper bound, and
every dataset of the index gets at least one slice: a row is never lost, even for a run
or dataset that the run listing does not show.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cmsdials._decode import model_decoder
from cmsdials._filters import DatasetIndexFilters, PaginatedFilters, RunFilters
from cmsdials._models import PaginatedDatasetIndexList, PaginatedRunList
from cmsdials._results import Paginated
from cmsdials._resume import Partition
from cmsdials._transport import Cancellation, Retries, Transport

__all__ = ["PARTS_PER_WORKER", "listing", "partition_query", "partitionable"]

#: Slices per worker: more slices than workers lets a fast worker take another one
#: while a slow one finishes, at the cost of one more request per slice.
PARTS_PER_WORKER = 3

#: Filters that every partitionable route has (th1, th2, lumisection).
_NEEDED = {"dataset_id", "run_number", "run_number__gte", "run_number__lte"}
_DATASET_FILTERS = ("dataset", "dataset__regex")

P = TypeVar("P", bound=Paginated[Any])


def partitionable(filters: PaginatedFilters) -> bool:
    """True when this route's filters allow cutting by dataset and run."""
    return set(type(filters).model_fields) >= _NEEDED


def listing(
    transport: Transport,
    path: str,
    page_model: type[P],
    params: dict[str, str],
    retries: Retries,
    cancel: Cancellation | None = None,
) -> list[Any]:
    """Every row of a small listing (page size 500, one page after the other)."""
    decode = model_decoder(page_model)
    rows: list[Any] = []
    query = dict(params, page_size="500")
    while True:
        page = transport.request("GET", path, decode, params=query, retries=retries, cancel=cancel)
        rows.extend(page.results)
        token = page.next_token
        if token is None:
            return rows
        query["next_token"] = token


def partition_query(
    transport: Transport,
    filters: PaginatedFilters,
    workers: int,
    retries: Retries,
    cancel: Cancellation | None = None,
) -> list[Partition[Paginated[Any]]]:
    """Partitions of ``filters``' query for ``workers`` concurrent walks (see module doc).

    One partition (the query itself) when cutting is not possible or not useful: a start
    cursor in ``filters``, a route without the needed filters, or ``workers <= 1``.
    ``cancel`` ends the listings at once when the caller is interrupted (Ctrl-C).
    """
    whole: list[Partition[Paginated[Any]]] = [Partition(filters)]
    if workers <= 1 or filters.next_token is not None or not partitionable(filters):
        return whole
    values = dict(filters)
    dataset_id = values.get("dataset_id")
    dataset_params: dict[str, Any] = {
        name: values[name] for name in _DATASET_FILTERS if values.get(name) is not None
    }
    run_params = RunFilters(
        dataset_id=dataset_id,
        run_number=values.get("run_number"),
        run_number__gte=values.get("run_number__gte"),
        run_number__lte=values.get("run_number__lte"),
        **dataset_params,
    ).to_params()

    cancel = cancel if cancel is not None else Cancellation()
    jobs: dict[str, Callable[[], list[Any]]] = {
        "runs": lambda: listing(transport, "run/", PaginatedRunList, run_params, retries, cancel)
    }
    if dataset_id is None:
        index_params = DatasetIndexFilters(**dataset_params).to_params()
        jobs["datasets"] = lambda: listing(
            transport, "dataset-index/", PaginatedDatasetIndexList, index_params, retries, cancel
        )
    with ThreadPoolExecutor(len(jobs), thread_name_prefix="cmsdials-plan") as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        with cancel:  # Ctrl-C: the listings are ended, not waited for
            listed = {name: future.result() for name, future in futures.items()}

    weights: dict[int, dict[int, int]] = defaultdict(dict)
    for run in listed["runs"]:
        weights[run.dataset_id][run.run_number] = max(1, run.ls_count)
    datasets = {dataset_id} if dataset_id is not None else set()
    datasets.update(row.dataset_id for row in listed.get("datasets", ()))
    datasets.update(weights)
    if not datasets:
        return whole

    total = sum(sum(runs.values()) for runs in weights.values())
    target = max(1.0, total / (PARTS_PER_WORKER * workers))
    gte, lte = values.get("run_number__gte"), values.get("run_number__lte")
    partitions: list[Partition[Paginated[Any]]] = []
    for dataset in sorted(datasets):
        for low, high in _run_ranges(weights.get(dataset, {}), target):
            low = low if gte is None else (gte if low is None else max(low, gte))
            high = high if lte is None else (lte if high is None else min(high, lte))
            update = {"dataset_id": dataset, "run_number__gte": low, "run_number__lte": high}
            partitions.append(Partition(filters.model_copy(update=update)))
    return partitions if len(partitions) > 1 else whole


def _run_ranges(runs: dict[int, int], target: float) -> list[tuple[int | None, int | None]]:
    """Consecutive run ranges of about ``target`` weight covering every run number.

    ``None`` = unbounded; ranges touch (the next one starts one run after the previous
    one ends), so a run missing from the listing still falls in one of them.
    """
    ordered = sorted(runs)
    cuts: list[int] = []  # last run of each range but the final one
    weight = 0
    for position, run in enumerate(ordered):
        weight += runs[run]
        if weight >= target and position < len(ordered) - 1:
            cuts.append(run)
            weight = 0
    ranges: list[tuple[int | None, int | None]] = []
    low: int | None = None
    for cut in cuts:
        ranges.append((low, cut))
        low = cut + 1
    ranges.append((low, None))
    return ranges
