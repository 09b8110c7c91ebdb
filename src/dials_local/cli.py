"""``dials-local``: run a DIALS-compatible server, seed or load its data, manage keys.

Commands::

    dials-local serve [--demo] [--host H] [--port P] [--data-dir D | --database-url URL]
    dials-local seed [--size tiny|demo|large] [--if-empty]
    dials-local ingest --workspace W --table TABLE FILE
    dials-local create-api-client [--name N] [--secret S]
    dials-local create-user NAME [--password P] [--role ROLE ...]

Also runnable as ``python -m dials_local`` and ``python -m dials_local.cli``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from dials_local import __version__
from dials_local.db.engines import Database
from dials_local.middleware import DEFAULT_MAX_BODY_BYTES
from dials_local.settings import AuthSettings
from dials_local.workspaces import WORKSPACE_ROLES, WORKSPACES

DEFAULT_DATA_DIR = Path("dials-data")
#: The user ``serve --demo`` creates: a fixed, printed login for a local demo only.
DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
SIZES = ("tiny", "demo", "large")
#: Environment variables that may carry the secrets of ``serve`` (kept out of ``ps``).
SECRET_KEY_ENV = "DIALS_LOCAL_SECRET_KEY"
ADMIN_TOKEN_ENV = "DIALS_LOCAL_ADMIN_TOKEN"
#: Seconds in-flight requests get to finish after SIGTERM/SIGINT before being cancelled
#: (a ``slow`` fault may hold one for a day; uvicorn would otherwise wait for it).
SHUTDOWN_GRACE_SECONDS = 2
#: File-creation mask of every command: the data directory holds password and key hashes
#: and the signing key, so whatever the server creates is private to its user (0700
#: directories, 0600 files, SQLite's -wal/-shm/-journal files included).
PRIVATE_UMASK = 0o077

_FAULTS_HELP = """\
fault-injection rules, comma-separated KIND[:ARG]@K[xN]: inject KIND into every K-th
request under /api/v1/ (at most N times). KIND: 500 502 503 504 (HTML error pages),
429 (ARG = Retry-After seconds), reset (connection dropped mid-body), truncate (JSON
cut in half), slow (ARG = seconds of delay). Example: "503@3,reset@5x1". With --testing,
rules can be changed at run time with PUT /_local/faults {"spec": "..."}."""


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


def _database(args: argparse.Namespace) -> Database:
    """The database the command line names (default: ./dials-data)."""
    if args.database_url:
        return Database(url=args.database_url)
    return Database(data_dir=args.data_dir or DEFAULT_DATA_DIR)


def _non_negative(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a number > 0 (seconds, fractions allowed)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _add_auth_options(serve: argparse.ArgumentParser) -> None:
    """The sign-in options of ``serve`` (tokens, device flow, Keycloak ids)."""
    defaults = AuthSettings()
    group = serve.add_argument_group(
        "sign-in",
        "Tokens are RS256 JWTs signed with a key kept in the data directory "
        "(jwt-signing-key.pem, created on first start) or, with --database-url, in the "
        "database. See docs/signin.md.",
    )
    group.add_argument(
        "--access-ttl",
        type=_positive,
        default=defaults.access_ttl,
        metavar="SECONDS",
        help="access-token lifetime (default: %(default)s)",
    )
    group.add_argument(
        "--refresh-ttl",
        type=_positive,
        default=defaults.refresh_ttl,
        metavar="SECONDS",
        help="refresh-token lifetime; each refresh issues a new one (default: %(default)s)",
    )
    group.add_argument(
        "--device-ttl",
        type=_positive,
        default=defaults.device_ttl,
        metavar="SECONDS",
        help="how long a device sign-in code stays valid (default: %(default)s)",
    )
    group.add_argument(
        "--device-interval",
        type=_positive_float,
        default=defaults.device_interval,
        metavar="SECONDS",
        help="minimum time between two polls of one device code, else slow_down; "
        "fractions allowed (default: %(default)s)",
    )
    group.add_argument(
        "--leeway",
        type=_non_negative,
        default=defaults.leeway,
        metavar="SECONDS",
        help="clock skew tolerated when checking token expiry (default: %(default)s, as DIALS)",
    )
    group.add_argument(
        "--realm",
        default=defaults.realm,
        help="Keycloak realm served under /auth/realms/REALM/ (default: %(default)s)",
    )
    group.add_argument(
        "--audience",
        default=defaults.audience,
        help="the aud claim Bearer tokens must carry (default: %(default)s)",
    )
    group.add_argument(
        "--public-client-id",
        default=defaults.public_client_id,
        metavar="ID",
        help="client id of device sign-ins through the Keycloak endpoints (default: %(default)s)",
    )
    group.add_argument(
        "--key-file",
        type=Path,
        metavar="PATH",
        help="PEM file of the token signing key (created if missing, mode 0600)",
    )
    limits = serve.add_argument_group(
        "sign-in limits",
        "Bounds on what clients without credentials can make the server do.",
    )
    limits.add_argument(
        "--login-max-failures",
        type=_positive,
        default=defaults.login_max_failures,
        metavar="N",
        help="failed sign-ins for one user name before a lockout (default: %(default)s)",
    )
    limits.add_argument(
        "--login-max-failures-per-address",
        type=_positive,
        default=defaults.login_max_failures_per_address,
        metavar="N",
        help="failed sign-ins from one client address before a lockout (default: %(default)s)",
    )
    limits.add_argument(
        "--login-window",
        type=_positive_float,
        default=defaults.login_window,
        metavar="SECONDS",
        help="the window failed sign-ins are counted in (default: %(default)s)",
    )
    limits.add_argument(
        "--login-lockout",
        type=_positive_float,
        default=defaults.login_lockout,
        metavar="SECONDS",
        help="how long a locked-out name or address is refused (default: %(default)s)",
    )
    limits.add_argument(
        "--password-hash-workers",
        type=_positive,
        default=defaults.password_hash_workers,
        metavar="N",
        help="password hashes run at once, 32 MiB each (default: %(default)s)",
    )
    limits.add_argument(
        "--device-grants-per-address",
        type=_positive,
        default=defaults.device_grants_per_address,
        metavar="N",
        help="pending device sign-ins one client address may have (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
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
        "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
    )
    _add_location(serve)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the synthetic data set if the database is empty, and print the URL, a secret "
        "key and a curl example",
    )
    serve.add_argument(
        "--size",
        choices=SIZES,
        default="demo",
        help="data set seeded by --demo (default: %(default)s)",
    )
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
        type=_positive,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="largest request body accepted; larger ones get 413 (default: %(default)s)",
    )
    serve.add_argument(
        "--testing",
        action="store_true",
        help="enable the control routes /_local/* (fault rules at run time), for test "
        "suites only; they require the admin credential (header X-DIALS-LOCAL-ADMIN), "
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
        type=_non_negative,
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
        "(every workspace, OMS records, ML models and their flags).",
    )
    _add_location(seed)
    seed.add_argument(
        "--size",
        choices=SIZES,
        default="demo",
        help="tiny (tests, seconds), demo (default) or large (performance work)",
    )
    seed.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing if the database already holds data",
    )
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
    ingest.set_defaults(func=cmd_ingest)

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
    return parser


def _print(*lines: str) -> None:
    """Print lines to stdout at once (the output may be a log file read live)."""
    print(*lines, sep="\n", flush=True)


def _seed(database: Database, size: str) -> None:
    """Run the synthetic data generator and print its summary."""
    from dials_local.data.generator import seed  # heavy (numpy), only when seeding

    summary = seed(database, size)
    if summary is not None:
        _print(str(summary))


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


def cmd_serve(args: argparse.Namespace) -> int:
    """``dials-local serve``."""
    import uvicorn

    from dials_local.app import create_app
    from dials_local.auth.api_clients import ApiClientStore
    from dials_local.auth.users import UserStore
    from dials_local.middleware import FaultSpecError, json_error_protocol
    from dials_local.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        secret = _secret(args.secret_key, args.secret_key_file, SECRET_KEY_ENV)
        admin_token = _secret(None, args.admin_token_file, ADMIN_TOKEN_ENV)
    except SecretError as error:
        print(f"dials-local serve: {error}", file=sys.stderr)
        return 2
    generated_admin_token = args.testing and not admin_token
    if generated_admin_token:
        admin_token = secrets.token_urlsafe(32)
    database = _database(args)
    database.create_all()
    if args.demo and database.is_empty():
        _print(f"Seeding the '{args.size}' data set into {database.describe()} ...")
        _seed(database, args.size)
    store = ApiClientStore(database.service_engine())
    if secret:
        store.create("serve --secret-key", secret)
    elif args.demo:
        secret = store.create("demo")
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
        testing=args.testing,
        admin_token=admin_token if args.testing else None,
        auth=AuthSettings(
            realm=args.realm,
            public_client_id=args.public_client_id,
            audience=args.audience,
            access_ttl=args.access_ttl,
            refresh_ttl=args.refresh_ttl,
            device_ttl=args.device_ttl,
            device_interval=args.device_interval,
            leeway=args.leeway,
            key_file=args.key_file,
            login_max_failures=args.login_max_failures,
            login_max_failures_per_address=args.login_max_failures_per_address,
            login_window=args.login_window,
            login_lockout=args.login_lockout,
            password_hash_workers=args.password_hash_workers,
            device_grants_per_address=args.device_grants_per_address,
        ),
    )
    try:
        app = create_app(settings)
    except FaultSpecError as error:
        print(f"dials-local serve: --faults: {error}", file=sys.stderr)
        return 2
    base_url = f"http://{args.host}:{args.port}/"
    if generated_admin_token:
        _print(
            f"Control routes enabled (--testing): send X-DIALS-LOCAL-ADMIN: {admin_token}",
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
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        access_log=False,  # the middleware logs each request
        log_level="info",
        server_header=False,
        # Requests uvicorn rejects before the app (e.g. URLs over 64 KB) answered in JSON.
        http=json_error_protocol(),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        # Longer than any client's poll interval (5 s by default): with uvicorn's 5 s, a
        # poll reusing a connection as the server closes it failed with RemoteDisconnected.
        timeout_keep_alive=75,
    )
    uvicorn.Server(config).run()
    database.dispose()
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    """``dials-local seed``."""
    database = _database(args)
    try:
        database.create_all()
        if args.if_empty and not database.is_empty():
            _print(f"{database.describe()} already holds data; not seeding (--if-empty).")
            return 0
        _seed(database, args.size)
    finally:
        database.dispose()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """``dials-local ingest``."""
    from dials_local.data.ingest import TABLES, IngestError, ingest

    if args.table not in TABLES:
        print(
            f"dials-local ingest: unknown table {args.table!r}; choose one of: "
            + ", ".join(TABLES),
            file=sys.stderr,
        )
        return 2
    database = _database(args)
    try:
        database.create_all()
        result = ingest(database, args.workspace, args.table, args.file)
    except IngestError as error:
        print(f"dials-local ingest: {error}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    _print(f"Loaded {result} rows into {args.workspace}.{args.table} from {args.file}.")
    return 0


def cmd_create_api_client(args: argparse.Namespace) -> int:
    """``dials-local create-api-client``: the secret goes to stdout alone (scriptable),
    the explanation to stderr."""
    from dials_local.auth.api_clients import ApiClientStore

    database = _database(args)
    try:
        database.create_all()
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
    database = _database(args)
    try:
        database.create_all()
        created = UserStore(database.service_engine()).save(args.name, password, roles)
    except ValueError as error:
        print(f"dials-local create-user: {error}", file=sys.stderr)
        return 2
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
    """Entry point of the ``dials-local`` command."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_glue_free_text_values(argv))
    previous = os.umask(PRIVATE_UMASK)
    try:
        code: int = args.func(args)
    finally:
        os.umask(previous)  # main() may be called in-process (tests): leave it as it was
    return code


if __name__ == "__main__":
    sys.exit(main())
