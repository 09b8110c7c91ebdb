"""Client of ``oms-proxy/`` (re-exported; declared once in ``cmsdials._clients``)."""

from cmsdials._clients import OMSProxyClient
from cmsdials.clients.oms_proxy.models import OMSFilter, OMSPage

__all__ = ["OMSFilter", "OMSPage", "OMSProxyClient"]
