"""The credential cache: one file of tokens, one entry per server.

``<cache_dir>/creds`` holds ``{"version": 1, "entries": {"<server key>": {token}}}``.  The
server key names the DIALS instance (or Keycloak realm and client) that issued the
token, so tokens of a dev, a local and the production DIALS never mix.

* The directory is created ``0700`` and the file is written ``0600``: the tokens let
  anybody read DIALS as you.
* Writes are atomic (a temporary file in the same directory, then ``os.replace``): a
  reader never sees half a file, even if the writer is killed.
* A file lock (``creds.lock``) serialises read-modify-write between processes, and
  :meth:`CredentialStore.lock` lets a refresh hold it: the second of two processes that
  both found the token expired re-reads the file and uses the first one's new token.
* The 2.x client wrote one token, without entries, to ``./.cache/creds`` (relative to the
  working directory); that file is still read for the production server, and such a
  single-token file in an explicit ``cache_dir`` is read for the server asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import platformdirs
from filelock import FileLock
from pydantic import ValidationError

from cmsdials.auth.exceptions import CredentialsCacheError
from cmsdials.auth.models import Token

__all__ = ["FORMAT_VERSION", "CredentialStore", "default_cache_dir", "legacy_path"]

log = logging.getLogger("cmsdials.auth")

FORMAT_VERSION = 1
FILENAME = "creds"


def default_cache_dir() -> Path:
    """The user's cache directory for cmsdials (e.g. ``~/.cache/cmsdials`` on Linux)."""
    return Path(platformdirs.user_cache_dir("cmsdials", appauthor=False))


def legacy_path() -> Path:
    """Where the 2.x client cached its token: ``./.cache/creds`` of the working directory."""
    return Path.cwd() / ".cache" / FILENAME


