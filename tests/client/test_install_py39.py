"""``pip install .`` on Python 3.9 beside urllib3 1.26 (a CMSSW / LCG stack), then the guide.

CMSSW ships Python 3.9 and SWAN / LCG stacks urllib3 1.26: the package must install there
without replacing what the stack holds, and the guide must run.  The interpreter is the one
named by ``DIALS_TEST_PY39``, or the newest 3.9 under ``~/.pyenv/versions``; without one
the test fails on CI and is skipped elsewhere.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from guide_doc import run_guide
from test_auth_server import approve_over_http
from test_guide_doc import check_guide_output, guide_server  # noqa: F401 - a fixture

from dials_local.testing import LocalServer
from install_support import REPO, fresh_venv, pip

pytestmark = pytest.mark.install


def python39() -> str:
    named = os.environ.get("DIALS_TEST_PY39")
    if named:
        return named
    found = sorted(
        Path.home().glob(".pyenv/versions/3.9.*/bin/python"),
        key=lambda path: [int(part) for part in path.parts[-3].split(".")],
    )
    if found:
        return str(found[-1])
    if os.environ.get("CI"):
        pytest.fail("no Python 3.9 interpreter (~/.pyenv/versions/3.9.*)")
    pytest.skip("no Python 3.9 interpreter")


def test_pip_install_on_python39_keeps_urllib3_1_26_and_runs_the_guide(
    guide_server: LocalServer,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    python = fresh_venv(python39(), tmp_path / "venv")
    pip(python, "install", "-q", "urllib3<2")
    pip(python, "install", "-q", f"{REPO}[pandas,tqdm]")
    installed = pip(python, "list", "--format=freeze")
    versions = dict(line.split("==", 1) for line in installed.splitlines() if "==" in line)
    assert versions["urllib3"].startswith("1.26."), versions["urllib3"]
    assert "cmsdials" in versions
    # The compiled page scanner (setup.py) builds there too.
    subprocess.run([str(python), "-c", "import cmsdials._speedups"], check=True, timeout=60)
    workdir = tmp_path / "run"
    workdir.mkdir()
    check_guide_output(
        *run_guide(
            str(python),
            guide_server.base_url,
            guide_server.secret_key,
            workdir,
            approve_over_http,
        )
    )
