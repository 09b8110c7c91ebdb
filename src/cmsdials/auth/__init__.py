"""Credentials for DIALS.

* :class:`cmsdials.auth.bearer.Credentials` (also :mod:`cmsdials.auth.device`) - a
  person's tokens from the device flow of :class:`cmsdials.auth.client.AuthClient`,
  refreshed as they expire and cached per server (:meth:`~cmsdials.auth.device.
  Credentials.from_creds_file`).
* :class:`cmsdials.auth.client_credentials.Credentials` - an application's Keycloak client
  id and secret.
* :class:`cmsdials.auth.secret_key.Credentials` - an API-client secret key, sent in the
  ``X-CLIENT-SECRET`` header (for automation; DIALS cannot tell users apart with it).
* :class:`cmsdials.auth.base.BaseCredentials` - the interface every credential implements;
  the transport calls :meth:`~BaseCredentials.before_request` before each HTTP request.

Errors of signing in are in :mod:`cmsdials.auth.exceptions`.
"""

from cmsdials.auth.base import BaseCredentials, TokenState

__all__ = ["BaseCredentials", "TokenState"]
