"""Issue #11, the server's part: from the first ``dials-local`` run to daily use.

Each test replays what a user did, with real processes: Ctrl-C (a real SIGINT) in the
middle of the first ``serve --demo``, a port another program holds, ``seed`` over rows
loaded with ``ingest``, long jobs watched in a log, mistyped database URLs, the demo key
across restarts, and a base install without the ``local`` extra.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from sqlalchemy import func, select
from test_cli import cli, start_serve, stop_process

from dials_local.data.seed_state import holdings, read_record
from dials_local.db.engines import Database
from dials_local.db.schema import api_clients, fact_dataset_index, fact_th1, fact_th2
from dials_local.testing import LocalServer, LocalServerError

#: Progress lines every 50 ms: the tests see the count move within the tiny seed's ~2 s.
FAST_PROGRESS = {**os.environ, "DIALS_LOCAL_PROGRESS_INTERVAL": "0.05"}
#: ``12,345/62,395 histogram rows (19%), 25,100 histogram rows/s, ...``
PROGRESS_LINE = re.compile(r": ([\d,]+)/([\d,]+) (histogram rows|rows) \(\d+%\), ([\d,]+) \3/s")
#: The ingest test file: two datasets of our own in egamma.
MINE = [
    {"dataset_id": 42, "dataset": "/Mine/Run2024X-MyReco-v1/DQMIO"},
    {"dataset_id": 43, "dataset": "/Mine/Run2024Y-MyReco-v1/DQMIO"},
]


def watched(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``dials-local ARGS`` with stderr captured (not a terminal: progress lines)."""
    return subprocess.run(
        [sys.executable, "-m", "dials_local.cli", *args],
        capture_output=True, text=True, timeout=120, env=FAST_PROGRESS,
    )  # fmt: skip


def progress_counts(stderr: str, unit: str) -> list[tuple[int, int]]:
    """``(done, total)`` of every progress line of ``unit`` in ``stderr``."""
    found = []
    for match in PROGRESS_LINE.finditer(stderr):
        if match[3] == unit:
            found.append((int(match[1].replace(",", "")), int(match[2].replace(",", ""))))
    return found


def table_rows(database: Database, workspace: str, table: object) -> int:
    with database.engine(workspace).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def dataset_ids(data_dir: Path, workspace: str) -> set[int]:
    database = Database(data_dir=data_dir)
    try:
        with database.engine(workspace).connect() as conn:
            return set(conn.execute(select(fact_dataset_index.c.dataset_id)).scalars())
    finally:
        database.dispose()


def get(base_url: str, key: str, route: str, workspace: str = "tracker") -> requests.Response:
    return requests.get(
        f"{base_url}api/v1/{route}",
        headers={"X-CLIENT-SECRET": key, "Workspace": workspace},
        timeout=30,
    )


