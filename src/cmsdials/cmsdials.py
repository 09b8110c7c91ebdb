"""The 2.x module of :class:`~cmsdials.Dials` (``from cmsdials.cmsdials import Dials``).

The same class as ``cmsdials.Dials``, with the route clients it is made of.
"""

from cmsdials._dials import Dials
from cmsdials._route_clients import (
    DatasetIndexClient,
    FileIndexClient,
    LumisectionClient,
    LumisectionHistogram1DClient,
    LumisectionHistogram2DClient,
    MLBadLumisectionClient,
    MLModelsIndexClient,
    MonitoringElementClient,
    OMSProxyClient,
    RunClient,
    WorkspaceClient,
)
from cmsdials.auth.base import BaseCredentials

__all__ = [
    "BaseCredentials",
    "DatasetIndexClient",
    "Dials",
    "FileIndexClient",
    "LumisectionClient",
    "LumisectionHistogram1DClient",
    "LumisectionHistogram2DClient",
    "MLBadLumisectionClient",
    "MLModelsIndexClient",
    "MonitoringElementClient",
    "OMSProxyClient",
    "RunClient",
    "WorkspaceClient",
]
