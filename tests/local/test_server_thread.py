"""``LocalServer(in_thread=True)``: the ``serve`` command's server in a thread of the test
process (:mod:`dials_local.server_thread`), compared with the process the session runs;
and where either keeps its log."""

from __future__ import annotations

import shutil
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
import requests

from dials_local.testing import SECRET_HEADER, LocalServer, LocalServerError

#: Routes of every kind: cursor pages, plain arrays, counts, a composite retrieve, errors.
ROUTES = (
    "run/?page_size=5",
    "th1/?page_size=2&me__regex=Pixel",
    "mes/",
    "lumisection/count/?run_number__gte=0",
    "file-index/?page_size=3&dataset_id=1",
    "run/1/2/",
    "run/?run_number__gte=x",
)


def _get(server: LocalServer, route: str) -> tuple[int, str]:
    response = requests.get(
        server.api_url + route, headers={SECRET_HEADER: server.secret_key}, timeout=30
    )
    # Links in pages name the server they came from.
    return response.status_code, response.text.replace(server.base_url, "BASE/")


def test_an_in_thread_server_answers_as_the_process_does(
    server: LocalServer, tiny_data_dir: Path
) -> None:
    with LocalServer(tiny_data_dir, in_thread=True) as local:
        assert local.process is None and "in a thread running" in repr(local)
        for route in ROUTES:
            assert _get(local, route) == _get(server, route), route
    assert "stopped" in repr(local)


def _threads_started_since(before: set[threading.Thread]) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread not in before]


def test_stopping_frees_the_port_and_leaves_no_thread_behind(tiny_data_dir: Path) -> None:
    before = set(threading.enumerate())
    local = LocalServer(tiny_data_dir, in_thread=True).start()
    port = local.port
    assert port is not None
    try:
        for _ in range(20):  # the worker threads of the API and of its database work
            assert _get(local, "run/?page_size=1")[0] == 200
        signing_in = requests.post(  # a password hash: the sign-in pool's threads
            local.base_url + "device/login", data={"username": "x", "password": "y"}, timeout=30
        )
        assert signing_in.status_code in (400, 403, 404)
        assert _threads_started_since(before)
    finally:
        local.stop()
    deadline = time.monotonic() + 10
    while _threads_started_since(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _threads_started_since(before), _threads_started_since(before)
    with socket.socket() as probe:
        # Closed connections may linger in TIME_WAIT, as for any server; a listener left
        # open would still make this bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def test_its_log_is_a_private_file_without_secrets(tiny_data_dir: Path) -> None:
    with LocalServer(tiny_data_dir, in_thread=True) as local:
        assert _get(local, "run/?page_size=1")[0] == 200
        requests.get(local.api_url + "run/", headers={SECRET_HEADER: "wrong"}, timeout=10)
        assert local.log_path is not None
        # The 403's line is written after its response went out: wait for it.
        log = local.wait_for_log("GET /api/v1/run/ 403")
        mode = stat.S_IMODE(local.log_path.stat().st_mode)
        with pytest.raises(TimeoutError, match=r"(?s)\['never logged'\]; its last lines:\n.*403"):
            local.wait_for_log("GET /api/v1/run/ 403", "never logged", timeout=0.1)
    assert "dials_local.access INFO GET /api/v1/run/?page_size=1 200" in log
    assert local.secret_key not in log and "wrong" not in log
    assert mode == 0o600


@pytest.mark.parametrize("in_thread", [True, False], ids=["thread", "process"])
def test_a_kept_data_directory_collects_no_logs(
    tiny_data_dir: Path, tmp_path: Path, in_thread: bool
) -> None:
    """A server on the caller's data directory logs into a private directory of its own,
    removed at stop: a data directory used run after run does not gain a log per run."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data_dir, data, ignore=shutil.ignore_patterns("*.log"))
    with LocalServer(data, in_thread=in_thread) as local:
        assert _get(local, "run/?page_size=1")[0] == 200
        local.wait_for_log("GET /api/v1/run/?page_size=1 200")
        assert local.log_path is not None
        log_path = local.log_path
        assert data not in log_path.parents
        assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    assert not log_path.parent.exists()
    assert local.log_tail() == ""
    assert not [path.name for path in data.iterdir() if path.suffix == ".log"]


def test_bad_arguments_and_a_busy_port_are_local_server_errors(tiny_data_dir: Path) -> None:
    with pytest.raises(LocalServerError, match="invalid serve arguments"):
        LocalServer(tiny_data_dir, extra_args=("--access-ttl", "0"), in_thread=True).start()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = LocalServer(tiny_data_dir, port=taken.getsockname()[1], in_thread=True)
        with pytest.raises(LocalServerError, match="in use"):
            busy.start()
        assert not busy.running


def test_a_process_server_binds_the_port_it_serves_on(tiny_data_dir: Path) -> None:
    """Without a port of the caller's, the server process picks its own (``--port 0``) and
    the LocalServer reads it from what the server printed: no port is chosen here and
    bound there, where a server of a parallel test could have taken it in between (and
    answered the readiness probe)."""
    with LocalServer(tiny_data_dir) as local:
        assert local.process is not None
        argv = [str(arg) for arg in local.process.args]  # type: ignore[union-attr]
        assert argv[argv.index("--port") + 1] == "0"
        assert f"at {local.base_url}" in local.log_tail()
        assert _get(local, "run/?page_size=1")[0] == 200  # its key: this very server
