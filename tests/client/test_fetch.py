"""dials.fetch(): a slice of dials-local written as a resumable Parquet data set.

Against the session's dials-local (tiny data set, workspace ``tracker``): ME 1 (th1, 100
bins) and ME 99 (th2, 16 x 20) in two datasets, runs 360000-368000: 7 runs, 14 pieces
with ``piece_rows=1`` (one run per piece).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cmsdials
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.dataset import (
    FetchIncompleteError,
    FetchQueryError,
    FetchSpec,
    Manifest,
    ManifestError,
    ManifestMismatchError,
    Piece,
    audit,
    run_piece,
)
from cmsdials.errors import UnknownMEError
from cmsdials.filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters
from conftest import Target
from dials_local.testing import LocalServer

TH1_ME = "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"  # me_id 1
TH2_ME = "PixelPhase1/Tracks/PXBarrel/clusterposition_zphi_ontrack_PXLayer_1"  # me_id 99
DATASET_22F = 14495040
DATASET_23C = "/ZeroBias/Run2023C-PromptReco-v1/DQMIO"  # id 14677060
RUNS = (360000, 368000)
QUERY: dict[str, Any] = {
    "mes": [TH1_ME, TH2_ME],
    "datasets": [DATASET_22F, DATASET_23C],
    "runs": RUNS,
    "piece_rows": 1,
}
PIECES = 14


@pytest.fixture
def tracker_data(truth: Any, tracker: Dials) -> Dials:
    """The tracker client, only against the session's dials-local (known data)."""
    return tracker