class CredentialStore:
    """The token cache in ``cache_dir`` (default: :func:`default_cache_dir`).

    Parameters
    ----------
    cache_dir:
        A directory; created (``0700``) when missing.
    legacy_key:
        The server key under which a 2.x ``./.cache/creds`` is read, when the default
        directory has no entry for it (the production server); ``None`` never reads it.
    """

    def __init__(
        self, cache_dir: str | os.PathLike[str] | None = None, *, legacy_key: str | None = None
    ) -> None:
        self.is_default = cache_dir is None
        self.directory = default_cache_dir() if cache_dir is None else Path(cache_dir)
        self.path = self.directory / FILENAME
        self.legacy_key = legacy_key if self.is_default else None
        self._make_locks()

    def _make_locks(self) -> None:
        # The file lock excludes other processes; this one orders the threads of this
        # process (and makes lock() re-entrant for them).
        self._thread_lock = threading.RLock()
        self._file_lock = FileLock(str(self.directory / f"{FILENAME}.lock"), mode=0o600)

    # A copy in another process (a Dask worker) gets locks of its own on the same file.
    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_thread_lock"], state["_file_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._make_locks()

    def __repr__(self) -> str:
        return f"CredentialStore({str(self.path)!r})"

    # -- locking -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, *, required: bool = True) -> Iterator[bool]:
        """Hold the cache exclusively (threads and processes); re-entrant.

        Yields whether the file lock is held.  With ``required=False`` a cache that cannot
        be locked (read-only home, no space) is only logged and the block runs anyway:
        renewing a token must not fail because the cache is unusable.
        """
        with self._thread_lock:
            try:
                self._ensure_directory()
                self._file_lock.acquire()
            except (CredentialsCacheError, OSError) as exc:
                error = (
                    exc
                    if isinstance(exc, CredentialsCacheError)
                    else CredentialsCacheError(self.path, f"cannot lock it ({exc.strerror or exc})")
                )
                if required:
                    raise error from None
                log.warning("%s", error)
                locked = False
            else:
                locked = True
            try:
                yield locked
            finally:
                if locked:
                    self._file_lock.release()

    def _ensure_directory(self) -> None:
        existed = self.directory.is_dir()
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir's mode is reduced by the umask, so set it outright on a directory we
            # created; the default directory is ours alone, so tighten it even if it
            # existed.  A directory the user named and that existed is left as it is.
            if not existed or self.is_default:
                os.chmod(self.directory, 0o700)
        except OSError as exc:
            raise CredentialsCacheError(
                self.path, f"cannot create its directory ({exc.strerror or exc})"
            ) from None

    # -- reading -------------------------------------------------------------------------

    def load(self, key: str) -> Token | None:
        """The cached token of server ``key``, or ``None``.

        Raises
        ------
        CredentialsCacheError
            The file exists but is not a credential file (corrupt, unreadable).
        """
        entries, single = self._read(self.path)
        if key in entries:
            return self._token(entries[key], key)
        if single is not None:  # a 2.x file in a cache_dir given by the user
            return self._token(single, key)
        if key == self.legacy_key:
            return self._load_legacy()
        return None

    def _load_legacy(self) -> Token | None:
        path = legacy_path()
        if not path.is_file():
            return None
        try:
            _, single = self._read(path)
            token = self._token(single, "production") if single is not None else None
        except CredentialsCacheError as exc:
            # Not our file to fix or complain loudly about: sign in afresh instead.
            log.warning("ignoring the cmsdials 2.x credentials: %s", exc)
            return None
        if token is not None:
            log.info("using the credentials cached by cmsdials 2.x in %s", path)
        return token

    def _read(self, path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """``(entries, single)``: the entries of a current file, or the token of a 2.x one."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}, None
        except OSError as exc:
            raise CredentialsCacheError(path, f"cannot read it ({exc.strerror or exc})") from None
        try:
            content = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise CredentialsCacheError(path, "it is not valid JSON (corrupt?)") from None
        if isinstance(content, dict) and "entries" in content:
            version = content.get("version")
            if version != FORMAT_VERSION:
                raise CredentialsCacheError(
                    path, f"it has format version {version!r}, this cmsdials reads only 1"
                )
            entries = content["entries"]
            if not isinstance(entries, dict):
                raise CredentialsCacheError(path, "its 'entries' is not an object")
            return entries, None
        if isinstance(content, dict) and "access_token" in content:
            return {}, content
        raise CredentialsCacheError(path, "it does not hold DIALS credentials")

    def _token(self, entry: Any, key: str) -> Token:
        try:
            return Token.model_validate(entry)
        except ValidationError as exc:
            fields = ", ".join(sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]}))
            raise CredentialsCacheError(
                self.path, f"the entry of {key} is not a token (bad fields: {fields or '?'})"
            ) from None

    # -- writing -------------------------------------------------------------------------

    def save(self, key: str, token: Token) -> None:
        """Store ``token`` as the entry of ``key``; other entries are kept.

        A corrupt file is moved aside (``creds.corrupt``) and replaced: its tokens could
        not be used anyway, and the new token is worth keeping.
        """
        with self.lock():
            try:
                entries, _ = self._read(self.path)
            except CredentialsCacheError as exc:
                self._quarantine(exc)
                entries = {}
            entries = dict(entries)
            entries[key] = token.model_dump(mode="json")
            self._write({"version": FORMAT_VERSION, "entries": entries})

    def delete(self, key: str) -> bool:
        """Forget the entry of ``key`` (sign out of that server); whether there was one."""
        with self.lock():
            entries, _ = self._read(self.path)
            if key not in entries:
                return False
            entries = {k: v for k, v in entries.items() if k != key}
            self._write({"version": FORMAT_VERSION, "entries": entries})
            return True

    def discard_corrupt(self) -> None:
        """Move an unusable file aside (before signing in afresh); no-op for a good one."""
        with self.lock():
            try:
                self._read(self.path)
            except CredentialsCacheError as exc:
                self._quarantine(exc)

    def _quarantine(self, exc: CredentialsCacheError) -> None:
        aside = self.path.with_name(FILENAME + ".corrupt")
        log.warning("%s; moving it to %s", exc, aside)
        try:
            os.replace(self.path, aside)
        except OSError as err:
            raise CredentialsCacheError(
                self.path, f"it is unusable and cannot be moved aside ({err.strerror or err})"
            ) from None

    def _write(self, content: dict[str, Any]) -> None:
        try:
            self._write_atomically(orjson.dumps(content, option=orjson.OPT_INDENT_2))
        except OSError as exc:
            raise CredentialsCacheError(
                self.path, f"cannot write it ({exc.strerror or exc})"
            ) from None

    def _write_atomically(self, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{FILENAME}-", suffix=".tmp", dir=self.directory)
        try:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600 already; be explicit (not Windows)
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
