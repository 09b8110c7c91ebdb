"""A dials-local of another revision of this repository, for before/after measurements.

The revision is checked out into a temporary git worktree and its server is run by the
same interpreter with that worktree's ``src`` first on ``PYTHONPATH`` (checked: the server
must import that code, not this checkout's).  Needs a git checkout with history.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from dials_local.testing import LocalServer

REPOSITORY = Path(__file__).resolve().parent.parent


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """``revision`` of this repository checked out in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="dials-local-") as parent:
        path = Path(parent) / revision
        git = ["git", "-C", str(REPOSITORY)]
        subprocess.run([*git, "worktree", "add", "--detach", str(path), revision], check=True)
        try:
            yield path
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=True)


@contextmanager
def revision_server(revision: str, **where: object) -> Iterator[LocalServer]:
    """A running :class:`LocalServer` of ``revision``'s code (``where``: its arguments)."""
    with worktree(revision) as old:
        old_code = {"PYTHONPATH": str(old / "src")}
        where_from = subprocess.run(
            [sys.executable, "-c", "import dials_local; print(dials_local.__file__)"],
            env={**os.environ, **old_code},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert where_from.startswith(str(old)), f"{revision} not imported: {where_from}"
        with mock.patch.dict(os.environ, old_code):
            server = LocalServer(**where)  # type: ignore[arg-type]
            server.__enter__()
        try:
            yield server
        finally:
            server.__exit__(None, None, None)
