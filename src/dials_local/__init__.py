"""dials-local: a DIALS-compatible server with a real database, for offline use and tests."""

from importlib.metadata import PackageNotFoundError, version

try:
    # Read from the installed distribution: importing cmsdials._version would import the
    # whole client package first, which every dials-local command would pay for.
    __version__ = version("cmsdials")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
