"""``dials-local``: run a DIALS-compatible server, seed or load its data, manage keys.

Commands::

    dials-local serve [--demo] [--host H] [--port P] [--data-dir D | --database-url URL]
    dials-local seed [--size tiny|demo|large] [--if-empty | --force] [--quiet]
    dials-local ingest --workspace W --table TABLE [--quiet] FILE
    dials-local create-api-client [--name N] [--secret S]
    dials-local create-user NAME [--password P] [--role ROLE ...]

Also runnable as ``python -m dials_local`` and ``python -m dials_local.cli``.

Every failure a user can cause (a missing extra, a busy port, a bad database URL, an
unreachable database, a seed that would replace data, Ctrl-C) ends with one line saying
what happened and what to do, never a traceback.  Modules of the ``local`` extra are only
imported once :func:`main` has checked they are installed, so a base install of
``cmsdials`` gets that line too.
"""

from __future__ import annotations

import argparse
import base64
import errno
import importlib.util
import logging
import os
import secrets
import shlex
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dials_local import __version__, argtypes
from dials_local.paths import ADMIN_HEADER, FAULTS_PATH
from dials_local.workspaces import WORKSPACE_ROLES, WORKSPACES

if TYPE_CHECKING:  # imported for real inside functions: they need the "local" extra
    from dials_local.asgi import ASGIApp
    from dials_local.db.engines import Database

DEFAULT_DATA_DIR = Path("dials-data")
#: The user ``serve --demo`` creates: a fixed, printed login for a local demo only.
DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
SIZES = ("tiny", "demo", "large")
#: Environment variables that may carry the secrets of ``serve`` (kept out of ``ps``).
SECRET_KEY_ENV = "DIALS_LOCAL_SECRET_KEY"
ADMIN_TOKEN_ENV = "DIALS_LOCAL_ADMIN_TOKEN"
#: The lines of ``serve``'s log (the request log, errors, uvicorn's own lines).
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
#: Seconds in-flight requests get to finish after SIGTERM/SIGINT before being cancelled
#: (a ``slow`` fault may hold one for a day; uvicorn would otherwise wait for it).
SHUTDOWN_GRACE_SECONDS = 2
#: File-creation mask of every command: the data directory holds password and key hashes
#: and the signing key, so whatever the server creates is private to its user (0700
#: directories, 0600 files, SQLite's -wal/-shm/-journal files included).
PRIVATE_UMASK = 0o077
#: Top-level modules of the ``local`` extra (``pyjwt[crypto]`` brings ``cryptography``).
#: Checked with ``find_spec`` before anything imports them.
LOCAL_EXTRA_MODULES = (
    "starlette",
    "anyio",
    "uvicorn",
    "sqlalchemy",
    "jwt",
    "cryptography",
    "numpy",
    "pyarrow",
    "regex",
)
#: The driver of the ``postgres`` extra, needed only with a PostgreSQL ``--database-url``.
POSTGRES_EXTRA_MODULES = ("psycopg",)
#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130
#: What ``serve --demo``'s API key is derived from (with the signing key): see _demo_secret.
DEMO_KEY_PURPOSE = "serve --demo API key"

_FAULTS_HELP = f"""\
fault-injection rules, comma-separated KIND[:ARG]@K[xN]: inject KIND into every K-th
request under /api/v1/ (at most N times). KIND: 500 502 503 504 (HTML error pages),
429 (ARG = Retry-After seconds), reset (connection dropped mid-body), truncate (JSON
cut in half), slow (ARG = seconds of delay). Example: "503@3,reset@5x1". With --testing,
rules can be changed at run time with PUT {FAULTS_PATH} {{"spec": "..."}}."""


