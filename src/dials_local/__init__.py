"""dials-local: a DIALS-compatible server with a real database, for offline use and tests."""

from cmsdials._version import __version__

__all__ = ["__version__"]
