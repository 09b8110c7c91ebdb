"""Cursor walks: list_all vs list, max_pages, resuming, progress."""

from __future__ import annotations

from typing import Any

import pytest
from client_support import RUN, TH1_ME, keys

from cmsdials import Dials
from cmsdials.clients.h1d.models import PaginatedLumisectionHistogram1DList
from cmsdials.filters import (
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    RunFilters,
)

TH = ("dataset_id", "run_number", "ls_number", "me_id")
#: One ME in one run: some 80 rows, several pages at small page sizes, quick to walk.
ONE_RUN: dict[str, Any] = {"me": TH1_ME, "run_number": RUN}


def walk_with_list(client: Any, filters: Any) -> list[Any]:
    """Follow the cursor by hand with list(): what list_all must reproduce."""
    rows: list[Any] = []
    while True:
        page = client.list(filters)
        rows.extend(page.results)
        if page.next_token is None:
            return rows
        filters = filters.model_copy(update={"next_token": page.next_token})


def test_list_all_equals_concatenated_list_pages(dials: Dials) -> None:
    filters = LumisectionHistogram1DFilters(**ONE_RUN, page_size=7)
    by_hand = walk_with_list(dials.h1d, filters)
    merged = dials.h1d.list_all(filters)
    assert len(by_hand) > 14
    assert keys(merged.results, *TH) == keys(by_hand, *TH)
    assert len(set(keys(merged.results, *TH))) == len(merged.results)  # no duplicates
    assert merged.next is None and merged.previous is None
    assert isinstance(merged, PaginatedLumisectionHistogram1DList)


def test_pages_iterator_is_lazy_and_follows_cursor(dials: Dials) -> None:
    pages = dials.lumi.pages(LumisectionFilters(page_size=3), max_pages=4)
    first = next(pages)
    assert len(first.results) == 3
    rest = list(pages)
    assert len(rest) == 3
    rows = [row for page in [first, *rest] for row in page.results]
    assert keys(rows, "dataset_id", "run_number", "ls_number") == keys(
        dials.lumi.list(LumisectionFilters(page_size=12)).results,
        "dataset_id",
        "run_number",
        "ls_number",
    )


@pytest.mark.parametrize("max_pages", [1, 3])
def test_max_pages_stops_and_keeps_cursor(dials: Dials, max_pages: int) -> None:
    filters = RunFilters(page_size=2)
    everything = dials.run.list_all(filters)
    assert len(everything.results) > 2 * max_pages
    part = dials.run.list_all(filters, max_pages=max_pages)
    assert len(part.results) == 2 * max_pages
    assert part.next is not None and part.next_token is not None
    assert keys(part.results, "dataset_id", "run_number") == keys(
        everything.results[: 2 * max_pages], "dataset_id", "run_number"
    )


def test_resume_after_max_pages_gives_exactly_the_whole(dials: Dials) -> None:
    filters = LumisectionHistogram1DFilters(**ONE_RUN, page_size=9)
    whole = dials.h1d.list_all(filters)
    part = dials.h1d.list_all(filters, max_pages=2)
    rest = dials.h1d.list_all(filters, max_pages=2, resume_from=part)
    assert len(rest.results) == 36
    # Without filters the resumed walk reuses those of the walk it continues.
    done = dials.h1d.list_all(resume_from=rest)
    assert keys(done.results, *TH) == keys(whole.results, *TH)
    assert done.next is None
    # Resuming a complete result fetches nothing and changes nothing.
    again = dials.h1d.list_all(filters, resume_from=done)
    assert keys(again.results, *TH) == keys(whole.results, *TH)


