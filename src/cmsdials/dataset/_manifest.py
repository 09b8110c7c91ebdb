"""The manifest of a fetched data set and the records of its completed pieces.

Layout (docs/datasets.md)::

    <root>/_manifest.json          query, server, workspace, client version, times, the plan
    <root>/_pieces/<key>.json      one record per completed piece (key: id, "/" -> "__")

The records are the truth: n batch jobs write theirs concurrently, each with one atomic
rename, and never touch the manifest's piece table, which each fetch call refreshes from
the records at its end.  :meth:`Manifest.load` merges them, so readers see every piece
completed so far whatever the manifest's table says.

A record holds what is deterministic about a piece (id, rows, bytes, sha256 of the file),
so that an interrupted and resumed fetch leaves byte-identical records; the time it was
completed is the record file's modification time (:attr:`PieceRecord.completed`).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cmsdials._version import __version__
from cmsdials._writers import atomic_output
from cmsdials.dataset._plan import FetchQuery, Piece
from cmsdials.errors import ManifestError, ManifestMismatchError

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "PIECES_DIR",
    "Manifest",
    "ManifestError",
    "ManifestMismatchError",
    "PieceRecord",
    "utc_now",
]

#: The manifest's ``format``: bumped when the layout changes incompatibly.
FORMAT = "cmsdials-dataset/1"
MANIFEST_NAME = "_manifest.json"
PIECES_DIR = "_pieces"


def utc_now() -> str:
    """The current time, ISO 8601 in UTC to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=1) + "\n").encode()


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_bytes(content)


