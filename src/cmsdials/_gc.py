"""Keep the cyclic garbage collector away from bulk decoding.

Decoding a page, or turning columns back into row models, allocates many container
objects in a burst (row dicts, lists of lists of floats).  Each allocation counts towards
the collector's thresholds, so it runs again and again in the middle of the burst and walks
everything alive - millions of floats in a large result - each time, although nothing
created there is garbage.  Measured on 24x24 maps, that walking used to be about half of
the time an incumbent client spent.

:func:`gc_paused` disables the collector for the duration of such work.  Several threads
(parallel partitions) may be inside at once: the collector is switched off by the first one
in and back on by the last one out, and only if it was enabled before, so a caller who
disabled it on purpose keeps it disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore it on exit, errors included."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
