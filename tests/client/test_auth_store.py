"""The credential cache on disk: permissions, atomic writes, one entry per server, the
2.x client's files, corrupt files, and two processes writing at once.  No server needed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cmsdials.auth._store import CredentialStore
from cmsdials.auth.client import PRODUCTION_KEY, AuthClient
from cmsdials.auth.device import Credentials
from cmsdials.auth.exceptions import CredentialsCacheError
from cmsdials.auth.models import Token

LOCAL_KEY = "http://127.0.0.1:8000/api/v1/"
DEV_KEY = "https://dev-cmsdials-api.web.cern.ch/api/v1/"


def make_token(access: str = "a.b.c", *, lifetime: int = 300, refresh: int = 3600) -> Token:
    now = datetime.now(timezone.utc)
    return Token(
        access_token=access,
        expires_in=lifetime,
        refresh_expires_in=refresh,
        refresh_token="refresh-" + access,
        token_type="Bearer",
        expires_at=now + timedelta(seconds=lifetime),
        refresh_expires_at=now + timedelta(seconds=refresh),
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache directory and working directory (nothing of the real user's)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def test_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "new" / "cache")
    store.save(LOCAL_KEY, make_token())
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in store.directory.iterdir()) == ["creds", "creds.lock"]


def test_default_directory_is_the_users_cache(home: Path) -> None:
    store = CredentialStore()
    store.save(LOCAL_KEY, make_token())
    assert store.path == home / "xdg-cache" / "cmsdials" / "creds"
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700


def test_one_entry_per_server(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(LOCAL_KEY, make_token("local.token.x"))
    store.save(DEV_KEY, make_token("dev.token.x"))
    store.save(LOCAL_KEY, make_token("local.token.y"))
    loaded_local, loaded_dev = store.load(LOCAL_KEY), store.load(DEV_KEY)
    assert loaded_local is not None and loaded_local.access_token == "local.token.y"
    assert loaded_dev is not None and loaded_dev.access_token == "dev.token.x"
    assert store.load(PRODUCTION_KEY) is None
    content = json.loads(store.path.read_text())
    assert content["version"] == 1
    assert set(content["entries"]) == {LOCAL_KEY, DEV_KEY}
    assert store.delete(DEV_KEY) and store.load(DEV_KEY) is None


def test_cache_keys_separate_servers_and_realms() -> None:
    keys = {
        AuthClient().cache_key,
        AuthClient(client_id="cms-dials-dev-public-app").cache_key,
        AuthClient(base_url="http://localhost:8000/").cache_key,
        AuthClient(base_url="https://dev-cmsdials-api.web.cern.ch/").cache_key,
        AuthClient(keycloak_url="http://localhost:8000/auth/").cache_key,
    }
    assert len(keys) == 5
    assert AuthClient().cache_key == PRODUCTION_KEY


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b'{"version": 1, "entries": {"x": 1}}', b"\x00\xff"],
    ids=["broken", "empty", "list", "bad-entry", "binary"],
)
def test_corrupt_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    store = CredentialStore(tmp_path)
    store.path.write_bytes(content)
    with pytest.raises(CredentialsCacheError) as info:
        store.load("x")
    message = str(info.value)
    assert str(store.path) in message and "Delete the file" in message
    # No chained JSON/pydantic traceback: the error stands on its own.
    error = info.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_corrupt_file_non_interactive_from_creds_file(tmp_path: Path) -> None:
    (tmp_path / "creds").write_text('{"version": 1, "entries": ')
    auth = AuthClient(base_url="http://127.0.0.1:9/")
    with pytest.raises(CredentialsCacheError, match="not valid JSON"):
        Credentials.from_creds_file(cache_dir=tmp_path, client=auth, interactive=False)


def test_saving_over_a_corrupt_file_moves_it_aside(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.path.write_text("garbage")
    store.save(LOCAL_KEY, make_token())
    assert (tmp_path / "creds.corrupt").read_text() == "garbage"
    assert store.load(LOCAL_KEY) is not None


def test_newer_format_is_refused_not_overwritten_silently(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.path.write_text('{"version": 2, "entries": {}}')
    with pytest.raises(CredentialsCacheError, match="format version 2"):
        store.load(LOCAL_KEY)


def legacy_file(path: Path, token: Token) -> None:
    """A token file as cmsdials 2.x writes it: one token, naive local datetimes, 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = token.model_dump(mode="json")
    for name in ("expires_at", "refresh_expires_at"):
        local = getattr(token, name).astimezone().replace(tzinfo=None)
        fields[name] = local.isoformat()
    path.write_text(json.dumps(fields))