def _add_location(parser: argparse.ArgumentParser) -> None:
    """Add the --data-dir / --database-url pair (one database location per command)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        metavar="D",
        help=f"directory of SQLite files, one per workspace (default: ./{DEFAULT_DATA_DIR})",
    )
    where.add_argument(
        "--database-url",
        metavar="URL",
        help="a PostgreSQL database instead, e.g. postgresql+psycopg://user@host/dials "
        "(one schema per workspace is created in it)",
    )


class CommandError(Exception):
    """A failure the user can fix: :func:`main` prints the message (no traceback) and
    exits with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _missing(modules: Sequence[str]) -> list[str]:
    """The modules of ``modules`` that are not installed (found without importing them)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def extra_message(extra: str, missing: Sequence[str], purpose: str = "") -> str:
    """One line naming the extra to install, e.g. for the ``local`` extra::

    dials-local needs the "local" extra: pip install "cmsdials[local]" (missing module: sqlalchemy)
    """
    noun = "module" if len(missing) == 1 else "modules"
    return (
        f'dials-local needs the "{extra}" extra{purpose}: pip install "cmsdials[{extra}]" '
        f"(missing {noun}: {', '.join(missing)})"
    )


def database_for(args: argparse.Namespace) -> Database:
    """The database the command line names (default: ./dials-data); a bad ``--database-url``
    or a missing PostgreSQL driver is a :class:`CommandError` naming the fix."""
    from dials_local.db.engines import Database, DatabaseUrlError

    if not args.database_url:
        return Database(data_dir=args.data_dir or DEFAULT_DATA_DIR)
    try:
        database = Database.from_url(args.database_url)
    except DatabaseUrlError as error:
        raise CommandError(f"dials-local {args.command}: --database-url {error}", 2) from None
    missing = [] if database.is_sqlite else _missing(POSTGRES_EXTRA_MODULES)
    if missing:
        raise CommandError(extra_message("postgres", missing, " for PostgreSQL databases"))
    return database


def _create_tables(args: argparse.Namespace, database: Database) -> None:
    """Create every table: the first connection, so an unreachable server or an unwritable
    directory fails here, in one line instead of SQLAlchemy's traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        database.create_all()
    except (SQLAlchemyError, OSError) as error:
        database.dispose()
        cause = getattr(error, "orig", None) or error
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise CommandError(
            f"dials-local {args.command}: cannot use the database {database.describe()}: {reason}"
        ) from None


def _open_database(args: argparse.Namespace) -> Database:
    """:func:`_database` with every table created."""
    database = database_for(args)
    _create_tables(args, database)
    return database


def _location_args(database: Database) -> list[str]:
    """The ``--data-dir`` / ``--database-url`` arguments naming ``database`` in a command
    printed as a hint (the password left out)."""
    if database.data_dir is not None:
        return ["--data-dir", str(database.data_dir)]
    return ["--database-url", database.describe()]


def _hint(*command: str) -> str:
    """A shell command line, quoted for copying."""
    return shlex.join(["dials-local", *command])


def _add_auth_options(serve: argparse.ArgumentParser) -> None:
    """The sign-in options of ``serve`` (tokens, device flow, Keycloak ids, limits), as
    :class:`~dials_local.settings.AuthSettings` declares them."""
    from dials_local.options import add_arguments
    from dials_local.settings import AuthSettings

    add_arguments(serve, AuthSettings)


