"""Importing the optional packages a bulk read needs while it waits for the network.

The first page decoded into columns needs numpy, and pysimdjson where the compiled
scanner is not there (~0.2 s to import).
Starting those imports in a background thread when the walk starts puts them in the time
spent waiting for the first page instead of after it.  (pandas is not warmed up: its
half-second import and ~40 MB would burden callers who never call ``to_pandas()``.)

Only packages that are installed and not imported yet are touched; a failed import is
ignored here (the feature that needs the package reports it, naming the extra).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import threading

__all__ = ["warm_up"]

_started: set[str] = set()
_lock = threading.Lock()


def _import(names: tuple[str, ...]) -> None:
    for name in names:
        # A failure is reported later, by the feature that needs the package.
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def warm_up(*names: str) -> None:
    """Import ``names`` in a daemon thread, once per process, if installed and not loaded."""
    with _lock:
        todo = tuple(
            name
            for name in names
            if name not in _started
            and name not in sys.modules
            and importlib.util.find_spec(name) is not None
        )
        _started.update(todo)
    if todo:
        threading.Thread(target=_import, args=(todo,), name="cmsdials-warm-up", daemon=True).start()
