"""dials-local under concurrent clients: requests/s, latency and database connections.

Starts dials-local on SQLite (and on PostgreSQL when its binaries are found under
/usr/lib/postgresql/*/bin: a throw-away cluster in a temporary directory) twice: with the
default number of handler slots (one per CPU, :mod:`dials_local.api.slots`) and with the
old behaviour, one per worker thread (``$DIALS_LOCAL_HANDLER_SLOTS=40``), both running at
once.  Then, round after round, drives
each with 1, 8, 32 and 64 concurrent clients (threads in a few processes, one keep-alive
``requests`` session each, loopback) for a fixed time against a cheap listing and a
heavier one, alternating the two servers so that both see the same load on the machine.

Per level: requests/s, p50 and p99 latency, errors, database connections the server
opened meanwhile (counted from the ``dials_local.db`` lines of its log), connections open
at the end, and the server's VmRSS.

    python bench/server_load.py                       # demo data set, 10 s per level, 3 runs
    python bench/server_load.py --seconds 4 --size tiny --backends sqlite

Writes the section "server-load" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from _report import machine_line, median_range, process_cpu_seconds, write_section
from dials_local.api.slots import HANDLER_SLOTS_ENV, handler_slots
from dials_local.testing import (
    SECRET_HEADER,
    LocalServer,
    find_postgres_bin,
    postgres_cluster,
    seed_data_dir,
)

ROUTES = (
    ("cheap: `run/?page_size=10`", "run/?page_size=10"),
    ("heavier: `th1/?me_id=1&page_size=100`", "th1/?me_id=1&page_size=100"),
)
#: Handlers running at once before slots: every one of anyio's 40 worker threads.
OLD_SLOTS = 40
OPENED = re.compile(
    r"dials_local\.db INFO (\S+): database connection opened \((\d+) opened so far, (\d+) open\)"
)


# -- the clients ---------------------------------------------------------------------------


def _client_process(
    url: str, key: str, threads: int, start_at: float, seconds: float
) -> tuple[list[float], int, float]:
    """``threads`` keep-alive clients GET ``url`` from ``start_at`` for ``seconds``: the
    latencies, the errors, and the CPU seconds this process used meanwhile."""
    cpu_before = time.process_time()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client() -> None:
        mine: list[float] = []
        failed = 0
        with requests.Session() as session:
            session.headers[SECRET_HEADER] = key
            time.sleep(max(0.0, start_at - time.time()))
            deadline = start_at + seconds
            while time.time() < deadline:
                began = time.perf_counter()
                try:
                    response = session.get(url, timeout=60)
                    response.content  # noqa: B018 - read the body
                    ok = response.status_code == 200
                except requests.RequestException:
                    ok = False
                if ok:
                    mine.append(time.perf_counter() - began)
                else:
                    failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, errors[0], time.process_time() - cpu_before


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    opened: int
    open_now: int
    rss_mb: float
    #: CPU the server spent per answered request (its own process, plus PostgreSQL's
    #: processes on PostgreSQL), in ms: flat when the server does not degrade with load.
    server_cpu_ms: float
    #: The load generator's share of the machine's CPU time during the level, in %.
    client_cpu_pct: float


def _postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (postmaster and backends) on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _server_cpu(server: LocalServer, backend: str) -> float:
    """CPU seconds used so far by ``server`` and, on PostgreSQL, by the database."""
    assert server.process is not None
    total = process_cpu_seconds(server.process.pid)
    if backend == "postgresql":
        total += sum(process_cpu_seconds(pid) for pid in _postgres_pids())
    return total


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _log_counts(server: LocalServer) -> tuple[int, int]:
    """(connections opened so far, open now) summed over the server's pools."""
    assert server.log_path is not None
    opened: dict[str, int] = {}
    open_now: dict[str, int] = {}
    for label, total, now in OPENED.findall(server.log_path.read_text(errors="replace")):
        if int(total) >= opened.get(label, 0):
            opened[label], open_now[label] = int(total), int(now)
    return sum(opened.values()), sum(open_now.values())


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    pool: multiprocessing.pool.Pool,
    server: LocalServer,
    backend: str,
    path: str,
    clients: int,
    seconds: float,
) -> Sample:
    """One level: ``clients`` concurrent clients for ``seconds``."""
    processes = min(clients, 4)
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    opened_before, _ = _log_counts(server)
    start_at = time.time() + 0.5  # every client set up and waiting
    server_cpu_before = _server_cpu(server, backend)
    results = pool.starmap(
        _client_process,
        [(server.api_url + path, server.secret_key, n, start_at, seconds) for n in shares],
    )
    server_cpu = _server_cpu(server, backend) - server_cpu_before
    latencies = [value for values, _, _ in results for value in values]
    errors = sum(failed for _, failed, _ in results)
    # Both CPU figures include the 0.5 s of set-up, when little runs.
    client_cpu = sum(cpu for _, _, cpu in results)
    machine_cpu = seconds * (os.cpu_count() or 1)
    time.sleep(0.2)  # the log written
    opened_after, open_now = _log_counts(server)
    assert server.process is not None
    return Sample(
        rps=len(latencies) / seconds,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        errors=errors,
        opened=opened_after - opened_before,
        open_now=open_now,
        rss_mb=_rss_mb(server.process.pid),
        server_cpu_ms=1000 * server_cpu / len(latencies) if latencies else float("nan"),
        client_cpu_pct=100 * client_cpu / machine_cpu,
    )


@dataclass
class Cell:
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {"old": [], "new": []})


