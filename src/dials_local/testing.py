"""Run a real dials-local in a subprocess, for tests of DIALS client code.

Shipped as public API (like click's ``CliRunner``) so that analysis code can test against
an offline DIALS the way this project's own test suite does::

    from dials_local.testing import LocalServer

    with LocalServer(size="tiny") as server:
        dials = Dials(Credentials(token=server.secret_key), base_url=server.base_url)
        ...

The server is a separate process speaking real HTTP on a free loopback port, or with
``in_thread=True`` the same server run by uvicorn in a thread of the calling process (no
process to start: quicker, for tests that do not signal or inspect the process).  Faults
are injected by the server itself (:meth:`LocalServer.set_faults`), never by patching
clients, and its clock can be moved (:meth:`LocalServer.advance_clock`) so that tests of
expiry need not sleep.  It runs with testing enabled (``serve --testing``) and its own
random admin credential; secrets reach it through environment variables, never its command
line (``ps``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from dials_local.paths import ADMIN_HEADER, API_PREFIX, CLOCK_PATH, FAULTS_PATH

if TYPE_CHECKING:  # imported when a server is started in a thread: the "local" extra
    from dials_local.server_thread import ServerThread

__all__ = [
    "ADMIN_HEADER",
    "LocalServer",
    "LocalServerError",
    "find_postgres_bin",
    "free_port",
    "postgres_cluster",
    "seed_data_dir",
]

#: Header that carries API-client secret keys (CONTRACT §3.2).
SECRET_HEADER = "X-CLIENT-SECRET"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


#: Lines of a failed command's output that :class:`LocalServerError` carries.
ERROR_TAIL_LINES = 20

#: The first line ``serve`` prints once it holds its socket; the URL names the real port.
_SERVING = re.compile(r"^dials-local is serving .* at (http://\S+)$", re.MULTILINE)


class LocalServerError(RuntimeError):
    """dials-local could not be seeded or started; the message ends with the last lines it
    printed (a missing extra, a busy port, a bad database URL, ...)."""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dials_local.cli", *args]


def _tail(text: str, lines: int = ERROR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run_cli(*args: str, progress: bool = False) -> None:
    """Run a ``dials-local`` command to completion; its output is kept for the error.

    With ``progress``, its stderr (progress, and the reason of a failure) goes to this
    process's stderr instead of being kept, and ``--quiet`` is not passed.
    """
    done = subprocess.run(
        _cli(*args) if progress else _cli(*args, "--quiet"),
        stdout=subprocess.PIPE,
        stderr=None if progress else subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise LocalServerError(
            f"dials-local {args[0]} failed with exit code {done.returncode}"
            + (":\n" + _tail(done.stderr or done.stdout) if done.stderr or done.stdout else "")
        )


def _seeded_size(location: Path | str) -> str | None:
    """The size of the complete seed recorded in a data directory (or the database a URL
    names): the record ``seed`` and ``serve --demo`` use (:mod:`dials_local.data.seed_state`);
    else ``None``.

    Read in this process to spare a subprocess per server start.  ``None`` whenever it
    cannot be read here (no ``local`` extra or driver, a bad URL, a database that does not
    answer), so that the ``seed`` command runs and says what is wrong.
    """
    try:
        from sqlalchemy.exc import SQLAlchemyError

        from dials_local.data.seed_state import read_record
        from dials_local.db.engines import Database, DatabaseUrlError
    except ImportError:
        return None
    try:
        if isinstance(location, Path):
            database = Database(data_dir=location)
        else:
            database = Database.from_url(location)
    except DatabaseUrlError:
        return None
    try:
        record = read_record(database)
    except (SQLAlchemyError, ImportError):
        return None
    finally:
        database.dispose()
    return record.size if record is not None and record.complete else None


def seed_data_dir(
    data_dir: str | os.PathLike[str], size: str = "tiny", *, progress: bool = False
) -> Path:
    """Seed ``data_dir`` with the synthetic data set of ``size`` unless it holds data.

    A seed that was interrupted (a test run stopped with Ctrl-C) is finished; data that is
    there otherwise (rows loaded with ``ingest``, another size: with a warning) is left
    alone.  Raises :class:`LocalServerError` with the command's last output lines when
    seeding fails.  ``progress`` shows the seed's progress on stderr (it is quiet
    otherwise).
    """
    path = Path(data_dir)
    seeded = _seeded_size(path)
    if seeded is None:
        _run_cli("seed", "--data-dir", str(path), "--size", size, "--if-empty", progress=progress)
    elif seeded != size:
        warnings.warn(
            f"{path} holds the {seeded!r} data set, not {size!r}; it is used as it is "
            f"(replace it: dials-local seed --data-dir {path} --size {size} --force)",
            stacklevel=2,
        )
    return path


class LocalServer:
    """A dials-local process on a free port, seeded, with a known secret key.

    Parameters
    ----------
    data_dir:
        SQLite data directory.  Seeded with ``size`` when empty (or when a seed was
        interrupted: it is finished; see :func:`seed_data_dir`).  A temporary directory
        (removed on :meth:`stop`) when neither this nor ``database_url`` is given.
    database_url:
        A ``postgresql+psycopg://`` URL instead of SQLite files (seeded when empty).
    size:
        Synthetic data set to seed: ``"tiny"`` (tests), ``"demo"`` or ``"large"``.
    secret_key:
        API-client secret registered at start; random when not given.
    faults, latency_ms:
        Passed to ``dials-local serve --faults/--latency-ms``.
    testing:
        Start with ``--testing`` (default): the control routes that :meth:`set_faults`
        uses, behind :attr:`admin_token` (random when not given).
    extra_args:
        More ``serve`` arguments.
    progress:
        Show the progress of a first seed on stderr (a seed is silent otherwise, as test
        suites want; an example or a notebook wants to see why the first start takes a
        while).
    in_thread:
        Run the server in a thread of this process instead of a process of its own
        (:mod:`dials_local.server_thread`: same arguments, app, uvicorn settings and log
        file).  It starts in a fraction of the time, but shares this process's GIL, and
        there is no :attr:`process` to signal.  Needs the ``local`` extra in this process.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        database_url: str | None = None,
        size: str = "tiny",
        secret_key: str | None = None,
        faults: str | None = None,
        latency_ms: int = 0,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 120.0,
        testing: bool = True,
        admin_token: str | None = None,
        progress: bool = False,
        in_thread: bool = False,
    ) -> None:
        self._own_dir = data_dir is None and database_url is None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.database_url = database_url
        self.size = size
        self.secret_key = secret_key or secrets.token_urlsafe(32)
        self.faults = faults
        self.latency_ms = latency_ms
        self.host = host
        self.port = port
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self.testing = testing
        self.admin_token = admin_token or secrets.token_urlsafe(32)
        self.progress = progress
        self.in_thread = in_thread
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._log_file: IO[bytes] | None = None
        #: The private directory of the log when the data outlive the server (removed by
        #: :meth:`stop`): a data directory the caller keeps gains no log file per run.
        self._log_tmp: Path | None = None
        self._thread: ServerThread | None = None

    def __repr__(self) -> str:  # never shows the secret
        state = "running" if self.running else "stopped"
        where = "in a thread" if self.in_thread else "in a process"
        return f"<LocalServer {self.base_url if self.port else '(no port)'} {where} {state}>"

    @property
    def running(self) -> bool:
        """Whether the server has been started and not stopped."""
        return self.process is not None or self._thread is not None

    @property
    def base_url(self) -> str:
        """``http://host:port/``, the ``base_url`` a client takes."""
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        """``http://host:port/api/v1/``, the API root."""
        return self.base_url + API_PREFIX.lstrip("/")

    def start(self) -> LocalServer:
        """Seed if needed, start the server and wait until it answers.

        Raises :class:`LocalServerError` (seeding or start-up failed; the message ends
        with the command's last output lines) or ``TimeoutError``; either way nothing is
        left running and a temporary data directory is removed.
        """
        if self.running:
            return self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self._own_dir:
            self.data_dir = Path(tempfile.mkdtemp(prefix="dials-local-"))
        location: list[str]
        if self.database_url is not None:
            location = ["--database-url", self.database_url]
            if _seeded_size(self.database_url) is None:  # as --if-empty: any size will do
                _run_cli(
                    "seed", "--database-url", self.database_url, "--size", self.size,
                    "--if-empty", progress=self.progress,
                )  # fmt: skip
        else:
            assert self.data_dir is not None
            seed_data_dir(self.data_dir, self.size, progress=self.progress)
            location = ["--data-dir", str(self.data_dir)]
        args = ["--host", self.host, *location]
        if self.testing:
            args.append("--testing")
        if self.faults:
            args += ["--faults", self.faults]
        if self.latency_ms:
            args += ["--latency-ms", str(self.latency_ms)]
        args += list(self.extra_args)
        if self.in_thread:
            self._start_thread(args)
        else:
            self._start_process(args)

    def _start_thread(self, args: list[str]) -> None:
        from dials_local.server_thread import ServerThread, ServerThreadError

        self.log_path = self._log_dir() / f"dials-local-thread-{secrets.token_hex(4)}.log"
        try:
            # Port 0: the socket is bound in this process, so none other can take it.
            self._thread = ServerThread(
                ["--port", str(self.port or 0), *args],
                secret=self.secret_key,
                admin_token=self.admin_token if self.testing else None,
                log_path=self.log_path,
            )
            self._thread.start(self.startup_timeout)
        except ServerThreadError as error:
            tail = self.log_tail(ERROR_TAIL_LINES)
            last = f"; its last lines:\n{tail}" if tail else ""
            raise LocalServerError(f"{error}{last}") from None
        self.port = self._thread.port

    def _log_dir(self) -> Path:
        """The directory of this run's log: the server's own temporary data directory, or
        a private temporary one (0700) when the data are the caller's (a data directory
        kept between runs, a PostgreSQL database); either is removed by :meth:`stop`."""
        if self._own_dir and self.data_dir is not None:
            return self.data_dir
        if self._log_tmp is None:
            self._log_tmp = Path(tempfile.mkdtemp(prefix="dials-local-log-"))
        return self._log_tmp

    def _start_process(self, args: list[str]) -> None:
        self.log_path = self._log_dir() / f"dials-local-{secrets.token_hex(4)}.log"
        # 0600 like the server's own files: the log may sit in the data directory.
        descriptor = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._log_file = os.fdopen(descriptor, "wb")
        # Secrets travel in the environment (readable by this user only), not in argv.
        env = {
            **os.environ,
            "DIALS_LOCAL_SECRET_KEY": self.secret_key,
            "DIALS_LOCAL_ADMIN_TOKEN": self.admin_token,
        }
        # Without a port of the caller's, port 0: the server takes a free one and prints
        # it.  A free port picked here and bound there could be taken in between - by a
        # server of a parallel test, which would then answer the readiness probe.
        self.process = subprocess.Popen(
            _cli("serve", "--port", str(self.port or 0), *args),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._wait_ready()

    def _announced_port(self) -> int | None:
        """The port in the line ``serve`` prints once it holds its socket, if printed yet."""
        found = _SERVING.search(self.log_tail(1000))
        return urllib.parse.urlsplit(found.group(1)).port if found else None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LocalServerError(
                    f"dials-local serve exited with code {self.process.returncode} during "
                    "start-up:\n" + self.log_tail(ERROR_TAIL_LINES)
                )
            if not self.port:
                self.port = self._announced_port()
                if not self.port:
                    time.sleep(0.05)
                    continue
            try:
                with urllib.request.urlopen(self.api_url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                # Not answering yet: refused, reset, or timed out (on Python 3.9
                # socket.timeout is an OSError but not a TimeoutError).
                pass
            time.sleep(0.05)
        tail = self.log_tail(ERROR_TAIL_LINES)
        raise TimeoutError(
            f"dials-local did not answer within {self.startup_timeout} s; its last lines:\n" + tail
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server printed (request log, errors); the log lives until
        :meth:`stop` (a failed start puts its last lines in the exception)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_for_log(self, *texts: str, timeout: float = 10.0) -> str:
        """The server's log (its last 1,000 lines) once it holds every one of ``texts``.

        A request's log line is written once its response has been sent, so a test that
        reads the log as soon as the response arrives may be a moment early; this waits.

        Raises
        ------
        TimeoutError
            ``timeout`` seconds passed first; the message names the texts still missing
            and shows the log's last lines.
        """
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_tail(1000)
            missing = [text for text in texts if text not in log]
            if not missing:
                return log
            if time.monotonic() >= deadline:
                tail = self.log_tail(ERROR_TAIL_LINES)
                raise TimeoutError(
                    f"not in the server's log after {timeout:g} s: {missing!r}; "
                    f"its last lines:\n{tail}"
                )
            time.sleep(0.02)

    def _control(self, path: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET a control route, or PUT ``document`` to it; its JSON answer."""
        request = urllib.request.Request(
            self.base_url + path.lstrip("/"),
            data=None if document is None else json.dumps(document).encode(),
            method="GET" if document is None else "PUT",
            headers={"Content-Type": "application/json", ADMIN_HEADER: self.admin_token},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def set_faults(self, spec: str | None) -> dict[str, Any]:
        """Replace the server's fault rules at run time (``None`` clears them).

        Counters restart, so ``"503@3"`` fails the 3rd, 6th, ... request from now on.
        See ``dials-local serve --help`` for the rule syntax.  Needs ``testing=True``.
        """
        return self._control(FAULTS_PATH, {"spec": spec or ""})

    def advance_clock(self, seconds: float) -> dict[str, float]:
        """Move the server's clock ``seconds`` forward (backward if negative), as if that
        much time had passed for everything that expires: access and refresh tokens,
        device codes, approval-page sessions, sign-in lockouts.  Answers ``{"now": ...,
        "offset": ...}``.  Needs ``testing=True``.

        The clock stays moved until :meth:`reset_clock` (or the server stops): tests that
        share a server should reset it when done.
        """
        return self._control(CLOCK_PATH, {"advance": seconds})

    def reset_clock(self) -> dict[str, float]:
        """Put the server's clock back to the real time."""
        return self._control(CLOCK_PATH, {"offset": 0})

    def clock(self) -> dict[str, float]:
        """The server's clock: ``{"now": <epoch seconds>, "offset": <seconds ahead>}``."""
        return self._control(CLOCK_PATH)

    def stop(self) -> None:
        """Stop the server (a process: SIGTERM, then SIGKILL after 10 s) and remove its
        log and a temporary data directory."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._log_tmp is not None:
            shutil.rmtree(self._log_tmp, ignore_errors=True)
            self._log_tmp = None
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- a PostgreSQL server of one's own (tests and benchmarks) ------------------------------


def find_postgres_bin() -> Path | None:
    """The ``bin`` directory of the newest PostgreSQL server installed (Debian layout),
    or ``None``."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def postgres_cluster(pg_bin: Path) -> Iterator[str]:
    """A throw-away PostgreSQL server (``initdb`` + ``pg_ctl`` in a temporary directory,
    loopback only, ``fsync=off``) with a database ``dials``; yields its SQLAlchemy URL and
    removes everything on exit."""
    root = Path(tempfile.mkdtemp(prefix="dials-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    initdb = [str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    subprocess.run(_as_postgres(initdb), stdout=subprocess.DEVNULL, check=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w"]
    try:
        subprocess.run(
            _as_postgres([*pg_ctl, "-o", options, "start"]), stdout=subprocess.DEVNULL, check=True
        )
        ready = [str(pg_bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)]
        for _ in range(100):
            if subprocess.run(ready, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        createdb = [str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        subprocess.run(_as_postgres([*createdb, "dials"]), check=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/dials"
    finally:
        subprocess.run(
            _as_postgres([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)
