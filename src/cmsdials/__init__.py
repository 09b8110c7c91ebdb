"""Python client for CMS DIALS (Data Inspector for Automated Lumisection Scoring).

::

    from cmsdials import Dials
    from cmsdials.auth.secret_key import Credentials
    from cmsdials.filters import LumisectionHistogram1DFilters

    dials = Dials(Credentials(token="..."), workspace="tracker")
    data = dials.h1d.list_all(LumisectionHistogram1DFilters(me="..."), max_pages=5)
    data.to_pandas()

Public modules: :mod:`cmsdials.filters` (filter models), :mod:`cmsdials.auth`
(credentials), :mod:`cmsdials.errors` (exceptions), ``cmsdials.clients.<route>.models``
and ``.client`` (row models and route clients, by route).
"""

from cmsdials._dials import Dials
from cmsdials._transport import DEFAULT_RETRY, DEFAULT_TIMEOUT
from cmsdials._version import __version__

__all__ = ["DEFAULT_RETRY", "DEFAULT_TIMEOUT", "Dials", "__version__"]
