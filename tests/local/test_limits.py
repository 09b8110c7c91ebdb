"""Server limits (issue #10): hostile inputs sent over real sockets to a real dials-local.

Body size (413 while streaming), control routes (``--testing`` and the admin credential),
SIGTERM with a hanging request, file modes of the data directory, secrets kept out of the
process list, and the contract's error shape for what the HTTP parser rejects.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dials_local.testing import ADMIN_HEADER, SECRET_HEADER, LocalServer

BODY_LIMIT = 1024 * 1024
HUNDRED_MB = 100 * 1024 * 1024


def _rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _api_get(server: LocalServer, path: str = "run/?page_size=2") -> requests.Response:
    return requests.get(
        server.api_url + path, headers={SECRET_HEADER: server.secret_key}, timeout=10
    )


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before closing (or until ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def _upload(server: LocalServer, head: bytes, pieces: Iterator[bytes]) -> tuple[bytes, float]:
    """Send ``head`` then ``pieces`` from a thread (until the server stops reading) while
    reading the answer here; the answer and the seconds it took."""
    assert server.port is not None
    sock = socket.create_connection((server.host, server.port))

    def send_body() -> None:
        try:
            for piece in pieces:
                sock.sendall(piece)
        except OSError:  # the server answered and closed: the rest is never read
            pass

    started = time.monotonic()
    sock.sendall(head)
    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    try:
        answer = _read_response(sock, timeout=20)
        return answer, time.monotonic() - started
    finally:
        sock.close()
        sender.join(timeout=10)


def _pieces(total: int, size: int = 64 * 1024, chunked: bool = False) -> Iterator[bytes]:
    piece = b"a" * size
    for _ in range(total // size):
        yield (b"%x\r\n" % size + piece + b"\r\n") if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_100_mb_body_gets_413_at_once_and_memory_stays_bounded(
    server: LocalServer, framing: str
) -> None:
    assert server.process is not None
    before = _rss_kib(server.process.pid)
    length = (
        f"Content-Length: {HUNDRED_MB}"
        if framing == "content-length"
        else "Transfer-Encoding: chunked"
    )
    head = (
        f"POST /api/v1/auth/device-token/ HTTP/1.1\r\nHost: x\r\n{length}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    ).encode()
    served: list[int] = []
    other = threading.Thread(target=lambda: served.append(_api_get(server).status_code))
    other.start()  # a second client while the hostile upload runs
    answer, elapsed = _upload(server, head, _pieces(HUNDRED_MB, chunked=framing == "chunked"))
    other.join()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"content-type: application/json" in answer.lower()
    assert answer.endswith(
        b'{"detail":"Request body too large: at most 1048576 bytes are accepted."}'
    )
    assert elapsed < 5
    assert served == [200]
    assert _api_get(server).status_code == 200
    grown_mib = (_rss_kib(server.process.pid) - before) / 1024
    assert grown_mib < 30, f"server RSS grew by {grown_mib:.0f} MiB"


def test_a_body_within_the_limit_still_reaches_the_route(server: LocalServer) -> None:
    """1 MiB of chunked form data is replayed to the endpoint, which answers as usual."""
    body = b"x=" + b"a" * (BODY_LIMIT - 2)
    response = requests.post(
        server.api_url + "auth/device-token/",
        data=iter([body[: BODY_LIMIT // 2], body[BODY_LIMIT // 2 :]]),  # chunked
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.text == "Attribute 'device_code' not found in request body."


def test_max_body_bytes_is_settable(tiny_data_dir: Path) -> None:
    with LocalServer(tiny_data_dir, extra_args=("--max-body-bytes", "10"), in_thread=True) as local:
        url = local.api_url + "auth/device-token/"
        assert requests.post(url, data=b"device_code", timeout=10).status_code == 413
        small = requests.post(url, data=b"x=1", timeout=10)
        assert small.status_code == 400


def test_control_routes_are_404_without_testing(tiny_data_dir: Path) -> None:
    with LocalServer(tiny_data_dir, testing=False, in_thread=True) as local:
        controls = {"_local/faults": {"spec": "slow:86400@1"}, "_local/clock": {"advance": 1e6}}
        for path, body in controls.items():
            for headers in ({ADMIN_HEADER: local.admin_token}, {SECRET_HEADER: local.secret_key}):
                response = requests.put(
                    local.base_url + path, json=body, headers=headers, timeout=10
                )
                assert response.status_code == 404
                assert response.headers["Content-Type"].startswith("text/html")
        assert _api_get(local).status_code == 200  # no rule was set


def test_control_routes_need_the_admin_credential_not_an_api_key(server: LocalServer) -> None:
    url = server.base_url + "_local/faults"
    clock = server.base_url + "_local/clock"
    wrong = [{}, {ADMIN_HEADER: "wrong"}, {SECRET_HEADER: server.secret_key}]
    for headers in wrong:
        response = requests.put(url, json={"spec": "slow:86400@1"}, headers=headers, timeout=10)
        assert response.status_code == 403
        assert response.json()["code"] == "not_allowed"
        moved = requests.put(clock, json={"advance": 1e6}, headers=headers, timeout=10)
        assert moved.status_code == 403 and moved.json()["code"] == "not_allowed"
    assert _api_get(server).status_code == 200  # not slowed: no rule was set
    right = requests.get(url, headers={ADMIN_HEADER: server.admin_token}, timeout=10)
    assert right.status_code == 200
    assert right.json()["spec"] == ""
    assert server.clock()["offset"] == 0  # not moved either


def test_sigterm_stops_a_server_with_a_request_hanging_in_a_slow_rule(
    tiny_data_dir: Path,
) -> None:
    local = LocalServer(tiny_data_dir).start()
    try:
        local.set_faults("slow:86400@1")
        outcome: list[object] = []

        def hang() -> None:
            try:
                outcome.append(_api_get(local).status_code)
            except requests.RequestException as error:
                outcome.append(error)

        hanging = threading.Thread(target=hang, daemon=True)
        hanging.start()
        deadline = time.monotonic() + 10
        state: dict[str, list[dict[str, int]]] = {"rules": [{"fired": 0}]}
        while state["rules"][0]["fired"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            # The control route is not slowed: a second client is served meanwhile.
            state = requests.get(
                local.base_url + "_local/faults",
                headers={ADMIN_HEADER: local.admin_token},
                timeout=5,
            ).json()
        assert state["rules"][0]["fired"] == 1
        assert local.process is not None
        started = time.monotonic()
        local.process.send_signal(signal.SIGTERM)
        # The server's 2 s grace for requests still running, then the exit: not the day
        # the rule would wait (the margin is for a loaded machine).
        local.process.wait(timeout=10)
        assert time.monotonic() - started < 10
        hanging.join(timeout=10)
        assert outcome  # cancelled: uvicorn answers 500 (or drops it) on the way out
    finally:
        local.stop()


def test_data_dir_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with LocalServer(tmp_path / "data") as local:
            assert _api_get(local).status_code == 200
            for workspace in ("tracker", "jetmet", "csc"):  # open more workspace files
                response = requests.get(
                    local.api_url + "th1/?page_size=1",
                    headers={SECRET_HEADER: local.secret_key, "Workspace": workspace},
                    timeout=10,
                )
                assert response.status_code == 200
            data = tmp_path / "data"
            modes = {path.name: path.stat().st_mode & 0o777 for path in data.rglob("*")}
            assert data.stat().st_mode & 0o777 == 0o700
            assert "_service.sqlite3" in modes
            assert any(name.endswith("-wal") for name in modes)
            assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    finally:
        os.umask(previous)


def test_secrets_are_not_in_the_process_list(server: LocalServer) -> None:
    assert server.process is not None
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    assert server.secret_key.encode() not in cmdline
    assert server.admin_token.encode() not in cmdline
    assert b"--testing" in cmdline


def test_the_secret_key_can_come_from_a_file(tiny_data_dir: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-0123456789\n")
    with LocalServer(tiny_data_dir, extra_args=("--secret-key-file", str(key_file))) as local:
        response = requests.get(
            local.api_url + "run/?page_size=1",
            headers={SECRET_HEADER: "from-a-file-0123456789"},
            timeout=10,
        )
        assert response.status_code == 200
        assert b"from-a-file" not in Path(f"/proc/{local.process.pid}/cmdline").read_bytes()  # type: ignore[union-attr]


def test_a_70_kb_url_gets_a_json_error(server: LocalServer) -> None:
    url = server.api_url + "run/?run_number__in=" + "1," * 35_000
    response = requests.get(url, headers={SECRET_HEADER: server.secret_key}, timeout=10)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Request URL too long: at most 65535 bytes."}
    assert _api_get(server).status_code == 200


def test_the_query_method_is_authenticated_then_405_in_json(server: LocalServer) -> None:
    url = server.api_url + "run/"
    anonymous = requests.request("QUERY", url, timeout=10)
    assert anonymous.status_code == 403
    assert anonymous.json()["code"] == "authorization_not_found"
    response = requests.request(
        "QUERY", url, headers={SECRET_HEADER: server.secret_key}, timeout=10
    )
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "QUERY" not allowed.'}
    assert "TRACE" not in response.headers["Allow"]
    token_url = server.base_url + "auth/realms/cern/protocol/openid-connect/token"
    keycloak = requests.request("QUERY", token_url, timeout=10)
    assert keycloak.status_code == 405
    assert keycloak.json() == {"detail": 'Method "QUERY" not allowed.'}
