"""Credentials for DIALS.

* :class:`cmsdials.auth.secret_key.Credentials` - an API-client secret key, sent in the
  ``X-CLIENT-SECRET`` header (for automation; DIALS cannot tell users apart with it).
* :class:`cmsdials.auth.base.BaseCredentials` - the interface every credential implements;
  the transport calls :meth:`~BaseCredentials.before_request` before each HTTP request.
"""

from cmsdials.auth.base import BaseCredentials

__all__ = ["BaseCredentials"]