def data_files(root: Path) -> dict[str, bytes]:
    """Every data file and piece record (relative path -> bytes)."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative != "_manifest.json":
            found[relative] = path.read_bytes()
    return found


def hidden_files(root: Path) -> list[str]:
    return [
        p.relative_to(root).as_posix()
        for p in root.rglob(".*")
        if p.is_file() and p.parent != root  # root: a concurrent manifest write's temp
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, target: Target) -> Path:
    """One uninterrupted, unsharded fetch of QUERY (the others are compared with it)."""
    if not target.known_data:
        pytest.skip("needs known data (the session's dials-local)")
    root = tmp_path_factory.mktemp("reference") / "data"
    with Dials(
        Credentials(token=target.secret), workspace="tracker", base_url=target.base_url
    ) as d:
        report = d.fetch(root, **QUERY, progress=False)
    assert report.complete and report.pieces_done == PIECES
    return root


# -- what a fetch writes --------------------------------------------------------------------


def _frame_from_files(root: Path, manifest: Manifest, kind: str) -> pd.DataFrame:
    frames = []
    for piece in manifest.pieces:  # plan order: dataset_id, then runs: the server's order
        if piece.kind != kind:
            continue
        frame = pq.read_table(root / piece.path).to_pandas()
        frame["me_id"] = piece.me_id
        frame["dataset_id"] = piece.dataset_id
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _list_all_frame(dials: Dials, kind: str, me: str) -> pd.DataFrame:
    route: Any = dials.h1d if kind == "th1" else dials.h2d
    model: Any = LumisectionHistogram1DFilters if kind == "th1" else LumisectionHistogram2DFilters
    frames = [
        route.list_all(
            model(
                me=me,
                dataset_id=dataset_id,
                run_number__gte=RUNS[0],
                run_number__lte=RUNS[1],
                page_size=500,
            ),
            enable_progress=False,
        ).to_pandas()
        for dataset_id in (DATASET_22F, 14677060)
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(("kind", "me"), [("th1", TH1_ME), ("th2", TH2_ME)])
def test_files_hold_the_rows_of_list_all(
    tracker_data: Dials, reference: Path, kind: str, me: str
) -> None:
    manifest = Manifest.load(reference)
    got = _frame_from_files(reference, manifest, kind)
    expected = _list_all_frame(tracker_data, kind, me)
    assert len(expected) > 500
    assert len(got) == len(expected)
    scalars = [name for name in expected.columns if name != "data"]
    pd.testing.assert_frame_equal(
        got[scalars].reset_index(drop=True), expected[scalars], check_dtype=False
    )
    # dtypes as list_all's Arrow columns (x_bin int64 there; the frame's float64 is 2.4.1's)
    assert got["run_number"].dtype == np.int64 and got["entries"].dtype == np.int64
    for mine, theirs in zip(got["data"], expected["data"]):
        assert np.array_equal(np.array(mine.tolist(), dtype=float), np.asarray(theirs))


def test_layout_and_manifest(tracker_data: Dials, reference: Path) -> None:
    manifest = json.loads((reference / "_manifest.json").read_text())
    assert manifest["format"] == "cmsdials-dataset/1"
    assert manifest["query"] == {
        "mes": sorted([TH1_ME, TH2_ME]),
        "me_regex": None,
        "datasets": [DATASET_22F, DATASET_23C],
        "dataset_regex": None,
        "runs": [list(RUNS)],
    }
    assert manifest["server"] == tracker_data.base_url
    assert manifest["workspace"] == "tracker"
    assert manifest["client_version"] == cmsdials.__version__
    created = datetime.fromisoformat(manifest["created"])
    assert created.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(manifest["updated"]) >= created

    pieces = manifest["pieces"]
    assert len(pieces) == PIECES
    keys = [(p["kind"], p["me_id"], p["dataset_id"], p["first_run"]) for p in pieces]
    assert keys == sorted(keys)
    assert {(p["kind"], p["me_id"], p["me"]) for p in pieces} == {
        ("th1", 1, TH1_ME),
        ("th2", 99, TH2_ME),
    }
    assert {p["dataset_id"] for p in pieces} == {DATASET_22F, 14677060}
    for entry in pieces:
        piece_id = (
            f"{entry['kind']}/me_id={entry['me_id']}/dataset_id={entry['dataset_id']}/"
            f"runs-{entry['first_run']}-{entry['last_run']}"
        )
        assert entry["id"] == piece_id and entry["path"] == piece_id + ".parquet"
        content = (reference / entry["path"]).read_bytes()
        assert entry["status"] == "complete"
        assert entry["bytes"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["rows"] == pq.read_metadata(reference / entry["path"]).num_rows > 0
        assert entry["expected_rows"] >= entry["rows"]
        record = json.loads(
            (reference / "_pieces" / (piece_id.replace("/", "__") + ".json")).read_text()
        )
        assert record == {k: entry[k] for k in ("id", "rows", "bytes", "sha256")}
        # The partition keys are in the directory names only.
        names = pq.read_schema(reference / entry["path"]).names
        assert "me_id" not in names and "dataset_id" not in names and "data" in names


def test_hive_dataset_reads_with_the_partition_keys(reference: Path) -> None:
    import pyarrow.dataset as pads

    partitioning = pads.partitioning(
        pa.schema([("me_id", pa.int64()), ("dataset_id", pa.int64())]), flavor="hive"
    )
    table = pads.dataset(reference / "th2", format="parquet", partitioning=partitioning).to_table()
    manifest = Manifest.load(reference)
    assert table.num_rows == sum(
        manifest.records[p.id].rows for p in manifest.pieces if p.kind == "th2"
    )
    assert set(table.column("me_id").to_pylist()) == {99}
    assert set(table.column("dataset_id").to_pylist()) == {DATASET_22F, 14677060}


def test_second_run_skips_everything_and_prints_nothing(
    tracker_data: Dials, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    query = dict(QUERY, mes=TH1_ME, datasets=DATASET_23C)
    first = tracker_data.fetch(root, **query, progress=False)
    before = data_files(root)
    second = tracker_data.fetch(root, **query, progress=False)
    assert first.pieces_done == first.pieces_total == 3 and first.pieces_skipped == 0
    assert first.rows == sum(
        Manifest.load(root).records[i].rows for i in Manifest.load(root).records
    )
    assert second.pieces_done == 0 and second.pieces_skipped == 3 and second.rows == 0
    assert second.complete and second.pieces_failed == []
    assert data_files(root) == before
    # verify=True reads the files: a changed byte makes the piece be fetched again.
    victim = next(p for p in root.rglob("*.parquet"))
    content = bytearray(victim.read_bytes())
    content[-20] ^= 0xFF
    victim.write_bytes(bytes(content))
    assert tracker_data.fetch(root, **query, progress=False).pieces_done == 0
    third = tracker_data.fetch(root, **query, progress=False, verify=True)
    assert third.pieces_done == 1 and third.pieces_skipped == 2
    assert data_files(root) == before
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_workers_write_the_same_bytes(tracker_data: Dials, reference: Path, tmp_path: Path) -> None:
    report = tracker_data.fetch(tmp_path / "data", **QUERY, workers=4, progress=False)
    assert report.pieces_done == PIECES
    assert data_files(tmp_path / "data") == data_files(reference)


# -- kill and resume -------------------------------------------------------------------------

FETCH_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials

    query = json.loads(sys.argv[3])
    query["runs"] = tuple(query["runs"])
    with Dials(Credentials(token=os.environ["FETCH_TEST_SECRET"]), workspace="tracker",
               base_url=sys.argv[1]) as dials:
        dials.fetch(sys.argv[2], workers=1, progress=False, **query)
    """
)