def _add_quiet(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--quiet",
        action="store_true",
        help=f"show no progress {what} (a bar on a terminal, else a line every few "
        "seconds on stderr); errors and the final summary are still printed",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (needs the ``local`` extra: defaults come from
    the server's settings)."""
    from dials_local.db.budget import DEFAULT_REQUEST_BUDGET_S
    from dials_local.middleware import DEFAULT_MAX_BODY_BYTES

    parser = argparse.ArgumentParser(
        prog="dials-local",
        description="A DIALS-compatible server with a real database, for offline work and "
        "tests. Clients (cmsdials) talk to it exactly as to CMS DIALS.",
    )
    parser.add_argument("--version", action="version", version=f"dials-local {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the HTTP server",
        description="Serve the DIALS API at http://HOST:PORT/api/v1/ from the data directory "
        "or database. With --demo an empty database is first filled with synthetic data, and "
        "a ready-to-use secret key and the login of the user 'demo' are printed.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=argtypes.port,
        default=8000,
        help="port to listen on, taken before any other work; 0 picks a free one "
        "(default: %(default)s)",
    )
    _add_location(serve)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the synthetic data set if the database is empty (or finish a seed that "
        "was interrupted), and print the URL, a secret key (the same at every start) and "
        "a curl example",
    )
    serve.add_argument(
        "--size",
        choices=SIZES,
        help="data set seeded by --demo (default: demo; an interrupted seed is finished in "
        "its own size)",
    )
    _add_quiet(serve, "while --demo seeds")
    secret = serve.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret-key",
        metavar="S",
        help="register this API-client secret (sent as X-CLIENT-SECRET) before serving; "
        f"visible in the process list: prefer --secret-key-file or ${SECRET_KEY_ENV}",
    )
    secret.add_argument(
        "--secret-key-file",
        type=Path,
        metavar="PATH",
        help="as --secret-key, the secret read from this file (surrounding whitespace "
        f"ignored); without either, ${SECRET_KEY_ENV} is used when set",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=argtypes.positive,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="largest request body accepted; larger ones get 413 (default: %(default)s)",
    )
    serve.add_argument(
        "--request-budget",
        type=argtypes.positive_float,
        default=DEFAULT_REQUEST_BUDGET_S,
        metavar="SECONDS",
        help="time each request's database work may take; longer statements are "
        "cancelled and answered 504, as the real service's proxy does (default: %(default)s)",
    )
    serve.add_argument(
        "--testing",
        action="store_true",
        help="enable the control routes /_local/* (fault rules and the server's clock at "
        "run time), for test suites only; they require the admin credential (header "
        f"{ADMIN_HEADER}), "
        f"read from --admin-token-file or ${ADMIN_TOKEN_ENV}, else generated and printed",
    )
    serve.add_argument(
        "--admin-token-file",
        type=Path,
        metavar="PATH",
        help="file holding the admin credential of the control routes (with --testing)",
    )
    serve.add_argument(
        "--latency-ms",
        type=argtypes.non_negative,
        default=0,
        metavar="N",
        help="delay every response by N milliseconds (simulated network)",
    )
    serve.add_argument("--faults", metavar="SPEC", help=_FAULTS_HELP)
    serve.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    _add_auth_options(serve)
    serve.set_defaults(func=cmd_serve)

    seed = commands.add_parser(
        "seed",
        help="fill the database with the synthetic data set",
        description="Create the tables and generate the deterministic synthetic data set "
        "(every workspace, OMS records, ML models and their flags). A database that "
        "already holds data is left alone unless --force is given: seeding replaces every "
        "workspace's rows, those loaded with ingest included (API keys and users are "
        "kept). A seed that was interrupted is finished by the next seed or serve --demo.",
    )
    _add_location(seed)
    seed.add_argument(
        "--size",
        choices=SIZES,
        help="tiny (tests, seconds), demo (default) or large (performance work); an "
        "interrupted seed is finished in its own size unless another is named",
    )
    existing = seed.add_mutually_exclusive_group()
    existing.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing if the database already holds data (exit code 0)",
    )
    existing.add_argument(
        "--force",
        action="store_true",
        help="replace the data the database holds (without it, seed refuses and lists it)",
    )
    _add_quiet(seed, "while seeding")
    seed.set_defaults(func=cmd_seed)

    ingest = commands.add_parser(
        "ingest",
        help="load rows of one table of one workspace from a file",
        description="Load rows from a JSON Lines or Parquet file into one table of one "
        "workspace (validated; derived counters are kept consistent).",
    )
    ingest.add_argument("--workspace", required=True, choices=WORKSPACES, help="target workspace")
    ingest.add_argument(
        "--table",
        required=True,
        help="target table, by route name: dataset-index, file-index, run, lumisection, th1, "
        "th2, mes, ml-models-index, ml-bad-lumisection",
    )
    ingest.add_argument("file", type=Path, metavar="FILE", help="the .jsonl or .parquet file")
    _add_location(ingest)
    _add_quiet(ingest, "while loading")
    ingest.set_defaults(func=cmd_ingest)
    from dials_local import cli_oms  # ingest-oms: its own module

    cli_oms.add_command(commands)

    client = commands.add_parser(
        "create-api-client",
        help="create an API-client secret key and print it",
        description="Register an API client and print its secret key (sent by clients as "
        "X-CLIENT-SECRET). Only a hash is stored: the key is shown this once.",
    )
    client.add_argument(
        "--name", default="api-client", help="a label for the client (default: %(default)s)"
    )
    client.add_argument("--secret", metavar="S", help="use this secret instead of a random one")
    _add_location(client)
    client.set_defaults(func=cmd_create_api_client)

    user = commands.add_parser(
        "create-user",
        help="create a user who can sign in (device flow), or change one",
        description="Create a user for the sign-in page (or replace an existing user's "
        "password and roles). Passwords are stored as scrypt hashes. Roles route the user "
        "to a workspace when a request names none (first configured workspace whose role "
        "the user holds; otherwise tracker).",
    )
    user.add_argument("name", metavar="NAME", help="user name (letters, digits, . _ @ -)")
    user.add_argument(
        "--password",
        metavar="P",
        help="the password; read from the terminal or from one line of standard input if "
        "omitted (which keeps it out of the process list and shell history)",
    )
    user.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="a CERN role (e-group) of the user, repeatable. A workspace name stands for "
        "its role: " + ", ".join(f"{name} = {role}" for name, role in WORKSPACE_ROLES.items()),
    )
    _add_location(user)
    user.set_defaults(func=cmd_create_user)
    from dials_local.cli_load import add_load_commands

    add_load_commands(commands)  # load-certification, load-lumi
    return parser