@pytest.mark.parametrize(
    ("route", "query"),
    [("h1d", ONE_RUN), ("lumi", {"run_number": RUN})],  # rows as columns, rows as models
)
def test_resume_from_a_list_page_continues_its_query(
    dials: Dials, route: str, query: dict[str, Any]
) -> None:
    client = getattr(dials, route)
    filters = client.route.filters(**query, page_size=9)
    whole = client.list_all(filters)
    first = client.list(filters)
    assert first.next is not None and len(whole.results) > 18
    # No filters given: the page's own query is continued after its cursor.
    resumed = client.list_all(resume_from=first)
    assert resumed.results == whole.results and resumed.next is None


def test_resume_after_injected_reset(dials: Dials, faults: Any) -> None:
    filters = LumisectionHistogram1DFilters(**ONE_RUN, page_size=8)
    whole = dials.h1d.list_all(filters)
    faults("reset@3x1")  # the 3rd request breaks off mid-body
    broken = dials.h1d.list_all(filters, retries=0, keep_failed=True)
    assert len(broken.results) == 16
    assert broken.exc_type == "ChunkedEncodingError"
    assert broken.exc_formatted is not None and "ChunkedEncodingError" in broken.exc_formatted
    assert broken.next_token is not None
    resumed = dials.h1d.list_all(filters, retries=0, keep_failed=True, resume_from=broken)
    assert resumed.exc_type is None
    assert keys(resumed.results, *TH) == keys(whole.results, *TH)


def test_resume_after_failure_on_first_page(dials: Dials, faults: Any) -> None:
    filters = LumisectionHistogram1DFilters(**ONE_RUN, page_size=50)
    whole = dials.h1d.list_all(filters)
    faults("503@1x1")
    broken = dials.h1d.list_all(filters, retries=0, keep_failed=True)
    assert broken.results == [] and broken.next is None and broken.exc_type == "HTTPError"
    resumed = dials.h1d.list_all(resume_from=broken)
    assert keys(resumed.results, *TH) == keys(whole.results, *TH)


def test_failure_without_keep_failed_raises(dials: Dials, faults: Any) -> None:
    import requests

    faults("reset@2x1")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        dials.h1d.list_all(LumisectionHistogram1DFilters(page_size=5), max_pages=3, retries=0)


def test_resume_from_must_be_the_same_route(dials: Dials) -> None:
    runs = dials.run.list_all(RunFilters(page_size=2), max_pages=1)
    with pytest.raises(TypeError, match="PaginatedLumisectionList"):
        dials.lumi.list_all(resume_from=runs)  # type: ignore[arg-type]  # wrong route on purpose


def test_progress_without_a_total_counts_rows(
    dials: Dials, capsys: pytest.CaptureFixture[str]
) -> None:
    # An ME in a run: no exact total (tests/client/test_first_use.py has those), so the
    # bar counts rows with no total - not "pages so far + 1" - and is full at the end.
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(**ONE_RUN, page_size=3), enable_progress=True
    )
    rows = len(data.results)
    err = capsys.readouterr().err
    assert "Progress: 0row" in err  # no total drawn while the walk runs
    assert f"{rows}/{rows}" in err


def test_progress_off_when_not_interactive(
    dials: Dials, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under pytest stderr is not a terminal: the default (None) shows no bar.
    dials.run.list_all(RunFilters(page_size=3), max_pages=2)
    assert "Progress" not in capsys.readouterr().err
    dials.run.list_all(RunFilters(page_size=3), max_pages=2, enable_progress=False)
    assert "Progress" not in capsys.readouterr().err


def test_progress_bar_closed_on_error(
    dials: Dials, faults: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    faults("503@2x1")
    # No count request for an ME in a run (no exact total), and me_id instead of me (no
    # ME-name check): the 2nd request is the 2nd page.
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me_id=1, run_number=RUN, page_size=2),
        max_pages=3,
        enable_progress=True,
        retries=0,
        keep_failed=True,
    )
    assert data.exc_type == "HTTPError" and len(data.results) == 2
    err = capsys.readouterr().err
    assert "Progress" in err and err.endswith("\n")  # tqdm wrote its final line on close
