"""Bulk walks: pipelined, streamed and parallel walks return exactly the sequential rows.

Every fast path is compared with the server's own contents (its SQLite files) and with a
plain walk page after page with ``list()``: same rows, same order, same values.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from bulk_support import TH, dumped, histogram_rows
from client_support import DATASET_ID, LS, RUN, Truth, keys
from urllib3.util import Retry

from cmsdials import Dials
from cmsdials._gc import gc_paused
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import GetManyError, NotFoundError
from cmsdials.filters import (
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
    RunFilters,
)
from dials_local.db import schema

LUMI = ("dataset_id", "run_number", "ls_number")
RUN_KEYS = ("dataset_id", "run_number")


def _th2_pxbarrel(truth: Truth) -> list[Any]:
    th2 = schema.fact_th2
    me_ids = truth.me_ids("tracker", regex="PXBarrel")
    return [th2.c.me_id.in_(me_ids), th2.c.ls_number == 78, th2.c.dataset_id == 14677060]


def _expected_lumis(truth: Truth) -> list[dict[str, Any]]:
    fl = schema.fact_lumisection
    return truth.rows("tracker", fl, [fl.c.ls_number <= 3], LUMI)


#: name -> (route attribute, filter class, filters, expected rows from the truth, keys).
#: Small results (at most 57 rows) so that page size 1 stays quick; several datasets and
#: runs each, so that parallel walks really cut them into partitions.
CASES: dict[str, tuple[str, type, dict[str, Any], Callable[[Truth], list[dict[str, Any]]], tuple[str, ...]]] = {  # noqa: E501
    "th1": (
        "h1d", LumisectionHistogram1DFilters, {"me_id": 1, "ls_number": 10},
        lambda t: histogram_rows(t, "tracker", 1, [schema.fact_th1.c.me_id == 1, schema.fact_th1.c.ls_number == 10]),  # noqa: E501
        TH,
    ),
    "th2-mixed-binnings": (
        "h2d", LumisectionHistogram2DFilters,
        {"me__regex": "PXBarrel", "ls_number": 78, "dataset_id": 14677060},
        lambda t: histogram_rows(t, "tracker", 2, _th2_pxbarrel(t)),
        TH,
    ),
    "lumisection": ("lumi", LumisectionFilters, {"ls_number__lte": 3}, _expected_lumis, LUMI),
    "run": (
        "run", RunFilters, {},
        lambda t: t.rows("tracker", schema.fact_run, order=RUN_KEYS),
        RUN_KEYS,
    ),
    "empty": (
        "h2d", LumisectionHistogram2DFilters, {"run_number": 1}, lambda t: [], TH,
    ),
    "one-row": (
        "h1d", LumisectionHistogram1DFilters,
        {"dataset_id": DATASET_ID, "run_number": RUN, "ls_number": LS, "me_id": 1},
        lambda t: histogram_rows(t, "tracker", 1, [
            schema.fact_th1.c.dataset_id == DATASET_ID, schema.fact_th1.c.run_number == RUN,
            schema.fact_th1.c.ls_number == LS, schema.fact_th1.c.me_id == 1,
        ]),
        TH,
    ),
}  # fmt: skip


def walk_with_list(client: Any, filters: Any) -> list[Any]:
    """The plain sequential path: one list() after the other, following the cursor."""
    rows: list[Any] = []
    while True:
        page = client.list(filters)
        rows.extend(page.results)
        if page.next_token is None:
            return rows
        filters = filters.model_copy(update={"next_token": page.next_token})


def same_rows(got: list[Any], expected: list[dict[str, Any]], names: tuple[str, ...]) -> None:
    assert keys(got, *names) == keys(expected, *names)
    if expected and "data" in expected[0]:
        assert dumped(got) == expected  # every field, every bin


@pytest.mark.parametrize("page_size", [1, 7, 500])
@pytest.mark.parametrize("case", list(CASES))
def test_every_path_gives_the_sequential_rows(
    dials: Dials, truth: Truth, case: str, page_size: int
) -> None:
    attr, filter_class, params, expected_of, names = CASES[case]
    client = getattr(dials, attr)
    filters = filter_class(**params, page_size=page_size)
    expected = expected_of(truth)

    same_rows(walk_with_list(client, filters), expected, names)
    for workers in (1, 3):
        data = client.list_all(filters, workers=workers)
        same_rows(data.results, expected, names)
        assert data.next is None and data.exc_type is None
        pages = list(client.stream(filters, workers=workers).pages())
        same_rows([row for page in pages for row in page.results], expected, names)
        if workers == 1:
            assert [len(p.results) for p in pages[:-1]] == [page_size] * (len(pages) - 1)
    same_rows(list(client.iter_all(filters)), expected, names)
    same_rows(list(client.iter_all(filters, workers=3)), expected, names)
    by_pages = [row for page in client.pages(filters, workers=2) for row in page.results]
    same_rows(by_pages, expected, names)


#: The other paginated routes: one walk each (they are not cut into partitions), pipelined.
OTHER_ROUTES = {
    "dataset_index": ("tracker", schema.fact_dataset_index, ("dataset_id",)),
    "file_index": ("tracker", schema.fact_file_index, ("dataset_id", "file_id")),
    "ml_models_index": ("jetmet", schema.dim_ml_models_index, ("model_id",)),
    "ml_bad_lumis": (
        "jetmet",
        schema.fact_ml_bad_lumis,
        ("model_id", "dataset_id", "run_number", "ls_number", "me_id"),
    ),
}


@pytest.mark.parametrize("page_size", [1, 7, 500])
@pytest.mark.parametrize("route", list(OTHER_ROUTES))
def test_other_routes_every_path(
    creds: Credentials, target: Any, truth: Truth, route: str, page_size: int
) -> None:
    workspace, table, names = OTHER_ROUTES[route]
    expected = truth.rows(workspace, table, order=names)
    if page_size == 1:
        expected = expected[:25]  # keep page size 1 quick: a walk cut by max_pages
    dials = Dials(creds, workspace=workspace, base_url=target.base_url)
    client = getattr(dials, route)
    filters = client.route.filters(page_size=page_size)
    max_pages = 25 if page_size == 1 else None
    assert expected
    for workers in (1, 3):
        data = client.list_all(filters, max_pages=max_pages, workers=workers)
        assert keys(data.results, *names) == keys(expected, *names)
        streamed = client.stream(filters, max_pages=max_pages, workers=workers).rows()
        assert keys(list(streamed), *names) == keys(expected, *names)


def test_parallel_walk_is_cut_into_partitions(dials: Dials, truth: Truth) -> None:
    # A query over six datasets: the walk is cut (one partition per dataset at least),
    # and each partition is a separate cursor walk restricted by dataset and run range.
    from cmsdials._partition import partition_query

    filters = LumisectionHistogram1DFilters(me_id=1, ls_number=10, page_size=5)
    parts = partition_query(dials.h1d.transport, filters, 3, None)
    datasets = sorted(
        {row["dataset_id"] for row in truth.rows("tracker", schema.fact_dataset_index)}
    )
    assert len(parts) >= len(datasets)
    # Each partition keeps the filters' class: the query itself, narrowed.
    cut = [p.filters for p in parts if isinstance(p.filters, LumisectionHistogram1DFilters)]
    assert len(cut) == len(parts)
    for part in cut:
        assert part.dataset_id is not None  # each partition is of one dataset
        assert part.me_id == 1 and part.ls_number == 10
    assert sorted({f.dataset_id for f in cut if f.dataset_id is not None}) == datasets
    # Partitions are in the server's order: dataset, then touching run ranges.
    order = [(f.dataset_id, f.run_number__gte or 0) for f in cut]
    assert order == sorted(order)


def test_caller_run_bounds_are_kept(dials: Dials, truth: Truth) -> None:
    th1 = schema.fact_th1
    where = [th1.c.me_id == 1, th1.c.run_number >= 367000, th1.c.run_number <= 379000]
    expected = histogram_rows(truth, "tracker", 1, where)
    filters = LumisectionHistogram1DFilters(
        me_id=1, run_number__gte=367000, run_number__lte=379000, page_size=100
    )
    assert expected
    same_rows(dials.h1d.list_all(filters, workers=4).results, expected, TH)


@pytest.mark.parametrize("spec", ["503@3", "reset@4", "truncate@3", "502@5,429:0@7"])
def test_parallel_merge_survives_injected_faults(
    dials: Dials, truth: Truth, faults: Any, spec: str
) -> None:
    th1 = schema.fact_th1
    expected = histogram_rows(truth, "tracker", 1, [th1.c.me_id == 1, th1.c.ls_number <= 6])
    filters = LumisectionHistogram1DFilters(me_id=1, ls_number__lte=6, page_size=9)
    retry = Retry(total=8, backoff_factor=0, status_forcelist=(429, 500, 502, 503, 504))
    faults(spec)
    data = dials.h1d.list_all(filters, workers=4, retries=retry)
    same_rows(data.results, expected, TH)
    assert data.exc_type is None


class _Pages:
    """Counts successful page requests of one route (a requests response hook)."""

    def __init__(self, dials: Dials, path: str) -> None:
        self.path = path
        self.count = 0
        self.lock = threading.Lock()
        dials.session.hooks["response"].append(self._record)

    def _record(self, response: Any, *args: Any, **kwargs: Any) -> None:
        if response.status_code == 200 and response.request.path_url.startswith(self.path):
            with self.lock:
                self.count += 1


def test_parallel_keep_failed_then_resume_fetches_no_page_twice(
    creds: Credentials, target: Any, truth: Truth, faults: Any
) -> None:
    th1 = schema.fact_th1
    expected = histogram_rows(truth, "tracker", 1, [th1.c.me_id == 1, th1.c.ls_number <= 8])
    filters = LumisectionHistogram1DFilters(me_id=1, ls_number__lte=8, page_size=6)

    clean = Dials(creds, base_url=target.base_url)
    clean_pages = _Pages(clean, "/api/v1/th1/")
    same_rows(clean.h1d.list_all(filters, workers=3).results, expected, TH)

    dials = Dials(creds, base_url=target.base_url)
    pages = _Pages(dials, "/api/v1/th1/")
    faults("503@9x1")  # one page request fails, and is not retried
    broken = dials.h1d.list_all(filters, workers=3, retries=0, keep_failed=True)
    assert broken.exc_type == "HTTPError" and broken.exc_formatted
    assert broken.next is not None
    # What is shown is always a prefix of the answer (later partitions are held back).
    assert keys(broken.results, *TH) == keys(expected[: len(broken.results)], *TH)
    resumed = dials.h1d.list_all(
        filters, workers=3, retries=0, keep_failed=True, resume_from=broken
    )
    assert resumed.exc_type is None and resumed.next is None
    same_rows(resumed.results, expected, TH)
    assert pages.count == clean_pages.count  # every page exactly once over both calls


def test_parallel_max_pages_shows_a_prefix_and_resumes(dials: Dials, truth: Truth) -> None:
    th1 = schema.fact_th1
    expected = histogram_rows(truth, "tracker", 1, [th1.c.me_id == 1, th1.c.ls_number <= 4])
    filters = LumisectionHistogram1DFilters(me_id=1, ls_number__lte=4, page_size=5)
    data = dials.h1d.list_all(filters, workers=3, max_pages=3)
    calls = 1
    while data.next is not None:
        assert keys(data.results, *TH) == keys(expected[: len(data.results)], *TH)
        data = dials.h1d.list_all(filters, workers=3, max_pages=3, resume_from=data)
        calls += 1
        assert calls < 40
    assert calls > 2
    same_rows(data.results, expected, TH)
    # Resuming a complete result changes nothing and fetches nothing.
    assert dials.h1d.list_all(resume_from=data, workers=3).results == data.results


def test_sequential_max_pages_still_links_the_next_page(dials: Dials) -> None:
    filters = LumisectionFilters(page_size=4)
    part = dials.lumi.list_all(filters, max_pages=2)
    assert len(part.results) == 8 and part.next_token is not None
    assert (
        dials.lumi.list(filters.model_copy(update={"next_token": part.next_token})).results
        == (dials.lumi.list_all(filters, max_pages=3).results[8:])
    )


def test_stream_max_pages(dials: Dials) -> None:
    pages = list(dials.lumi.stream(LumisectionFilters(page_size=4), max_pages=3).pages())
    assert [len(page.results) for page in pages] == [4, 4, 4]


def test_pages_read_ahead_is_bounded(dials: Dials, target: Any, creds: Credentials) -> None:
    client = Dials(creds, base_url=target.base_url)
    pages = _Pages(client, "/api/v1/lumisection/")
    iterator = client.lumi.pages(LumisectionFilters(page_size=3))
    first = next(iterator)
    assert len(first.results) == 3
    time.sleep(0.5)  # let the walk run ahead as far as it may
    assert pages.count <= 3  # the page held, the next one decoded, one more in flight
    iterator.close()  # waits for the request in flight
    assert pages.count <= 3


# ---------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_progress_counts_rows_where_a_count_route_exists(
    dials: Dials, capsys: pytest.CaptureFixture[str], workers: int
) -> None:
    data = dials.lumi.list_all(
        LumisectionFilters(ls_number__lte=3, page_size=10), enable_progress=True, workers=workers
    )
    err = capsys.readouterr().err
    n = len(data.results)
    assert f"{n}/{n}" in err and "row" in err


def test_progress_counts_rows_without_a_count_route(
    dials: Dials, capsys: pytest.CaptureFixture[str]
) -> None:
    # An ME and a lumisection: no exact total; the bar counts rows and fills at the end
    # (the exact totals of th1/th2: tests/client/test_first_use.py).
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me_id=1, ls_number=10, page_size=5), enable_progress=True
    )
    err = capsys.readouterr().err
    n = len(data.results)
    assert n > 5 and f"{n}/{n}" in err and "row" in err and "page" not in err


def test_progress_is_silent_when_disabled(dials: Dials, capsys: pytest.CaptureFixture[str]) -> None:
    dials.lumi.list_all(LumisectionFilters(ls_number__lte=3), enable_progress=False, workers=2)
    list(dials.lumi.stream(LumisectionFilters(ls_number__lte=3), enable_progress=False).pages())
    dials.run.get_many([(DATASET_ID, RUN)], enable_progress=False)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------
# get_many
# ---------------------------------------------------------------------------------------


def test_get_many_in_input_order(dials: Dials) -> None:
    lumis = dials.lumi.list(LumisectionFilters(run_number=RUN, page_size=12)).results
    keys_ = [(r.dataset_id, r.run_number, r.ls_number) for r in reversed(lumis)]
    got = dials.lumi.get_many(keys_, workers=4)
    assert got == list(reversed(lumis))
    named = [
        {"dataset_id": DATASET_ID, "run_number": RUN, "ls_number": LS, "me_id": m} for m in (96, 1)
    ]
    th1 = dials.h1d.get_many(named, workers=2)
    assert [h.me_id for h in th1] == [96, 1]
    assert th1[1] == dials.h1d.get(DATASET_ID, RUN, LS, 1)
    h2 = dials.h2d.get_many([(DATASET_ID, RUN, LS, 100)])
    assert h2 == [dials.h2d.get(DATASET_ID, RUN, LS, 100)]
    assert dials.run.get_many([(DATASET_ID, RUN)]) == [dials.run.get(DATASET_ID, RUN)]
    assert dials.dataset_index.get_many([DATASET_ID])[0].dataset_id == DATASET_ID
    assert dials.run.get_many([]) == []


def test_get_many_reports_each_failed_key(dials: Dials) -> None:
    keys_ = [(DATASET_ID, RUN), (DATASET_ID, 1), (DATASET_ID, RUN), (2, 3)]
    with pytest.raises(GetManyError) as caught:
        dials.run.get_many(keys_, workers=3)
    error = caught.value
    assert sorted(error.errors) == [1, 3]
    assert all(isinstance(exc, NotFoundError) for exc in error.errors.values())
    assert error.results[0] == error.results[2] == dials.run.get(DATASET_ID, RUN)
    assert error.results[1] is None and error.keys == keys_
    assert "2 of 4 keys failed" in str(error) and "(2, 3)" in str(error)
    mixed = dials.run.get_many(keys_, return_exceptions=True)
    assert isinstance(mixed[1], NotFoundError) and mixed[0].run_number == RUN


def test_get_many_checks_keys_before_any_request(dials: Dials, target: Any) -> None:
    client = Dials(Credentials(token="x"), base_url="http://127.0.0.1:1/")  # never reached
    with pytest.raises(TypeError):
        client.run.get_many([(1, 2), (1,)])
    with pytest.raises(ValueError, match="non-negative integer"):
        client.run.get_many([(1, "x")])


def test_get_many_retries_per_key(dials: Dials, faults: Any) -> None:
    faults("503@2x3")  # three requests fail; each key may be retried up to four times
    keys_ = [(DATASET_ID, RUN, ls) for ls in range(1, 9)]
    got = dials.lumi.get_many(keys_, workers=3, retries=Retry(total=4, status_forcelist=[503]))
    assert [r.ls_number for r in got] == list(range(1, 9))


# ---------------------------------------------------------------------------------------
# Threads, connections, credentials, collector
# ---------------------------------------------------------------------------------------


def test_credentials_hook_runs_for_every_request_of_a_parallel_walk(
    target: Any, creds: Credentials
) -> None:
    calls = []
    lock = threading.Lock()

    class Counting(Credentials):
        def before_request(self, headers: dict[str, str]) -> None:
            with lock:
                calls.append(threading.get_ident())
            super().before_request(headers)

    dials = Dials(Counting(token=target.secret), base_url=target.base_url)
    sent: list[Any] = []
    dials.session.hooks["response"].append(lambda r, *a, **k: sent.append(r))
    dials.h1d.list_all(
        LumisectionHistogram1DFilters(me_id=1, ls_number__lte=3, page_size=4), workers=4
    )
    assert len(calls) == len(sent) > 6
    assert len(set(calls)) > 1  # requests really came from several threads


def test_pool_is_sized_for_the_workers(dials: Dials, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        dials.h1d.list_all(
            LumisectionHistogram1DFilters(me_id=1, ls_number__lte=3, page_size=3), workers=12
        )
    pool_maxsize = dials.h1d.transport.pool_maxsize
    assert pool_maxsize is not None and pool_maxsize >= 12
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_gc_is_restored_after_bulk_work(dials: Dials) -> None:
    assert gc.isenabled()
    data = dials.h2d.list_all(
        LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78), workers=3
    )
    assert data.results and gc.isenabled()
    gc.disable()
    try:
        assert dials.h2d.list(LumisectionHistogram2DFilters(page_size=20)).results
        assert not gc.isenabled()  # a caller who disabled it keeps it disabled
    finally:
        gc.enable()


def test_gc_pause_is_restored_on_errors_and_nests_across_threads() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with gc_paused():
        pass
    assert not gc.isenabled()  # the other thread is still in bulk work
    release.set()
    thread.join()
    assert gc.isenabled()


def test_workers_must_be_positive(dials: Dials) -> None:
    with pytest.raises(ValueError, match="workers"):
        dials.run.list_all(workers=0)
    with pytest.raises(ValueError, match="workers"):
        dials.run.stream(workers=0)
