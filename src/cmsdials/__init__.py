"""Python client for CMS DIALS (Data Inspector for Anomalous Lumi-Sections).

::

    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials
    from cmsdials.filters import LumisectionHistogram1DFilters

    dials = Dials(Credentials(token="..."), workspace="tracker")
    data = dials.h1d.list_all(LumisectionHistogram1DFilters(me="..."), max_pages=5)
    data.to_pandas()

    # Bulk reads (docs/bulk.md): streaming, parallel partitions, numpy arrays
    dials.h2d.stream(filters, workers=8).to_parquet("maps.parquet")
    maps = dials.h2d.list_all(filters, workers=8).to_numpy()

    # A slice of DIALS on disk, resumable, and read back (docs/datasets.md)
    dials.fetch("study/", mes=["..."], runs=(367100, 367200))
    frame = cmsdials.open_dataset("study/").to_pandas(me="...")

    # Which lumisections count (docs/lumi.md), and what the machine was doing (docs/oms.md)
    good = dials.caf.mask("Collisions24", "golden") & dials.ml_bad_lumis.golden_mask(...)
    frame = cmsdials.oms.join(good.apply(rows), dials.oms.lumisections(runs))

Public modules: :mod:`cmsdials.filters` (filter models), :mod:`cmsdials.auth`
(credentials), :mod:`cmsdials.errors` (exceptions), :mod:`cmsdials.dataset` (data sets on
disk), :mod:`cmsdials.lumi` (lumi masks), :mod:`cmsdials.oms` (OMS frames and the join),
``cmsdials.clients.<route>.models`` and ``.client`` (row models and route clients, by
route).
"""

from typing import TYPE_CHECKING, Any

from cmsdials._dials import Dials
from cmsdials._stream import Stream
from cmsdials._transport import DEFAULT_RETRY, DEFAULT_TIMEOUT
from cmsdials._version import __version__
from cmsdials.dataset import FetchedDataset, open_dataset
from cmsdials.lumi import LumiMask

if TYPE_CHECKING:
    from cmsdials._arrays import HistogramArray

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "Dials",
    "FetchedDataset",
    "HistogramArray",
    "LumiMask",
    "Stream",
    "__version__",
    "open_dataset",
]


def __getattr__(name: str) -> Any:
    # HistogramArray needs numpy (an optional extra): import it only when asked for.
    if name == "HistogramArray":
        from cmsdials._optional import require

        require("numpy", "numpy", "cmsdials.HistogramArray")
        from cmsdials._arrays import HistogramArray

        return HistogramArray
    raise AttributeError(f"module 'cmsdials' has no attribute {name!r}")