@dataclass(frozen=True)
class PieceRecord:
    """A completed piece: rows, size and SHA-256 of its Parquet file.

    ``completed`` (ISO 8601 UTC) is the record file's modification time, ``None`` for a
    record not read from disk.
    """

    id: str
    rows: int
    sha256: str
    bytes: int
    completed: str | None = field(default=None, compare=False)

    @staticmethod
    def path_in(root: str | os.PathLike[str], piece_id: str) -> Path:
        """Where the record of ``piece_id`` lives under ``root``."""
        return Path(root) / PIECES_DIR / (piece_id.replace("/", "__") + ".json")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}

    def write(self, root: str | os.PathLike[str]) -> None:
        """Write the record under ``root`` (atomically)."""
        _write_atomically(self.path_in(root, self.id), _dump(self.to_json()))

    @classmethod
    def read(cls, root: str | os.PathLike[str], piece_id: str) -> PieceRecord | None:
        """The record of ``piece_id``, ``None`` when there is none (or it is unreadable:
        a record is only ever written whole, so such a file is not one of ours)."""
        path = cls.path_in(root, piece_id)
        try:
            data = json.loads(path.read_bytes())
            mtime = path.stat().st_mtime
            if data.get("id") != piece_id:
                return None
            return cls(
                id=piece_id,
                rows=int(data["rows"]),
                sha256=str(data["sha256"]),
                bytes=int(data["bytes"]),
                completed=datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds"),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass
class Manifest:
    """A data set's manifest, with the records of its completed pieces merged in.

    Attributes
    ----------
    root:
        The data set directory.
    query:
        The query that defined it.
    server, workspace, client_version, created, updated:
        Where and by what it was fetched, and when (ISO 8601 UTC).
    pieces:
        The plan, in plan order.
    records:
        Piece id -> :class:`PieceRecord` for the completed pieces.
    """

    root: Path
    query: FetchQuery
    server: str
    workspace: str | None
    client_version: str
    created: str
    updated: str
    pieces: list[Piece]
    records: dict[str, PieceRecord] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def complete(self) -> bool:
        """Whether every piece of the plan has a record."""
        return all(piece.id in self.records for piece in self.pieces)

    def status(self, piece: Piece) -> str:
        return "complete" if piece.id in self.records else "pending"

    def entries(self) -> list[dict[str, Any]]:
        """The manifest's piece table: each piece with its status and results."""
        table = []
        for piece in self.pieces:
            record = self.records.get(piece.id)
            entry = piece.to_json()
            entry["status"] = self.status(piece)
            entry["rows"] = None if record is None else record.rows
            entry["sha256"] = None if record is None else record.sha256
            entry["bytes"] = None if record is None else record.bytes
            table.append(entry)
        return table

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "query": self.query.to_json(),
            "server": self.server,
            "workspace": self.workspace,
            "client_version": self.client_version,
            "created": self.created,
            "updated": self.updated,
            "pieces": self.entries(),
        }

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, root: str | os.PathLike[str]) -> Manifest:
        """The manifest of the data set at ``root``, with every piece record merged in.

        Raises
        ------
        ManifestError
            No manifest there, or not one this client can read.
        """
        base = Path(root)
        path = base / MANIFEST_NAME
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise ManifestError(
                f"{str(base)!r} is not a fetched data set: it has no {MANIFEST_NAME} "
                "(dials.fetch() creates one)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ManifestError(f"cannot read {str(path)!r}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise ManifestError(f"{str(path)!r} has format {found!r}; this client reads {FORMAT!r}")
        try:
            manifest = cls(
                root=base,
                query=FetchQuery.from_json(data["query"]),
                server=str(data["server"]),
                workspace=data.get("workspace"),
                client_version=str(data["client_version"]),
                created=str(data["created"]),
                updated=str(data["updated"]),
                pieces=[Piece.from_json(entry) for entry in data["pieces"]],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{str(path)!r} is not a valid manifest: {exc!r}") from None
        manifest.refresh()
        return manifest

    def refresh(self) -> None:
        """Read the piece records again (other processes may have completed pieces)."""
        records = {}
        for piece in self.pieces:
            record = PieceRecord.read(self.root, piece.id)
            if record is not None:
                records[piece.id] = record
        self.records = records

    # -- writing ---------------------------------------------------------------------------

    def write(self) -> None:
        """Write the manifest (atomically), its table refreshed and ``updated`` now."""
        self.refresh()
        self.updated = utc_now()
        _write_atomically(self.path, _dump(self.to_json()))
        _remove_old_parts(self.root, MANIFEST_NAME)

    def differences(
        self, query: FetchQuery, server: str, workspace: str | None
    ) -> dict[str, tuple[Any, Any]]:
        """What differs between this data set and a fetch of ``query`` from ``server``."""
        found: dict[str, tuple[Any, Any]] = {}
        stored, asked = self.query.to_json(), query.to_json()
        for name in stored:
            if stored[name] != asked[name]:
                found[name] = (stored[name], asked[name])
        if _same_server(self.server) != _same_server(server):
            found["server"] = (self.server, server)
        if self.workspace != workspace:
            found["workspace"] = (self.workspace, workspace)
        return found

    @classmethod
    def create_or_check(
        cls,
        root: str | os.PathLike[str],
        query: FetchQuery,
        *,
        server: str,
        workspace: str | None,
        plan: Callable[[], Iterable[Piece]],
    ) -> tuple[Manifest, bool]:
        """The manifest at ``root`` for ``query``: the existing one if its query, server and
        workspace agree (else :class:`ManifestMismatchError`), or a new one with the plan
        ``plan()`` returns.  Returns ``(manifest, created)``.

        Concurrent callers (n shards starting together) end with one manifest: it is
        created with a hard link, which fails if another process created it first; the
        losers then read and check the winner's.
        """
        base = Path(root)
        path = base / MANIFEST_NAME
        if path.exists():
            return cls._checked(base, query, server, workspace), False
        if base.is_dir():
            # Not a data set yet: it must be empty (bar a killed first run's leftovers),
            # or a fetch would mix its files with someone else's.
            foreign = sorted(
                entry.name
                for entry in base.iterdir()
                if not entry.name.startswith(".") and entry.name not in _OURS
            )
            if foreign:
                shown = ", ".join(map(repr, foreign[:5])) + (", ..." if len(foreign) > 5 else "")
                raise ManifestError(
                    f"{str(base)!r} is not empty ({shown}) and holds no data set "
                    f"({MANIFEST_NAME}): fetch into a new or empty directory"
                )
        pieces = list(plan())
        now = utc_now()
        manifest = cls(
            root=base,
            query=query,
            server=server,
            workspace=workspace,
            client_version=__version__,
            created=now,
            updated=now,
            pieces=pieces,
        )
        base.mkdir(parents=True, exist_ok=True)
        manifest.refresh()
        temporary = base / f".{MANIFEST_NAME}.{uuid.uuid4().hex[:12]}.part"
        temporary.write_bytes(_dump(manifest.to_json()))
        try:
            os.link(temporary, path)
        except FileExistsError:
            return cls._checked(base, query, server, workspace), False
        except OSError:
            # A file system without hard links: last writer wins, the plans are equal.
            os.replace(temporary, path)
            return cls._checked(base, query, server, workspace), True
        finally:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
        return manifest, True

    @classmethod
    def _checked(
        cls, root: Path, query: FetchQuery, server: str, workspace: str | None
    ) -> Manifest:
        manifest = cls.load(root)
        differences = manifest.differences(query, server, workspace)
        if differences:
            raise ManifestMismatchError(root, differences)
        return manifest


#: What a data set directory holds besides hidden temporary files.
_OURS = frozenset({MANIFEST_NAME, PIECES_DIR, "th1", "th2"})

#: A temporary manifest older than this was left by a killed process (one lives for
#: milliseconds): removed by the next write.
_STALE_SECONDS = 600.0


def _remove_old_parts(root: Path, name: str) -> None:
    now = time.time()
    with suppress(OSError):
        for stale in root.glob(f".{name}.*.part"):
            with suppress(OSError):
                if now - stale.stat().st_mtime > _STALE_SECONDS:
                    stale.unlink()


def _same_server(url: str) -> str:
    return url.rstrip("/") + "/"
