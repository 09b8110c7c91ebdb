"""The ``cmsdials`` command, end to end: the installed console script (and ``python -m
cmsdials``) in a subprocess against the session's dials-local, its outputs parsed and
compared with what the client's own calls return.

Credentials reach the subprocess the way a user gives them: ``DIALS_SECRET_KEY`` in the
environment, a key file, or a sign-in cached by ``cmsdials login`` (approved through the
approval page's forms over HTTP, as tests/client/test_auth_server.py does).  Each test
gets a private credential cache (``XDG_CACHE_HOME``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from client_support import DATASET_ID, JETMET_DATASET, JETMET_MODELS, JETMET_RUNS, RUN
from test_auth_server import PASSWORD, USER, approve_over_http

from cmsdials import Dials, __version__
from cmsdials.auth.secret_key import Credentials as SecretKey
from cmsdials.errors import NotSignedInError
from conftest import Target
from dials_local.testing import LocalServer

SCRIPT = Path(sys.executable).parent / "cmsdials"
RUNNERS = {"script": [str(SCRIPT)], "module": [sys.executable, "-m", "cmsdials"]}
ERROR = "cmsdials: error: "


class Cli:
    """Runs the command with a clean environment: the target's server and key, a private
    credential cache, no terminal."""

    def __init__(self, target: Target, cache: Path, runner: str = "script") -> None:
        self.target = target
        self.cache = cache
        self.runner = runner
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALS_", "CMSDIALS_"))}
        env.update(
            DIALS_BASE_URL=target.base_url,
            DIALS_SECRET_KEY=target.secret,
            XDG_CACHE_HOME=str(cache),
            CMSDIALS_INTERACTIVE="0",
        )
        if target.workspace:
            env["DIALS_WORKSPACE"] = target.workspace
        self.env = env

    def command(self, *args: str) -> list[str]:
        return [*RUNNERS[self.runner], *args]

    def __call__(
        self, *args: str, env: Mapping[str, str | None] | None = None, check: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        done = subprocess.run(
            self.command(*args),
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if check is not None:
            assert done.returncode == check, (done.returncode, done.stdout[-2000:], done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert self.target.secret not in done.stdout + done.stderr
        return done


@pytest.fixture
def cli(target: Target, tmp_path: Path) -> Cli:
    return Cli(target, tmp_path / "cache")


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The error: exactly one line on stderr, exit code 1."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(ERROR), lines[0]
    return lines[0][len(ERROR) :]


def dumped(rows: Any) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


# -- basics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_version_and_help_through_script_and_module(
    target: Target, tmp_path: Path, runner: str
) -> None:
    cli = Cli(target, tmp_path, runner)
    assert cli("--version").stdout.strip() == f"cmsdials, version {__version__}"
    commands = cli("--help").stdout
    for name in (
        "login", "logout", "whoami", "workspaces", "datasets", "runs", "lumis", "mes",
        "models", "flags", "get", "fetch", "audit", "golden-json", "cert-json",
    ):  # fmt: skip
        assert f"  {name} " in commands, name
    # The key is never a flag: only its file is.
    assert "--secret-key-file" in commands and "--secret-key " not in commands


def test_without_the_extra_one_line_and_exit_1() -> None:
    code = (
        "import sys; sys.modules['click'] = None; sys.modules['rich'] = None\n"
        "from cmsdials.cli import main; sys.exit(main(['runs']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == (
        "the cmsdials command needs the optional packages click and rich: "
        "pip install 'cmsdials[cli]'\n"
    )


# -- lists, every format -----------------------------------------------------------------------

#: command -> (Dials attribute, workspace, extra flags): every list command.
LISTS = {
    "datasets": ("dataset_index", None, ()),
    "files": ("file_index", None, ("--dataset-id", str(DATASET_ID))),
    "runs": ("run", None, ()),
    "lumis": ("lumi", None, ("--dataset-id", str(DATASET_ID), "--run-number", str(RUN))),
    "mes": ("mes", None, ()),
    "models": ("ml_models_index", "jetmet", ()),
    "flags": ("ml_bad_lumis", "jetmet", ()),
}


def _client_rows(
    target: Target, attr: str, workspace: str | None, filters: dict[str, Any]
) -> list[Any]:
    with Dials(SecretKey(target.secret), workspace=workspace, base_url=target.base_url) as d:
        route = getattr(d, attr)
        result = route.list_all(filters or None, enable_progress=False)
        return list(result if isinstance(result, list) else result.results)


def _flag_filters(flags: tuple[str, ...]) -> dict[str, Any]:
    return {flags[i][2:].replace("-", "_"): int(flags[i + 1]) for i in range(0, len(flags), 2)}


@pytest.mark.parametrize("command", list(LISTS))
def test_json_and_jsonl_equal_the_clients_rows(cli: Cli, target: Target, command: str) -> None:
    attr, workspace, flags = LISTS[command]
    ws = ("-w", workspace) if workspace else ()
    expected = dumped(_client_rows(target, attr, workspace, _flag_filters(flags)))
    assert expected, "the tiny data set has rows for every route"
    as_json = json.loads(cli(*ws, command, *flags, "--format", "json").stdout)
    assert as_json == expected
    lines = cli(*ws, command, *flags, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == expected


@pytest.mark.parametrize("command", ["runs", "flags", "mes", "models"])
def test_csv_is_byte_identical_to_to_csv(
    cli: Cli, target: Target, tmp_path: Path, command: str
) -> None:
    attr, workspace, _ = LISTS[command]
    ws = ("-w", workspace) if workspace else ()
    with Dials(SecretKey(target.secret), workspace=workspace, base_url=target.base_url) as d:
        route = getattr(d, attr)
        if command == "mes":  # not paginated: no result object; the client's CSV writer
            from cmsdials._writers import write_csv

            write_csv(tmp_path / "client.csv", route.route.row, [(None, route.list())])
        else:
            route.list_all(enable_progress=False).to_csv(tmp_path / "client.csv")
    expected = (tmp_path / "client.csv").read_bytes()
    stdout = subprocess.run(
        cli.command(*ws, command, "--format", "csv"), env=cli.env, capture_output=True, check=True
    ).stdout
    assert stdout == expected
    cli(*ws, command, "--format", "csv", "--output", str(tmp_path / "cli.csv"))
    assert (tmp_path / "cli.csv").read_bytes() == expected
    rows = list(csv.reader(io.StringIO(expected.decode())))
    assert len(rows) > 1


@pytest.mark.parametrize("command", ["runs", "flags", "mes", "datasets"])
def test_parquet_equals_to_arrow(cli: Cli, target: Target, tmp_path: Path, command: str) -> None:
    attr, workspace, _ = LISTS[command]
    ws = ("-w", workspace) if workspace else ()
    out = tmp_path / "rows.parquet"
    cli(*ws, command, "--format", "parquet", "--output", str(out))
    table = pq.read_table(out)
    with Dials(SecretKey(target.secret), workspace=workspace, base_url=target.base_url) as d:
        route = getattr(d, attr)
        if command == "mes":
            from cmsdials._tables import model_table

            expected = model_table(route.route.row, route.list())
        else:
            expected = route.list_all(enable_progress=False).to_arrow()
    assert table.num_rows == expected.num_rows > 0
    assert table.equals(expected)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_table_when_piped_holds_exact_values(cli: Cli, target: Target) -> None:
    out = cli("runs").stdout.splitlines()
    header, *lines = out
    names = header.split()
    assert names == ["dataset_id", "dataset", "run_number", "ls_count", "ls_completeness"]
    expected = _client_rows(target, "run", None, {})
    assert len(lines) == len(expected)
    for line, row in zip(lines, expected):
        cells = line.split()
        assert int(cells[0]) == row.dataset_id and cells[1] == row.dataset
        assert int(cells[2]) == row.run_number and int(cells[3]) == row.ls_count
        assert float(cells[4]) == row.ls_completeness
    assert "\x1b[" not in "\n".join(out)  # no colour
    assert str(DATASET_ID) in cli("runs").stdout and f"{DATASET_ID:,}" not in cli("runs").stdout


def _on_a_terminal(cli: Cli, *args: str) -> str:
    """Run the command with its standard output on a pseudo-terminal; what it printed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        cli.command(*args), env=cli.env, stdout=slave, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=60) == 0
    assert process.stderr is not None
    process.stderr.close()
    return b"".join(chunks).decode()


