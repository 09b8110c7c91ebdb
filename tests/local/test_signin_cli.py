"""``dials-local create-user``, the sign-in options of ``serve``, the demo login, and the
signing key's storage (file mode, stability across restarts, PostgreSQL)."""

from __future__ import annotations

import argparse
import json
import stat
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from test_signin_browser import Browser, poll, start_device

from dials_local.auth.keys import KEY_FILE_NAME, load_or_create_key_file
from dials_local.auth.service import AuthService
from dials_local.auth.users import UserStore, verify_password
from dials_local.cli import build_parser, main
from dials_local.db.engines import Database
from dials_local.db.schema import signing_keys, users
from dials_local.options import command_line_fields, from_arguments
from dials_local.settings import AuthSettings
from dials_local.testing import LocalServer


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dials_local.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
    )


def stored_users(data_dir: Path) -> dict[str, tuple[str, list[str]]]:
    database = Database(data_dir=data_dir)
    try:
        with database.service_engine().connect() as conn:
            return {
                row.name: (row.password_hash, json.loads(row.roles))
                for row in conn.execute(select(users))
            }
    finally:
        database.dispose()


def test_create_user_hashes_the_password_and_maps_workspace_names(tmp_path: Path) -> None:
    done = cli(
        "create-user", "alice", "--password", "-starts-with-a-dash",
        "--role", "jetmet", "--role", "some-egroup", "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Created user 'alice'" in done.stdout and "default workspace: jetmet" in done.stdout
    assert "starts-with-a-dash" not in done.stdout + done.stderr
    assert "routes to no workspace" in done.stderr  # a hint for the unknown role
    password_hash, roles = stored_users(tmp_path)["alice"]
    assert roles == ["cms-dqm-runregistry-offline-jme-certifiers", "some-egroup"]
    assert password_hash.startswith("scrypt$15$8$1$") and "dash" not in password_hash
    assert verify_password("-starts-with-a-dash", password_hash)
    assert not verify_password("-starts-with-a-Dash", password_hash)

    # Again: the password and roles are replaced; the password may come from stdin.
    again = cli("create-user", "alice", "--data-dir", str(tmp_path), stdin="new password\n")
    assert again.returncode == 0 and "Updated user 'alice'" in again.stdout
    password_hash, roles = stored_users(tmp_path)["alice"]
    assert roles == [] and verify_password("new password", password_hash)


def run_main(*args: str) -> int:
    """The CLI in-process (argument errors and help need no subprocess)."""
    try:
        return main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(
    "args",
    [
        ("create-user", "bad name", "--password", "x"),
        ("create-user", "-x", "--password", "x"),
        ("create-user", "bob", "--password", ""),
        ("serve", "--access-ttl", "0"),
        ("serve", "--device-interval", "-1"),
        ("serve", "--leeway", "-5"),
    ],
)
def test_bad_arguments_exit_2(
    tmp_path: Path, args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(*args, "--data-dir", str(tmp_path)) == 2
    assert capsys.readouterr().err


def test_help_lists_the_sign_in_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main("serve", "--help") == 0
    serve = capsys.readouterr().out
    for option in (
        "--access-ttl", "--refresh-ttl", "--device-ttl", "--device-interval", "--leeway",
        "--realm", "--audience", "--public-client-id", "--key-file",
    ):  # fmt: skip
        assert option in serve
    assert run_main("create-user", "--help") == 0
    create_user = capsys.readouterr().out
    assert "--password" in create_user and "--role" in create_user and "jetmet" in create_user
    assert run_main("--help") == 0
    assert "create-user" in capsys.readouterr().out


def test_the_signing_key_is_private_and_stable(tmp_path: Path) -> None:
    database = Database(data_dir=tmp_path)
    database.create_all()
    first = AuthService(database, AuthSettings())
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in repr(first) + repr(first.key) + repr(first.tokens)
    second = AuthService(database, AuthSettings())
    assert second.key.kid == first.key.kid  # a restart keeps tokens valid
    elsewhere = tmp_path / "keys" / "signing.pem"
    third = AuthService(database, AuthSettings(key_file=elsewhere))
    assert elsewhere.exists() and third.key.kid != first.key.kid
    database.dispose()


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "race.pem"
    kids: list[str] = []
    threads = [
        threading.Thread(target=lambda: kids.append(load_or_create_key_file(path).kid))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(kids)) == 1 and len(kids) == 6
    assert [p.name for p in tmp_path.iterdir()] == ["race.pem"]  # no temporary left over


def test_with_postgresql_the_key_lives_in_the_service_table(postgres_url: str) -> None:
    database = Database(url=postgres_url)
    try:
        database.create_all()
        first = AuthService(database, AuthSettings())
        second = AuthService(database, AuthSettings())
        assert first.key.kid == second.key.kid
        with database.service_engine().connect() as conn:
            assert len(conn.execute(select(signing_keys.c.id)).all()) == 1
        UserStore(database.service_engine()).save("pg-user", "pw")
        assert UserStore(database.service_engine()).authenticate("pg-user", "pw") is not None
        assert UserStore(database.service_engine()).authenticate("pg-user", "nope") is None
        assert UserStore(database.service_engine()).authenticate("nobody", "pw") is None
    finally:
        database.dispose()


def test_demo_prints_a_login_that_works(tiny_data_dir: Path) -> None:
    with LocalServer(tiny_data_dir, extra_args=("--demo", "--device-interval", "0.3")) as demo:
        log = demo.log_tail(200)
        assert "user: demo   password: demo" in log
        assert f"{demo.base_url}device" in log
        started = start_device(demo)
        browser = Browser(demo.base_url)
        page = browser.open(str(started["verification_uri_complete"]))
        page = browser.submit(page, "/device/login", username="demo", password="demo")
        done = browser.submit(page, "/device/decision", button="approve")
        assert done.title.startswith("Access granted")
        tokens = poll(demo, started["device_code"]).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert requests.get(demo.api_url + "run/", headers=headers, timeout=10).status_code == 200


# -- the sign-in settings, declared once --------------------------------------------------


def _serve_args(*args: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *args])


def test_every_sign_in_setting_but_the_hash_queue_is_a_serve_option() -> None:
    with_options = {field.name for field, _ in command_line_fields(AuthSettings)}
    assert with_options == {field.name for field in fields(AuthSettings)} - {"password_hash_queue"}
    # Without options: exactly the dataclass's defaults.
    assert from_arguments(AuthSettings, _serve_args()) == AuthSettings()


def test_sign_in_options_reach_the_settings() -> None:
    given = _serve_args(
        "--access-ttl", "7", "--realm", "lab", "--key-file", "/keys/k.pem",
        "--login-lockout", "2.5", "--device-interval", "0.3", "--leeway", "0",
        "--public-client-id", "my-app", "--device-grants-per-address", "3",
    )  # fmt: skip
    assert from_arguments(AuthSettings, given) == AuthSettings(
        access_ttl=7,
        realm="lab",
        key_file=Path("/keys/k.pem"),
        login_lockout=2.5,
        device_interval=0.3,
        leeway=0,
        public_client_id="my-app",
        device_grants_per_address=3,
    )