def _records(root: Path) -> int:
    pieces = root / "_pieces"
    return len(list(pieces.glob("*.json"))) if pieces.exists() else 0


def test_kill_and_resume_is_byte_identical(
    target: Target, reference: Path, tmp_path: Path, faults: Any
) -> None:
    root = tmp_path / "data"
    # Every answer takes 0.1 s, longer than the longest pause below: a kill lands inside the
    # piece after the one awaited, whatever the machine's speed (unslowed, a piece took 8 ms
    # and one pause let a fetch write the last pieces, leaving the resume nothing to do).
    faults("slow:0.1@1")
    env = dict(os.environ, FETCH_TEST_SECRET=target.secret)
    argv = [sys.executable, "-c", FETCH_SCRIPT, target.base_url, str(root), json.dumps(QUERY)]
    chooser = random.Random(20241113)
    # Kill points: just after the manifest appears, then after 3 random numbers of records,
    # each followed by a random pause (somewhere inside the next piece).
    targets = [0, *sorted(chooser.sample(range(1, PIECES - 1), 3))]
    kills = []
    for wanted in targets:
        pause = chooser.uniform(0.0, 0.05)
        process = subprocess.Popen(argv, env=env)
        try:
            deadline = time.monotonic() + 120
            while process.poll() is None and (
                _records(root) < wanted or not (root / "_manifest.json").exists()
            ):
                assert time.monotonic() < deadline, "the fetch made no progress"
                time.sleep(0.002)
            time.sleep(pause)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        kills.append((_records(root), process.returncode))
    # Every run was killed before the end, each one further on.
    assert all(code == -signal.SIGKILL for _, code in kills), kills
    assert [n for n, _ in kills] == sorted(n for n, _ in kills) and kills[-1][0] < PIECES
    interrupted_at = _records(root)
    assert 0 < interrupted_at < PIECES

    with Dials(
        Credentials(token=target.secret), workspace="tracker", base_url=target.base_url
    ) as dials:
        report = dials.fetch(root, **QUERY, progress=False)
    assert report.pieces_skipped + report.pieces_done == PIECES
    # A record is written after its file: every record found is a complete piece.
    assert report.pieces_skipped == interrupted_at
    assert data_files(root) == data_files(reference)
    assert hidden_files(root) == []
    assert Manifest.load(root).entries() == Manifest.load(reference).entries()


# -- shards ----------------------------------------------------------------------------------


