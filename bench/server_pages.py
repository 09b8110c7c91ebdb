"""dials-local's server CPU per list page: this checkout against the code issue #16 measured.

Two servers read the same data: this checkout's, and the dials-local of
:data:`ISSUE_16_REVISION` (the revision whose pages issue #16 timed against the real DIALS
backend), checked out into a temporary git worktree and run by the same interpreter with
its ``src`` first on ``PYTHONPATH``.  Walks of the same pages alternate between them, and
each walk's cost is the server process's CPU time (user + system, ``/proc/<pid>/stat``)
divided by its pages.  SQLite serves the ``large`` data set (bench-data/large, seeded
once); PostgreSQL a throw-away server seeded with ``demo`` (the ``large`` seed takes ten
minutes there).  Needs a git checkout with history (a clone, not a source archive).

    python bench/server_pages.py
    python bench/server_pages.py --runs 3 --no-postgres

Writes the section "server-pages" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import requests

from _report import machine_line, median_range, process_cpu_seconds, write_section
from _revision import revision_server
from dials_local.testing import (
    SECRET_HEADER,
    LocalServer,
    find_postgres_bin,
    free_port,
    postgres_cluster,
    seed_data_dir,
)

#: The dials-local that issue #16 measured against the real backend (the parent of the
#: bulk renderer, af55b5c): today's cost divided by its cost, measured here in one run,
#: carries the issue's ratio over to today's code whatever the machine's state.
ISSUE_16_REVISION = "ab5b68b"


@dataclass(frozen=True)
class Scenario:
    label: str
    route: str
    params: dict[str, str | int]
    pages: int
    #: The real DIALS backend's server CPU per page (ms) on the same PostgreSQL rows,
    #: quoted from issue #16 (measured there, not by this script; None: not measured).
    real_backend_ms: float | None
    #: dials-local's server CPU per page in the same measurement of issue #16
    #: (:data:`ISSUE_16_REVISION`).
    issue_local_ms: float | None


SCENARIOS = (
    Scenario(
        "th1 100 bins, page_size 500",
        "th1",
        {"me": "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2", "page_size": 500},
        200,
        25.6,
        3.1,
    ),
    Scenario(
        "th2 24x24, page_size 500",
        "th2",
        {
            "me": "Tracking/TrackParameters/highPurityTracks/pt_1/GeneralProperties/"
            "TrackEtaPhi_ImpactPoint_GenTk",
            "page_size": 500,
        },
        100,
        113.8,
        6.6,
    ),
    Scenario(
        # One of the many MEs with a row in few lumisections (2,324 of 1.7 M th1 rows of the
        # large tracker file): along the primary key a page steps over every other ME's rows.
        "th1, one of the small MEs, page_size 500",
        "th1",
        {"me": "PixelPhase1/Tracks/charge_PXBarrel", "page_size": 500},
        50,
        None,
        None,
    ),
    Scenario(
        # One ME over a run range, the common query of a study; the range is not pinned
        # to a dataset, so it spans several.
        "th1, one ME over runs 367000-380000, page_size 500",
        "th1",
        {
            "me": "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2",
            "run_number__gte": 367000,
            "run_number__lte": 380000,
            "page_size": 500,
        },
        100,
        None,
        None,
    ),
    Scenario("run, page_size 4", "run", {"page_size": 4}, 1000, 2.4, 0.6),
    Scenario("lumisection, page_size 500", "lumisection", {"page_size": 500}, 300, 7.2, 1.4),
)


def walk(server: LocalServer, session: requests.Session, scenario: Scenario) -> float:
    """Walk the scenario's pages; the server's CPU milliseconds per page."""
    assert server.process is not None
    url = f"{server.api_url}{scenario.route}/"
    params = dict(scenario.params)
    before = process_cpu_seconds(server.process.pid)
    pages = 0
    while pages < scenario.pages:
        response = session.get(url, params=params, timeout=600)
        response.raise_for_status()
        pages += 1
        head = orjson.loads(response.content[: response.content.index(b',"results"')] + b"}")
        if not head["next"]:
            params = dict(scenario.params)  # start over: same pages again
            continue
        params["next_token"] = parse_qs(urlsplit(head["next"]).query)["next_token"][0]
    return 1000 * (process_cpu_seconds(server.process.pid) - before) / pages


def bare_uvicorn_ms(body: bytes, requests_per_run: int, runs: int) -> list[float]:
    """Server CPU milliseconds per request of ``_bare_asgi.py`` (a constant ``body``)
    under uvicorn with dials-local's HTTP settings (httptools, the default event loop):
    what any request costs before dials-local does anything."""
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(body)
        file.flush()
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "_bare_asgi:app", "--port", str(port)]
        command += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
        bench_dir = Path(__file__).resolve().parent
        environment = {**os.environ, "BENCH_BARE_BODY": file.name}
        process = subprocess.Popen(command, cwd=bench_dir, env=environment)
        try:
            session = requests.Session()
            url = f"http://127.0.0.1:{port}/api/v1/run/?page_size=4"
            for _ in range(100):  # until it listens
                try:
                    session.get(url, timeout=5)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            costs = []
            for _ in range(runs + 1):  # the first run warms up
                before = process_cpu_seconds(process.pid)
                for _ in range(requests_per_run):
                    session.get(url, timeout=60).raise_for_status()
                costs.append(1000 * (process_cpu_seconds(process.pid) - before) / requests_per_run)
            return costs[1:]
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def _servers(**where: object) -> Iterator[dict[str, tuple[LocalServer, requests.Session]]]:
    """This checkout's server ("today") and :data:`ISSUE_16_REVISION`'s ("issue")."""
    with revision_server(ISSUE_16_REVISION, **where) as issue, LocalServer(**where) as today:  # type: ignore[arg-type]
        found = {}
        for name, server in (("today", today), ("issue", issue)):
            session = requests.Session()
            session.headers[SECRET_HEADER] = server.secret_key
            found[name] = (server, session)
        yield found


def measure(label: str, runs: int, **where: object) -> tuple[list[str], bytes]:
    """The table rows of one database, and the body of a run page (for the floor)."""
    rows = []
    with _servers(**where) as servers:
        server, session = servers["today"]
        run_page = session.get(f"{server.api_url}run/", params={"page_size": 4}, timeout=60)
        run_page.raise_for_status()
        for scenario in SCENARIOS:
            for server, session in servers.values():  # warm caches and pools
                walk(server, session, scenario)
            costs: dict[str, list[float]] = {"today": [], "issue": []}
            for _ in range(runs):
                for name, (server, session) in servers.items():
                    costs[name].append(walk(server, session, scenario))
            today = sorted(costs["today"])[runs // 2]
            issue = sorted(costs["issue"])[runs // 2]
            print(f"{label} {scenario.label}: today {today:.2f} ms, issue #16 {issue:.2f} ms")
            real, then = scenario.real_backend_ms, scenario.issue_local_ms
            quoted = (
                f"{real} | {real / today:.1f}x | {then} | {real / then * issue / today:.1f}x"
                if real is not None and then is not None
                else "- | - | - | -"
            )
            rows.append(
                f"| {label} | {scenario.label} | {median_range(costs['today'], '{:.2f}')} | "
                f"{median_range(costs['issue'], '{:.2f}')} | {issue / today:.2f} | {quoted} |"
            )
    return rows, run_page.content


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    data_dir = Path("bench-data") / "large"
    print(f"seeding large into {data_dir} (once)...", flush=True)
    seed_data_dir(data_dir, "large")
    rows, run_page = measure("SQLite (large)", args.runs, data_dir=data_dir, size="large")
    floor = bare_uvicorn_ms(run_page, 1000, args.runs)
    pg_bin = None if args.no_postgres else find_postgres_bin()
    cluster = postgres_cluster(pg_bin) if pg_bin is not None else nullcontext(None)
    with cluster as url:
        if url is not None:
            rows += measure("PostgreSQL (demo)", args.runs, database_url=url, size="demo")[0]
    body = "\n".join(
        [
            "## dials-local: server CPU per list page, against the real DIALS backend",
            "",
            "`python bench/server_pages.py`: server process CPU per list page (user + system, "
            "/proc), this checkout's dials-local (`today`) against the one issue #16 measured "
            f"(`{ISSUE_16_REVISION}`, from a temporary git worktree) on the same data, walks "
            f"alternated, {args.runs} runs, median (range), ms.",
            "The real backend's figures are quoted from issue #16 (DIALS' Django REST "
            "Framework backend, as production starts it, on the same PostgreSQL rows, one "
            "process each), not measured here; so is dials-local's figure from that same "
            f"measurement, of `{ISSUE_16_REVISION}`.  `real backend/today` divides the quoted "
            "figure by today's; `estimated` multiplies issue #16's own ratio (real backend / "
            "dials-local, one method, one machine state) by "
            f"`{ISSUE_16_REVISION}/today` measured here, which does not depend on how busy "
            "the machine is today; `-`: a list issue #16 did not measure.",
            "",
            f"| database | list | today ms/page | {ISSUE_16_REVISION} ms/page | "
            f"{ISSUE_16_REVISION}/today | "
            "real backend ms/page (issue #16) | real backend/today | "
            "dials-local ms/page (issue #16) | real backend/today, estimated |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "The floor of any request: a bare uvicorn app (bench/_bare_asgi.py, same HTTP "
            "settings: httptools, the default event loop) answering the run page's bytes "
            f"from memory costs {median_range(floor, '{:.3f}')} ms of server CPU per request "
            f"({args.runs} runs of 1,000 requests, one keep-alive session).",
            "",
            machine_line(),
        ]
    )
    print(f"wrote {write_section('server-pages', body)}")


if __name__ == "__main__":
    main()