def test_table_on_a_terminal_is_formatted_for_reading(cli: Cli) -> None:
    shown = _on_a_terminal(cli, "runs")
    assert f"{DATASET_ID:,}" in shown  # thousands separators
    assert "ls_completeness" in shown or "ls_complet…" in shown
    one = _on_a_terminal(cli, "-w", "jetmet", "get", "th1", str(JETMET_DATASET),
                         str(JETMET_RUNS[0]), "1", "1")  # fmt: skip
    assert "values]" in one  # a histogram's bins are summarised, not printed


def test_count_matches_the_client(cli: Cli, target: Target) -> None:
    assert int(cli("runs", "--count").stdout) == len(_client_rows(target, "run", None, {}))
    filtered = {"dataset_id": DATASET_ID}
    assert int(cli("lumis", "--dataset-id", str(DATASET_ID), "--count").stdout) == len(
        _client_rows(target, "lumi", None, filtered)
    )
    # ml-bad-lumisection has no count route: the rows are counted.
    assert int(cli("-w", "jetmet", "flags", "--count").stdout) == len(
        _client_rows(target, "ml_bad_lumis", "jetmet", {})
    )
    mes = _client_rows(target, "mes", None, {"me__regex": "Pixel"})
    assert 0 < int(cli("mes", "--regex", "Pixel", "--count").stdout) == len(mes)
    assert int(cli("workspaces", "--count").stdout) == 7


