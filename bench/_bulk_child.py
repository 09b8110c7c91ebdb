"""One measured bulk read, in its own process (run by ``bench/client_bulk.py``).

    python bench/_bulk_child.py MODE BASE_URL SECRET ROUTE FILTERS_JSON [--check] [--by-me]

MODE is ``incumbent`` (cmsdials 2.4.1 in its own virtualenv: ``list_all`` then
``to_pandas()``), ``raw`` (one keep-alive session, ``orjson.loads`` of every page, collector
paused: the lower bound), or one of this client's paths (``pandas``, ``numpy``,
``stream-numpy``, ``w8-pandas``, ``w8-numpy``; ``--by-me``: ``to_numpy(by_me=True)``), or
``imports-ours`` / ``imports-incumbent`` (only the imports, to show the fixed costs), or
``profile-numpy`` (the ``numpy`` path once more, with its stages timed: not a measurement
of speed, an explanation of where the time goes).

Prints one JSON line: wall and CPU seconds from the first line of this script to the end
of the read (imports included, interpreter start-up excluded), peak RSS in MB at that
point, rows, and with ``--check`` a checksum of the bins (computed after the measurement)
so the driver can verify that every client read the same data.

Imports only what the mode needs: under the incumbent's interpreter this client is not
importable, and must not be.
"""

from __future__ import annotations

import time

_WALL0 = time.perf_counter()
_CPU0 = time.process_time()

import gc  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402


