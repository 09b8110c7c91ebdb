"""One measured read of the scale curves, in its own process (run by ``bench/scale.py``).

    python bench/_scale_child.py MODE BASE_URL SECRET ROUTE FILTERS_JSON [--check]

MODE is ``incumbent`` (cmsdials 2.4.1 in its own virtualenv: ``list_all(filters)`` then
``to_pandas()``), ``pandas`` / ``numpy`` (this client: ``list_all().to_pandas()`` /
``.to_numpy()``), ``stream`` (this client: ``stream().pages()``, each page to numpy and
dropped: memory bounded by a few pages), ``parse`` (the same page bytes, fetched over
HTTP outside the measurement, each parsed by one reused ``simdjson.Parser``: the CPU of
the parse alone, the floor of any client that reads the JSON text), or one of two bare
page loops measured whole, HTTP included: ``fetch-parse`` (urllib3 keep-alive GETs, the
layer ``requests`` sits on, each body read whole and parsed by simdjson: the floor of a
Python client that fetches the pages) and ``fetch-decode`` (the same GETs, each page
through this client's page decoder and ``.to_numpy()``, without its walk or ``requests``).

Prints one JSON line: wall and CPU seconds from the first line of the process to the end
of the read (``parse``: CPU of the parse calls only, no wall), peak RSS in MB, the RSS
after the imports the read needs and the client object (the baseline the memory per row is
counted above) and the CPU spent until then (the fixed cost), rows, and with ``--check``
a checksum of the bins (after the measurement).

Timing and the client come from ``bench/_bulk_child.py`` (imported first: its clock
starts at its import, this process's first line).
"""

from __future__ import annotations

from _bulk_child import _checksum, _client, _filters, _measure, _resource  # isort: skip

import json
import resource
import sys
import time
import warnings
from typing import Any


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_pages(resource_: Any, filters: Any, check: bool) -> tuple[int, float]:
    """Consume the stream page by page; keep nothing but the row count (and checksum)."""
    rows, total = 0, 0.0
    for page in resource_.stream(filters, enable_progress=False).pages():
        array = page.to_numpy()
        rows += len(array)
        if check:
            total += float(array.data.sum(dtype="float64"))
        del array, page
    return rows, total


def parse_only(base_url: str, secret: str, route: str, params: dict[str, Any]) -> dict[str, Any]:
    """CPU of ``simdjson.Parser.parse`` over the walk's pages, one page in memory at a time."""
    from urllib.parse import parse_qs, urlsplit

    import requests
    import simdjson

    session = requests.Session()
    session.headers["X-CLIENT-SECRET"] = secret
    url = f"{base_url}api/v1/{route}/"
    query = {k: str(v) for k, v in params.items()}
    parser = simdjson.Parser()
    cpu, rows = 0.0, 0
    baseline = _rss_mb()
    while True:
        body = session.get(url, params=query, timeout=600).content
        started = time.process_time()
        document = parser.parse(body)
        cpu += time.process_time() - started
        rows += len(document["results"])  # type: ignore[index,arg-type]
        next_url = document["next"]  # type: ignore[index]
        del document  # the parser's buffer is reused only when no proxy holds it
        if not next_url:
            break
        query["next_token"] = parse_qs(urlsplit(str(next_url)).query)["next_token"][0]
    return {"mode": "parse", "rows": rows, "cpu": cpu, "baseline_mb": baseline, "imports_cpu": 0.0}