def test_limit(cli: Cli, target: Target) -> None:
    expected = dumped(_client_rows(target, "run", None, {}))
    assert json.loads(cli("runs", "--limit", "3", "--format", "json").stdout) == expected[:3]
    assert json.loads(cli("runs", "--limit", "0", "--format", "json").stdout) == []
    many = json.loads(cli("runs", "--limit", "100000", "--format", "json").stdout)
    assert many == expected
    mes = json.loads(cli("mes", "--limit", "2", "--format", "json").stdout)
    assert mes == dumped(_client_rows(target, "mes", None, {}))[:2]


def test_filters_as_flags_and_as_pairs(cli: Cli, target: Target) -> None:
    filters = {"dataset_id": DATASET_ID, "run_number__gte": RUN}
    expected = dumped(_client_rows(target, "run", None, filters))
    assert expected
    by_flags = cli("runs", "--dataset-id", str(DATASET_ID), "--run-number-gte", str(RUN),
                   "--format", "json")  # fmt: skip
    assert json.loads(by_flags.stdout) == expected
    by_pairs = cli("runs", "-f", f"dataset_id={DATASET_ID}", "--filter",
                   f"run_number__gte={RUN}", "--format", "json")  # fmt: skip
    assert json.loads(by_pairs.stdout) == expected
    listed = cli("-w", "jetmet", "flags", "--model-id-in", ",".join(map(str, JETMET_MODELS)),
                 "--format", "json")  # fmt: skip
    flags = _client_rows(target, "ml_bad_lumis", "jetmet", {"model_id__in": JETMET_MODELS})
    assert json.loads(listed.stdout) == dumped(flags)


def test_workspaces(cli: Cli) -> None:
    rows = json.loads(cli("workspaces", "--format", "json").stdout)
    assert [row["workspace"] for row in rows][-1] == "tracker"
    assert [row["workspace"] for row in rows if row["default"]] == ["tracker"]


# -- get ----------------------------------------------------------------------------------------


def test_get_one_object_of_each_kind(cli: Cli, target: Target, dials: Dials) -> None:
    run = json.loads(cli("get", "run", str(DATASET_ID), str(RUN), "--format", "json").stdout)
    assert run == dials.run.get(DATASET_ID, RUN).model_dump(mode="json")
    with Dials(SecretKey(target.secret), workspace="jetmet", base_url=target.base_url) as jm:
        keys = (JETMET_DATASET, JETMET_RUNS[0], 1, 1)
        th1 = cli("-w", "jetmet", "get", "th1", *map(str, keys), "--format", "json").stdout
        assert json.loads(th1) == jm.h1d.get(*keys).model_dump(mode="json")
        me = cli("-w", "jetmet", "get", "me", "1", "--format", "json").stdout
        assert json.loads(me) == jm.mes.get(1).model_dump(mode="json")
    piped = cli("get", "run", str(DATASET_ID), str(RUN)).stdout.splitlines()
    assert piped[0].split() == ["dataset_id", str(DATASET_ID)]
    assert [line.split()[0] for line in piped] == list(run)