def _print(*lines: str) -> None:
    """Print lines to stdout at once (the output may be a log file read live)."""
    print(*lines, sep="\n", flush=True)


#: What to do with a database that holds data (and no interrupted seed): ``seed`` refuses
#: by default; ``--force`` replaces; ``--if-empty`` and ``serve --demo`` keep it.
REFUSE, REPLACE, KEEP = "refuse", "replace", "keep"


def _run_seed(database: Database, size: str, *, resume: bool, quiet: bool) -> None:
    """Seed (or finish an interrupted seed) with a progress display, print the summary.

    Ctrl-C becomes a :class:`CommandError` saying that the next start finishes the seed
    (the record in the service database says how far it got).
    """
    from dials_local.data.generator import SeedJob  # heavy (numpy), only when seeding
    from dials_local.progress import Progress

    try:
        job = SeedJob(database, size, resume=resume)
        label = f"seeding '{size}'"
        with Progress(label, job.histogram_rows, "histogram rows", quiet=quiet) as meter:
            summary = job.run(meter=meter)
    except KeyboardInterrupt:
        raise CommandError(
            f"dials-local: interrupted; the seed of {database.describe()} did not finish. "
            "The next `dials-local seed` or `dials-local serve --demo` on it finishes it.",
            INTERRUPTED_EXIT,
        ) from None
    _print(str(summary))