def fetch_loop(
    mode: str, base_url: str, secret: str, route: str, params: dict[str, Any], check: bool
) -> dict[str, Any]:
    """CPU of a bare walk, one page at a time: urllib3 GETs on one keep-alive connection,
    each body read whole, then parsed by one reused ``simdjson.Parser`` (``fetch-parse``)
    or decoded by this client's page decoder into a numpy array (``fetch-decode``).
    Everything from the first request to the last page is counted, HTTP included."""
    from urllib.parse import parse_qs, urlsplit

    import numpy  # noqa: F401 - imported before the measurement, as in the other modes
    import simdjson
    import urllib3

    from cmsdials._decode import page_decoder
    from cmsdials._models import (
        PaginatedLumisectionHistogram1DList,
        PaginatedLumisectionHistogram2DList,
    )

    one_d = route == "th1"
    decode = page_decoder(
        PaginatedLumisectionHistogram1DList if one_d else PaginatedLumisectionHistogram2DList
    )
    parser = simdjson.Parser()
    pool = urllib3.PoolManager(maxsize=1)
    url = f"{base_url}api/v1/{route}/"
    query = {k: str(v) for k, v in params.items()}
    headers = {"X-CLIENT-SECRET": secret}
    rows, total = 0, 0.0
    baseline = _rss_mb()
    started = time.process_time()
    while True:
        response = pool.request("GET", url, fields=query, headers=headers)
        if response.status != 200:
            raise SystemExit(f"{mode}: HTTP {response.status} from {url}")
        body = response.data
        if mode == "fetch-parse":
            document = parser.parse(body)
            rows += len(document["results"])  # type: ignore[index,arg-type]
            next_url = document["next"]  # type: ignore[index]
            del document  # the parser's buffer is reused only when no proxy holds it
        else:
            page = decode(body)
            array = page.to_numpy()
            rows += len(array)
            if check:
                total += float(array.data.sum(dtype="float64"))
            next_url = None if page.next is None else str(page.next)
            del array, page
        if not next_url:
            break
        query["next_token"] = parse_qs(urlsplit(str(next_url)).query)["next_token"][0]
    cpu = time.process_time() - started
    report: dict[str, Any] = {
        "mode": mode, "rows": rows, "cpu": cpu, "baseline_mb": baseline, "imports_cpu": 0.0
    }  # fmt: skip
    if check and mode == "fetch-decode":
        report["checksum"] = total
    return report


def _frame_checksum(frame: Any) -> float:
    """Sum of every bin of this client's frame (cells: arrays, or lists of 2-D rows)."""
    import numpy

    return sum(float(numpy.asarray(cell, dtype="float64").sum()) for cell in frame["data"])


def main() -> None:
    mode, base_url, secret, route, filters_json = sys.argv[1:6]
    check = "--check" in sys.argv[6:]
    params = json.loads(filters_json)
    warnings.simplefilter("ignore")  # the incumbent warns about secret-key credentials
    if mode == "parse":
        print(json.dumps(parse_only(base_url, secret, route, params)), flush=True)
        return
    if mode in ("fetch-parse", "fetch-decode"):
        print(json.dumps(fetch_loop(mode, base_url, secret, route, params, check)), flush=True)
        return
    if mode != "incumbent":  # what this client's read imports on its way: before the baseline
        import numpy  # noqa: F401
        import simdjson  # noqa: F401
    if mode == "pandas":
        import pandas  # noqa: F401 - the incumbent imports it on its own import
    resource_ = _resource(_client(base_url, secret), route)
    filters = _filters(route, params)
    baseline = _rss_mb()
    imported = _measure()["cpu"]  # the fixed cost, subtracted for the CPU of the read alone
    result: Any = None
    if mode in ("incumbent", "pandas"):  # the same documented calls in both clients
        result = resource_.list_all(filters, enable_progress=False).to_pandas()
        rows = len(result)
    elif mode == "numpy":
        result = resource_.list_all(filters, enable_progress=False).to_numpy()
        rows = len(result)
    elif mode == "stream":
        rows, total = stream_pages(resource_, filters, check)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    report: dict[str, Any] = {
        "mode": mode, "rows": rows, **_measure(), "baseline_mb": baseline, "imports_cpu": imported
    }  # fmt: skip
    if check:
        if mode == "stream":
            report["checksum"] = total
        elif mode == "pandas":
            report["checksum"] = _frame_checksum(result)
        else:
            report["checksum"] = _checksum(mode, result)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
