"""The incumbent client, cmsdials 2.4.1 from PyPI, as a black box: a Python to run it with.

Used by the tests that compare with it (``tests/local/test_incumbent_keycloak.py``,
``tests/client/test_incumbent_parity.py``).  The interpreter is the one named by
``DIALS_INCUMBENT_PYTHON``, else a virtualenv created once in
``~/.cache/dials-local-tests/cmsdials-2.4.1/`` (``pip install cmsdials==2.4.1 pandas``;
needs the package registry the first time).  When neither is possible the tests fail on
CI (``CI`` set) and are skipped on a developer machine.

Scripts run with :func:`clean_env`, so that our own ``cmsdials`` is never imported in
place of the incumbent.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

__all__ = ["INCUMBENT", "cache_dir", "clean_env", "incumbent_python", "missing"]

INCUMBENT = "cmsdials==2.4.1"
#: What the scripts need besides the client (``to_pandas``).
EXTRAS = ("pandas",)


def cache_dir() -> Path:
    """Where the incumbent's virtualenv is created (kept between sessions)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "dials-local-tests" / INCUMBENT.replace("==", "-")


def missing(reason: str) -> None:
    """No incumbent: a failure on CI (it must run there), a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def clean_env() -> dict[str, str]:
    """The environment without anything that would make our own cmsdials importable."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _pip_install(python: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
        capture_output=True,
        text=True,
        timeout=900,
    )


def _check(python: Path, modules: tuple[str, ...]) -> None:
    """Fail/skip unless ``python`` runs cmsdials 2.4.1 and can import ``modules``."""
    imports = "".join(f"import {name}; " for name in modules)
    done = subprocess.run(
        [str(python), "-c",
         f"{imports}import importlib.metadata as m; print(m.version('cmsdials'))"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )  # fmt: skip
    if done.returncode != 0 or done.stdout.strip() != INCUMBENT.split("==")[1]:
        missing(f"{python} does not run {INCUMBENT} with {modules}: {done.stderr[-2000:]}")


def incumbent_python(modules: tuple[str, ...] = ()) -> Path:
    """A Python whose ``cmsdials`` is the incumbent release (created on first use).

    ``modules``: what the caller's scripts import besides ``cmsdials`` (``pandas``).
    """
    configured = os.environ.get("DIALS_INCUMBENT_PYTHON")
    if configured:
        python = Path(configured)
        _check(python, modules)
        return python
    home = cache_dir()
    python = home / "bin" / "python"
    marker = home / ".installed"
    wanted = " ".join((INCUMBENT, *EXTRAS))
    # The marker names what was installed: a virtualenv made before EXTRAS grew only
    # gets the missing packages, it is not built again.
    installed = marker.read_text() if marker.exists() else None
    if installed != wanted:
        if installed is None or not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(home)
        done = _pip_install(python, INCUMBENT, *EXTRAS)
        if done.returncode != 0:
            missing(f"could not install {wanted}: {done.stderr[-2000:]}")
        marker.write_text(wanted)
    _check(python, modules)
    return python
