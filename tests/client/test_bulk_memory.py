"""Streaming keeps memory bounded by a page, whatever the size of the walk.

Measured in a subprocess (its own peak RSS) against the session's dials-local: every 2-D
map of the tiny seed's tracker workspace, about 57 MB of bin contents as float64 (four
times that as Python floats), walked in pages of 150 rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

_WALKER = textwrap.dedent(
    """
    import json, resource, sys
    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials
    from cmsdials.filters import LumisectionHistogram2DFilters

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    dials = Dials(Credentials(token=sys.argv[2]), base_url=sys.argv[1])
    filters = LumisectionHistogram2DFilters(page_size=150)
    out = {}

    # Warm up: imports, the decoder, one page of models.
    warm = next(dials.h2d.stream(filters, max_pages=1).pages())
    warm.results
    del warm
    out["base"] = peak_mb()

    rows = bins = 0
    for page in dials.h2d.stream(filters).pages():   # columns: no Python float per bin
        rows += page.num_rows
        bins += page.histogram_columns().values.size
    out["after_pages"] = peak_mb()

    for row in dials.h2d.iter_all(filters):           # models: one page of them at a time
        pass
    out["after_rows"] = peak_mb()
    out["rows"], out["mb_of_bins"] = rows, bins * 8 / 2**20
    print(json.dumps(out))
    """
)


def test_streaming_walk_memory_is_bounded(target: Any, local: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WALKER, target.base_url, target.secret],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["rows"] > 20_000 and report["mb_of_bins"] > 50
    # Keeping the walk would take at least its bins: 50+ MB as float64 (the JSON text
    # alone is about as large), four times that as Python floats.  Pages of 150 rows
    # weigh a few MB each.
    assert report["after_pages"] - report["base"] < 25, report
    assert report["after_rows"] - report["base"] < 50, report