def test_get_errors(cli: Cli) -> None:
    wrong_arity = cli("get", "run", str(DATASET_ID), check=2)
    assert "get run takes DATASET_ID RUN_NUMBER" in wrong_arity.stderr
    missing = one_error_line(cli("get", "run", str(DATASET_ID), "1", check=1))
    assert missing == f"no run with dataset_id={DATASET_ID}, run_number=1 (404 from run/)"
    assert "Invalid value for 'KIND'" in cli("get", "rn", "1", check=2).stderr


# -- the usual mistakes ----------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_server_names_the_url(cli: Cli) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    message = one_error_line(cli("runs", env={"DIALS_BASE_URL": url}, check=1))
    assert message.startswith(f"cannot connect to {url} (connection refused)")
    flag = one_error_line(cli("--base-url", url, "datasets", check=1))
    assert url in flag


def test_wrong_key(cli: Cli) -> None:
    message = one_error_line(cli("runs", env={"DIALS_SECRET_KEY": "not-the-key"}, check=1))
    assert "refused the credentials" in message and "not-the-key" not in message


def test_unknown_workspace_names_the_valid_ones(cli: Cli) -> None:
    message = one_error_line(cli("-w", "jetmt", "runs", check=1))
    assert message.startswith("unknown workspace 'jetmt'; did you mean 'jetmet'?")
    assert "tracker" in message


def test_misspelt_filter(cli: Cli) -> None:
    message = one_error_line(cli("runs", "-f", "run_numbr=1", check=1))
    assert message == (
        "RunFilters has no filter 'run_numbr'; did you mean 'run_number' or "
        "'run_number__lte' or 'run_number__gte'?"
    )
    # A misspelt flag is a usage error (exit 2), with the closest flags.
    usage = cli("runs", "--run-numbr", "1", check=2).stderr
    # (click words it "No such option: --run-numbr" before 8.2, "... '--run-numbr'" after)
    assert "No such option" in usage and "--run-numbr" in usage
    assert "--run-number" in usage.split("--run-numbr", 1)[1]
    bad_value = one_error_line(cli("runs", "-f", "run_number=abc", check=1))
    assert bad_value.startswith("invalid filter value - run_number:") and "'abc'" in bad_value
    assert "is not a valid integer" in cli("runs", "--run-number", "x", check=2).stderr


TH1_TYPO = "JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_highPt_Barel"


def test_misspelt_me(cli: Cli) -> None:
    message = one_error_line(cli("-w", "jetmet", "flags", "--me", TH1_TYPO, check=1))
    assert "no monitoring element named" in message
    assert "'JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_highPt_Barrel'" in message


def test_parquet_needs_an_output_file(cli: Cli) -> None:
    assert "give --output PATH" in cli("runs", "--format", "parquet", check=2).stderr


def test_not_signed_in(cli: Cli) -> None:
    message = one_error_line(cli("runs", env={"DIALS_SECRET_KEY": None}, check=1))
    assert message.startswith(f"no DIALS credentials for {cli.target.base_url}")
    assert "cmsdials login" in message and "DIALS_SECRET_KEY" in message


