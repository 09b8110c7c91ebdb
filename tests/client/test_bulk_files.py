"""Parquet and CSV files: read back equal, and never half-written under their name."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from bulk_support import dumped

from cmsdials import Dials
from cmsdials.errors import ServerError
from cmsdials.filters import (
    DatasetIndexFilters,
    LumisectionFilters,
    LumisectionHistogram1DFilters,
    LumisectionHistogram2DFilters,
)

MIXED = LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, page_size=40)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def test_parquet_from_a_stream_reads_back_equal(dials: Dials, tmp_path: Path) -> None:
    path = dials.h2d.stream(MIXED, workers=3).to_parquet(tmp_path / "maps.parquet")
    expected = dumped(dials.h2d.list_all(MIXED).results)
    table = pq.read_table(path)
    assert table.num_rows == len(expected) > 100
    assert table.to_pylist() == expected
    assert pq.ParquetFile(path).metadata.num_row_groups > 1  # written page by page
    assert _leftovers(tmp_path) == []


def test_parquet_from_a_result_and_other_routes(dials: Dials, tmp_path: Path) -> None:
    th1 = dials.h1d.list_all(LumisectionHistogram1DFilters(me_id=1, ls_number__lte=3))
    th1.to_parquet(tmp_path / "th1.parquet")
    assert pq.read_table(tmp_path / "th1.parquet").to_pylist() == dumped(th1.results)
    datasets = dials.dataset_index.list_all(DatasetIndexFilters(page_size=2))
    dials.dataset_index.stream(DatasetIndexFilters(page_size=2)).to_parquet(tmp_path / "d.parquet")
    assert pq.read_table(tmp_path / "d.parquet").to_pylist() == dumped(datasets.results)
    empty = dials.h2d.list_all(LumisectionHistogram2DFilters(run_number=1))
    empty.to_parquet(tmp_path / "empty.parquet")
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


def test_csv_reads_back_equal(dials: Dials, tmp_path: Path) -> None:
    path = dials.h2d.stream(MIXED).to_csv(tmp_path / "maps.csv")
    expected = dumped(dials.h2d.list_all(MIXED).results)
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert json.loads(got["data"]) == want["data"]
        for name, value in want.items():
            if name != "data":
                assert type(value)(got[name]) == value, name
    lumis = dials.lumi.list_all(LumisectionFilters(ls_number__lte=2))
    lumis.to_csv(tmp_path / "lumis.csv")
    with open(tmp_path / "lumis.csv", newline="") as stream:
        assert [int(r["ls_number"]) for r in csv.DictReader(stream)] == [
            r.ls_number for r in lumis.results
        ]


def test_failed_stream_leaves_no_file_and_keeps_an_older_one(
    dials: Dials, faults: Any, tmp_path: Path
) -> None:
    path = tmp_path / "maps.parquet"
    faults("503@3x1")
    with pytest.raises(ServerError):
        dials.h2d.stream(MIXED, retries=0).to_parquet(path)
    assert not path.exists() and _leftovers(tmp_path) == []
    path.write_bytes(b"an older file")
    faults("503@3x1")
    with pytest.raises(ServerError):
        dials.h2d.stream(MIXED, retries=0).to_csv(path)
    assert path.read_bytes() == b"an older file" and _leftovers(tmp_path) == []


_WRITER = textwrap.dedent(
    """
    import sys
    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials
    from cmsdials.filters import LumisectionHistogram2DFilters

    base_url, secret, path = sys.argv[1:4]
    dials = Dials(Credentials(token=secret), base_url=base_url)
    filters = LumisectionHistogram2DFilters(me__regex="PXBarrel", ls_number=78, page_size=20)
    dials.h2d.stream(filters).to_parquet(path)
    print("finished")
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_writer_never_leaves_a_partial_file(
    target: Any, faults: Any, tmp_path: Path, how: signal.Signals
) -> None:
    path = tmp_path / "maps.parquet"
    faults("slow:1.5@3x1")  # the 3rd page is slow: time to interrupt the writer
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # The with block closes the pipes (and waits for the process) however the test ends.
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, target.base_url, target.secret, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        try:
            deadline = time.monotonic() + 30
            while not _leftovers(tmp_path) and time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.02)
            assert _leftovers(tmp_path), "the writer should have started its temporary file"
            time.sleep(0.3)  # pages 1-2 written, page 3 pending
            assert not path.exists()
            process.send_signal(how)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode != 0
    assert not path.exists()
    if how == signal.SIGINT:  # KeyboardInterrupt: the temporary file is removed too
        assert _leftovers(tmp_path) == []
