"""Models of ``oms-proxy/`` (re-exported from the single declarations in ``cmsdials``)."""

from cmsdials._models import OMSFilter, OMSPage

__all__ = ["OMSFilter", "OMSPage"]
