"""LumiMask on what the client returns, against the session's dials-local (real HTTP).

``mask.apply`` on th1 results, other results, ``HistogramArray`` objects, DataFrames, Arrow
tables and fetched data sets is compared with a brute-force filter of the same rows;
``golden_mask``, ``bad_mask`` and ``json_portal`` with the server's ``golden-json/`` and
``cert-json/`` answers and its ``ml-bad-lumisection/`` rows.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from client_support import JETMET_DATASET, JETMET_MODELS, JETMET_RUNS, TH1_ME

from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.dataset import FetchedDataset, open_dataset
from cmsdials.lumi import LumiMask, LumiMaskTypeError


@pytest.fixture(scope="module")
def tracker_client(target: Any) -> Iterator[Dials]:
    with Dials(
        Credentials(token=target.secret), workspace="tracker", base_url=target.base_url
    ) as client:
        yield client


@pytest.fixture(scope="module")
def th1(tracker_client: Dials) -> Any:
    result = tracker_client.h1d.list_all({"me": TH1_ME}, enable_progress=False)
    assert result.num_rows > 20, "the test needs rows in several lumisections"
    return result


def _mask_of_some(pairs: list[tuple[int, int]]) -> LumiMask:
    """Every other lumisection of the first run, all of the last run and a run without
    data: rows in, rows out, and mask entries that match nothing."""
    runs = sorted({run for run, _ in pairs})
    first = [(run, ls) for run, ls in pairs if run == runs[0]][::2]
    last = [(run, ls) for run, ls in pairs if run == runs[-1]]
    return LumiMask.from_pairs([*first, *last, (1, 1)])


@pytest.fixture(scope="module")
def mask(th1: Any) -> LumiMask:
    pairs = sorted({(row.run_number, row.ls_number) for row in th1.results})
    return _mask_of_some(pairs)


def _kept(rows: list[Any], mask: LumiMask) -> list[Any]:
    brute = set(mask.pairs())
    return [row for row in rows if (row.run_number, row.ls_number) in brute]


# -- results objects --------------------------------------------------------------------------


def test_apply_on_histogram_results(th1: Any, mask: LumiMask) -> None:
    before = th1.num_rows
    got = mask.apply(th1)
    assert type(got) is type(th1)
    expected = _kept(th1.results, mask)
    assert 0 < got.num_rows < before
    assert got.results == expected  # same rows, same order (built from the kept columns)
    assert got.next == th1.next and got.exc_type is None
    assert th1.num_rows == before  # the original is left alone
    frame = got.to_pandas()
    assert list(zip(frame.run_number, frame.ls_number)) == [
        (row.run_number, row.ls_number) for row in expected
    ]
    assert LumiMask.from_results(got) <= mask


def test_apply_on_model_results(tracker_client: Dials, th1: Any, mask: LumiMask) -> None:
    runs_with_data = mask.filter_runs(min_run=2).runs
    lumis = tracker_client.lumi.list_all(
        {"run_number__gte": runs_with_data[0], "run_number__lte": runs_with_data[-1]},
        enable_progress=False,
    )
    got = mask.apply(lumis)
    assert type(got) is type(lumis)
    assert got.results == _kept(lumis.results, mask)
    assert LumiMask.from_results(got) == mask & LumiMask.from_results(lumis)
    # run/ rows have no lumisection: a run is kept when the mask has any of it.
    runs = tracker_client.run.list_all(enable_progress=False)
    kept = mask.apply(runs)
    assert [row.run_number for row in kept.results] == [
        row.run_number for row in runs.results if row.run_number in mask.runs
    ]
    assert kept.results


def test_apply_on_histogram_array(th1: Any, mask: LumiMask) -> None:
    array = th1.to_numpy()
    got = mask.apply(array)
    keep = np.array([(r, ls) in mask for r, ls in zip(array.run_number, array.ls_number)])
    assert 0 < keep.sum() < len(array)
    assert len(got) == keep.sum()
    for name in ("data", "dataset_id", "run_number", "ls_number", "me_id", "entries", "file_id"):
        np.testing.assert_array_equal(getattr(got, name), getattr(array, name)[keep])
    np.testing.assert_array_equal(got.x_edges, array.x_edges)
    assert set(got.me_names) == set(got.me_id.tolist())
    assert set(got.dataset_names) == set(got.dataset_id.tolist())


def test_apply_on_frames_and_tables(th1: Any, mask: LumiMask) -> None:
    frame = th1.to_pandas()
    got = mask.apply(frame)
    keep = [(r, ls) in mask for r, ls in zip(frame.run_number, frame.ls_number)]
    pd.testing.assert_frame_equal(got, frame[keep])
    renamed = frame.rename(columns={"run_number": "run", "ls_number": "lumi"})
    pd.testing.assert_frame_equal(
        mask.apply(renamed, run_column="run", ls_column="lumi"), renamed[keep]
    )
    table = th1.to_arrow()
    assert mask.apply(table).column("ls_number").to_pylist() == list(got.ls_number)
    with pytest.raises(Exception, match="no column 'run_number'"):
        mask.apply(renamed)
    with pytest.raises(LumiMaskTypeError, match="apply\\(\\) takes a results object"):
        mask.apply([1, 2, 3])
    with pytest.raises(LumiMaskTypeError, match="unexpected options \\['me'\\]"):
        mask.apply(frame, me="x")


@pytest.fixture(scope="module")
def fetched(tracker_client: Dials, tmp_path_factory: pytest.TempPathFactory) -> FetchedDataset:
    path = tmp_path_factory.mktemp("lumimask") / "slice"
    report = tracker_client.fetch(path, mes=[TH1_ME], piece_rows=60, progress=False)
    assert report.complete
    return open_dataset(path)


def test_apply_on_fetched_dataset(fetched: FetchedDataset, th1: Any, mask: LumiMask) -> None:
    frame = mask.apply(fetched)
    expected = _kept(th1.results, mask)
    assert list(zip(frame.run_number, frame.ls_number, frame.dataset_id)) == [
        (row.run_number, row.ls_number, row.dataset_id) for row in expected
    ]
    pd.testing.assert_frame_equal(
        frame.reset_index(drop=True),
        mask.apply(fetched.to_pandas()).reset_index(drop=True),
    )
    array = mask.apply(fetched, output="numpy")
    np.testing.assert_array_equal(array.ls_number, frame.ls_number.to_numpy())
    table = mask.apply(fetched, output="arrow", columns=["entries"])
    assert table.column_names == ["entries"]
    assert table.column("entries").to_pylist() == list(frame.entries)
    only = mask.apply(fetched, columns=["ls_number", "entries"])
    assert list(only.columns) == ["ls_number", "entries"]
    assert len(LumiMask().apply(fetched)) == 0


# -- the ML reports as masks ------------------------------------------------------------------


def test_golden_and_bad_masks_match_the_reports(jetmet: Dials) -> None:
    args: dict[str, Any] = {
        "model_id__in": JETMET_MODELS,
        "dataset_id__in": [JETMET_DATASET],
        "run_number__in": JETMET_RUNS,
    }
    golden_json = jetmet.ml_bad_lumis.golden_json(**args)
    cert = jetmet.ml_bad_lumis.cert_json(**args)
    golden = jetmet.ml_bad_lumis.golden_mask(**args)
    bad = jetmet.ml_bad_lumis.bad_mask(**args)
    assert golden.to_json() == LumiMask(golden_json).to_json()
    flagged = {(int(run), int(ls)) for run, by_ls in cert.items() for ls, flags in by_ls.items() if flags}  # fmt: skip  # noqa: E501
    assert set(bad.pairs()) == flagged and bad
    assert not golden & bad  # golden is what no model flagged
    rows = jetmet.ml_bad_lumis.list_all(
        {
            "model_id__in": JETMET_MODELS,
            "dataset_id": JETMET_DATASET,
            "run_number__in": JETMET_RUNS,
        },
        enable_progress=False,
    )
    assert LumiMask.from_results(rows) == bad
    lumis = jetmet.lumi.list_all(
        {
            "dataset_id": JETMET_DATASET,
            "run_number__gte": min(JETMET_RUNS),
            "run_number__lte": max(JETMET_RUNS),
        },
        enable_progress=False,
    )
    known = LumiMask.from_results(lumis).select_runs(JETMET_RUNS)
    assert golden == known - bad
    report = golden.compare(bad, names=("golden", "flagged"))
    assert report.only_b == bad and report.only_a == golden


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP server over ``tmp_path`` (for masks read from URLs)."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that refuses an over-long body hangs up while it is being sent: the
        # broken pipe is the test's point, not an error worth a traceback in the output.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_json_portal(jetmet: Dials, tmp_path: Path, served: str) -> None:
    args: dict[str, Any] = {
        "model_id__in": JETMET_MODELS,
        "dataset_id__in": [JETMET_DATASET],
        "run_number__in": JETMET_RUNS,
    }
    ml = jetmet.ml_bad_lumis.golden_mask(**args)
    pairs = sorted(ml.pairs())
    # Synthetic official JSONs: golden drops the first run's first half, DCS every third
    # lumisection; both carry a run outside the request.
    first_run = pairs[0][0]
    half = [p for p in pairs if p[0] == first_run][: len(ml.select_runs([first_run])) // 2]
    golden = LumiMask.from_pairs([p for p in pairs if p not in set(half)] + [(1, 1)])
    dcs = LumiMask.from_pairs([p for k, p in enumerate(pairs) if k % 3] + [(2, 5)])
    golden.to_file(tmp_path / "golden.json")
    dcs.to_file(tmp_path / "dcs.json")

    # golden read from a URL, dcs from a file.
    both = jetmet.ml_bad_lumis.json_portal(
        **args, golden=f"{served}/golden.json", dcs=tmp_path / "dcs.json"
    )
    assert set(both.pairs()) == set(ml.pairs()) & set(golden.pairs()) & set(dcs.pairs())
    assert 0 < len(both) < len(ml)
    assert jetmet.ml_bad_lumis.json_portal(**args) == ml
    assert jetmet.ml_bad_lumis.json_portal(**args, golden=golden.to_json()) == ml & golden
    assert jetmet.ml_bad_lumis.json_portal(**args, dcs=dcs) == ml & dcs
    with pytest.raises(FileNotFoundError):
        jetmet.ml_bad_lumis.json_portal(**args, golden=tmp_path / "missing.json")


def test_a_url_answering_more_than_a_lumi_json_is_refused(tmp_path: Path, served: str) -> None:
    """The body read from a URL is bounded (MAX_URL_BYTES; a real golden JSON is a few
    hundred kB): a larger answer is refused once the bound is passed, not read whole."""
    from cmsdials.errors import LumiMaskError
    from cmsdials.lumi._mask import MAX_URL_BYTES

    with (tmp_path / "huge.json").open("wb") as huge:
        huge.truncate(MAX_URL_BYTES + 2**20)  # sparse: no disk written
    with pytest.raises(LumiMaskError, match="not a lumi JSON"):
        LumiMask.from_json(f"{served}/huge.json")
