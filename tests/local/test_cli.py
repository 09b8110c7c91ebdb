"""The ``dials-local`` command line, run as a real subprocess."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import distribution
from pathlib import Path

import pytest
import requests

from dials_local.db.engines import Database

COMMANDS = {
    "serve": [
        "--demo",
        "--data-dir",
        "--database-url",
        "--secret-key",
        "--latency-ms",
        "--faults",
        "--access-ttl",
        "--refresh-ttl",
        "--leeway",
    ],
    "seed": ["--size", "--if-empty", "--data-dir"],
    "ingest": ["--workspace", "--table", "FILE"],
    "create-api-client": ["--name", "--secret"],
    "create-user": ["NAME", "--password", "--role"],
}


def cli(
    *args: str, module: str = "dials_local.cli", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_useful_help(command: str) -> None:
    done = cli(command, "--help")
    assert done.returncode == 0, done.stderr
    for option in COMMANDS[command]:
        assert option in done.stdout


def test_top_level_help_lists_the_commands_and_both_module_forms_work() -> None:
    for module in ("dials_local", "dials_local.cli"):
        done = cli("--help", module=module)
        assert done.returncode == 0
        assert all(command in done.stdout for command in COMMANDS)
    assert cli("--version").stdout.startswith("dials-local ")
    # The distribution's own entry points (entry_points(group=) needs Python 3.10).
    dist = distribution("cmsdials")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts.get("dials-local") == "dials_local.cli:main"


def test_bad_arguments_exit_2() -> None:
    assert cli("serve", "--port", "eighty").returncode == 2
    assert cli("nope").returncode == 2


def test_create_api_client_prints_the_secret_once_and_stores_its_hash(tmp_path: Path) -> None:
    done = cli("create-api-client", "--name", "ci", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", secret)
    assert "X-CLIENT-SECRET" in done.stderr and secret not in done.stderr
    chosen = cli(
        "create-api-client", "--secret", "my-own-secret-value", "--data-dir", str(tmp_path)
    )
    assert chosen.stdout.strip() == "my-own-secret-value"
    from sqlalchemy import select

    from dials_local.db.schema import api_clients

    db = Database(data_dir=tmp_path)
    with db.service_engine().connect() as conn:
        stored = {r.secret_sha256: r.name for r in conn.execute(select(api_clients))}
    db.dispose()
    assert stored == {
        hashlib.sha256(secret.encode()).hexdigest(): "ci",
        hashlib.sha256(b"my-own-secret-value").hexdigest(): "api-client",
    }


def test_seed_if_empty_leaves_a_seeded_database_alone(tiny_data_dir: Path) -> None:
    done = cli("seed", "--data-dir", str(tiny_data_dir), "--size", "tiny", "--if-empty")
    assert done.returncode == 0, done.stderr
    assert "already holds data" in done.stdout


def test_serve_rejects_a_bad_fault_spec(tmp_path: Path) -> None:
    done = cli("serve", "--data-dir", str(tmp_path), "--port", "0", "--faults", "teapot@1")
    assert done.returncode == 2
    assert "--faults" in done.stderr and "teapot" in done.stderr


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``serve`` and read its output until the banner's last line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dials_local.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Uvicorn running" in line:
            break
    return process, "".join(lines)


def served_at(output: str) -> str:
    """The base URL the banner names (with ``--port 0``: the port the server took)."""
    found = re.search(r"is serving .* at (http://127\.0\.0\.1:\d+/)$", output, re.MULTILINE)
    assert found, output
    return found[1]


def stop_process(process: subprocess.Popen[str]) -> None:
    """Stop it, then close its pipes (left open they are a ResourceWarning)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def test_serve_demo_prints_a_working_key_and_curl_example(
    tiny_data_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_data_dir, data)  # already seeded: --demo must not seed again
    process, output = start_serve(
        "--demo", "--data-dir", str(data), "--port", "0", "--no-access-log"
    )
    try:
        base = served_at(output)
        assert f"{base}api/v1/" in output, output
        assert "Seeding" not in output
        key = re.search(r"secret key: (\S+)", output)
        assert key, output
        assert f'curl -H "X-CLIENT-SECRET: {key[1]}"' in output
        response = requests.get(
            base + "api/v1/run/", headers={"X-CLIENT-SECRET": key[1]}, timeout=10
        )
        assert response.status_code == 200 and response.json()["results"]
    finally:
        stop_process(process)


def test_serve_demo_seeds_an_empty_directory(tmp_path: Path) -> None:
    process, output = start_serve(
        "--demo", "--size", "tiny", "--data-dir", str(tmp_path), "--port", "0",
        "--secret-key", "given-secret", "--no-access-log",
    )  # fmt: skip
    try:
        assert "Seeding the 'tiny' data set" in output, output
        assert "secret key: given-secret" in output
        response = requests.get(
            f"{served_at(output)}api/v1/dataset-index/14677060/",
            headers={"X-CLIENT-SECRET": "given-secret"},
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        stop_process(process)


def test_ingest_reports_errors_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"not": "a run"}\n')
    unknown = cli(
        "ingest",
        "--workspace",
        "tracker",
        "--table",
        "no_such_table",
        str(bad),
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert unknown.returncode == 2 and "no_such_table" in unknown.stderr
    failed = cli(
        "ingest",
        "--workspace",
        "tracker",
        "--table",
        "run",
        str(bad),
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("dials-local ingest: ") and "Traceback" not in failed.stderr


def test_ingest_loads_a_file_and_the_server_serves_it(tmp_path: Path) -> None:
    rows = tmp_path / "datasets.jsonl"
    rows.write_text(
        '{"dataset_id": 42, "dataset": "/ZeroBias/Run2024X-PromptReco-v1/DQMIO"}\n'
        '{"dataset_id": 43, "dataset": "/ZeroBias/Run2024Y-PromptReco-v1/DQMIO"}\n'
    )
    data = tmp_path / "d"
    done = cli(
        "ingest",
        "--workspace",
        "egamma",
        "--table",
        "dataset-index",
        str(rows),
        "--data-dir",
        str(data),
    )
    assert done.returncode == 0, done.stderr
    assert "Loaded 2 rows into egamma.dataset-index" in done.stdout
    from sqlalchemy import func, select

    from dials_local.db.schema import fact_dataset_index

    db = Database(data_dir=data)
    with db.engine("egamma").connect() as conn:
        ids = conn.execute(select(fact_dataset_index.c.dataset_id)).scalars().all()
    with db.engine("tracker").connect() as conn:
        others = conn.execute(select(func.count()).select_from(fact_dataset_index)).scalar()
    db.dispose()
    assert sorted(ids) == [42, 43] and others == 0