def test_shards_together_equal_the_whole(
    tracker_data: Dials, reference: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    reports: dict[str, Any] = {}
    errors: list[BaseException] = []

    def job(shard: Any) -> None:
        try:
            reports[str(shard)] = tracker_data.fetch(root, **QUERY, shard=shard, progress=False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # Three batch jobs started together: they race to create the one manifest.
    threads = [threading.Thread(target=job, args=(s,)) for s in ("1/3", (2, 3), " 3 / 3 ")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    done = [reports[key].pieces_done for key in ("1/3", "(2, 3)", " 3 / 3 ")]
    assert done == [5, 5, 4]  # pieces 0,3,6,.. / 1,4,7,.. / 2,5,8,..
    assert all(r.pieces_total == PIECES and r.pieces_skipped == 0 for r in reports.values())
    assert data_files(root) == data_files(reference)
    assert Manifest.load(root).entries() == Manifest.load(reference).entries()
    again = tracker_data.fetch(root, **QUERY, progress=False)
    assert again.pieces_done == 0 and again.pieces_skipped == PIECES


def test_a_shard_fetches_only_its_share(tracker_data: Dials, tmp_path: Path) -> None:
    root = tmp_path / "data"
    report = tracker_data.fetch(root, **QUERY, shard="2/3", progress=False)
    manifest = Manifest.load(root)
    assert report.pieces_done == 5
    assert set(manifest.records) == {p.id for p in manifest.pieces[1::3]}
    assert [e["status"] for e in manifest.entries()[:3]] == ["pending", "complete", "pending"]


# -- audit -----------------------------------------------------------------------------------


@pytest.fixture
def private_server(tiny_data_dir: Path, tmp_path: Path) -> Any:
    data = tmp_path / "server-data"
    shutil.copytree(tiny_data_dir, data, ignore=shutil.ignore_patterns("*.log"))
    with LocalServer(data, in_thread=True) as server:
        yield server


def test_audit_finds_a_deleted_file_and_a_row_deleted_on_the_server(
    private_server: LocalServer, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    creds = Credentials(token=private_server.secret_key)
    with Dials(creds, workspace="tracker", base_url=private_server.base_url) as dials:
        dials.fetch(root, mes=TH1_ME, datasets=DATASET_23C, runs=RUNS, piece_rows=1, progress=False)
        clean = audit(root, dials)
        assert clean.ok, str(clean)
        assert "OK" in str(clean)

        manifest = Manifest.load(root)
        first, second, _ = manifest.pieces
        (root / second.path).unlink()
        assert private_server.data_dir is not None
        # closing(): sqlite3's own `with` commits but leaves the connection open.
        with closing(sqlite3.connect(private_server.data_dir / "tracker.sqlite3")) as db, db:
            deleted = db.execute(
                "DELETE FROM fact_th1 WHERE me_id = 1 AND dataset_id = 14677060 "
                "AND run_number = ? AND ls_number = 10",
                (first.first_run,),
            ).rowcount
        assert deleted == 1
        report = audit(root, dials)

    assert not report.ok
    assert [(m.id, "missing" in m.reason) for m in report.missing_pieces] == [(second.id, True)]
    assert report.duplicates == []
    (mismatch,) = report.mismatches
    assert mismatch.id == first.id
    assert mismatch.server_rows == mismatch.disk_rows - 1
    assert mismatch.only_on_disk == [(first.first_run, 10)] and mismatch.only_on_server == []
    text = str(report)
    assert second.id in text and f"({first.first_run}, 10)" in text


def test_audit_finds_duplicated_rows_and_a_changed_file(reference: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(reference, root)
    manifest = Manifest.load(root)
    doubled, changed = manifest.pieces[0], manifest.pieces[1]
    table = pq.read_table(root / doubled.path)
    pq.write_table(pa.concat_tables([table, table.slice(0, 2)]), root / doubled.path)
    content = (root / doubled.path).read_bytes()
    record = json.loads((root / "_pieces" / (doubled.key + ".json")).read_text())
    record.update(rows=table.num_rows + 2, bytes=len(content))
    record["sha256"] = hashlib.sha256(content).hexdigest()
    (root / "_pieces" / (doubled.key + ".json")).write_text(json.dumps(record))
    with open(root / changed.path, "ab") as stream:
        stream.write(b"x")

    report = audit(root, None)  # no server: files and duplicates only
    assert [m.id for m in report.missing_pieces] == [changed.id]
    assert "bytes" in report.missing_pieces[0].reason
    runs = table.column("run_number").to_pylist()[:2]
    lss = table.column("ls_number").to_pylist()[:2]
    assert [
        (d.me_id, d.dataset_id, d.run_number, d.ls_number, d.copies) for d in report.duplicates
    ] == [(doubled.me_id, doubled.dataset_id, run, ls, 2) for run, ls in sorted(zip(runs, lss))]
    assert not report.ok and "server not checked" in str(report)


# -- pieces run elsewhere --------------------------------------------------------------------


def test_spec_pickles_without_showing_the_secret(
    tracker_data: Dials, target: Target, reference: Path, tmp_path: Path
) -> None:
    spec = FetchSpec.from_dials(tracker_data, tmp_path / "data")
    assert target.secret not in repr(spec)
    copy = pickle.loads(pickle.dumps(spec))
    assert copy.base_url == tracker_data.base_url and copy.workspace == "tracker"
    piece = Manifest.load(reference).pieces[-1]
    assert isinstance(piece, Piece)
    record = run_piece(copy, pickle.loads(pickle.dumps(piece)))
    written = (tmp_path / "data" / piece.path).read_bytes()
    assert written == (reference / piece.path).read_bytes()
    assert record.rows == Manifest.load(reference).records[piece.id].rows


def test_spec_with_token_credentials_pickles(tmp_path: Path) -> None:
    from datetime import timezone

    from cmsdials.auth.device import Credentials as TokenCredentials

    now = datetime.now(timezone.utc)
    creds = TokenCredentials(
        token="access", expires_at=now + timedelta(hours=1), expires_in=3600,
        refresh_expires_at=now + timedelta(days=1), refresh_expires_in=86400,
        refresh_token="refresh", token_type="Bearer", cache_dir=tmp_path / "cache",
    )  # fmt: skip
    spec = FetchSpec("http://127.0.0.1:1/", "tracker", creds, str(tmp_path))
    assert "access" not in repr(spec)
    copy = pickle.loads(pickle.dumps(spec)).credentials
    assert copy.token == "access"
    assert copy.token_state == creds.token_state
    # The copy has locks of its own: it refreshes and applies like the original.
    headers: dict[str, str] = {}
    copy.apply(headers)
    assert headers["Authorization"] == "Bearer access"


# -- errors ----------------------------------------------------------------------------------


def test_unknown_me_names_the_closest(tracker_data: Dials, tmp_path: Path) -> None:
    with pytest.raises(UnknownMEError) as caught:
        tracker_data.fetch(tmp_path / "data", mes=[TH1_ME + "2", TH2_ME], progress=False)
    assert repr(TH1_ME) in str(caught.value) and "did you mean" in str(caught.value)
    assert not (tmp_path / "data" / "_manifest.json").exists()


def test_no_me_matched(tracker_data: Dials, tmp_path: Path) -> None:
    with pytest.raises(FetchQueryError, match=r"no 1-D or 2-D monitoring element .* me_regex="):
        tracker_data.fetch(tmp_path / "data", me_regex="^NoSuchDetector/", progress=False)


@pytest.mark.parametrize(
    ("datasets", "expected"),
    [
        (
            "/ZeroBias/Run2023C-PromptReco-v2/DQMIO",
            "did you mean '/ZeroBias/Run2023C-PromptReco-v1",
        ),
        (999, "no dataset with id 999"),
    ],
)
def test_unknown_dataset(tracker_data: Dials, tmp_path: Path, datasets: Any, expected: str) -> None:
    with pytest.raises(FetchQueryError, match="no dataset") as caught:
        tracker_data.fetch(tmp_path / "data", mes=TH1_ME, datasets=datasets, progress=False)
    assert expected in str(caught.value)


def test_another_query_in_the_same_directory(tracker_data: Dials, tmp_path: Path) -> None:
    root = tmp_path / "data"
    tracker_data.fetch(root, mes=TH1_ME, datasets=DATASET_23C, runs=367112, progress=False)
    with pytest.raises(ManifestMismatchError) as caught:
        tracker_data.fetch(root, mes=TH1_ME, datasets=DATASET_23C, runs=367188, progress=False)
    assert caught.value.differences == {"runs": ([[367112, 367112]], [[367188, 367188]])}
    assert "runs" in str(caught.value) and "new directory" in str(caught.value)
    # The same query, spelt differently (a list, a range of one run), is the same data set.
    same = tracker_data.fetch(
        root, mes=[TH1_ME], datasets=[DATASET_23C], runs=[(367112, 367112)], progress=False
    )
    assert same.pieces_skipped == 1


@pytest.mark.parametrize("shard", ["0/3", "4/3", "a/b", "1/0", "3", (0, 3), (1, 2, 3), 2])
def test_bad_shards_are_refused(tracker_data: Dials, tmp_path: Path, shard: Any) -> None:
    with pytest.raises(FetchQueryError, match=r'shard must be \(i, n\) or "i/n" with 1 <= i <= n'):
        tracker_data.fetch(tmp_path / "data", mes=TH1_ME, shard=shard, progress=False)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"runs": (368000, 367000)}, "first <= last"),
        ({"runs": "367112"}, "runs must be"),
        ({"mes": []}, "mes is empty"),
        ({"datasets": [True]}, "datasets must hold"),
        ({"me_regex": "("}, "not a valid regex"),
        ({"workers": 0}, "workers must be a positive integer"),
        ({"piece_rows": 0}, "piece_rows must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused(
    tracker_data: Dials, tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    query = dict({"mes": TH1_ME}, **arguments)
    with pytest.raises(FetchQueryError, match=message):
        tracker_data.fetch(tmp_path / "data", progress=False, **query)
    assert not (tmp_path / "data" / "_manifest.json").exists()


def test_failed_pieces_are_reported_and_the_others_written(
    tracker_data: Dials, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    query = dict(QUERY, mes=TH1_ME, datasets=DATASET_23C)
    tracker_data.fetch(root, **query, shard="1/3", progress=False)
    pieces = Manifest.load(root).pieces
    # A directory where a piece's file goes: its rename fails, the others go on.
    (root / pieces[1].path).mkdir(parents=True)
    with pytest.raises(FetchIncompleteError) as caught:
        tracker_data.fetch(root, **query, progress=False)
    report = caught.value.report
    assert report.pieces_skipped == 1 and report.pieces_done == 1
    assert [piece_id for piece_id, _ in report.pieces_failed] == [pieces[1].id]
    assert not report.complete and "run the same fetch again" in str(caught.value)
    assert Manifest.load(root).entries()[1]["status"] == "pending"
    (root / pieces[1].path).rmdir()
    again = tracker_data.fetch(root, **query, progress=False)
    assert again.pieces_done == 1 and again.pieces_skipped == 2 and Manifest.load(root).complete


def test_progress_in_logs_and_on_a_bar(
    tracker_data: Dials,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    query = dict(QUERY, mes=TH1_ME, datasets=DATASET_23C)
    monkeypatch.setenv("CMSDIALS_PROGRESS_INTERVAL", "0")
    caplog.set_level(logging.INFO, logger="cmsdials.progress")
    tracker_data.fetch(tmp_path / "logged", **query)  # not a terminal: log lines
    lines = [r.getMessage() for r in caplog.records if r.name == "cmsdials.progress"]
    assert lines[0].startswith("fetch 1/3 pieces: ") and "rows" in lines[0]
    assert "/" in lines[0].split("pieces: ")[1]  # rows against the expected total
    assert lines[-1].startswith("fetch 3/3 pieces: done after")
    capfd.readouterr()
    tracker_data.fetch(tmp_path / "bar", **query, progress=True)
    err = capfd.readouterr().err
    assert "fetch 3/3 pieces" in err and "row" in err


def test_plan_never_spans_a_run_the_query_leaves_out(tracker_data: Dials) -> None:
    from cmsdials.dataset import FetchQuery, plan_pieces

    runs = [r.run_number for r in tracker_data.run.list_all({"dataset_id": 14677060}).results]
    assert len(runs) >= 3
    first, skipped, third = sorted(runs)[:3]
    query = FetchQuery.build(mes=TH1_ME, datasets=14677060, runs=[first, (third, third)])
    pieces = plan_pieces(tracker_data, query, piece_rows=10_000)
    assert [(p.first_run, p.last_run) for p in pieces] == [(first, first), (third, third)]
    assert skipped not in (first, third)
    # Default size (about 64 MB of bins): the 100-bin ME's whole dataset is one piece.
    whole = plan_pieces(tracker_data, FetchQuery.build(mes=TH1_ME, datasets=14677060))
    assert [(p.first_run, p.last_run) for p in whole] == [(min(runs), max(runs))]
    assert whole[0].expected_rows == sum(
        r.ls_count for r in tracker_data.run.list_all({"dataset_id": 14677060}).results
    )


def test_a_directory_of_other_files_is_refused(tracker_data: Dials, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ManifestError, match=r"is not empty \('notes.txt'\) and holds no data set"):
        tracker_data.fetch(tmp_path, mes=TH1_ME, datasets=DATASET_23C, runs=367112, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_fetch_on_a_dask_cluster_writes_the_same_bytes(
    target: Target, reference: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    root = tmp_path / "data"
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
        )
        client = stack.enter_context(distributed.Client(cluster))
        dials = stack.enter_context(
            Dials(Credentials(token=target.secret), workspace="tracker", base_url=target.base_url)
        )
        report = dials.fetch(root, **QUERY, dask_client=client, progress=False)
    assert report.pieces_done == PIECES and report.rows == sum(
        r.rows for r in Manifest.load(reference).records.values()
    )
    assert data_files(root) == data_files(reference)