def ensure_seeded(
    database: Database,
    *,
    size: str | None,
    policy: str,
    quiet: bool,
) -> bool:
    """The one seeding decision of ``seed``, ``serve --demo`` and (through ``seed
    --if-empty``) ``LocalServer``; returns whether it seeded.

    1. An interrupted seed (:mod:`dials_local.data.seed_state`) is finished, whatever the
       policy: its partial data is the seed's own, and serving it would answer empty
       workspaces silently.  Same size: the committed workspaces are kept; another size
       (``--size``) or ``--force``: seeded again from the start.
    2. An empty database is seeded.
    3. A database holding data: :data:`KEEP` leaves it, :data:`REPLACE` seeds over it,
       :data:`REFUSE` raises a :class:`CommandError` listing what seeding would replace.
    """
    from dials_local.data.seed_state import (
        changed_since,
        describe_holdings,
        has_data,
        holdings,
        read_record,
    )

    record = read_record(database)
    where = database.describe()
    if record is not None and record.interrupted:
        target = size or record.size
        resume = policy != REPLACE and target == record.size
        steps = len(WORKSPACES) + 1  # the workspaces, then the OMS records
        if resume:
            action = f"finishing it ({len(record.done)} of {steps} steps were done)"
        else:
            action = f"seeding the '{target}' data set from the start"
        _print(f"The last seed of {where} ({record.describe()}) did not finish: {action}.")
        _run_seed(database, target, resume=resume, quiet=quiet)
        return True
    target = size or "demo"
    if not has_data(database):
        _print(f"Seeding the '{target}' data set into {where} ...")
        _run_seed(database, target, resume=False, quiet=quiet)
        return True
    if policy == KEEP:
        if size and record is not None and record.complete and record.size != size:
            replace = _hint("seed", *_location_args(database), "--size", size, "--force")
            _print(
                f"{where} holds {record.describe()}; --size {size} is not seeded over it "
                f"(replace it: {replace})"
            )
        return False
    if policy == REPLACE:
        _print(f"Replacing the data of {where} with the '{target}' data set (--force) ...")
        _run_seed(database, target, resume=False, quiet=quiet)
        return True
    found = holdings(database)
    lines = [f"dials-local seed: {where} already holds data; seeding would replace all of it:"]
    lines += [f"  {line}" for line in describe_holdings(found)]
    if record is not None:
        changed = changed_since(record, found)
        lines.append(
            f"  (seeded with {record.describe()}; "
            + (f"{changed:,} rows added or removed since)" if changed else "unchanged since)")
        )
    else:
        lines.append("  (not seeded by dials-local: loaded with ingest, or by an older version)")
    command = ["seed", *_location_args(database), *(["--size", size] if size else [])]
    lines.append(
        f"Replace it: {_hint(*command, '--force')}; or keep it: {_hint(*command, '--if-empty')}"
    )
    raise CommandError("\n".join(lines))


class SecretError(ValueError):
    """A secret file that cannot be read or is empty."""


def _secret(value: str | None, path: Path | None, env_name: str) -> str | None:
    """A secret from the command line, else from a file, else from the environment.

    Files and environment variables keep secrets out of the process list (``ps``,
    ``/proc/<pid>/cmdline``), which every local user can read.
    """
    if value:
        return value
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SecretError(f"cannot read {path}: {error.strerror}") from error
        if not text:
            raise SecretError(f"{path} is empty")
        return text
    return os.environ.get(env_name) or None


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or a :class:`CommandError` naming the
    fix.

    ``serve`` takes its port before any long work (seeding the demo data set takes up to a
    minute), so a busy port fails at once instead of after the seed.  Listening right
    away also keeps a second server from binding the same port meanwhile (``SO_REUSEADDR``
    alone would let it); connections made while seeding wait in the backlog until the
    server answers them.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: restarting must not wait for the old connections' TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as error:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if error.errno == errno.EADDRINUSE:
            reason = (
                f"port {port} on {host} is already in use (another dials-local, or another "
                "program); choose another with --port N, or --port 0 for any free port"
            )
        elif error.errno == errno.EACCES:
            reason = (
                f"not allowed to listen on {where} (ports below 1024 need privileges); "
                "choose --port 1024 or above, or --port 0 for any free port"
            )
        elif isinstance(error, socket.gaierror):
            reason = f"--host {host!r} is not a known address or host name of this machine"
        else:
            reason = f"cannot listen on {where}: {error.strerror or error}; check --host"
        raise CommandError(f"dials-local serve: {reason}") from None
    return sock


def _demo_secret(database: Database, key_file: Path | None) -> str:
    """The API key ``serve --demo`` registers and prints: the same at every start.

    It is derived from the server's signing key (kept in the data directory or the
    database), so no secret is stored in clear and restarting neither adds a key per start
    nor breaks the key a user copied from the last banner.
    """
    from dials_local.auth.keys import load_signing_key

    key = load_signing_key(
        key_file=key_file, data_dir=database.data_dir, service_engine=database.service_engine()
    )
    return base64.urlsafe_b64encode(key.derived_secret(DEMO_KEY_PURPOSE)).rstrip(b"=").decode()