def _measure() -> dict[str, float]:
    return {
        "wall": time.perf_counter() - _WALL0,
        "cpu": time.process_time() - _CPU0,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _filters(route: str, params: dict[str, Any]) -> Any:
    from cmsdials.filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters

    model = LumisectionHistogram1DFilters if route == "th1" else LumisectionHistogram2DFilters
    return model(**params)


def _client(base_url: str, secret: str) -> Any:
    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials

    return Dials(Credentials(token=secret), base_url=base_url)


def _resource(dials: Any, route: str) -> Any:
    return dials.h1d if route == "th1" else dials.h2d


#: Where the raw bound spends its time: waiting for pages (server + transfer) vs orjson.
SPLIT = {"fetch": 0.0, "decode": 0.0, "pages": 0}


def imports(mode: str) -> None:
    """Only the imports a read needs (this client: with numpy and its compiled page scanner,
    and pandas)."""
    import cmsdials
    import cmsdials.filters  # noqa: F401

    if mode == "imports-ours":
        import numpy  # noqa: F401

        from cmsdials import _speedups  # noqa: F401
    _IMPORTED["without pandas"] = time.perf_counter() - _WALL0
    _IMPORTED["rss without pandas"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import pandas  # noqa: F401


_IMPORTED: dict[str, float] = {}


def raw(
    base_url: str, secret: str, route: str, params: dict[str, Any], keep: bool
) -> tuple[int, Any]:
    """The lower bound: fetch every page over one connection, decode it with orjson.

    Pages are dropped after decoding (kept only to check the data): the bound of time
    for a client that decodes every page, not one that also holds them.
    """
    from urllib.parse import parse_qs, urlsplit

    import orjson
    import requests

    session = requests.Session()
    session.headers["X-CLIENT-SECRET"] = secret
    url = f"{base_url}api/v1/{route}/"
    query = {k: str(v) for k, v in params.items()}
    pages = []
    rows = 0
    gc.disable()
    try:
        while True:
            started = time.perf_counter()
            response = session.get(url, params=query, timeout=600)
            response.raise_for_status()
            fetched = time.perf_counter()
            page = orjson.loads(response.content)
            SPLIT["fetch"] += fetched - started
            SPLIT["decode"] += time.perf_counter() - fetched
            SPLIT["pages"] += 1
            rows += len(page["results"])
            if keep:
                pages.append(page)
            if not page["next"]:
                break
            query["next_token"] = parse_qs(urlsplit(page["next"]).query)["next_token"][0]
    finally:
        gc.enable()
    return rows, pages


#: CPU seconds per stage of this client's numpy path (``profile-numpy``).
STAGES = {"scan": 0.0, "parse": 0.0, "decode": 0.0, "assembly": 0.0}


def _timed(owner: Any, name: str, stage: str) -> None:
    """Replace ``owner.name`` by a wrapper adding its thread CPU time to ``STAGES[stage]``."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            STAGES[stage] += time.thread_time() - started

    setattr(owner, name, timed)


def profile_stages() -> None:
    """Time the stages of the numpy path (wrapping this client's own functions)."""
    import numpy  # noqa: F401 - imports count as the "imports" stage

    from cmsdials import _columns, _decode, _speedups  # noqa: F401

    _timed(_decode, "_scan_histogram_page", "scan")
    _timed(_decode.ReusableParser, "parse", "parse")
    _timed(_decode, "decode_histogram_page", "decode")
    _timed(_columns.HistogramStore, "extend", "assembly")


def main() -> None:
    mode, base_url, secret, route, filters_json = sys.argv[1:6]
    check = "--check" in sys.argv[6:]
    by_me = "--by-me" in sys.argv[6:]  # several binnings: one array per ME
    params = json.loads(filters_json)
    warnings.simplefilter("ignore")  # the incumbent warns about secret-key credentials
    result: Any
    if mode.startswith("imports-"):
        imports(mode)
        print(
            json.dumps(
                {
                    "mode": mode,
                    **_measure(),
                    "without_pandas": _IMPORTED["without pandas"],
                    "rss_without_pandas": _IMPORTED["rss without pandas"],
                }
            )
        )
        return
    if mode == "profile-numpy":
        profile_stages()
        mode = "numpy"
        imported = _measure()  # after the imports of profile_stages
    if mode == "raw":
        rows, result = raw(base_url, secret, route, params, keep=check)
    else:
        resource_ = _resource(_client(base_url, secret), route)
        filters = _filters(route, params)
        workers = 8 if mode.startswith("w8-") else 1
        if mode == "incumbent":
            result = resource_.list_all(filters, enable_progress=False).to_pandas()
        elif mode in ("pandas", "w8-pandas"):
            result = resource_.list_all(filters, enable_progress=False, workers=workers).to_pandas()
        elif mode in ("numpy", "w8-numpy"):
            data = resource_.list_all(filters, enable_progress=False, workers=workers)
            result = data.to_numpy(by_me=by_me)
        elif mode == "stream-numpy":
            result = resource_.stream(filters, enable_progress=False).to_numpy(by_me=by_me)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        rows = sum(map(len, result.values())) if isinstance(result, dict) else len(result)
    report: dict[str, Any] = {"mode": mode, "rows": rows, **_measure()}
    if mode == "raw":
        report["split"] = SPLIT
    if sys.argv[1] == "profile-numpy":
        report["stages"] = {"imports": imported["cpu"], **STAGES}
    if mode.endswith("numpy"):  # the size of the final array(s), for the memory floor
        arrays = result.values() if isinstance(result, dict) else [result]
        report["array_mb"] = sum(array.data.nbytes for array in arrays) / 2**20
    if check:
        report["checksum"] = _checksum(mode, result)
    print(json.dumps(report), flush=True)


def _checksum(mode: str, result: Any) -> float:
    """Sum of every bin, however the client returned them (after the measurement)."""
    import math

    if mode == "raw":
        total = 0.0
        for page in result:
            for row in page["results"]:
                data = row["data"]
                total += (
                    math.fsum(v for line in data for v in line)
                    if data and isinstance(data[0], list)
                    else math.fsum(data)
                )
        return total
    if isinstance(result, dict):  # {ME: HistogramArray}
        return sum(float(array.data.sum(dtype="float64")) for array in result.values())
    if hasattr(result, "data") and not hasattr(result, "columns"):  # HistogramArray
        return float(result.data.sum(dtype="float64"))
    total = 0.0
    # DataFrame cells: lists of floats or of lines (incumbent), arrays (ours, th1) or lists
    # of line arrays (ours, th2)
    for data in result["data"]:
        if hasattr(data, "sum"):
            total += float(data.sum())
        elif data and not isinstance(data[0], float):
            total += math.fsum(float(v) for line in data for v in line)
        else:
            total += math.fsum(data)
    return total


if __name__ == "__main__":
    main()
