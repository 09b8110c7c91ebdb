"""The ``cmsdials`` command line (extra ``cli``: click and rich).

``cmsdials --help`` lists the commands; docs/cli.md describes each one.  This module
imports neither click nor rich, so that ``cmsdials`` without the extra says what to
install instead of failing with a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cmsdials._optional import installed

__all__ = ["main"]

#: The packages of the ``cli`` extra.
REQUIRED = ("click", "rich")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cmsdials`` command with ``argv`` (default: ``sys.argv[1:]``); the exit code.

    0 on success, 1 for an error (one line on stderr), 2 for a usage error, 130 when
    interrupted.
    """
    missing = [name for name in REQUIRED if not installed(name)]
    if missing:
        print(
            "the cmsdials command needs the optional packages click and rich: "
            "pip install 'cmsdials[cli]'",
            file=sys.stderr,
        )
        return 1
    from cmsdials.cli._app import run

    return run(argv)
