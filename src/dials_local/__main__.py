"""``python -m dials_local``: the ``dials-local`` command."""

import sys

from dials_local.cli import main

sys.exit(main())
