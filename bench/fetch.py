"""``dials.fetch`` (a slice of DIALS as a Parquet data set) against the hand-written way.

    python bench/fetch.py                          # large data set, SQLite and PostgreSQL, 3 runs
    python bench/fetch.py --size demo --runs 3 --backends sqlite

For each database, against one dials-local serving the data set, interleaved run by run:

* ``fetch``: ``dials.fetch(path, mes=MES)``, one piece at a time;
* ``fetch, 4 workers``: the same with ``workers=4``;
* ``by hand``: what users write, per ME ``list_all(filters).to_pandas().to_parquet(...)``;
* ``resume at 50 %``: a fetch killed (SIGKILL) once half of its pieces are written, then
  run again: the second run's time against a whole fetch's;
* ``Dask, 2 workers``: ``dials.fetch(path, mes=MES, dask_client=client)`` on a
  ``distributed.LocalCluster`` of 2 worker processes (started before the clock runs).

Each read runs in a process of its own (``--child``), timed from its first line, imports
included.  Rows/s and MB/s count the rows and the Parquet bytes written.

Writes the section "fetch" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import machine_line, median_range, write_section
from dials_local.testing import LocalServer, find_postgres_bin, postgres_cluster, seed_data_dir

#: The benchmark MEs of docs/data.md, with their dimension: th1 100 bins, th2 24 x 24,
#: th2 200 x 200 (50 x 50 in tiny).
ME_DIMS = {
    "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2": 1,
    (
        "Tracking/TrackParameters/highPurityTracks/pt_1/GeneralProperties/"
        "TrackEtaPhi_ImpactPoint_GenTk"
    ): 2,
    "PixelPhase1/Tracks/clusterposition_zphi_ontrack": 2,
}
MES = tuple(ME_DIMS)
MODES = ("fetch", "fetch-w4", "by-hand", "dask")
LABELS = {
    "fetch": "`dials.fetch(path, mes=...)`",
    "fetch-w4": "`dials.fetch(..., workers=4)`",
    "by-hand": "by hand: `list_all().to_pandas().to_parquet()` per ME",
    "dask": "`dials.fetch(..., dask_client=...)`, LocalCluster of 2 workers",
}


# -- the child: one timed read -------------------------------------------------------------


def child(mode: str, url: str, key: str, out: str) -> dict[str, Any]:
    """Run ``mode`` once into ``out``; what it did and how long it took."""
    started = time.perf_counter()
    # Every way writes Parquet from numpy columns: imported by all, so that a run with
    # nothing left to fetch measures the same fixed cost as the others.
    import numpy  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials

    dials = Dials(Credentials(token=key), workspace="tracker", base_url=url)
    rows = 0
    if mode in ("fetch", "fetch-w4", "resume"):
        report = dials.fetch(
            out, mes=list(MES), workers=4 if mode == "fetch-w4" else 1, progress=False
        )
        rows = report.rows
    elif mode == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            client.wait_for_workers(2)
            started = time.perf_counter()  # the cluster's start is not the fetch's cost
            report = dials.fetch(out, mes=list(MES), dask_client=client, progress=False)
            rows = report.rows
    elif mode == "by-hand":
        from cmsdials.filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters

        Path(out).mkdir(parents=True, exist_ok=True)
        for number, me in enumerate(MES):
            route, filters = (
                (dials.h1d, LumisectionHistogram1DFilters(me=me, page_size=500))
                if ME_DIMS[me] == 1
                else (dials.h2d, LumisectionHistogram2DFilters(me=me, page_size=500))
            )
            frame = route.list_all(filters, enable_progress=False).to_pandas()
            frame.to_parquet(Path(out) / f"{number}.parquet")
            rows += len(frame)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    seconds = time.perf_counter() - started
    written = sum(p.stat().st_size for p in Path(out).rglob("*.parquet"))
    return {"seconds": seconds, "rows": rows, "bytes": written}


def run_child(mode: str, server: LocalServer, out: Path, fresh: bool = True) -> dict[str, Any]:
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, __file__, "--child", mode, server.base_url, str(out)]
    env = {**os.environ, "DIALS_BENCH_KEY": server.secret_key}
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def interrupted_then_resumed(server: LocalServer, out: Path) -> dict[str, Any]:
    """Kill a fetch once half of its pieces are written; time the run that finishes it."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, __file__, "--child", "resume", server.base_url, str(out)]
    env = {**os.environ, "DIALS_BENCH_KEY": server.secret_key}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    manifest = out / "_manifest.json"
    total = None
    while process.poll() is None:
        if total is None and manifest.exists():
            with contextlib.suppress(ValueError, OSError):
                total = len(json.loads(manifest.read_text())["pieces"])
        records = out / "_pieces"
        done = len(list(records.glob("*.json"))) if records.exists() else 0
        if total and done >= total / 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    records = len(list((out / "_pieces").glob("*.json")))
    # Bytes already on disk (temporary .part files of the killed run do not count).
    kept = sum(p.stat().st_size for p in out.rglob("*.parquet") if not p.name.startswith("."))
    finish = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(finish.stdout.strip().splitlines()[-1])
    result["done_before"] = records
    result["bytes_before"] = kept
    result["pieces"] = total
    return result