def run_backend(
    backend: str,
    location: dict[str, object],
    args: argparse.Namespace,
    pool: multiprocessing.pool.Pool,
) -> list[str]:
    """Measure one backend; the table rows."""
    servers: dict[str, LocalServer] = {}
    with contextlib.ExitStack() as stack:
        for name, slots in (("old", OLD_SLOTS), ("new", None)):
            if slots is None:
                os.environ.pop(HANDLER_SLOTS_ENV, None)
            else:
                os.environ[HANDLER_SLOTS_ENV] = str(slots)
            try:
                server = LocalServer(**location, size=args.size, extra_args=("--no-access-log",))  # type: ignore[arg-type]
                servers[name] = stack.enter_context(server)
            finally:
                os.environ.pop(HANDLER_SLOTS_ENV, None)
        cells: dict[tuple[str, int], Cell] = {}
        for server in servers.values():  # warm-up: page cache, pools
            for _, path in ROUTES:
                measure(pool, server, backend, path, max(args.levels), 1.0)
        for run in range(args.runs):
            for label, path in ROUTES:
                for clients in args.levels:
                    cell = cells.setdefault((label, clients), Cell())
                    order = ("old", "new") if run % 2 == 0 else ("new", "old")
                    for name in order:
                        sample = measure(pool, servers[name], backend, path, clients, args.seconds)
                        cell.samples[name].append(sample)
                        print(
                            f"{backend} run {run + 1} {path} x{clients} {name}: {sample}",
                            flush=True,
                        )
    rows = []
    for (label, clients), cell in cells.items():
        old, new = cell.samples["old"], cell.samples["new"]
        ratio = [n.rps / o.rps if o.rps else float("nan") for o, n in zip(old, new)]
        for name, samples in (("old", old), ("new", new)):
            size = OLD_SLOTS if name == "old" else handler_slots()
            cells_ = [
                label if name == "old" else "",
                str(clients),
                f"{size}",
                median_range([s.rps for s in samples], "{:.0f}"),
                median_range([s.p50_ms for s in samples], "{:.1f}"),
                median_range([s.p99_ms for s in samples], "{:.1f}"),
                str(sum(s.errors for s in samples)),
                median_range([s.opened for s in samples], "{:.0f}"),
                median_range([s.open_now for s in samples], "{:.0f}"),
                median_range([s.rss_mb for s in samples], "{:.0f}"),
                median_range([s.server_cpu_ms for s in samples], "{:.2f}"),
                median_range([s.client_cpu_pct for s in samples], "{:.0f}"),
                median_range(ratio, "{:.2f}") if name == "new" else "",
            ]
            rows.append("| " + " | ".join(cells_) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="demo", choices=["tiny", "demo", "large"])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: bench-data/<size>")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per level and server")
    parser.add_argument("--levels", default="1,8,32,64", help="concurrent clients, comma-separated")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    args.levels = [int(level) for level in args.levels.split(",")]
    backends = args.backends.split(",")
    data_dir = args.data_dir or Path("bench-data") / args.size
    sections = []
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        if "sqlite" in backends:
            print(f"seeding {args.size} into {data_dir} (once)...", flush=True)
            seed_data_dir(data_dir, args.size)
            sections.append(("SQLite", run_backend("sqlite", {"data_dir": data_dir}, args, pool)))
        pg_bin = find_postgres_bin()
        if "postgresql" in backends and pg_bin is None:
            print("PostgreSQL binaries not found under /usr/lib/postgresql: skipped", flush=True)
        elif "postgresql" in backends:
            assert pg_bin is not None
            with postgres_cluster(pg_bin) as url:
                rows = run_backend("postgresql", {"database_url": url}, args, pool)
                sections.append((f"PostgreSQL {pg_bin.parent.name}", rows))

    command = (
        f"python bench/server_load.py --size {args.size} --runs {args.runs} "
        f"--seconds {args.seconds:g} --levels {','.join(map(str, args.levels))} "
        f"--backends {args.backends}"
    )
    lines = [
        "## dials-local under concurrent clients: handler slots",
        "",
        f"`{command}`: each level runs {args.seconds:g} s against two servers on the same data",
        f"at once, one with the default handler slots (`new`: one per CPU, {handler_slots()}",
        f"here) and one with a handler on each of the {OLD_SLOTS} worker threads (`old`, the",
        f"previous behaviour), alternated level by level, {args.runs} runs after a warm-up.",
        "Clients: threads in up to 4 processes, one keep-alive `requests` session each, loopback.",
        "Requests/s counts 200 answers; latency is per request as the client sees it.",
        "`opened` = database connections the server opened during the level (its",
        "`dials_local.db` log lines); `open` = connections open when it last opened one (the",
        "log's count; pools close only overflow connections); RSS = the server's VmRSS after",
        "the level.",
        "Server CPU ms/request = CPU time of the server process (plus every PostgreSQL",
        "process on PostgreSQL) during the level over the requests answered: flat across",
        "levels when the server itself does not degrade as clients are added. Clients' CPU",
        "= the load generator's CPU time over the machine's (all cores) during the level.",
        "Ratio = new/old requests/s of the same run.",
        "",
    ]
    for title, rows in sections:
        lines += [
            f"### {title}, data set `{args.size}`",
            "",
            "| listing | clients | handler slots | requests/s | p50 ms | p99 ms | errors "
            "| connections opened | open | RSS MB | server CPU ms/request | clients' CPU % "
            "| new/old requests/s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    lines.append(machine_line())
    print(f"wrote {write_section('server-load', chr(10).join(lines))}")


if __name__ == "__main__":
    main()
