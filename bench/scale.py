"""Scale curves: client cost per row from 1e3 to 1e6 rows, this client and the incumbent.

    python bench/scale.py                       # th1 and th2, 1e3..1e6 rows, 3 runs
    python bench/scale.py --sizes 1000 100000 --routes th2 --runs 5
    python bench/scale.py --clients incumbent numpy --no-write

The server must cost the client nothing and serve any number of rows of one ME: pages that
dials-local rendered (``K`` captured pages of one th1 and one th2 24x24 ME on the large
data set, page size 500) are replayed by ``bench/_replay.py`` (own process, HTTP/1.1
keep-alive), page i being captured page ``i % K`` with its ``next`` link rewritten and the
last page cut to the exact row count; every other request (``mes/``, counts, ...) goes to
the real dials-local through the same process as a reverse proxy.

Each read runs in its own process (``bench/_scale_child.py``); runs are interleaved (one
of each client at each size, then again); a warm-up round checks that every client read
the same rows and the same bins.  A (client, size) whose memory would exceed
``--max-gb`` (estimated from the largest size measured below it) is not run.

Writes the section "scale" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from _report import machine_line, median_range, write_section
from client_bulk import INCUMBENT_VENV, TH1_100, TH2_24, incumbent_python
from dials_local.testing import SECRET_HEADER, LocalServer

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "_scale_child.py"
REPLAY = Path(__file__).resolve().parent / "_replay.py"
#: The tests' virtualenv of cmsdials 2.4.1, used when it exists (else bench/client_bulk.py's).
TESTS_INCUMBENT = Path.home() / ".cache" / "dials-local-tests" / "cmsdials-2.4.1" / "bin" / "python"

PAGE_SIZE = 500
#: route -> (title, ME, bins per row)
ROUTES = {
    "th1": ("th1 100 bins", TH1_100, 100),
    "th2": ("th2 24x24", TH2_24, 24 * 24),
}
LABELS = {
    "incumbent": "incumbent: `list_all().to_pandas()`",
    "pandas": "ours: `list_all().to_pandas()`",
    "numpy": "ours: `list_all().to_numpy()`",
    "stream": "ours: `stream().pages()`, each page `.to_numpy()`",
    "parse": "parse only: `simdjson.Parser().parse` of the same pages",
    "fetch-parse": "floor: urllib3 GETs, each page `simdjson`-parsed",
    "fetch-decode": "floor: urllib3 GETs, each page this client's decoder + `.to_numpy()`",
}
CLIENTS = tuple(LABELS)
#: Lines that are not a client's documented read: measured as the CPU of their loop
#: alone (no process start, imports, wall or peak RSS); the floors a read is compared to.
FLOORS = ("parse", "fetch-parse", "fetch-decode")


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    #: CPU seconds of the read alone: total minus the imports and the client object.
    read_cpu: list[float] = field(default_factory=list)
    rows: int = 0
    checksum: float | None = None
    #: Why this (client, size) was not run, if it was not.
    skipped: str = ""


def capture(server: LocalServer, route: str, me: str, pages: int, directory: Path) -> None:
    """``pages`` consecutive pages of ``me``, as dials-local rendered them, into files."""
    session = requests.Session()
    session.headers[SECRET_HEADER] = server.secret_key
    params: dict[str, Any] = {"me": me, "page_size": PAGE_SIZE}
    for index in range(pages):
        response = session.get(f"{server.api_url}{route}/", params=params, timeout=600)
        response.raise_for_status()
        (directory / f"{route}-{index:03d}.json").write_bytes(response.content)
        next_url = response.json()["next"]
        if not next_url:
            raise SystemExit(f"{route}: only {index + 1} full pages of {me}")
        params["next_token"] = parse_qs(urlsplit(next_url).query)["next_token"][0]


def start_replay(pages_dir: Path, upstream: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(REPLAY), str(pages_dir), upstream],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def run_child(
    python: str, mode: str, base_url: str, secret: str, route: str, check: bool
) -> dict[str, Any]:
    filters = {"me": ROUTES[route][1], "page_size": PAGE_SIZE}
    args = [python, str(CHILD), mode, base_url, secret, route, json.dumps(filters)]
    args += ["--check"] if check else []
    # The incumbent must not see this repository's sources: clear PYTHONPATH.
    env = os.environ.copy()
    if mode == "incumbent":
        env.pop("PYTHONPATH", None)
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} {route} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def estimate_gb(samples: dict[int, Samples], size: int) -> float | None:
    """Peak RSS at ``size`` rows, from the per-row memory at the largest smaller size."""
    below = [n for n, s in samples.items() if n < size and s.rss]
    if not below:
        return None
    n = max(below)
    s = samples[n]
    per_row = (statistics.median(s.rss) - statistics.median(s.baseline)) / n
    return (statistics.median(s.baseline) + per_row * size) / 1024


def measure(
    route: str,
    sizes: list[int],
    clients: list[str],
    runs: int,
    replay_url: str,
    secret: str,
    incumbent: str,
    max_gb: float,
) -> dict[str, dict[int, Samples]]:
    """Every (client, size) of one route; sizes in increasing order, so that the memory of
    a size can be estimated from the one below before it is run."""
    results: dict[str, dict[int, Samples]] = {c: {} for c in clients}
    for size in sorted(sizes):
        base_url = f"{replay_url}rows-{size}/"
        for client in clients:
            sample = results[client].setdefault(size, Samples())
            needed = estimate_gb(results[client], size) if client not in FLOORS else None
            if needed is not None and needed > max_gb:
                sample.skipped = f"not run: would need ~{needed:.0f} GB"
        for round_ in range(runs + 1):  # round 0 is the warm-up, and checks the data
            for client in clients:
                sample = results[client][size]
                if sample.skipped:
                    continue
                python = incumbent if client == "incumbent" else sys.executable
                result = run_child(python, client, base_url, secret, route, check=round_ == 0)
                if round_ == 0:
                    sample.rows, sample.checksum = result["rows"], result.get("checksum")
                    continue
                sample.cpu.append(result["cpu"])
                sample.read_cpu.append(result["cpu"] - result["imports_cpu"])
                sample.baseline.append(result["baseline_mb"])
                if client not in FLOORS:
                    sample.wall.append(result["wall"])
                    sample.rss.append(result["rss_mb"])
            print(f"  {route} {size:,}: round {round_}/{runs}", flush=True)
        check(route, size, {c: results[c][size] for c in clients})
    return results


def check(route: str, size: int, samples: dict[str, Samples]) -> None:
    """Every client read ``size`` rows, and the same bins (the parse and fetch-parse
    lines count rows only)."""
    reference = next(
        (s for s in samples.values() if s.checksum is not None and not s.skipped), None
    )
    for client, sample in samples.items():
        if sample.skipped:
            continue
        if sample.rows != size:
            raise RuntimeError(f"{route} {size}: {client} read {sample.rows} rows")
        if sample.checksum is None or reference is None:
            continue
        if not math.isclose(sample.checksum or 0.0, reference.checksum or 0.0, rel_tol=1e-9):
            raise RuntimeError(
                f"{route} {size}: {client} checksum {sample.checksum}, "
                f"expected {reference.checksum}"
            )


def ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-round ratios (same round = same load)."""
    return [n / d for n, d in zip(numerator, denominator)]


