"""Fresh virtualenvs and pip, for the tests marked ``install``.

Importable from every test directory: pytest puts ``tests/`` (the directory of the root
``conftest.py``) on ``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pip(python: Path, *args: str) -> str:
    """Run pip of ``python``; fails the test with pip's output when pip fails.

    ``PIP_QUIET``/``PIP_VERBOSE`` in the environment would change what ``pip list``
    prints: they are left out.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_QUIET", "PIP_VERBOSE")}
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def fresh_venv(interpreter: str, where: Path) -> Path:
    """A new virtualenv of ``interpreter`` at ``where``; returns its ``python``."""
    subprocess.run([interpreter, "-m", "venv", str(where)], check=True, timeout=120)
    return where / "bin" / "python"


def source_copy(where: Path) -> Path:
    """What ``pip install .`` needs of the repository, copied to ``where``.

    pip builds in the source tree (``build/``, ``*.egg-info``); building a copy keeps the
    shared checkout untouched while other test runs use it.
    """
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, where / name)
    shutil.copytree(
        REPO / "src",
        where / "src",
        # *.so: the compiled scanner of an editable install, built for this interpreter
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so"),
    )
    return where
