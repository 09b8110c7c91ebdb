"""Issue #11, the client's part: progress, Ctrl-C, help on typos, ``max_pages=0``, extras.

Every test talks to a real dials-local (the session's, or ``BASE_URL``'s: expected values
are asked of the server, never assumed from the tiny data set).  Interrupts are real
signals sent to a real client process; missing extras are packages made unimportable in
a real client process.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from client_support import DATASET_ID, RUN, TH1_ME, keys

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import (
    PerformanceWarning,
    UnknownArgumentError,
    UnknownFilterError,
    UnknownMEError,
)
from cmsdials.filters import (
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
    MEFilters,
    MLBadLumisectionFilters,
    RunFilters,
)

TH = ("dataset_id", "run_number", "ls_number", "me_id")


class _Requests:
    """The paths of the requests a client sent (a ``requests`` response hook)."""

    def __init__(self, dials: Dials) -> None:
        self.paths: list[str] = []
        self.lock = threading.Lock()
        dials.session.hooks["response"].append(self._record)

    def _record(self, response: Any, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            self.paths.append(response.request.path_url.split("?")[0])

    def count(self, suffix: str) -> int:
        with self.lock:
            return sum(path.endswith(suffix) for path in self.paths)


def _me_count(dials: Dials, name: str) -> int:
    (me,) = dials.mes.list(MEFilters(me=name))
    return me.count


# ---------------------------------------------------------------------------------------
# Progress: rows against an exact total, log lines in batch jobs, silence when off
# ---------------------------------------------------------------------------------------

_WITH_TOTAL = re.compile(r"Progress:.*?\|\s*(\d+)/(\d+) \[")
_WITHOUT_TOTAL = re.compile(r"Progress: (\d+)row")


def _frames(err: str) -> list[tuple[int, int | None]]:
    """``(done, total)`` of every frame tqdm drew (``total`` is ``None`` when unknown)."""
    frames: list[tuple[int, int | None]] = []
    for frame in re.split(r"[\r\n]", err):
        found = _WITH_TOTAL.search(frame)
        if found:
            frames.append((int(found[1]), int(found[2])))
            continue
        found = _WITHOUT_TOTAL.search(frame)
        if found:
            frames.append((int(found[1]), None))
    return frames


def _assert_advances(frames: list[tuple[int, int | None]], total: int | None, rows: int) -> None:
    assert frames, "no progress bar was drawn"
    done = [d for d, _ in frames]
    assert done == sorted(done), f"the bar went backwards: {done}"
    assert done[0] == 0 and done[-1] == rows
    # At the end the bar is full: without a total, the count becomes the total.
    final = rows if total is None else total
    assert all(t == (total if d < rows else final) for d, t in frames), f"drawn: {frames}"


@pytest.mark.parametrize("workers", [1, 3])
def test_th1_bar_total_is_the_mes_count_from_the_start(
    dials: Dials, capsys: pytest.CaptureFixture[str], workers: int
) -> None:
    expected = _me_count(dials, TH1_ME)
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me=TH1_ME, page_size=500),
        enable_progress=True,
        workers=workers,
    )
    assert len(data.results) == expected
    _assert_advances(_frames(capsys.readouterr().err), expected, expected)


def test_th2_bar_total_is_the_sum_of_lumisection_counts(
    dials: Dials, capsys: pytest.CaptureFixture[str]
) -> None:
    where: dict[str, Any] = {"dataset_id": DATASET_ID, "run_number": RUN}
    lumis = dials.lumi.list_all(LumisectionFilters(**where, page_size=500)).results
    expected = sum(ls.th2_count for ls in lumis)
    capsys.readouterr()
    data = dials.h2d.list_all(
        LumisectionHistogram2DFilters(**where, page_size=100), enable_progress=True
    )
    assert len(data.results) == expected > 100
    _assert_advances(_frames(capsys.readouterr().err), expected, expected)


def test_bar_without_an_exact_total_counts_rows_and_rate(
    dials: Dials, capsys: pytest.CaptureFixture[str]
) -> None:
    # An ME *and* a run: no count route and no counter gives this total.
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me=TH1_ME, run_number=RUN, page_size=20),
        enable_progress=True,
    )
    err = capsys.readouterr().err
    assert len(data.results) > 20
    _assert_advances(_frames(err), None, len(data.results))
    assert "row/s" in err


def test_max_pages_bar_ends_at_the_rows_fetched(
    dials: Dials, capsys: pytest.CaptureFixture[str]
) -> None:
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me=TH1_ME, page_size=10), max_pages=3, enable_progress=True
    )
    frames = _frames(capsys.readouterr().err)
    assert len(data.results) == 30 and data.next is not None
    assert frames[0] == (0, 30) and frames[-1] == (30, 30)


def test_stream_to_csv_shows_rows_against_the_total(
    dials: Dials, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    expected = _me_count(dials, TH1_ME)
    path = dials.h1d.stream(
        LumisectionHistogram1DFilters(me=TH1_ME, page_size=500), enable_progress=True
    ).to_csv(tmp_path / "th1.csv")
    with open(path, newline="") as stream:
        assert sum(1 for _ in csv.reader(stream)) == expected + 1  # header
    _assert_advances(_frames(capsys.readouterr().err), expected, expected)


_BATCH_JOB = """
import logging, sys
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.filters import LumisectionHistogram1DFilters

logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s", stream=sys.stderr)
dials = Dials(Credentials(token=sys.argv[2]), base_url=sys.argv[1])
data = dials.h1d.list_all(LumisectionHistogram1DFilters(me=sys.argv[3], page_size=int(sys.argv[4])))
print("ROWS", len(data.results))
"""


def test_batch_job_gets_log_lines_with_done_total_and_rate(
    dials: Dials, target: Any, tmp_path: Path
) -> None:
    """Not a terminal (a batch job's log): lines on the ``cmsdials.progress`` logger."""
    expected = _me_count(dials, TH1_ME)
    script = tmp_path / "batch.py"
    script.write_text(_BATCH_JOB)
    env = dict(os.environ, CMSDIALS_PROGRESS_INTERVAL="0")
    done = subprocess.run(
        [sys.executable, str(script), target.base_url, target.secret, TH1_ME, "100"],
        capture_output=True,  # stderr is a pipe, as in HTCondor
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert f"ROWS {expected}" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("cmsdials.progress ")]
    counts = [
        (int(m[1].replace(",", "")), int(m[2].replace(",", "")))
        for m in (
            re.search(r"th1/: ([\d,]+)/([\d,]+) rows \(\d+%\), [\d,]+ rows/s", x) for x in lines
        )
        if m
    ]
    assert len(counts) >= expected // 100 - 1, lines  # a line per page with interval 0
    assert [d for d, _ in counts] == sorted(d for d, _ in counts)
    assert {t for _, t in counts} == {expected}
    assert re.search(rf"th1/: done after {expected:,} rows in .* rows/s\)", lines[-1])
    assert "\r" not in done.stderr  # no bar drawn into a log file


def test_progress_off_prints_logs_and_requests_nothing(
    dials: Dials, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cmsdials")
    sent = _Requests(dials)
    filters = LumisectionHistogram1DFilters(me_id=1, page_size=100)
    dials.h1d.list_all(filters, enable_progress=False, workers=2)
    list(dials.h1d.stream(filters, enable_progress=False).pages())
    dials.lumi.list_all(LumisectionFilters(ls_number__lte=3), enable_progress=False)
    dials.run.get_many([(DATASET_ID, RUN)], enable_progress=False)
    assert capsys.readouterr().err == ""
    assert not [r for r in caplog.records if r.name == "cmsdials.progress"]
    assert sent.count("/count/") == 0 and sent.count("/mes/") == 0  # no total asked for


def test_progress_nobody_sees_costs_no_request(
    dials: Dials, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Default (None), stderr not a terminal and logging not showing INFO: nothing shown,
    # so no count request is made for it.
    caplog.set_level(logging.WARNING, logger="cmsdials.progress")
    sent = _Requests(dials)
    dials.run.list_all(RunFilters(page_size=3), max_pages=2)
    assert capsys.readouterr().err == ""
    assert sent.count("/count/") == 0


# ---------------------------------------------------------------------------------------
# The speed hint
# ---------------------------------------------------------------------------------------


def test_hint_before_thousands_of_small_requests(dials: Dials) -> None:
    total = sum(me.count for me in dials.mes.list() if me.dim == 1)
    requests = math.ceil(total / 10)
    assert requests >= 1000  # a bare th1 walk: the case
    pages = dials.h1d.stream(enable_progress=True).pages()
    with pytest.warns(PerformanceWarning) as caught:
        next(pages)  # decided from the total, before the first page
    pages.close()
    (warning,) = caught
    message = str(warning.message)
    assert f"about {requests:,} requests of 10 rows" in message
    assert f"page_size=500 in the filters (about {math.ceil(total / 500):,} requests" in message
    assert "workers=4" in message
    assert warning.filename == __file__  # points at the caller's line


def test_hint_without_a_total_comes_at_the_thousandth_request(dials: Dials) -> None:
    # Progress off: no total asked for; the walk itself says it when it gets there.
    seen = 0
    with pytest.warns(PerformanceWarning) as caught:
        for seen, _ in enumerate(  # noqa: B007
            dials.lumi.stream(LumisectionFilters(page_size=1), enable_progress=False).pages(), 1
        ):
            if caught:
                break
    (warning,) = [w for w in caught if issubclass(w.category, PerformanceWarning)]
    assert seen == 1000
    assert "has made 1,000 requests of 1 row each" in str(warning.message)
    assert "page_size=500" in str(warning.message) and "workers=4" in str(warning.message)


def test_hint_is_given_once_per_call_site(dials: Dials) -> None:
    # pytest.warns records every warning, past Python's own once-per-location filter.
    with pytest.warns(PerformanceWarning) as caught:
        for page_size in (5, 10):  # one line, two queries
            pages = dials.h1d.stream({"page_size": page_size}, enable_progress=True).pages()
            next(pages)
            pages.close()
    assert len([w for w in caught if issubclass(w.category, PerformanceWarning)]) == 1


def test_no_hint_for_large_pages(dials: Dials) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        pages = dials.h1d.stream({"page_size": 500}, enable_progress=True, workers=2).pages()
        next(pages)
        pages.close()


# ---------------------------------------------------------------------------------------
# Ctrl-C always stops the program
# ---------------------------------------------------------------------------------------

_INTERRUPTED = """
import signal, sys, time
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.filters import LumisectionHistogram1DFilters

base_url, secret, call, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# SIGTERM as a batch system's "stop": SystemExit, another BaseException that is no error.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))
dials = Dials(Credentials(token=secret), base_url=base_url)
filters = LumisectionHistogram1DFilters(page_size=10)
print("WALKING", flush=True)
if call == "list_all":
    result = dials.h1d.list_all(filters, keep_failed=True, workers=workers, enable_progress=False)
    print("RESULT", len(result.results), result.exc_type, flush=True)
elif call == "stream":
    rows = sum(p.num_rows for p in dials.h1d.stream(filters, workers=workers).pages())
    print("RESULT", rows, flush=True)
else:
    keys = [(r.dataset_id, r.run_number, r.ls_number, r.me_id)
            for r in dials.h1d.list(LumisectionHistogram1DFilters(page_size=40)).results]
    print("RESULT", len(dials.h1d.get_many(keys, workers=workers, return_exceptions=True)))
print("AFTER", flush=True)
"""

#: The server holds every 4th request this long: far longer than the client may take
#: to stop.
_SLOW = 60


def _interrupt(target: Any, tmp_path: Path, call: str, workers: int, sig: int) -> Any:
    script = tmp_path / "interrupted.py"
    script.write_text(_INTERRUPTED)
    # The with block closes the pipes (and waits for the process) however the test ends.
    with subprocess.Popen(
        [sys.executable, str(script), target.base_url, target.secret, call, str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "WALKING"
            time.sleep(1.5)  # well into the walk: pages arrived, slow requests in flight
            assert process.poll() is None, "the walk ended before the signal"
            sent = time.monotonic()
            process.send_signal(sig)
            out, err = process.communicate(timeout=30)
            return process.returncode, out, err, time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize(
    ("call", "workers"),
    [("list_all", 1), ("list_all", 4), ("stream", 1), ("stream", 3), ("get_many", 8)],
)
def test_ctrl_c_stops_the_walk_at_once_and_returns_nothing(
    target: Any, faults: Any, tmp_path: Path, call: str, workers: int
) -> None:
    faults(f"slow:{_SLOW}@4")
    code, out, err, took = _interrupt(target, tmp_path, call, workers, signal.SIGINT)
    assert "KeyboardInterrupt" in err
    assert code == -signal.SIGINT  # Python's exit on an uncaught KeyboardInterrupt
    assert "RESULT" not in out and "AFTER" not in out  # no partial result, no carrying on
    assert took < 15, f"the client took {took:.1f} s to stop (the server holds {_SLOW} s)"


def test_system_exit_is_not_a_failed_walk(target: Any, faults: Any, tmp_path: Path) -> None:
    faults(f"slow:{_SLOW}@4")
    code, out, err, took = _interrupt(target, tmp_path, "list_all", 4, signal.SIGTERM)
    assert code == 7, err
    assert "RESULT" not in out and "AFTER" not in out
    assert took < 15


def test_keep_failed_still_returns_the_rows_after_a_server_error(dials: Dials, faults: Any) -> None:
    faults("503@3x1")
    data = dials.h1d.list_all(
        LumisectionHistogram1DFilters(me_id=1, page_size=10), retries=0, keep_failed=True
    )
    assert data.exc_type == "HTTPError" and len(data.results) == 20 and data.next is not None


# ---------------------------------------------------------------------------------------
# Help on every typo
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "typo", "meant"),
    [
        (LumisectionHistogram1DFilters, "me_nme", "me"),
        (LumisectionHistogram1DFilters, "me_name", "me"),
        (LumisectionHistogram2DFilters, "me_regex", "me__regex"),
        (LumisectionHistogram1DFilters, "meid", "me_id"),
        (LumisectionHistogram2DFilters, "ls", "ls_number"),
        (LumisectionFilters, "runnumber", "run_number"),
        (RunFilters, "dataset_idd", "dataset_id"),
        (LumisectionHistogram1DFilters, "page_sise", "page_size"),
    ],
)
def test_misspelt_filter_names_the_closest(model: Any, typo: str, meant: str) -> None:
    with pytest.raises(UnknownFilterError) as caught:
        model(**{typo: 1})
    assert caught.value.suggestions[0] == meant
    assert f"did you mean {meant!r}" in str(caught.value)


def test_deprecated_spelling_is_never_suggested() -> None:
    with pytest.raises(UnknownFilterError) as caught:
        LumisectionHistogram1DFilters(ls_number_lte=3)  # type: ignore[call-arg]  # typo on purpose
    assert caught.value.suggestions[0] == "ls_number__lte"
    assert "ls_numbet__lte" not in caught.value.suggestions


def test_misspelt_key_of_get_names_the_key(dials: Dials) -> None:
    with pytest.raises(UnknownArgumentError) as caught:
        dials.h1d.get(dataset_id=DATASET_ID, run_number=RUN, ls_number=10, meid=1)
    assert isinstance(caught.value, TypeError)  # what Python raises for a bad keyword
    assert caught.value.suggestions[0] == "me_id"
    assert "'meid'; did you mean 'me_id'" in str(caught.value)
    assert "missing" not in str(caught.value)
    with pytest.raises(UnknownArgumentError, match="did you mean 'retries'"):
        dials.run.get(DATASET_ID, RUN, retry=2)
    with pytest.raises(UnknownArgumentError, match="did you mean 'me_id'"):
        dials.h1d.get_many(
            [{"dataset_id": DATASET_ID, "run_number": RUN, "ls_number": 1, "meid": 1}]
        )


@pytest.mark.parametrize(
    ("call", "meant"),
    [
        (lambda d: d.h1d.list_all(max_page=2), "max_pages"),
        (lambda d: d.h1d.list_all(keepfailed=True), "keep_failed"),
        (lambda d: d.h2d.list(filter={}), "filters"),
        (lambda d: d.h1d.stream(worker=2), "workers"),
        (lambda d: d.h1d.iter_all(enable_progres=False), "enable_progress"),
        (lambda d: d.h1d.pages(max_pagse=1), "max_pages"),
        (lambda d: d.run.get_many([], worker=2), "workers"),
        (lambda d: d.mes.list_all(retry=1), "retries"),
        (
            lambda d: d.ml_bad_lumis.cert_json(
                model_id_in=[1], dataset_id__in=[1], run_number__in=[1]
            ),
            "model_id__in",
        ),
        (lambda d: d.oms.query("runs", filter=[]), "filters"),
    ],
)
def test_misspelt_keyword_names_the_closest(dials: Dials, call: Any, meant: str) -> None:
    with pytest.raises(UnknownArgumentError) as caught:
        call(dials)
    assert caught.value.suggestions[0] == meant
    assert f"did you mean {meant!r}" in str(caught.value)


def test_misspelt_keyword_of_dials_names_the_closest(target: Any, creds: Credentials) -> None:
    with pytest.raises(UnknownArgumentError, match="did you mean 'workspace'"):
        Dials(  # type: ignore[call-arg]  # a typo on purpose
            creds, base_url=target.base_url, worksapce="tracker"
        )


def test_filter_given_as_a_keyword_is_told_where_it_goes(dials: Dials) -> None:
    with pytest.raises(UnknownArgumentError) as caught:
        dials.h1d.list_all(me=TH1_ME)  # type: ignore[call-arg]  # a filter as a keyword on purpose
    assert "'me' is a filter: pass it in filters=" in str(caught.value)
    with pytest.raises(UnknownArgumentError) as caught:
        dials.h1d.list_all(me_nme=TH1_ME)  # type: ignore[call-arg]  # a typo on purpose
    assert caught.value.suggestions == ["me"] and "filters=" in str(caught.value)


def test_misspelt_me_name_raises_with_the_closest_names(dials: Dials) -> None:
    typo = TH1_ME[:-1] + "2x"  # ...charge_PXLayer_2x
    sent = _Requests(dials)
    with pytest.raises(UnknownMEError) as caught:
        dials.h1d.list_all(LumisectionHistogram1DFilters(me=typo))
    assert isinstance(caught.value, ValueError)
    assert caught.value.suggestions[0] == TH1_ME
    assert f"did you mean {TH1_ME!r}" in str(caught.value) and "check_me_names=False" in str(
        caught.value
    )
    # Every way of asking is checked, against one listing per client.
    for ask in (
        lambda f: dials.h1d.list(f),
        lambda f: next(iter(dials.h1d.iter_all(f))),
        lambda f: dials.h1d.stream(f).to_numpy(),
        lambda f: dials.h1d.list_all(f, keep_failed=True),
    ):
        with pytest.raises(UnknownMEError):
            ask(LumisectionHistogram1DFilters(me=typo.lower()))
    assert sent.count("/mes/") == 1
    assert sent.count("/th1/") == 0  # refused before any data request


def test_me_name_of_the_other_dimension_names_the_route(dials: Dials) -> None:
    two_d = next(me.me for me in dials.mes.list() if me.dim == 2 and me.count)
    with pytest.raises(UnknownMEError, match=r"is a 2-D monitoring element.*dials\.h2d"):
        dials.h1d.list_all(LumisectionHistogram1DFilters(me=two_d))
    assert dials.h2d.list(LumisectionHistogram2DFilters(me=two_d)).results  # it has rows


def test_me_name_check_of_ml_bad_lumisections(jetmet: Dials) -> None:
    name = jetmet.mes.list()[0].me
    with pytest.raises(UnknownMEError) as caught:
        jetmet.ml_bad_lumis.list(MLBadLumisectionFilters(me=name + "_"))
    assert caught.value.suggestions[0] == name


def test_valid_me_names_cost_one_request_per_client(dials: Dials) -> None:
    sent = _Requests(dials)
    expected = _me_count(dials, TH1_ME)
    filters = LumisectionHistogram1DFilters(me=TH1_ME, page_size=500)
    assert len(dials.h1d.list_all(filters).results) == expected
    assert len(dials.h1d.list(filters).results) == min(expected, 500)
    assert sent.count("/mes/") == 2  # _me_count's own listing, then the client's one


def test_me_name_check_can_be_turned_off(target: Any, creds: Credentials) -> None:
    with Dials(creds, base_url=target.base_url, check_me_names=False) as dials:
        sent = _Requests(dials)
        data = dials.h1d.list_all(LumisectionHistogram1DFilters(me=TH1_ME + "x"))
        assert data.results == [] and sent.count("/mes/") == 0
        dials.check_me_names = True
        with pytest.raises(UnknownMEError):
            dials.h1d.list(LumisectionHistogram1DFilters(me=TH1_ME + "x"))


# ---------------------------------------------------------------------------------------
# max_pages=0: the same answer with one worker or several
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 4])
def test_max_pages_zero_fetches_nothing_and_says_where_to_start(dials: Dials, workers: int) -> None:
    filters = LumisectionHistogram1DFilters(me=TH1_ME, run_number__lte=RUN, page_size=50)
    sent = _Requests(dials)
    nothing = dials.h1d.list_all(filters, max_pages=0, workers=workers)
    assert nothing.results == [] and nothing.exc_type is None
    assert nothing.next is not None and nothing.next_token is None  # incomplete: the start
    assert str(nothing.next).startswith(dials.api_url + "th1/?")
    assert ("me", TH1_ME) in nothing.next.query_params()
    assert sent.count("/th1/") == 0
    resumed = dials.h1d.list_all(resume_from=nothing, workers=workers)
    whole = dials.h1d.list_all(filters)
    assert resumed.next is None and len(whole.results) > 50
    assert keys(resumed.results, *TH) == keys(whole.results, *TH)


# ---------------------------------------------------------------------------------------
# Missing extras: one clear error naming the extra, or no need for one
# ---------------------------------------------------------------------------------------

_WITHOUT = """
import sys
for name in sys.argv[4].split(","):
    sys.modules[name] = None  # as if the package were not installed
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.errors import MissingDependencyError
from cmsdials.filters import LumisectionHistogram1DFilters

dials = Dials(Credentials(token=sys.argv[2]), base_url=sys.argv[1])
sent = []
dials.session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request.path_url))
filters = LumisectionHistogram1DFilters(me=sys.argv[3], run_number=int(sys.argv[5]), page_size=500)
calls = {
    "list_all.to_csv": lambda: dials.h1d.list_all(filters).to_csv(sys.argv[6]),
    "stream.to_csv": lambda: dials.h1d.stream(filters).to_csv(sys.argv[6] + ".stream"),
    "to_numpy": lambda: dials.h1d.list_all(filters).to_numpy(),
    "to_parquet": lambda: dials.h1d.list_all(filters).to_parquet(sys.argv[6] + ".parquet"),
    "stream.to_numpy": lambda: dials.h1d.stream(filters).to_numpy(),
    "HistogramArray": lambda: __import__("cmsdials").HistogramArray,
    "progress=True": lambda: dials.h1d.list_all(filters, enable_progress=True),
    "progress=None": lambda: dials.h1d.list_all(filters),
}
for name, call in calls.items():
    del sent[:]
    try:
        call()
    except MissingDependencyError as exc:
        said = str(exc)
    else:
        said = "ok"
    print(name, "->", said, "|", sum("/th1/" in path for path in sent))
"""


def _without(target: Any, tmp_path: Path, modules: str) -> dict[str, tuple[str, int]]:
    """What each call said (``"ok"`` or the error) and how many th1 requests it made,
    in a client process where ``modules`` cannot be imported."""
    script = tmp_path / "without.py"
    script.write_text(_WITHOUT)
    done = subprocess.run(
        [sys.executable, str(script), target.base_url, target.secret, TH1_ME, modules,
         str(RUN), str(tmp_path / "out.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = {}
    for line in done.stdout.splitlines():
        name, rest = line.split(" -> ", 1)
        message, requests = rest.rsplit(" | ", 1)
        said[name] = (message, int(requests))
    return said


def test_without_numpy_csv_works_and_the_rest_names_the_extra(
    dials: Dials, target: Any, tmp_path: Path
) -> None:
    said = _without(target, tmp_path, "numpy,simdjson")
    assert said["list_all.to_csv"][0] == said["stream.to_csv"][0] == "ok"
    numpy_hint = "needs the optional package 'numpy': pip install 'cmsdials[numpy]'"
    assert said["to_numpy"][0] == f"to_numpy() {numpy_hint}"
    assert said["stream.to_numpy"] == (f"to_numpy() {numpy_hint}", 0)  # before any request
    assert said["to_parquet"][0] in (
        f"to_parquet() {numpy_hint}",  # pyarrow >= 16 imports without numpy
        "to_parquet() needs the optional package 'pyarrow': pip install 'cmsdials[arrow]'",
    )
    assert said["HistogramArray"][0] == f"cmsdials.HistogramArray {numpy_hint}"
    assert said["progress=True"][0] == said["progress=None"][0] == "ok"  # tqdm is there
    # The file is the one written with numpy, byte for byte.
    filters = LumisectionHistogram1DFilters(me=TH1_ME, run_number=RUN, page_size=500)
    with_numpy = dials.h1d.list_all(filters).to_csv(tmp_path / "numpy.csv")
    plain = (tmp_path / "out.csv").read_bytes()
    assert plain == with_numpy.read_bytes() == (tmp_path / "out.csv.stream").read_bytes()
    assert plain.count(b"\n") == len(dials.h1d.list_all(filters).results) + 1


def test_without_tqdm_only_an_explicit_bar_names_the_extra(target: Any, tmp_path: Path) -> None:
    said = _without(target, tmp_path, "tqdm")
    assert said["progress=True"] == (
        "enable_progress=True needs the optional package 'tqdm': pip install 'cmsdials[tqdm]'",
        0,  # refused before the walk
    )
    assert said["progress=None"][0] == "ok"  # no bar asked for: nothing missing
    assert said["to_numpy"][0] == "ok"