def banner(output: str) -> tuple[str, str]:
    """The base URL and the secret key that ``serve --demo`` printed."""
    url = re.search(r"dials-local is serving \S+ at (http://\S+/)", output)
    key = re.search(r"secret key: (\S+)", output)
    assert url and key, output
    return url[1], key[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


# ------------------------------------------------------------------ 1. interrupted seed


def interrupt_first_serve_demo(data_dir: Path) -> str:
    """Start ``serve --demo`` on an empty directory and press Ctrl-C once its progress
    shows the seed in the default workspace (tracker, the last one); returns stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dials_local.cli", "serve", "--demo", "--size", "tiny",
         "--data-dir", str(data_dir), "--port", "0", "--no-access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=FAST_PROGRESS,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        counts = progress_counts(line, "histogram rows")
        if counts and "[tracker]" in line and counts[0][0] < counts[0][1]:
            process.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail("the seed ended before its progress reached tracker:\n" + "".join(seen))
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130, "".join(seen) + rest
    return "".join(seen) + rest


def test_an_interrupted_seed_is_finished_by_the_next_serve_demo(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stderr = interrupt_first_serve_demo(data)
    assert "interrupted; the seed of" in stderr and "did not finish" in stderr
    assert "Traceback" not in stderr
    # The state the issue describes: some workspaces seeded, the default one empty.
    database = Database(data_dir=data)
    record = read_record(database)
    assert record is not None and record.interrupted and "tracker" not in record.done
    first_total = progress_counts(stderr, "histogram rows")[0][1]
    kept = holdings(database)
    assert "csc" in kept and "tracker" not in kept
    database.dispose()

    process, output = start_serve(
        "--demo", "--data-dir", str(data), "--port", "0", "--no-access-log"
    )
    try:
        assert re.search(
            r"The last seed of \S+ \(the 'tiny' data set, started [^)]+\) did not finish: "
            r"finishing it \(\d of 8 steps were done\)",
            output,
        ), output
        # Finished, not redone: the progress total covers the missing workspaces only.
        totals = {total for _, total in progress_counts(output, "histogram rows")}
        assert len(totals) == 1 and 0 < totals.pop() < first_total, output
        base_url, key = banner(output)
        runs = get(base_url, key, "run/?page_size=5")
        assert runs.status_code == 200 and runs.json()["results"], runs.text
    finally:
        stop_process(process)
    database = Database(data_dir=data)
    record = read_record(database)
    assert record is not None and record.complete
    assert set(holdings(database)) == set(kept) | {"tracker"}
    database.dispose()


def test_plain_serve_warns_about_an_interrupted_seed_and_says_how_to_get_a_key(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    interrupt_first_serve_demo(data)
    process, output = start_serve("--data-dir", str(data), "--port", "0", "--no-access-log")
    try:
        assert "warning: the last seed of" in output and "did not finish" in output, output
        assert f"dials-local seed --data-dir {data}" in output
        hint = re.search(
            r"none registered yet.*create one: (dials-local create-api-client .+?) \(", output
        )
        assert hint, output
        # The hint is a working command: the key it prints is accepted at once.
        created = subprocess.run(
            [sys.executable, "-m", "dials_local.cli", *shlex.split(hint[1])[1:]],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        url = re.search(r"dials-local is serving \S+ at (http://\S+/)", output)
        assert url, output
        answer = get(url[1], created.stdout.strip(), "dataset-index/", workspace="csc")
        assert answer.status_code == 200 and answer.json()["results"]
    finally:
        stop_process(process)


# ------------------------------------------------------------------ 2. busy port


def test_a_busy_port_fails_at_once_in_one_line_naming_the_fix(
    busy_port: int, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    started = time.monotonic()
    done = cli("serve", "--demo", "--data-dir", str(data), "--port", str(busy_port))
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert done.stderr == (
        f"dials-local serve: port {busy_port} on 127.0.0.1 is already in use (another "
        "dials-local, or another program); choose another with --port N, or --port 0 for "
        "any free port\n"
    )
    assert done.stdout == ""
    # Nothing was seeded (the data directory is the proof; the demo seed takes 8-22 s, and
    # the bound leaves a loaded machine the time to start the command).
    assert elapsed < 15 and not data.exists()


def test_local_server_errors_carry_the_servers_last_lines(
    busy_port: int, tiny_data_dir: Path
) -> None:
    with pytest.raises(LocalServerError, match="already in use") as busy:
        LocalServer(tiny_data_dir, port=busy_port).start()
    assert "exited with code 1 during start-up" in str(busy.value)
    with pytest.raises(LocalServerError, match="--database-url") as bad:
        LocalServer(database_url="mysql://someone@somewhere/dials").start()
    assert "dials-local seed failed with exit code 2" in str(bad.value)


# ------------------------------------------------------------------ 4. seed over data


def test_seed_refuses_to_replace_ingested_rows_unless_told(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rows = tmp_path / "mine.jsonl"
    rows.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in MINE))
    loaded = cli(
        "ingest", "--workspace", "egamma", "--table", "dataset-index", str(rows),
        "--data-dir", str(data),
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr

    refused = cli("seed", "--size", "tiny", "--data-dir", str(data))
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"dials-local seed: {data} already holds data; seeding would replace all of it:",
        "  egamma: 2 dataset-index rows",
        "  (not seeded by dials-local: loaded with ingest, or by an older version)",
        f"Replace it: dials-local seed --data-dir {data} --size tiny --force; "
        f"or keep it: dials-local seed --data-dir {data} --size tiny --if-empty",
    ]
    assert dataset_ids(data, "egamma") == {42, 43}

    kept = cli("seed", "--size", "tiny", "--data-dir", str(data), "--if-empty")
    assert kept.returncode == 0 and "already holds data; not seeding" in kept.stdout
    assert dataset_ids(data, "egamma") == {42, 43}

    replaced = cli("seed", "--size", "tiny", "--data-dir", str(data), "--force", "--quiet")
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stderr == ""  # --quiet: no progress
    assert "Replacing the data of" in replaced.stdout and "seeded size=tiny" in replaced.stdout
    egamma = dataset_ids(data, "egamma")
    assert egamma and not egamma & {42, 43}

    # Loaded again over the seed: the refusal now counts what changed since.
    assert cli(
        "ingest", "--workspace", "egamma", "--table", "dataset-index", str(rows),
        "--data-dir", str(data), "--quiet",
    ).returncode == 0  # fmt: skip
    again = cli("seed", "--size", "tiny", "--data-dir", str(data))
    assert again.returncode == 1
    assert re.search(
        r"\(seeded with the 'tiny' data set, started [^;]+; 2 rows added or removed since\)",
        again.stderr,
    ), again.stderr
    assert {42, 43} <= dataset_ids(data, "egamma")


# ------------------------------------------------------------------ 5. progress


def assert_progress(stderr: str, unit: str, total: int) -> None:
    """Several lines, each with the exact total; counts never go back; the last is done."""
    counts = progress_counts(stderr, unit)
    assert len(counts) >= 3, stderr
    assert {t for _, t in counts} == {total}, stderr
    done = [d for d, _ in counts]
    assert done == sorted(done) and done[-1] == total and done[0] < total, stderr


def test_seed_progress_has_the_exact_total_and_advances(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = watched("seed", "--size", "tiny", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    database = Database(data_dir=data)
    written = sum(
        table_rows(database, workspace, table)
        for workspace in holdings(database)
        for table in (fact_th1, fact_th2)
    )
    database.dispose()
    assert_progress(done.stderr, "histogram rows", written)
    assert "seeding 'tiny': " in done.stderr


def test_ingest_progress_counts_the_files_rows_and_quiet_prints_nothing(tmp_path: Path) -> None:
    records = [{"dataset_id": i, "dataset": f"/P{i}/Run2024X-R-v1/DQMIO"} for i in range(1, 20001)]
    jsonl = tmp_path / "datasets.jsonl"
    # Blank lines are skipped when loading: the total must skip them too.
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n\n\n")
    parquet = tmp_path / "datasets.parquet"
    pq.write_table(pa.Table.from_pylist(records[:15000]), parquet)
    for path, workspace, count in ((jsonl, "csc", 20000), (parquet, "ecal", 15000)):
        loaded = watched(
            "ingest", "--workspace", workspace, "--table", "dataset-index", str(path),
            "--data-dir", str(tmp_path / "d"),
        )  # fmt: skip
        assert loaded.returncode == 0, loaded.stderr
        assert f"Loaded {count} rows" in loaded.stdout
        assert_progress(loaded.stderr, "rows", count)
    quiet = watched(
        "ingest", "--workspace", "hcal", "--table", "dataset-index", str(jsonl),
        "--data-dir", str(tmp_path / "d"), "--quiet",
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "Loaded 20000 rows" in quiet.stdout


def test_progress_on_a_terminal_is_a_bar(tmp_path: Path) -> None:
    rows = tmp_path / "datasets.jsonl"
    rows.write_bytes(
        b"".join(
            orjson.dumps({"dataset_id": i, "dataset": f"/P{i}/Run2024X-R-v1/DQMIO"}) + b"\n"
            for i in range(1, 5001)
        )
    )
    primary, secondary = pty.openpty()  # stderr is a terminal, as in an interactive shell
    # ... of 40 rows and 120 columns (a new pseudo-terminal has 0 of each).
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "dials_local.cli", "ingest", "--workspace", "csc",
         "--table", "dataset-index", str(rows), "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.DEVNULL, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert process.wait(timeout=60) == 0
    # tqdm's bar (the tqdm extra is installed here), redrawn in place, ending at the total.
    final = shown.decode().replace("\r\n", "\n").split("\r")[-1]
    bar = re.compile(r"ingest datasets\.jsonl: 100%\|[^|]+\| 5\.00k/5\.00k \[.* rows/s")
    assert bar.match(final), shown


# ------------------------------------------------------------------ 9. keys and URLs


def test_the_demo_key_is_the_same_at_every_start_and_registered_once(
    tiny_data_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_data_dir, data)
    keys = []
    for _ in range(2):
        process, output = start_serve("--demo", "--data-dir", str(data), "--port", "0")
        try:
            base_url, key = banner(output)
            assert get(base_url, key, "run/?page_size=1").status_code == 200
            keys.append(key)
        finally:
            stop_process(process)
    assert keys[0] == keys[1]
    database = Database(data_dir=data)
    with database.service_engine().connect() as conn:
        demo = conn.execute(select(func.count()).where(api_clients.c.name == "demo")).scalar()
    database.dispose()
    assert demo == 1


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        (
            "mysql://someone:hunter2@db.example/dials",
            2,
            "dials-local create-api-client: --database-url 'mysql://someone:***@db.example/"
            "dials': 'mysql' databases are not supported; valid: postgresql://USER@HOST[:PORT]"
            "/DATABASE (also postgres:// or postgresql+psycopg://), or sqlite:///DIRECTORY "
            "(the same as --data-dir DIRECTORY)",
        ),
        (
            "postgresql+psycopg2://someone@db.example/dials",
            2,
            "dials-local create-api-client: --database-url 'postgresql+psycopg2://someone@"
            "db.example/dials': dials-local talks to PostgreSQL through psycopg 3 only, not "
            "'psycopg2'; write postgresql://... (or postgresql+psycopg://...)",
        ),
        (
            "postgres://someone:hunter2@127.0.0.1:1/dials",
            1,
            "dials-local create-api-client: cannot use the database postgresql+psycopg://"
            "someone:***@127.0.0.1:1/dials: connection failed: connection to server at "
            '"127.0.0.1", port 1 failed: Connection refused',
        ),
        (
            "sqlite://",
            2,
            "dials-local create-api-client: --database-url 'sqlite://': dials-local keeps one "
            "SQLite file per workspace in a directory, so the URL must name one: "
            "sqlite:///DIRECTORY (or --data-dir DIRECTORY); in-memory databases are not "
            "supported",
        ),
    ],
)
def test_bad_database_urls_get_one_line(url: str, code: int, message: str) -> None:
    done = cli("create-api-client", "--database-url", url)
    assert (done.returncode, done.stderr) == (code, message + "\n")
    assert "hunter2" not in done.stdout + done.stderr


def test_sqlite_urls_name_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = cli("create-api-client", "--database-url", f"sqlite:///{data}")  # absolute: ////
    assert done.returncode == 0, done.stderr
    assert (data / "_service.sqlite3").exists()
    assert str(data) in done.stderr


@pytest.mark.postgres
def test_postgres_urls_are_accepted_as_postgresql_users_write_them(postgres_url: str) -> None:
    rest = postgres_url.split("://", 1)[1]
    for scheme in ("postgres", "postgresql"):
        done = cli(
            "create-api-client", "--name", f"via-{scheme}", "--database-url", f"{scheme}://{rest}"
        )
        assert done.returncode == 0, done.stderr
        assert "postgresql+psycopg://" in done.stderr  # where it went, normalised


# ------------------------------------------------------------------ 6. missing extras


def test_a_postgres_url_without_psycopg_names_the_postgres_extra() -> None:
    # psycopg made unimportable in a real dials-local process (as if never installed).
    script = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from dials_local.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "seed", "--database-url", "postgres://someone@db/dials"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        1,
        'dials-local needs the "postgres" extra for PostgreSQL databases: pip install '
        '"cmsdials[postgres]" (missing module: psycopg)\n',
    )


@pytest.mark.install
def test_a_base_install_names_the_extra_to_install(tmp_path: Path) -> None:
    from install_support import fresh_venv, pip, source_copy

    python = fresh_venv(sys.executable, tmp_path / "venv")
    source = tmp_path / "source"
    source.mkdir()
    pip(python, "install", "-q", str(source_copy(source)))  # no extras
    expected = (
        'dials-local needs the "local" extra: pip install "cmsdials[local]" (missing modules: '
        "starlette, anyio, uvicorn, sqlalchemy, jwt, cryptography, numpy, pyarrow, regex)\n"
    )
    done = subprocess.run(
        [str(python.parent / "dials-local"), "serve", "--demo"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stderr, done.stdout) == (1, expected, "")
    assert not (tmp_path / "dials-data").exists()
    script = (
        "from dials_local.testing import LocalServer, LocalServerError\n"
        "try:\n"
        "    LocalServer(size='tiny').start()\n"
        "except LocalServerError as error:\n"
        "    print(error)\n"
    )
    server = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert server.returncode == 0, server.stderr
    assert server.stdout == "dials-local seed failed with exit code 1:\n" + expected