def test_secret_key_file(cli: Cli, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text(cli.target.secret + "\n")
    done = cli("--secret-key-file", str(key), "runs", "--count", env={"DIALS_SECRET_KEY": None})
    assert int(done.stdout) > 0
    via_env = cli("runs", "--count", env={"DIALS_SECRET_KEY": None,
                                          "DIALS_SECRET_KEY_FILE": str(key)})  # fmt: skip
    assert via_env.stdout == done.stdout
    missing = one_error_line(cli("--secret-key-file", str(tmp_path / "nope"), "runs", check=1))
    nope = str(tmp_path / "nope")
    assert missing == f"cannot read the secret key file {nope!r}: No such file or directory"
    whoami = cli("--secret-key-file", str(key), "whoami", env={"DIALS_SECRET_KEY": None}).stdout
    assert f"secret key (from file {key})" in whoami


def test_whoami_with_a_secret_key(cli: Cli) -> None:
    out = cli("whoami").stdout
    assert "server:" in out and cli.target.base_url in out
    assert "secret key (from $DIALS_SECRET_KEY)" in out
    assert "tracker (the server's default for you)" in out
    assert "jetmet (your default: tracker)" in cli("-w", "jetmet", "whoami").stdout
    assert "did you mean 'jetmet'" in one_error_line(cli("-w", "jetmt", "whoami", check=1))


# -- golden / cert JSON ----------------------------------------------------------------------------


def test_golden_and_cert_json(cli: Cli, target: Target, tmp_path: Path) -> None:
    args = ("-w", "jetmet")
    lists = ("--model", ",".join(map(str, JETMET_MODELS)), "--dataset", str(JETMET_DATASET))
    runs = ("--run", ",".join(map(str, JETMET_RUNS)))
    with Dials(SecretKey(target.secret), workspace="jetmet", base_url=target.base_url) as jm:
        golden = jm.ml_bad_lumis.golden_json(JETMET_MODELS, [JETMET_DATASET], JETMET_RUNS)
        cert = jm.ml_bad_lumis.cert_json(JETMET_MODELS, [JETMET_DATASET], JETMET_RUNS)
    assert json.loads(cli(*args, "golden-json", *lists, *runs).stdout) == golden
    out = tmp_path / "cert.json"
    cli(*args, "cert-json", *lists, *runs, "--output", str(out))
    assert json.loads(out.read_text()) == cert
    # A range is its runs.
    low, high = min(JETMET_RUNS), max(JETMET_RUNS)
    ranged = json.loads(cli(*args, "cert-json", *lists, "--run", f"{low}-{high}").stdout)
    assert set(map(str, JETMET_RUNS)) <= set(ranged)
    bad = cli(*args, "golden-json", *lists, "--run", "12-x", check=2).stderr
    assert "'12-x' is not a run number or a range" in bad


# -- fetch and audit -----------------------------------------------------------------------------


def test_fetch_then_audit(cli: Cli, target: Target, tmp_path: Path) -> None:
    root = tmp_path / "slice"
    me = "JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_highPt_Barrel"
    args = ("-w", "jetmet", "-q", "fetch", str(root), "--me", me, "--dataset",
            str(JETMET_DATASET), "--runs", f"{min(JETMET_RUNS)}-{max(JETMET_RUNS)}")  # fmt: skip
    first = cli(*args).stdout
    assert "pieces fetched" in first
    manifest = json.loads((root / "_manifest.json").read_text())
    assert manifest["workspace"] == "jetmet" and manifest["query"]["mes"] == [me]
    assert all(piece["status"] == "complete" for piece in manifest["pieces"])
    again = cli(*args).stdout  # everything is complete: nothing fetched again
    assert f"0 pieces fetched, {len(manifest['pieces'])} already complete" in again
    assert "OK" in cli("audit", str(root)).stdout
    # A piece deleted by hand: the audit says so, exit code 1.
    (root / manifest["pieces"][0]["path"]).unlink()
    broken = cli("-q", "audit", str(root), "--offline", check=1)
    assert "problems found" in broken.stdout and manifest["pieces"][0]["id"] in broken.stdout
    bad_shard = cli("-w", "jetmet", "fetch", str(root), "--me", me, "--shard", "4/3", check=2)
    assert "is not a shard I/N" in bad_shard.stderr


def test_fetch_in_shards_with_workers_equals_one_fetch(cli: Cli, tmp_path: Path) -> None:
    """Two shard jobs (one with 2 workers) into one directory give the files of a single
    fetch, byte for byte; --verify then re-reads them all and finds them complete; -q
    prints nothing on stderr."""
    me = "JetMET/Jet/Cleanedak4PFJetsCHS/CHFrac_highPt_Barrel"
    query = ("--me", me, "--dataset", str(JETMET_DATASET), "--runs",
             f"{min(JETMET_RUNS)}-{max(JETMET_RUNS)}", "--piece-rows", "50")  # fmt: skip
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    cli("-w", "jetmet", "-q", "fetch", str(whole), *query)
    first = cli("-w", "jetmet", "-q", "fetch", str(sharded), *query, "--shard", "1/2")
    second = cli("-w", "jetmet", "-q", "fetch", str(sharded), *query, "--shard", "2/2",
                 "--workers", "2")  # fmt: skip
    assert first.stderr == "" and second.stderr == ""
    files = sorted(p.relative_to(whole) for p in whole.rglob("*.parquet"))
    assert len(files) >= 2, "the test needs several pieces"
    assert files == sorted(p.relative_to(sharded) for p in sharded.rglob("*.parquet"))
    for name in files:
        assert (whole / name).read_bytes() == (sharded / name).read_bytes(), name
    verified = cli("-w", "jetmet", "-q", "fetch", str(sharded), *query, "--verify").stdout
    assert f"0 pieces fetched, {len(files)} already complete" in verified
    assert "OK" in cli("-w", "jetmet", "audit", str(sharded)).stdout


# -- signing in ------------------------------------------------------------------------------------


def approve(url: str) -> None:
    """What a person does with the printed link: open it, sign in, approve."""
    assert "Access granted" in approve_over_http(url)


@pytest.fixture(scope="module")
def signin_server(
    tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    data = tmp_path_factory.mktemp("cli-signin")
    shutil.copytree(tiny_data_dir, data, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.log"))
    subprocess.run(
        [sys.executable, "-m", "dials_local.cli", "create-user", USER, "--password", PASSWORD,
         "--data-dir", str(data)],
        check=True, capture_output=True,
    )  # fmt: skip
    with LocalServer(data, extra_args=("--device-interval", "0.2")) as server:
        yield server


def _start_login(cli: Cli, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``cmsdials login``; the process and the link it printed."""
    env = dict(cli.env)
    env.pop("DIALS_SECRET_KEY")
    process = subprocess.Popen(
        cli.command("login", "--poll-interval", "0.3", *args), env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "/device?user_code=" in line:
            return process, line.strip()
    raise AssertionError(f"no link printed: {''.join(seen)}")


def test_login_whoami_logout(signin_server: LocalServer, tmp_path: Path) -> None:
    target = Target(signin_server.base_url, signin_server.secret_key, None, True, signin_server)
    cli = Cli(target, tmp_path / "cache")
    bearer = {"DIALS_SECRET_KEY": None}
    process, link = _start_login(cli)
    approve(link)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"signed in to {target.base_url} as {USER}" in out
    creds = tmp_path / "cache" / "cmsdials" / "creds"
    assert creds.is_file() and oct(creds.stat().st_mode & 0o777) == "0o600"

    who = cli("whoami", env=bearer).stdout
    assert "user:" in who and f"{USER} (signed in with `cmsdials login`)" in who
    assert "token expires:" in who and "tracker" in who
    token = json.loads(creds.read_text())["entries"]
    assert not any(entry["access_token"] in who for entry in token.values())
    # Later commands use the cached sign-in.
    assert int(cli("runs", "--count", env=bearer).stdout) > 0
    assert "already signed in" in cli("login", env=bearer).stdout

    assert "signed out of" in cli("logout", env=bearer).stdout
    assert "no DIALS credentials" in one_error_line(cli("whoami", env=bearer, check=1))
    assert "not signed in" in cli("logout", env=bearer).stderr


def test_ctrl_c_while_waiting_for_approval(signin_server: LocalServer, tmp_path: Path) -> None:
    target = Target(signin_server.base_url, signin_server.secret_key, None, True, signin_server)
    process, _ = _start_login(Cli(target, tmp_path / "cache"))
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip().splitlines() == ["cmsdials: interrupted"]
    assert "Traceback" not in err


# -- Dials.from_env ------------------------------------------------------------------------------


def test_from_env(target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALS_BASE_URL", target.base_url)
    monkeypatch.setenv("DIALS_SECRET_KEY", target.secret)
    monkeypatch.setenv("DIALS_WORKSPACE", "jetmet")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with Dials.from_env() as dials:
        assert dials.base_url == target.base_url and dials.workspace_name == "jetmet"
        assert dials.mes.list()[0].me.startswith("JetMET/")
        assert target.secret not in repr(dials)
    with Dials.from_env(workspace="tracker", timeout=(3, 30)) as dials:
        assert dials.workspace_name == "tracker"
        assert dials.mes.list()[0].me != "JetMET/"
    with pytest.raises(TypeError, match="did you mean 'timeout'"):
        Dials.from_env(timout=3)
    monkeypatch.delenv("DIALS_SECRET_KEY")
    with pytest.raises(NotSignedInError, match="no DIALS credentials for"):
        Dials.from_env(interactive=False)
