"""The client's logger, under its 2.x name.

Unlike 2.x, importing this module does not call :func:`logging.basicConfig`: a library
must leave the root logger to the application.  To see the client's messages::

    import logging
    logging.basicConfig(level=logging.INFO)
"""

from __future__ import annotations

import logging

__all__ = ["logger"]

#: The ``cmsdials`` logger, parent of every logger of the client: its level and handlers
#: apply to the transport's and the sign-in's messages too.
logger = logging.getLogger("cmsdials")