def per_row(values: list[float], rows: int, scale: float) -> list[float]:
    return [v * scale / rows for v in values]


def table(route: str, results: dict[str, dict[int, Samples]], sizes: list[int]) -> list[str]:
    title, me, bins = ROUTES[route]
    lines = [
        f"### {title} (`{me}`)",
        "",
        f"The bins alone are {bins * 8:,} bytes per row as float64: the memory floor of a "
        "read that returns all of them at once (`list_all`), not of `stream()`.",
        "",
        "| client / path | rows | CPU us/row | CPU of the read us/row | wall us/row "
        "| peak RSS MB | RSS above baseline, bytes/row | incumbent CPU / this CPU "
        "| read CPU / parse CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for client, by_size in results.items():
        for size in sorted(sizes):
            s = by_size[size]
            if s.skipped:
                lines.append(f"| {LABELS[client]} | {size:,} | {s.skipped} | | | | | | |")
                continue
            cpu = median_range(per_row(s.cpu, size, 1e6), "{:.1f}")
            read = median_range(per_row(s.read_cpu, size, 1e6), "{:.1f}")
            wall = median_range(per_row(s.wall, size, 1e6), "{:.1f}") if s.wall else "-"
            rss = median_range(s.rss, "{:,.0f}") if s.rss else "-"
            above = "-"
            if s.rss:
                above_rows = [(r - b) * 2**20 / size for r, b in zip(s.rss, s.baseline)]
                above = median_range(above_rows, "{:,.0f}")
            vs_inc = vs_parse = "-"
            inc = results.get("incumbent", {}).get(size)
            if client != "incumbent" and client not in FLOORS and inc is not None and inc.cpu:
                vs_inc = median_range(ratios(inc.cpu, s.cpu), "{:.1f}")
            parse = results.get("parse", {}).get(size)
            if client != "parse" and parse is not None and parse.cpu:
                vs_parse = median_range(ratios(s.read_cpu, parse.cpu), "{:.1f}")
            lines.append(
                f"| {LABELS[client]} | {size:,} | {cpu} | {read} | {wall} | {rss} | {above} "
                f"| {vs_inc} | {vs_parse} |"
            )
    return lines


def _short(size: int) -> str:
    """1000 -> 1e3 (the sizes are powers of ten by default; others stay as they are)."""
    exponent = round(math.log10(size)) if size > 0 else 0
    return f"1e{exponent}" if 10**exponent == size else f"{size:,}"


def flatness(route: str, results: dict[str, dict[int, Samples]]) -> list[str]:
    """Per client: the CPU of the read per row and the peak RSS at each size from 1e4 rows
    (below, fixed costs still show), and the growth of the CPU per row from the first of
    those sizes to the last (1.00: linear)."""
    lines = []
    for client, by_size in results.items():
        measured = [n for n in sorted(by_size) if by_size[n].cpu]
        shown = [n for n in measured if n >= 10_000] or measured
        if len(shown) < 2:
            continue
        cpu = {n: statistics.median(per_row(by_size[n].read_cpu, n, 1e6)) for n in shown}
        steps = " -> ".join(f"{cpu[n]:.1f} ({_short(n)})" for n in shown)
        growth = cpu[shown[-1]] / cpu[shown[0]]
        line = f"- {route}, {LABELS[client]}: {steps} us/row, x{growth:.2f}"
        if all(by_size[n].rss for n in shown):
            rss = " -> ".join(f"{statistics.median(by_size[n].rss):,.0f}" for n in shown)
            line += f"; peak RSS {rss} MB"
        skipped = [_short(n) for n in sorted(by_size) if by_size[n].skipped]
        if skipped:
            line += f" ({', '.join(skipped)} not run)"
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench-data" / "large")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES))
    parser.add_argument("--clients", nargs="+", default=list(CLIENTS), choices=CLIENTS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", type=int, default=20, help="pages captured per route (K)")
    parser.add_argument(
        "--max-gb", type=float, default=12.0, help="skip a read estimated to need more RSS"
    )
    parser.add_argument("--incumbent-python", default=None, help="skip creating the venv")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    parser.add_argument("--save", type=Path, default=None, help="also keep the samples as JSON")
    parser.add_argument(
        "--load", type=Path, default=None, help="write the section from saved samples, no run"
    )
    args = parser.parse_args()
    if args.load:
        saved = json.loads(args.load.read_text())
        loaded = {
            route: {
                client: {int(n): Samples(**sample) for n, sample in by_size.items()}
                for client, by_size in by_client.items()
            }
            for route, by_client in saved.pop("results").items()
        }
        report(loaded, **saved, write=not args.no_write)
        return
    explicit = args.incumbent_python
    if explicit is None and TESTS_INCUMBENT.exists() and not INCUMBENT_VENV.exists():
        explicit = str(TESTS_INCUMBENT)
    incumbent = incumbent_python(explicit) if "incumbent" in args.clients else ""
    # Both clients load from bytecode, as after `pip install` (see bench/client_bulk.py).
    compileall.compile_dir(ROOT / "src", quiet=1)

    started = time.monotonic()
    results: dict[str, dict[str, dict[int, Samples]]] = {}
    with LocalServer(args.data_dir, size="large") as server, tempfile.TemporaryDirectory() as tmp:
        pages_dir = Path(tmp)
        for route in args.routes:
            capture(server, route, ROUTES[route][1], args.pages, pages_dir)
        replay, replay_url = start_replay(pages_dir, server.base_url)
        try:
            for route in args.routes:
                print(f"{route} ...", flush=True)
                results[route] = measure(
                    route, args.sizes, args.clients, args.runs, replay_url,
                    server.secret_key, incumbent, args.max_gb,
                )  # fmt: skip
        finally:
            replay.terminate()
            replay.wait()
    elapsed = time.monotonic() - started
    run = {
        "runs": args.runs, "pages": args.pages, "elapsed": elapsed, "sizes": args.sizes,
        "max_gb": args.max_gb,
    }  # fmt: skip
    if args.save:
        plain = {
            route: {c: {n: asdict(s) for n, s in by.items()} for c, by in by_client.items()}
            for route, by_client in results.items()
        }
        args.save.write_text(json.dumps({**run, "results": plain}))
    report(results, **run, write=not args.no_write)


def report(
    results: dict[str, dict[str, dict[int, Samples]]],
    runs: int,
    pages: int,
    elapsed: float,
    sizes: list[int],
    write: bool,
    max_gb: float = 12.0,
) -> None:
    """Print the section, and write it into BENCHMARKS.md if ``write``."""
    sizes = sorted(sizes)
    body = [
        "## Scale: client cost per row, 1e3 to 1e6 rows",
        "",
        f"`python bench/scale.py --runs {runs}` ({elapsed / 60:.0f} min). Pages rendered "
        f"by dials-local, replayed so that the server costs nothing: {pages} consecutive "
        f"pages of one ME per route (page size {PAGE_SIZE}, `large` data set) captured from a "
        "real dials-local, then served by `bench/_replay.py` (its own process, HTTP/1.1 "
        "keep-alive) as a walk of exactly N rows: page i is captured page i mod "
        f"{pages} with only its `next` link rewritten, the last page cut to the exact "
        "row count; every other request goes through the same process to the real "
        "dials-local, as a reverse proxy (here only this client's `mes/` check of `me=`; "
        "the incumbent makes none). Each read in its own process; CPU and wall from the "
        "process's first line to the end of the read (imports included: the fixed cost "
        "that dominates at 1e3 rows); the CPU of the read is the same minus the CPU spent "
        "on the imports the read needs and the client object; peak RSS is the process's "
        "`ru_maxrss`, the baseline its RSS after those imports. `incumbent CPU / this CPU` "
        "compares what a user pays (imports included); `read CPU / parse CPU` how far a "
        "client's read is from the parse alone. The parse-only line is the CPU of "
        "`simdjson.Parser.parse` (one parser reused) over the same page bytes, nothing "
        "else: the floor of any client that reads the JSON text. The two `floor:` lines "
        "are bare page loops measured whole, HTTP included (CPU from the first request to "
        "the last page, one page at a time, one keep-alive connection): urllib3 GETs (the "
        "layer `requests` sits on), each body read whole and parsed by `simdjson` - the "
        "floor of any Python client that fetches these pages - and the same GETs with each "
        "page through this client's page decoder and `.to_numpy()`, without its walk "
        "(`requests`, the read-ahead threads, retries, deadlines). A warm-up round checks "
        f"that every client read N rows and the same bins; then {runs} interleaved rounds, "
        "median (min-max); ratios per round.",
        "",
    ]
    for route in results:
        body += [*table(route, results[route], sizes), ""]
    body += [
        "How to read: at 1e3 rows the fixed costs (interpreter imports, pandas, the client "
        "object, this client's `mes/` check) dominate `CPU us/row`; the `CPU of the read` "
        "column, and everything from 1e5 rows on, shows the cost per row. A cost linear in "
        "the rows keeps `CPU of the read us/row` flat down the sizes; memory bounded by a "
        "few pages keeps the peak RSS flat. A read estimated (from the largest size below "
        f"it) to need more than the `--max-gb` limit ({max_gb:.0f} GB here) is not run.",
        "",
        "Linearity, from 1e4 rows on: CPU of the read per row at each size, its growth from "
        "the first size to the last (x1.00 = linear; below 1, fixed costs still fading), "
        "and the peak RSS:",
        "",
    ]
    for route in results:
        body += flatness(route, results[route])
    body += ["", machine_line()]
    text = "\n".join(body)
    print(text)
    if write:
        print(f"wrote {write_section('scale', text)}")


if __name__ == "__main__":
    main()
