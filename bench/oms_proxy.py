"""dials-local's ``oms-proxy/`` on a large set of OMS records: this checkout against the
revision before its indexes.

Two servers read the same data (``bench-data/large``, SQLite, seeded once: 120,000 OMS
lumisections, 205,000 dataset rates): this checkout's, and the dials-local of
:data:`BEFORE` (the last revision that read a whole endpoint for one run), run from a
temporary git worktree (``_revision.py``).  Each query is sent to both, alternating, and
timed as the client sees it (wall) and as the server pays it (process CPU, ``/proc``):

* one run's lumisections (``filter[run_number][EQ]``, ``page[limit]=5000``), ten runs;
  one run's dataset rates of one dataset; the lumisections of a range of runs;
* an unfiltered page of lumisections at the start and in the middle of the endpoint;
* ``sort=``, which the database does not serve: every record read, as before;
* ``dials.oms.lumisections(runs)`` of ten runs, through this client.

    python bench/oms_proxy.py [--runs 5]

Writes the section "oms-proxy" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import requests

from _report import machine_line, median_range, process_cpu_seconds, write_section
from _revision import revision_server
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from dials_local.testing import SECRET_HEADER, LocalServer, seed_data_dir

#: The revision before the OMS indexes (1d0925c's parent).
BEFORE = "da4032a"
RUNS_PER_QUERY = 10
#: Seconds one sample of a measurement lasts at least (its requests repeated).
MIN_SAMPLE_S = 0.5


def _runs(server: LocalServer) -> list[int]:
    """Ten runs spread over the endpoint (from the runs endpoint, one small request)."""
    answer = requests.get(
        f"{server.api_url}oms-proxy/",
        params={"endpoint": "runs", "page[limit]": 100_000, "fields": "run_number"},
        headers={SECRET_HEADER: server.secret_key},
        timeout=600,
    )
    answer.raise_for_status()
    runs = sorted(d["attributes"]["run_number"] for d in answer.json()["data"])
    step = max(1, len(runs) // RUNS_PER_QUERY)
    return runs[::step][:RUNS_PER_QUERY]


def _queries(runs: list[int]) -> dict[str, list[dict[str, object]]]:
    """Label -> the requests of one measurement (parameters of each)."""
    return {
        "one run's lumisections (`filter[run_number][EQ]`), per request": [
            {"endpoint": "lumisections", "filter[run_number][EQ]": run, "page[limit]": 5000}
            for run in runs
        ],
        "lumisections, no filter, first page (`page[limit]=10`)": [{"endpoint": "lumisections"}],
        "lumisections, no filter, `page[offset]=60000&page[limit]=5000`": [
            {"endpoint": "lumisections", "page[offset]": 60_000, "page[limit]": 5000}
        ],
        "dataset rates of one run and dataset (`EQ` run, `EQ` name)": [
            {
                "endpoint": "datasetrates",
                "filter[run_number][EQ]": runs[0],
                "filter[dataset_name][EQ]": "ZeroBias",
                "page[limit]": 5000,
            }
        ],
        "lumisections of a range of runs (`GE` and `LE`, about a tenth of them)": [
            {
                "endpoint": "lumisections",
                "filter[run_number][GE]": runs[4],
                "filter[run_number][LE]": runs[5],
                "page[limit]": 5000,
            }
        ],
        "lumisections, `sort=-run_number` (not served by an index)": [
            {"endpoint": "lumisections", "sort": "-run_number", "page[limit]": 10}
        ],
    }


def _timed(server: LocalServer, send: Callable[[], None], count: int) -> tuple[float, float]:
    """Wall and server-CPU milliseconds per request of ``send`` (``count`` requests)."""
    assert server.process is not None
    cpu = process_cpu_seconds(server.process.pid)
    wall = time.perf_counter()
    send()
    wall = time.perf_counter() - wall
    cpu = process_cpu_seconds(server.process.pid) - cpu
    return 1000 * wall / count, 1000 * cpu / count


def _repeated(send: Callable[[], None], times: int) -> Callable[[], None]:
    def again() -> None:
        for _ in range(times):
            send()

    return again


def _requests(
    server: LocalServer, session: requests.Session, queries: list[dict[str, object]]
) -> Callable[[], None]:
    url = f"{server.api_url}oms-proxy/"

    def send() -> None:
        for params in queries:
            session.get(url, params=params, timeout=600).raise_for_status()

    return send


def _client(server: LocalServer, runs: list[int]) -> Callable[[], None]:
    def send() -> None:
        with Dials(Credentials(token=server.secret_key), base_url=server.base_url) as dials:
            frame = dials.oms.lumisections(runs)
        assert len(frame) > 0

    return send


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path("bench-data") / "large"
    print(f"seeding large into {data_dir} (once)...", flush=True)
    seed_data_dir(data_dir, "large")
    where = {"data_dir": data_dir, "size": "large"}
    rows = []
    with LocalServer(**where) as today, revision_server(BEFORE, **where) as before:  # type: ignore[arg-type]
        servers = {"today": today, "before": before}
        sessions = {}
        for name, server in servers.items():
            sessions[name] = requests.Session()
            sessions[name].headers[SECRET_HEADER] = server.secret_key
        runs = _runs(today)
        measurements = {
            label: {
                name: (_requests(server, sessions[name], queries), len(queries))
                for name, server in servers.items()
            }
            for label, queries in _queries(runs).items()
        }
        measurements[f"`dials.oms.lumisections(runs)`, {len(runs)} runs, per run"] = {
            name: (_client(server, runs), len(runs)) for name, server in servers.items()
        }
        for label, senders in measurements.items():
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            repeats = {}
            for name, (send, count) in senders.items():  # warm-up, and how often to repeat
                wall, _ = _timed(servers[name], send, count)
                # Each sample lasts at least MIN_SAMPLE_S: the CPU clock of /proc ticks
                # every 10 ms, coarser than one cheap request.
                repeats[name] = max(1, math.ceil(MIN_SAMPLE_S / (wall * count / 1000)))
            for _ in range(args.runs):
                for name, (send, count) in senders.items():
                    repeat = repeats[name]
                    samples[name].append(
                        _timed(servers[name], _repeated(send, repeat), count * repeat)
                    )
            walls = {name: [w for w, _ in found] for name, found in samples.items()}
            cpus = {name: [c for _, c in found] for name, found in samples.items()}
            ratio = statistics.median(b / t for b, t in zip(walls["before"], walls["today"]))
            print(f"{label}: today {statistics.median(walls['today']):.1f} ms, "
                  f"before {statistics.median(walls['before']):.1f} ms")  # fmt: skip
            rows.append(
                f"| {label} | {median_range(walls['today'])} | {median_range(cpus['today'])} | "
                f"{median_range(walls['before'])} | {median_range(cpus['before'])} | "
                f"{ratio:.0f}x |"
            )
    body = "\n".join(
        [
            "## dials-local: `oms-proxy/` on a large set of OMS records",
            "",
            f"`python bench/oms_proxy.py --runs {args.runs}`: the `large` data set (SQLite; "
            "120,000 OMS lumisections, 205,000 dataset rates), this checkout's dials-local "
            f"(`today`) against `{BEFORE}` (the revision before the OMS indexes, from a "
            "temporary git worktree) on the same data, requests alternating between them. "
            "Milliseconds per request as the client waits for it (wall) and as the server "
            f"process pays it (CPU, /proc); median (min-max) of {args.runs} runs; "
            "`before/today` is the median of the per-run ratios of wall times. A sample repeats "
            f"its requests until it lasts {MIN_SAMPLE_S} s or more (the CPU clock ticks every "
            f"10 ms). The runs are {len(runs)} runs spread over the data set.",
            "",
            "| request | today wall ms | today server CPU ms | before wall ms | "
            "before server CPU ms | before/today |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            machine_line(),
        ]
    )
    path = write_section("oms-proxy", body)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
