"""argparse types of the ``dials-local`` command line, and its environment knobs: numbers
within bounds.

Each refuses a value with one line (``argument --access-ttl: must be >= 1``), exit code 2.
Kept apart from :mod:`dials_local.cli` so that :mod:`dials_local.settings` can name them
in the declaration of its command-line options without importing the command line.
"""

from __future__ import annotations

import argparse
import os


def non_negative(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def port(text: str) -> int:
    """argparse type: a TCP port, 0 (any free port) to 65535."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0 (any free port) to 65535")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (seconds, fractions allowed)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def positive_int_env(name: str, default: int) -> int:
    """A tuning knob read from the environment: ``$name`` as an integer >= 1, else
    ``default``.  A bad value raises :class:`ValueError` naming the variable."""
    configured = os.environ.get(name, "").strip()
    if not configured:
        return default
    if not configured.isdigit() or int(configured) < 1:
        raise ValueError(f"${name} must be a positive integer, not {configured!r}")
    return int(configured)
