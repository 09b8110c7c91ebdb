"""``--faults``, ``--latency-ms`` and the request log, observed over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dials_local.testing import ADMIN_HEADER, SECRET_HEADER, LocalServer

ROUTE = "run/?page_size=50"


@pytest.fixture
def faulty(server: LocalServer) -> Iterator[LocalServer]:
    """The session server; fault rules are cleared whatever the test does."""
    yield server
    server.set_faults(None)


def get(server: LocalServer, path: str = ROUTE, timeout: float = 30) -> requests.Response:
    return requests.get(
        server.api_url + path, headers={SECRET_HEADER: server.secret_key}, timeout=timeout
    )


def test_status_fault_fires_on_every_kth_request(faulty: LocalServer) -> None:
    faulty.set_faults("503@3")
    statuses = [get(faulty).status_code for _ in range(7)]
    assert statuses == [200, 200, 503, 200, 200, 503, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_each_status_kind_answers_that_status_with_an_html_page(
    faulty: LocalServer, status: int
) -> None:
    faulty.set_faults(f"{status}@1x1")
    response = get(faulty)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    assert str(status) in response.text
    assert get(faulty).status_code == 200  # x1: fired once only


def test_429_carries_retry_after(faulty: LocalServer) -> None:
    faulty.set_faults("429:2@1x1")
    response = get(faulty)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert "throttled" in response.json()["detail"]
    assert get(faulty).status_code == 200


def test_reset_breaks_the_connection_in_the_middle_of_the_body(faulty: LocalServer) -> None:
    faulty.set_faults("reset@1x1")
    try:
        response = get(faulty)
    except requests.exceptions.ChunkedEncodingError as exc:  # urllib3 2 checks the length
        assert "IncompleteRead" in str(exc)  # some bytes arrived, then the connection broke
    else:  # urllib3 1.26 returns what arrived: fewer bytes than announced
        assert 0 < len(response.content) < int(response.headers["Content-Length"])
    assert get(faulty).json()["results"]


def test_truncate_sends_a_complete_response_with_a_cut_json_body(faulty: LocalServer) -> None:
    whole = get(faulty).content
    faulty.set_faults("truncate@1x1")
    response = get(faulty)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) == len(whole) // 2
    assert whole.startswith(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_slow_delays_the_answer(faulty: LocalServer) -> None:
    faulty.set_faults("slow:1.5@1x1")
    started = time.monotonic()
    assert get(faulty).status_code == 200
    assert time.monotonic() - started >= 1.5
    with pytest.raises(requests.exceptions.ReadTimeout):
        faulty.set_faults("slow:3@1x1")
        get(faulty, timeout=0.5)


def test_the_api_root_is_not_counted(faulty: LocalServer) -> None:
    faulty.set_faults("503@2")
    assert requests.get(faulty.api_url, timeout=10).status_code == 200
    assert get(faulty).status_code == 200
    assert get(faulty).status_code == 503


def test_control_route_requires_a_credential_and_rejects_bad_specs(faulty: LocalServer) -> None:
    url = faulty.base_url + "_local/faults"
    assert requests.put(url, json={"spec": "503@1"}, timeout=10).status_code == 403
    api_key = {SECRET_HEADER: faulty.secret_key}  # an API key is not the admin credential
    assert requests.put(url, json={"spec": "503@1"}, headers=api_key, timeout=10).status_code == 403
    bad = requests.put(
        url, json={"spec": "boom@1"}, headers={ADMIN_HEADER: faulty.admin_token}, timeout=10
    )
    assert bad.status_code == 400
    assert "KIND one of 500, 502, 503, 504, 429, reset, truncate, slow" in bad.json()["spec"][0]
    state = faulty.set_faults("503@4,reset@2x1")
    assert state["spec"] == "503@4,reset@2x1"


def test_faults_and_latency_from_the_command_line(tiny_data_dir: Path) -> None:
    with LocalServer(tiny_data_dir, faults="504@2", latency_ms=300, in_thread=True) as local:
        started = time.monotonic()
        first = get(local)
        elapsed = time.monotonic() - started
        assert first.status_code == 200
        assert elapsed >= 0.3
        assert get(local).status_code == 504


def test_one_log_line_per_request_without_secrets(tiny_data_dir: Path) -> None:
    with LocalServer(tiny_data_dir, in_thread=True) as local:
        response = get(local, "lumisection/?page_size=3")
        assert response.status_code == 200
        get(local, "no-such-route/")
        log = local.wait_for_log("GET /api/v1/no-such-route/ 404")
    lines = [
        line for line in log.splitlines() if "GET /api/v1/lumisection/?page_size=3 200" in line
    ]
    assert len(lines) == 1
    assert f"{len(response.content)}B" in lines[0]
    assert lines[0].rstrip().endswith("ms")
    assert "GET /api/v1/no-such-route/ 404" in log
    assert local.secret_key not in log