def _warn_if_interrupted(database: Database) -> None:
    """Plain ``serve`` does not seed, but must not serve a half-seeded database silently."""
    from dials_local.data.seed_state import read_record

    record = read_record(database)
    if record is not None and record.interrupted:
        print(
            f"dials-local serve: warning: the last seed of {database.describe()} "
            f"({record.describe()}) did not finish, so some workspaces are empty; finish it "
            f"with {_hint('seed', *_location_args(database))} "
            "(or start with serve --demo)",
            file=sys.stderr,
            flush=True,
        )


def _key_hint(database: Database, registered: int) -> str:
    """How to get an API key, for a ``serve`` that was given none."""
    create = _hint("create-api-client", *_location_args(database))
    if registered:
        return f"  API keys: {registered} registered in {database.describe()}; a new one: {create}"
    return (
        f"  API keys: none registered yet, so API requests are refused until you "
        f"create one: {create} (it prints the key), or start with --secret-key-file PATH "
        f"or ${SECRET_KEY_ENV}"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """``dials-local serve``: port first, then database, seed, keys, and serving."""
    try:
        secret = _secret(args.secret_key, args.secret_key_file, SECRET_KEY_ENV)
        admin_token = _secret(None, args.admin_token_file, ADMIN_TOKEN_ENV)
    except SecretError as error:
        raise CommandError(f"dials-local serve: {error}", 2) from None
    database = database_for(args)  # checks the URL: instant
    listener = listen(args.host, args.port)  # before any long work
    try:
        return _serve(args, database, listener, secret, admin_token)
    finally:
        listener.close()
        database.dispose()


def _serve(
    args: argparse.Namespace,
    database: Database,
    listener: socket.socket,
    secret: str | None,
    admin_token: str | None,
) -> int:
    from dials_local.auth.api_clients import ApiClientStore

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    generated_admin_token = args.testing and not admin_token
    if generated_admin_token:
        admin_token = secrets.token_urlsafe(32)
    app, secret = prepare_serve(args, database, secret, admin_token)
    port = int(listener.getsockname()[1])  # the real one with --port 0
    host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host}:{port}/"
    if generated_admin_token:
        _print(
            f"Control routes enabled (--testing): send {ADMIN_HEADER}: {admin_token}",
        )
    if args.demo:
        _print(
            "",
            f"dials-local is serving {database.describe()} at {base_url}",
            f"  API root:   {base_url}api/v1/",
            f"  secret key: {secret}",
            "  try:",
            f'    curl -H "X-CLIENT-SECRET: {secret}" "{base_url}api/v1/run/?page_size=3"',
            "  or in Python:",
            "    from cmsdials import Dials",
            "    from cmsdials.auth.secret_key import Credentials",
            f'    dials = Dials(Credentials(token="{secret}"), base_url="{base_url}")',
            f"  sign in (device flow, web page at {base_url}device):",
            f"    user: {DEMO_USER}   password: {DEMO_PASSWORD}",
            "",
        )
    else:
        lines = [
            f"dials-local is serving {database.describe()} at {base_url}",
            f"  API root:   {base_url}api/v1/",
        ]
        if secret:
            lines.append("  API key:    the one given (--secret-key, its file or variable)")
        else:
            lines.append(_key_hint(database, ApiClientStore(database.service_engine()).count()))
        _print(*lines)
    config = uvicorn_config(app, args.host, port)
    try:
        _announcing_server_class()(config, base_url.rstrip("/")).run(sockets=[listener])
    except KeyboardInterrupt:
        # uvicorn shuts down on Ctrl-C, then raises the signal again for the exit code:
        # the normal way to stop a server, nothing to report.
        return INTERRUPTED_EXIT
    return 0


