"""How fast dials-local serves histogram pages, next to what decoding them costs a client.

Walks th1 (100 bins) and th2 (24x24, 200x200) listings at page size 500 from SQLite with
the ``large`` data set, over one keep-alive HTTP session, and reports pages/s and MB/s.
In the same run it times ``orjson.loads`` of the very same page bodies in this (client)
process, so a reader can see whether the server or the client's decoding is the limit.

    python bench/server_throughput.py                 # large data set (seeded once, cached)
    python bench/server_throughput.py --size demo     # quicker, smaller pages

Writes the section "server-throughput" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import requests

from _report import machine_line, median_range, write_section
from dials_local.testing import SECRET_HEADER, LocalServer, seed_data_dir


@dataclass(frozen=True)
class Scenario:
    label: str
    route: str
    me: str


SCENARIOS = (  # the benchmark MEs of docs/data.md
    Scenario("th1, 100 bins", "th1", "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"),
    Scenario(
        "th2, 24x24",
        "th2",
        "Tracking/TrackParameters/highPurityTracks/pt_1/GeneralProperties/TrackEtaPhi_ImpactPoint_GenTk",
    ),
    Scenario("th2, 200x200", "th2", "PixelPhase1/Tracks/clusterposition_zphi_ontrack"),
)


def walk(
    session: requests.Session, url: str, me: str, page_size: int, max_pages: int
) -> list[bytes]:
    """Fetch up to ``max_pages`` pages of one listing; the raw bodies, in order."""
    bodies: list[bytes] = []
    params: dict[str, str | int] = {"me": me, "page_size": page_size}
    while len(bodies) < max_pages:
        response = session.get(url, params=params, timeout=600)
        response.raise_for_status()
        bodies.append(response.content)
        # The cursor is in the header part of the body: read it without decoding the rest.
        head = orjson.loads(response.content[: response.content.index(b',"results"')] + b"}")
        if not head["next"]:
            break
        params["next_token"] = parse_qs(urlsplit(head["next"]).query)["next_token"][0]
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="large", choices=["tiny", "demo", "large"])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: bench-data/<size>")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", type=int, default=20, help="pages per walk (at most)")
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    data_dir = args.data_dir or Path("bench-data") / args.size
    print(f"seeding {args.size} into {data_dir} (once)...", flush=True)
    seed_data_dir(data_dir, args.size)

    rows = []
    with LocalServer(data_dir, size=args.size) as server:
        session = requests.Session()
        session.headers[SECRET_HEADER] = server.secret_key
        for scenario in SCENARIOS:
            url = server.api_url + scenario.route + "/"
            walk(session, url, scenario.me, args.page_size, 1)  # warm-up (page cache, pool)
            serve_pages, serve_mb, decode_ms, decode_mb, ratio = [], [], [], [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                bodies = walk(session, url, scenario.me, args.page_size, args.pages)
                served = time.perf_counter() - started
                size_mb = sum(map(len, bodies)) / 1e6
                gc.collect()
                started = time.perf_counter()
                for body in bodies:
                    orjson.loads(body)
                decoded = time.perf_counter() - started
                serve_pages.append(len(bodies) / served)
                serve_mb.append(size_mb / served)
                decode_ms.append(decoded * 1000 / len(bodies))
                decode_mb.append(size_mb / decoded)
                ratio.append(decoded / served)
            page_mb = sum(map(len, bodies)) / 1e6 / len(bodies)
            print(f"{scenario.label}: {median_range(serve_pages)} pages/s", flush=True)
            cells = [
                scenario.label,
                f"{len(bodies)} x {page_mb:.2f} MB",
                median_range(serve_pages),
                median_range(serve_mb),
                median_range(decode_ms),
                median_range(decode_mb),
                median_range(ratio, "{:.2f}"),
            ]
            rows.append("| " + " | ".join(cells) + " |")

    body = "\n".join(
        [
            "## dials-local: pages served vs. client decode cost",
            "",
            f"`python bench/server_throughput.py --size {args.size} --runs {args.runs}`:",
            f"one keep-alive `requests` session, page size {args.page_size}, SQLite,",
            f"data set `{args.size}`; {args.runs} runs after a warm-up.",
            "Decode = `orjson.loads` of the same page bodies in the client process.",
            "A decode/serve ratio near or above 1 means a client that decodes pages is busy at",
            "least as long as the server takes to produce them: the server is not the limit.",
            "",
            "| listing | pages x size | served pages/s | served MB/s | decode ms/page "
            "| decode MB/s | decode/serve time |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            machine_line(),
        ]
    )
    print(f"wrote {write_section('server-throughput', body)}")


if __name__ == "__main__":
    main()
