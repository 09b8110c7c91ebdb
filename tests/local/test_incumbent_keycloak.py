"""The newest incumbent client, cmsdials 2.4.1 from PyPI, signs in against dials-local's
Keycloak endpoints (CONTRACT §3.6) and reads data - run unmodified, as a black box, in its
own virtualenv.

The interpreter comes from ``tests/incumbent.py``: the Python named by
``DIALS_INCUMBENT_PYTHON``, or a virtualenv created once in ``~/.cache/dials-local-tests/``.
Without it the tests are skipped on a developer machine and fail on CI.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from routes_truth import rows
from test_signin_browser import JETMET_ROLE, Browser, add_user, signin_server

import incumbent
from dials_local.testing import LocalServer

API_CLIENT = "incumbent-bot"
API_SECRET = "incumbent-secret-0123456789-abcdefghijklmnop"

CLIENT_CREDENTIALS_SCRIPT = """
import importlib.metadata, json, sys
from cmsdials import Dials
from cmsdials.auth.client import AuthClient
from cmsdials.auth.client_credentials import Credentials
from cmsdials.filters import RunFilters

base, client_id, secret = sys.argv[1:4]
auth = AuthClient(keycloak_url=base + "auth/")
creds = Credentials(client_id=client_id, client_secret=secret, client=auth)
dials = Dials(creds, base_url=base)
page = dials.run.list(RunFilters())
everything = dials.run.list_all(RunFilters())
print(json.dumps({
    "version": importlib.metadata.version("cmsdials"),
    "page": [[r.dataset_id, r.run_number] for r in page.results],
    "all": [[r.dataset_id, r.run_number] for r in everything.results],
    "workspace": dials.workspace.my_workspace(),
}))
"""

DEVICE_SCRIPT = """
import json, sys
from cmsdials import Dials
from cmsdials.auth.client import AuthClient
from cmsdials.auth.device import Credentials
from cmsdials.filters import RunFilters

base, cache = sys.argv[1:3]
auth = AuthClient(keycloak_url=base + "auth/")
token = auth.device_auth_flow()
creds = Credentials.from_authclient_token(token, cache_dir=cache, client=auth)
dials = Dials(creds, base_url=base)
print(json.dumps({
    "workspace": dials.workspace.my_workspace(),
    "runs": [[r.dataset_id, r.run_number] for r in dials.run.list_all(RunFilters()).results],
}))
"""


@pytest.fixture(scope="session")
def incumbent_python() -> Path:
    """A Python whose ``cmsdials`` is the incumbent release (``tests/incumbent.py``)."""
    return incumbent.incumbent_python()


@pytest.fixture(scope="module")
def incumbent_server(tiny_data_dir: Path) -> Iterator[LocalServer]:
    done = subprocess.run(
        [
            sys.executable, "-m", "dials_local.cli", "create-api-client",
            "--name", API_CLIENT, f"--secret={API_SECRET}", "--data-dir", str(tiny_data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    local = signin_server(tiny_data_dir)
    add_user(local, "incumbent-jet", (JETMET_ROLE,))
    try:
        yield local
    finally:
        local.stop()


def _runs(server: LocalServer, workspace: str) -> list[list[int]]:
    return [[r["dataset_id"], r["run_number"]] for r in rows(server, workspace, "fact_run")]


def test_incumbent_signs_in_with_client_credentials_and_reads_data(
    incumbent_python: Path, incumbent_server: LocalServer, tmp_path: Path
) -> None:
    script = tmp_path / "client_credentials.py"
    script.write_text(CLIENT_CREDENTIALS_SCRIPT)
    done = subprocess.run(
        [str(incumbent_python), str(script), incumbent_server.base_url, API_CLIENT, API_SECRET],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=incumbent.clean_env(),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["version"] == "2.4.1"
    expected = _runs(incumbent_server, "tracker")  # no roles: the default workspace
    assert len(expected) > 10
    assert result["page"] == expected[:10]
    assert result["all"] == expected
    assert result["workspace"] == {"workspace": "tracker"}
    assert "api-access/token" in incumbent_server.wait_for_log("api-access/token")


def test_incumbent_device_flow_with_token_exchange(
    incumbent_python: Path, incumbent_server: LocalServer, tmp_path: Path
) -> None:
    """The person-facing path: the incumbent prints the page address and polls every 5 s;
    we approve on the page; it exchanges the token and reads the user's workspace."""
    script = tmp_path / "device.py"
    script.write_text(DEVICE_SCRIPT)
    process = subprocess.Popen(
        [str(incumbent_python), str(script), incumbent_server.base_url, str(tmp_path / "creds")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=incumbent.clean_env(),
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:  # the incumbent logs the address to stderr
            found = re.search(r"(http://\S+/device\?user_code=[A-Z-]+)", line)
            if found:
                url = found[1]
                break
        assert url is not None, "the incumbent printed no verification address"
        Browser(incumbent_server.base_url).sign_in_and_decide(url, "incumbent-jet")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["workspace"] == {"workspace": "jetmet"}
    assert result["runs"] == _runs(incumbent_server, "jetmet")