def prepare_serve(
    args: argparse.Namespace,
    database: Database,
    secret: str | None,
    admin_token: str | None,
) -> tuple[ASGIApp, str | None]:
    """What ``serve`` does once it holds its port, up to the app: tables, the demo's seed
    and user, the API key registered; returns the app and the key it accepts (the one
    given, the demo's, or ``None``).  Also what an in-thread
    :class:`~dials_local.testing.LocalServer` runs (:mod:`dials_local.server_thread`).
    """
    from dials_local.app import create_app
    from dials_local.auth.api_clients import ApiClientStore
    from dials_local.auth.users import UserStore
    from dials_local.faults import FaultSpecError
    from dials_local.options import from_arguments
    from dials_local.settings import AuthSettings, Settings

    _create_tables(args, database)
    if args.demo:
        ensure_seeded(database, size=args.size, policy=KEEP, quiet=args.quiet)
    else:
        _warn_if_interrupted(database)
    store = ApiClientStore(database.service_engine())
    if secret:
        store.create("serve --secret-key", secret)
    elif args.demo:
        secret = store.create("demo", _demo_secret(database, args.key_file))
    if args.demo:
        users = UserStore(database.service_engine())
        if not users.exists(DEMO_USER):
            users.save(DEMO_USER, DEMO_PASSWORD)
    settings = Settings(
        database=database,
        latency_ms=args.latency_ms,
        faults=args.faults,
        log_requests=not args.no_access_log,
        create_tables=False,  # done above, before registering the key
        max_body_bytes=args.max_body_bytes,
        request_budget=args.request_budget,
        testing=args.testing,
        admin_token=admin_token if args.testing else None,
        auth=from_arguments(AuthSettings, args),
    )
    try:
        return create_app(settings), secret
    except FaultSpecError as error:
        raise CommandError(f"dials-local serve: --faults: {error}", 2) from None


def uvicorn_config(app: ASGIApp, host: str, port: int, *, in_thread: bool = False) -> Any:
    """uvicorn's configuration of ``serve`` (a ``uvicorn.Config``; imported late: the
    ``local`` extra).

    ``in_thread``: for a server run inside another process (an in-thread
    :class:`~dials_local.testing.LocalServer`), which must leave that process's logging
    and event-loop policy as they are: no logging configuration, plain asyncio loops.
    """
    import uvicorn

    from dials_local.middleware import json_error_protocol

    host_process: dict[str, Any] = {"log_config": None, "loop": "asyncio"} if in_thread else {}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # the middleware logs each request
        log_level="info",
        server_header=False,
        # Requests uvicorn rejects before the app (e.g. URLs over 64 KB) answered in JSON.
        http=json_error_protocol(),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        # Longer than any client's poll interval (5 s by default): with uvicorn's 5 s, a
        # poll reusing a connection as the server closes it failed with RemoteDisconnected.
        timeout_keep_alive=75,
        # DIALS has no WebSocket route; loading a WebSocket implementation would only
        # import websockets (whose legacy module warns at import in older releases).
        ws="none",
        **host_process,
    )


