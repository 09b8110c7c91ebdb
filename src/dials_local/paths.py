"""Where things are on a dials-local server: the API prefix, the control routes and their
admin header.

One definition each for the server (routing, middleware) and :mod:`dials_local.testing`
(which talks to the control routes).  Standard library only: ``testing`` is imported
without the ``local`` extra.
"""

from __future__ import annotations

#: Every DIALS route lives under this prefix (CONTRACT §1.1).
API_PREFIX = "/api/v1/"

#: The control routes, served only with ``serve --testing`` (:mod:`dials_local.control`).
CONTROL_PREFIX = "/_local/"
#: Read or replace the fault rules (:mod:`dials_local.middleware`).
FAULTS_PATH = CONTROL_PREFIX + "faults"
#: Read, set or advance the server's clock (:mod:`dials_local.clock`).
CLOCK_PATH = CONTROL_PREFIX + "clock"
#: Header carrying the local admin credential of the control routes.
ADMIN_HEADER = "X-DIALS-LOCAL-ADMIN"
