"""``python -m cmsdials``: the ``cmsdials`` command."""

from __future__ import annotations

import sys

from cmsdials.cli import main

if __name__ == "__main__":
    sys.exit(main())