def _announcing_server_class() -> type:
    """uvicorn's Server, announcing where it listens (imported late: the ``local`` extra)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        """uvicorn logs "Uvicorn running on URL" only for sockets it bound itself; ``serve``
        binds its own (before seeding), and users and tests wait for that line."""

        def __init__(self, config: uvicorn.Config, url: str) -> None:
            super().__init__(config)
            self.url = url

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                logging.getLogger("uvicorn.error").info(
                    "Uvicorn running on %s (Press CTRL+C to quit)", self.url
                )

    return AnnouncingServer


def cmd_seed(args: argparse.Namespace) -> int:
    """``dials-local seed``: refuses to replace data without ``--force``."""
    database = _open_database(args)
    try:
        policy = REPLACE if args.force else KEEP if args.if_empty else REFUSE
        if not ensure_seeded(database, size=args.size, policy=policy, quiet=args.quiet):
            _print(f"{database.describe()} already holds data; not seeding (--if-empty).")
    finally:
        database.dispose()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """``dials-local ingest``."""
    from dials_local.data.ingest import TABLES, IngestError, ingest

    if args.table not in TABLES:
        raise CommandError(
            f"dials-local ingest: unknown table {args.table!r}; choose one of: "
            + ", ".join(TABLES),
            2,
        )
    database = _open_database(args)
    try:
        result = ingest(
            database, args.workspace, args.table, args.file, show_progress=not args.quiet
        )
    except IngestError as error:
        raise CommandError(f"dials-local ingest: {error}") from None
    except KeyboardInterrupt:
        raise CommandError(
            f"dials-local ingest: interrupted; nothing of {args.file} was loaded "
            "(a load is one transaction)",
            INTERRUPTED_EXIT,
        ) from None
    finally:
        database.dispose()
    _print(f"Loaded {result} rows into {args.workspace}.{args.table} from {args.file}.")
    return 0


def cmd_create_api_client(args: argparse.Namespace) -> int:
    """``dials-local create-api-client``: the secret goes to stdout alone (scriptable),
    the explanation to stderr."""
    from dials_local.auth.api_clients import ApiClientStore

    database = _open_database(args)
    try:
        secret = ApiClientStore(database.service_engine()).create(args.name, args.secret)
    finally:
        database.dispose()
    print(
        f"Created API client {args.name!r} in {database.describe()}. Its secret key "
        "(send it as the X-CLIENT-SECRET header; it is not shown again):",
        file=sys.stderr,
        flush=True,
    )
    _print(secret)
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    """``--password``, else a prompt on a terminal, else one line of standard input."""
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Repeat it: ") != first:
            print("dials-local create-user: the passwords differ", file=sys.stderr)
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_create_user(args: argparse.Namespace) -> int:
    """``dials-local create-user``: the password is never printed."""
    from dials_local.auth.users import UserStore, resolve_role
    from dials_local.workspaces import default_workspace_for

    password = _read_password(args)
    if not password:
        print("dials-local create-user: a non-empty password is required", file=sys.stderr)
        return 2
    roles = [resolve_role(role) for role in args.role]
    known = set(WORKSPACE_ROLES.values())
    for role in roles:
        if role not in known:
            print(
                f"dials-local create-user: note: role {role!r} routes to no workspace",
                file=sys.stderr,
            )
    database = _open_database(args)
    try:
        created = UserStore(database.service_engine()).save(args.name, password, roles)
    except ValueError as error:
        raise CommandError(f"dials-local create-user: {error}", 2) from None
    finally:
        database.dispose()
    _print(
        f"{'Created' if created else 'Updated'} user {args.name!r} in {database.describe()}; "
        f"roles: {', '.join(roles) or '(none)'}; default workspace: "
        f"{default_workspace_for(roles)}."
    )
    return 0


#: Options whose value is free text that may start with "-" (random secrets do).
_FREE_TEXT_OPTIONS = ("--secret-key", "--secret", "--password")


def _glue_free_text_values(argv: Sequence[str]) -> list[str]:
    """``--secret-key -abc`` -> ``--secret-key=-abc``: argparse would otherwise take a
    secret starting with ``-`` for an option and fail."""
    glued: list[str] = []
    items = list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        if item in _FREE_TEXT_OPTIONS and index + 1 < len(items):
            glued.append(f"{item}={items[index + 1]}")
            index += 2
            continue
        glued.append(item)
        index += 1
    return glued


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dials-local`` command.

    Errors the user can fix end in one line on stderr and an exit code (1, 2 for bad
    arguments, 130 after Ctrl-C), never a traceback.
    """
    argv = sys.argv[1:] if argv is None else argv
    missing = _missing(LOCAL_EXTRA_MODULES)
    if missing:  # checked first: building the parser imports the server's settings
        print(extra_message("local", missing), file=sys.stderr)
        return 1
    previous = os.umask(PRIVATE_UMASK)
    try:
        args = build_parser().parse_args(_glue_free_text_values(argv))
        code: int = args.func(args)
    except CommandError as error:
        print(error, file=sys.stderr, flush=True)
        return error.code
    except ModuleNotFoundError as error:
        # A driver imported late, e.g. psycopg by SQLAlchemy's PostgreSQL dialect.
        name = (error.name or "").partition(".")[0]
        if name in POSTGRES_EXTRA_MODULES:
            print(extra_message("postgres", [name]), file=sys.stderr)
        elif name in LOCAL_EXTRA_MODULES:
            print(extra_message("local", [name]), file=sys.stderr)
        else:
            raise
        return 1
    except KeyboardInterrupt:
        print("dials-local: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    finally:
        os.umask(previous)  # main() may be called in-process (tests): leave it as it was
    return code


if __name__ == "__main__":
    sys.exit(main())
