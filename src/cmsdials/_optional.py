"""Optional dependencies, imported only when a feature needs them."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from cmsdials.errors import MissingDependencyError

__all__ = ["available", "installed", "require"]


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise an error that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module.split(".")[0], extra, feature) from exc


def available(module: str) -> bool:
    """True when ``module`` can be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def installed(module: str) -> bool:
    """True when ``module`` is imported or can be found, without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