# -- the parent ----------------------------------------------------------------------------


def measure(server: LocalServer, runs: int, work: Path) -> dict[str, list[dict[str, Any]]]:
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in (*MODES, "resume", "rerun")}
    run_child("fetch", server, work / "warm-up")  # page cache, pools, imports
    for run in range(runs):
        for mode in MODES if run % 2 == 0 else tuple(reversed(MODES)):
            sample = run_child(mode, server, work / mode)
            samples[mode].append(sample)
            print(f"run {run + 1} {mode}: {sample}", flush=True)
            if mode == "fetch":  # the fixed cost: the same fetch again, all pieces complete
                sample = run_child(mode, server, work / mode, fresh=False)
                samples["rerun"].append(sample)
                print(f"run {run + 1} rerun: {sample}", flush=True)
        sample = interrupted_then_resumed(server, work / "resume")
        samples["resume"].append(sample)
        print(f"run {run + 1} resume: {sample}", flush=True)
    return samples


def table(samples: dict[str, list[dict[str, Any]]]) -> list[str]:
    rows = [
        "| how | s | rows/s | MB/s written | time / `fetch` |",
        "|---|---|---|---|---|",
    ]
    base = [s["seconds"] for s in samples["fetch"]]
    for mode in MODES:
        values = samples[mode]
        seconds = [s["seconds"] for s in values]
        ratio = [s / b for s, b in zip(seconds, base)]
        rows.append(
            f"| {LABELS[mode]} | {median_range(seconds, '{:.2f}')} "
            f"| {median_range([s['rows'] / s['seconds'] for s in values], '{:,.0f}')} "
            f"| {median_range([s['bytes'] / 1e6 / s['seconds'] for s in values], '{:.1f}')} "
            f"| {median_range(ratio, '{:.2f}')} |"
        )
    resumed, rerun = samples["resume"], samples["rerun"]
    fixed = [s["seconds"] for s in rerun]
    # The work a resume did, against the work of a whole fetch, both without the fixed
    # cost that any run pays (interpreter, imports, manifest, checking the pieces).
    share = [(r["seconds"] - f) / (b - f) for r, f, b in zip(resumed, fixed, base)]
    left = [1 - s["done_before"] / s["pieces"] for s in resumed]
    rows_left = [s["rows"] / b["rows"] for s, b in zip(resumed, samples["fetch"])]
    bytes_left = [1 - s["bytes_before"] / s["bytes"] for s in resumed]
    rows += [
        "",
        f"Resume after a SIGKILL at 50 % of the pieces ({resumed[0]['pieces']} pieces): the "
        f"run that finished it fetched {median_range(left, '{:.2f}')} of the pieces, "
        f"{median_range(rows_left, '{:.2f}')} of the rows and "
        f"{median_range(bytes_left, '{:.2f}')} of the bytes, and cost "
        f"{median_range(share, '{:.2f}')} of a whole fetch's work (time minus the fixed "
        f"cost of any run, measured by running a complete fetch again: "
        f"{median_range(fixed, '{:.2f}')} s for interpreter, imports, manifest and checks).",
    ]
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, url, out = sys.argv[2:5]
        print(json.dumps(child(mode, url, os.environ["DIALS_BENCH_KEY"], out)))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="large", choices=["tiny", "demo", "large"])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: bench-data/<size>")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    data_dir = args.data_dir or Path("bench-data") / args.size
    names = args.backends.split(",")
    sections: list[tuple[str, list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="dials-fetch-bench-") as scratch:
        work = Path(scratch)
        if "sqlite" in names:
            print(f"seeding {args.size} into {data_dir} (once)...", flush=True)
            seed_data_dir(data_dir, args.size)
            with LocalServer(
                data_dir=data_dir, size=args.size, extra_args=("--no-access-log",)
            ) as server:
                sections.append(("SQLite", table(measure(server, args.runs, work))))
        pg_bin = find_postgres_bin()
        if "postgresql" in names and pg_bin is not None:
            with (
                postgres_cluster(pg_bin) as url,
                LocalServer(
                    database_url=url, size=args.size, extra_args=("--no-access-log",)
                ) as server,
            ):
                sections.append(
                    (f"PostgreSQL {pg_bin.parent.name}", table(measure(server, args.runs, work)))
                )
    command = (
        f"python bench/fetch.py --size {args.size} --runs {args.runs} --backends {args.backends}"
    )
    lines = [
        "## Fetch: a slice of DIALS as a Parquet data set",
        "",
        f"`{command}`: the tracker MEs " + ", ".join(f"`{me}`" for me in MES) + ", every",
        f"dataset and run of the `{args.size}` data set; each way in a process of its own,",
        f"{args.runs} runs after a warm-up, interleaved. Times from the process's first line",
        "(imports included; for Dask, from the moment the cluster's 2 workers are up).",
        "",
    ]
    for title, rows in sections:
        lines += [f"### {title}, data set `{args.size}`", "", *rows, ""]
    lines.append(machine_line())
    print(f"wrote {write_section('fetch', chr(10).join(lines))}")


if __name__ == "__main__":
    main()