def test_legacy_dot_cache_is_read_for_production_only(home: Path) -> None:
    token = make_token("legacy.prod.token")
    legacy_file(Path.cwd() / ".cache" / "creds", token)
    store = CredentialStore(legacy_key=PRODUCTION_KEY)
    loaded = store.load(PRODUCTION_KEY)
    assert loaded is not None and loaded.access_token == "legacy.prod.token"
    # Naive datetimes were local time; they mean the same instant.
    assert abs(loaded.expires_at - token.expires_at) < timedelta(seconds=1)
    assert store.load(LOCAL_KEY) is None
    # An explicit cache_dir never looks at ./.cache.
    assert CredentialStore(home / "other", legacy_key=PRODUCTION_KEY).load(PRODUCTION_KEY) is None
    # Credentials.from_creds_file() of the guide finds it (no sign-in started).
    creds = Credentials.from_creds_file()
    assert creds.token == "legacy.prod.token"
    # The default store wins once it has an entry; the legacy file is left alone.
    CredentialStore().save(PRODUCTION_KEY, make_token("new.prod.token"))
    assert Credentials.from_creds_file().token == "new.prod.token"
    assert "legacy.prod.token" in (Path.cwd() / ".cache" / "creds").read_text()


def test_legacy_file_in_explicit_cache_dir(tmp_path: Path) -> None:
    legacy_file(tmp_path / ".cache-dev" / "creds", make_token("legacy.dev.token"))
    auth = AuthClient(base_url="http://127.0.0.1:9/")
    creds = Credentials.from_creds_file(cache_dir=tmp_path / ".cache-dev", client=auth)
    assert creds.token == "legacy.dev.token"
    creds.cache_credentials()  # rewritten in the current format, 0600
    content = json.loads((tmp_path / ".cache-dev" / "creds").read_text())
    assert list(content["entries"]) == [auth.cache_key]
    assert stat.S_IMODE((tmp_path / ".cache-dev" / "creds").stat().st_mode) == 0o600


def test_corrupt_legacy_file_is_ignored(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = Path.cwd() / ".cache" / "creds"
    path.parent.mkdir()
    path.write_text("{")
    assert CredentialStore(legacy_key=PRODUCTION_KEY).load(PRODUCTION_KEY) is None
    assert "ignoring the cmsdials 2.x credentials" in caplog.text


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from datetime import datetime, timedelta, timezone
        from cmsdials.auth._store import CredentialStore
        from cmsdials.auth.models import Token
        store = CredentialStore(sys.argv[1])
        now = datetime.now(timezone.utc)
        for i in range(25):
            token = Token(access_token=f"t{i}", expires_in=60, refresh_expires_in=60,
                          refresh_token="r", expires_at=now + timedelta(seconds=60),
                          refresh_expires_at=now + timedelta(seconds=60))
            store.save(f"{sys.argv[2]}-{i}", token)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name])
        for name in ("first", "second", "third")
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0, 0]
    entries = json.loads((tmp_path / "creds").read_text())["entries"]
    assert len(entries) == 75


def test_repr_and_errors_never_show_tokens(tmp_path: Path) -> None:
    token = make_token("very.secret.access")
    assert "very.secret.access" not in repr(token) and "refresh-" not in repr(token)
    auth = AuthClient(base_url="http://127.0.0.1:9/")
    creds = Credentials.from_authclient_token(token, cache_dir=tmp_path, client=auth)
    assert "very.secret" not in repr(creds) and "refresh-" not in repr(creds)
    assert os.fspath(tmp_path / "creds") == creds.cache_path
