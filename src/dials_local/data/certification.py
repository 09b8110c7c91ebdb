"""Stored certification JSONs (``caf/``) and luminosity per lumisection (``brilws/``).

What an operator loads with ``dials-local load-certification`` / ``load-lumi``
(:mod:`dials_local.cli_load`) lives in two service tables (not per workspace: the CAF area
and brilcalc are global, CONTRACT §7.11).  Like the seed record (:mod:`seed_state`), the
tables have their own metadata and are created on first use, so a database made by an
older version gains them without a migration.

The synthetic data set's files and luminosity are not stored: they follow from the seed
record (:mod:`dials_local.data.thirdparty_demo`).  Loaded files and loaded runs win over
synthetic ones.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
)

#: Kinds of certification JSON the CAF area holds (CONTRACT §7.11).
KINDS = ("golden", "muon", "dcs")

#: Where the real CAF area keeps each kind below ``<CAF_URL><class_name>``.
CAF_URL = "https://cms-service-dqmdc.web.cern.ch/CAF/certification/"
KIND_FOLDERS = {"golden": "/", "muon": "/", "dcs": "/DCSOnly_JSONS/dailyDCSOnlyJSON/"}

thirdparty_metadata = MetaData()

caf_files = Table(
    "local_caf_files",
    thirdparty_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("class_name", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("url", Text, nullable=False),
    Column("last_modified", DateTime, nullable=False),
    Column("size", Integer, nullable=False),  # bytes of the file as loaded
    Column("content", Text, nullable=False),  # compact JSON {"run": [[first, last], ...]}
    UniqueConstraint("class_name", "kind", "name", name="local_caf_files_name"),
)

#: One row per (run, lumisection), luminosities in /ub (brilcalc's default unit).
brilcalc_lumi = Table(
    "local_brilcalc_lumi",
    thirdparty_metadata,
    Column("run_number", Integer, nullable=False, autoincrement=False),
    Column("ls_number", Integer, nullable=False, autoincrement=False),
    Column("cms_ls", Integer, nullable=False),  # 0 when CMS was not recording
    Column("fill_number", Integer, nullable=False),
    Column("time", DateTime, nullable=False),
    Column("beamstatus", String(32), nullable=False),
    Column("energy_gev", Integer, nullable=False),
    Column("delivered_ub", Float, nullable=False),
    Column("recorded_ub", Float, nullable=False),
    Column("avgpu", Float, nullable=False),
    Column("source", String(32), nullable=False),
    PrimaryKeyConstraint("run_number", "ls_number", name="local_brilcalc_lumi_pk"),
)

#: Engines whose tables exist (weak: a disposed engine's id may be reused by another).
_created: weakref.WeakSet[Engine] = weakref.WeakSet()
_created_lock = threading.Lock()


def ensure_tables(engine: Engine) -> None:
    """Create the two tables in ``engine`` if missing (checked once per engine)."""
    with _created_lock:
        if engine in _created:
            return
        thirdparty_metadata.create_all(engine)
        _created.add(engine)


@dataclass(frozen=True)
class CertificationFile:
    """One certification JSON of the CAF area."""

    class_name: str
    kind: str
    name: str
    url: str
    last_modified: dt.datetime
    size: int
    content: dict[str, list[list[int]]]

    def answer(self) -> dict[str, Any]:
        """The ``caf/`` answer: name, url, last_modified, size, content (CONTRACT §7.11)."""
        return {
            "name": self.name,
            "url": self.url,
            "last_modified": self.last_modified.strftime("%Y-%m-%d %H:%M"),
            "size": apache_size(self.size),
            "content": self.content,
        }


def apache_size(size: int) -> str:
    """A size as the Apache directory listing the real service scrapes shows it
    (``512``, ``35K``, ``1.2M``)."""
    if size < 1024:
        return str(size)
    for unit, scale in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        value = size / scale
        if value < 1024 or unit == "G":
            return f"{value:.1f}{unit}" if value < 10 else f"{round(value)}{unit}"
    return str(size)  # pragma: no cover - the loop always returns


def caf_url(class_name: str, kind: str, name: str) -> str:
    """Where the real CAF area would keep the file."""
    return f"{CAF_URL}{class_name}{KIND_FOLDERS[kind]}{name}"


def stored_files(engine: Engine, class_name: str, kind: str) -> list[CertificationFile]:
    """The loaded files of ``class_name`` and ``kind``."""
    ensure_tables(engine)
    query = select(caf_files).where(caf_files.c.class_name == class_name, caf_files.c.kind == kind)
    with engine.connect() as conn:
        return [_file(row._mapping) for row in conn.execute(query)]


def stored_class_names(engine: Engine, kind: str) -> list[str]:
    ensure_tables(engine)
    query = select(caf_files.c.class_name).where(caf_files.c.kind == kind).distinct()
    with engine.connect() as conn:
        return sorted(str(name) for name in conn.scalars(query))


def _file(row: Any) -> CertificationFile:
    return CertificationFile(
        class_name=row["class_name"],
        kind=row["kind"],
        name=row["name"],
        url=row["url"],
        last_modified=row["last_modified"],
        size=row["size"],
        content=orjson.loads(row["content"]),
    )


def store_file(conn: Connection, file: CertificationFile) -> None:
    """Insert ``file``, replacing a loaded file of the same class, kind and name."""
    conn.execute(
        delete(caf_files).where(
            caf_files.c.class_name == file.class_name,
            caf_files.c.kind == file.kind,
            caf_files.c.name == file.name,
        )
    )
    conn.execute(
        caf_files.insert().values(
            class_name=file.class_name,
            kind=file.kind,
            name=file.name,
            url=file.url,
            last_modified=file.last_modified,
            size=file.size,
            content=orjson.dumps(file.content).decode(),
        )
    )


@dataclass(frozen=True)
class LumiRow:
    """Luminosity of one lumisection, in /ub."""

    run_number: int
    ls_number: int
    cms_ls: int
    fill_number: int
    time: dt.datetime
    beamstatus: str
    energy_gev: int
    delivered_ub: float
    recorded_ub: float
    avgpu: float
    source: str


_LUMI_FIELDS = tuple(LumiRow.__dataclass_fields__)


def store_lumi(conn: Connection, rows: Sequence[LumiRow]) -> None:
    """Insert ``rows``, replacing every stored row of their runs (a run is loaded whole)."""
    runs = sorted({row.run_number for row in rows})
    for start in range(0, len(runs), 500):
        conn.execute(
            delete(brilcalc_lumi).where(brilcalc_lumi.c.run_number.in_(runs[start : start + 500]))
        )
    for start in range(0, len(rows), 1000):
        conn.execute(
            brilcalc_lumi.insert(),
            [
                {name: getattr(row, name) for name in _LUMI_FIELDS}
                for row in rows[start : start + 1000]
            ],
        )


def stored_lumi_runs(engine: Engine) -> set[int]:
    """Runs with loaded luminosity."""
    ensure_tables(engine)
    with engine.connect() as conn:
        return {int(run) for run in conn.scalars(select(brilcalc_lumi.c.run_number).distinct())}


def stored_lumi(engine: Engine, runs: Iterable[int] | None = None) -> Iterator[LumiRow]:
    """Loaded rows (of ``runs``, or all), by run and lumisection."""
    ensure_tables(engine)
    query = select(brilcalc_lumi).order_by(brilcalc_lumi.c.run_number, brilcalc_lumi.c.ls_number)
    if runs is not None:
        query = query.where(brilcalc_lumi.c.run_number.in_(sorted(set(runs))))
    with engine.connect() as conn:
        for row in conn.execute(query):
            yield LumiRow(**{name: row._mapping[name] for name in _LUMI_FIELDS})
