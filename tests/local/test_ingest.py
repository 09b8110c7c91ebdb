"""``dials-local ingest``: JSON Lines / Parquet round trip through a real server, and
bad files rejected with the line/row and field, leaving the database unchanged."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from sqlalchemy import select, text

from dials_local.data.ingest import TABLES, IngestError, ingest
from dials_local.db.engines import Database
from dials_local.db.schema import workspace_metadata
from dials_local.testing import LocalServer

ZB = "/ZeroBias/Run2023C-PromptReco-v1/DQMIO"
MINE = "/MyPD/Run2024X-MyReco-v3/DQMIO"
CHARGE = "PixelPhase1/Tracks/PXBarrel/charge_PXLayer_2"
MAP = "My/Folder/module map"
LFN = "/store/data/Run2023C/ZeroBias/DQMIO/PromptReco-v1/000/367/112/00000/{}.root"


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    """One column per field of any record; nulls where a record lacks the field."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records]), path)
    return path


def digest(database: Database, workspace: str) -> str:
    sha = hashlib.sha256()
    with database.engine(workspace).connect() as conn:
        for table in workspace_metadata.sorted_tables:
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                sha.update(repr(tuple(row)).encode())
    return sha.hexdigest()


# ----------------------------------------------------------------------------- the records

DATASETS = [
    {
        "dataset_id": 14677060,
        "dataset": ZB,
        "era": "Run2023C",
        "data_tier": "DQMIO",
        "primary_ds_name": "ZeroBias",
        "processed_ds_name": "Run2023C-PromptReco-v1",
        "processing_version": 1,
        "last_modification_date": "2023-06-18T05:29:09Z",
    },
    {"dataset_id": 99000001, "dataset": MINE, "last_modification_date": "2024-11-02T10:00:00Z"},
]
FILES = [
    {
        "dataset_id": 14677060,
        "file_id": 3393809397,
        "file_size": 423578592,
        "creation_date": "2023-05-09T22:40:54Z",
        "last_modification_date": "2023-05-09T22:40:54Z",
        "logical_file_name": LFN.format("D878867F-54B6-4353-9067-9A5218FF785F"),
        "status": "FINISHED",
        "err_trace": None,
    },
    {
        "dataset_id": 14677060,
        "file_id": 3393809437,
        "file_size": 1000,
        "creation_date": "2023-05-09T22:41:54Z",
        "last_modification_date": "2023-05-09T22:41:54Z",
        "logical_file_name": LFN.format("AAAAAAAA-54B6-4353-9067-9A5218FF785F"),
        "status": "COPY_ERROR",
        "err_trace": "Traceback (most recent call last):\n  ...\nXrdcpError: no servers",
    },
    {
        "dataset_id": 99000001,
        "dataset": MINE,
        "file_id": 17000000037,
        "file_size": 5000,
        "creation_date": "2024-11-01T00:00:00Z",
        "last_modification_date": "2024-11-01T00:00:00Z",
        "logical_file_name": "/store/data/Run2024X/MyPD/DQMIO/MyReco-v3/000/390/000/00000/B.root",
        "status": "FINISHED",
        "err_trace": None,
    },
]
MES = [{"me_id": 7, "me": MAP, "dim": 2}]
TH1 = [
    {
        "dataset_id": 14677060,
        "me": CHARGE,
        "file_id": 3393809397,
        "run_number": 367112,
        "ls_number": ls,
        "x_min": 0.0,
        "x_max": 80000.0,
        "x_bin": 4,
        "entries": 10 + ls,
        "data": [0.0, float(ls), 12.0, 1.5],
    }
    for ls in (1, 2, 3)
] + [
    {
        "dataset_id": 99000001,
        "me_id": 20,
        "me": "My/Folder/counts",
        "file_id": 17000000037,
        "run_number": 390000,
        "ls_number": 1,
        "x_min": -1.0,
        "x_max": 1.0,
        "x_bin": 2,
        "entries": 3,
        "data": [1.0, 2.0],
    }
]
TH2 = [
    {
        "dataset_id": 14677060,
        "me_id": 7,
        "file_id": 3393809397,
        "run_number": 367112,
        "ls_number": ls,
        "x_min": -4.5,
        "x_max": 4.5,
        "x_bin": 3,
        "y_min": 0.0,
        "y_max": 2.0,
        "y_bin": 2,
        "entries": 21,
        "data": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
    }
    for ls in (2, 3)
]
RUNS = [{"dataset_id": 14677060, "run_number": 367112, "ls_count": 999, "ls_completeness": 0.5}]
LUMIS = [{"dataset_id": 14677060, "run_number": 367112, "ls_number": 4, "th1_count": 5}]
MODELS = [
    {
        "id": 19,
        "name": "METSig",
        "filename": "model_METSig_checkpoint_20240720.onnx",
        "target_me": CHARGE,
        "active": True,
        "anomaly_threshold": 2.5,
        "input_signature": [{"me": CHARGE}],
        "tags": [{"name": "checkpoint", "value": "20240720"}],
        "created_at": "2024-07-20T09:30:00Z",
        "modified_at": "2024-07-20T09:30:00Z",
    },
    {"model_id": 3, "filename": "old.onnx", "target_me": MAP, "active": False},
]
FLAGS = [
    {
        "model_id": 19,
        "dataset_id": 14677060,
        "run_number": 367112,
        "ls_number": 2,
        "metric_value": 7.25,
    },
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Path]]:
    """An empty data directory with every table ingested, JSON Lines and Parquet mixed."""
    root = tmp_path_factory.mktemp("ingest")
    data_dir = root / "data"
    database = Database(data_dir=data_dir)
    steps: list[tuple[str, Callable[[Path, list[dict[str, Any]]], Path], str, list[dict[str, Any]]]]
    steps = [
        ("dataset-index", write_jsonl, "datasets.jsonl", DATASETS),
        ("file-index", write_parquet, "files.parquet", FILES),
        ("mes", write_jsonl, "mes.jsonl", MES),
        ("th1", write_parquet, "th1.parquet", TH1),
        ("th2", write_jsonl, "th2.jsonl", TH2),
        ("run", write_jsonl, "runs.jsonl", RUNS),
        ("lumisection", write_jsonl, "lumis.jsonl", LUMIS),
        ("ml-models-index", write_jsonl, "models.jsonl", MODELS),
        ("ml-bad-lumisection", write_parquet, "flags.parquet", FLAGS),
    ]
    assert {step[0] for step in steps} == set(TABLES)
    for table, write, name, records in steps:
        assert ingest(database, "tracker", table, write(root / name, records)) == len(records)
    yield database, data_dir
    database.dispose()


def test_ingested_rows_are_served_over_http(loaded: tuple[Database, Path]) -> None:
    _, data_dir = loaded
    # No marker needed: LocalServer seeds only an empty directory (seed --if-empty).
    with LocalServer(data_dir, in_thread=True) as server:

        def get(route: str) -> Any:
            response = requests.get(
                server.api_url + route,
                headers={"X-CLIENT-SECRET": server.secret_key, "Workspace": "tracker"},
                timeout=30,
            )
            response.raise_for_status()
            body = response.json()
            return body["results"] if isinstance(body, dict) and "results" in body else body

        datasets = {d["dataset_id"]: d for d in get("dataset-index/?page_size=500")}
        assert datasets[14677060]["last_modification_date"] == "2023-06-18T05:29:09Z"
        mine = datasets[99000001]
        assert (mine["era"], mine["primary_ds_name"], mine["processed_ds_name"]) == (
            "Run2024X",
            "MyPD",
            "Run2024X-MyReco-v3",
        )
        assert (mine["data_tier"], mine["processing_version"]) == ("DQMIO", 3)

        files = {f["file_id"]: f for f in get("file-index/?page_size=500")}
        for expected in FILES:
            served = files[expected["file_id"]]
            for key in (
                "dataset_id",
                "file_size",
                "logical_file_name",
                "status",
                "err_trace",
                "creation_date",
            ):
                assert served[key] == expected[key], key
            assert served["dataset"] == (ZB if expected["dataset_id"] == 14677060 else MINE)

        mes = {m["me"]: m for m in get("mes/")}
        assert mes[MAP] == {"me_id": 7, "me": MAP, "count": 2, "dim": 2}
        assert mes["My/Folder/counts"] == {
            "me_id": 20,
            "me": "My/Folder/counts",
            "count": 1,
            "dim": 1,
        }
        assert mes[CHARGE]["dim"] == 1 and mes[CHARGE]["count"] == 3
        assert mes[CHARGE]["me_id"] == 8  # created with the next free id

        th1 = get("th1/?page_size=500")
        assert len(th1) == len(TH1)
        served_th1 = {(h["dataset_id"], h["run_number"], h["ls_number"], h["me"]): h for h in th1}
        for row in TH1:
            h = served_th1[(row["dataset_id"], row["run_number"], row["ls_number"], row["me"])]
            for key in ("file_id", "x_min", "x_max", "x_bin", "entries", "data"):
                assert h[key] == row[key], key
            assert h["dataset"] == (ZB if row["dataset_id"] == 14677060 else MINE)

        th2 = get("th2/?page_size=500")
        assert [(h["ls_number"], h["me"], h["data"], h["y_bin"]) for h in th2] == [
            (row["ls_number"], MAP, row["data"], 2) for row in TH2
        ]

        lumis = {
            (x["dataset_id"], x["run_number"], x["ls_number"]): x
            for x in get("lumisection/?page_size=500")
        }
        counts = {k: (v["th1_count"], v["th2_count"]) for k, v in lumis.items()}
        assert counts == {
            (14677060, 367112, 1): (1, 0),
            (14677060, 367112, 2): (1, 1),
            (14677060, 367112, 3): (1, 1),
            (14677060, 367112, 4): (0, 0),
            (99000001, 390000, 1): (1, 0),
        }

        runs = {(r["dataset_id"], r["run_number"]): r for r in get("run/?page_size=500")}
        assert runs[(14677060, 367112)]["ls_count"] == 4
        assert runs[(14677060, 367112)]["ls_completeness"] == 0.5
        assert runs[(99000001, 390000)]["ls_count"] == 1

        models = {m["model_id"]: m for m in get("ml-models-index/?page_size=500")}
        assert models[19]["filename"] == MODELS[0]["filename"] and models[19]["active"] is True
        assert models[19]["tags"] == MODELS[0]["tags"]
        assert models[19]["input_signature"] == [{"me": CHARGE}]
        assert models[3]["target_me"] == MAP and models[3]["active"] is False

        flags = get("ml-bad-lumisection/?page_size=500")
        assert len(flags) == 1
        flag = flags[0]
        assert (flag["model_id"], flag["run_number"], flag["ls_number"]) == (19, 367112, 2)
        assert flag["me_id"] == mes[CHARGE]["me_id"]
        assert flag["file_id"] == 3393809397  # taken from the flagged histogram
        assert math.isclose(flag["mse"], 7.25)


# ----------------------------------------------------------------------------- bad files


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Database]:
    """A workspace holding a dataset, a finished file and a 2-D ME."""
    database = Database(data_dir=tmp_path / "data")
    ingest(database, "tracker", "dataset-index", write_jsonl(tmp_path / "d.jsonl", DATASETS[:1]))
    ingest(database, "tracker", "file-index", write_jsonl(tmp_path / "f.jsonl", FILES[:2]))
    ingest(database, "tracker", "mes", write_jsonl(tmp_path / "m.jsonl", MES))
    yield database
    database.dispose()


def _reject(database: Database, table: str, path: Path, *needles: str) -> IngestError:
    before = digest(database, "tracker")
    with pytest.raises(IngestError) as caught:
        ingest(database, "tracker", table, path)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert digest(database, "tracker") == before, "a failed load changes nothing"
    return caught.value


def test_a_load_refreshes_sqlite_planner_statistics(tmp_path: Path) -> None:
    """Statistics taken while the tables were empty (a server's first start on a new data
    directory takes them) must not outlive a load: SQLite's planner would go on choosing
    indexes for empty tables."""
    database = Database(data_dir=tmp_path / "data")
    try:
        database.create_all()
        with database.engine("tracker").begin() as conn:
            conn.execute(text("ANALYZE"))  # of the empty tables
        loads: list[tuple[str, str, list[dict[str, Any]]]] = [
            ("dataset-index", "datasets.jsonl", DATASETS),
            ("file-index", "files.jsonl", FILES),
            ("mes", "mes.jsonl", MES),
            ("th1", "th1.jsonl", TH1),
        ]
        for table, name, records in loads:
            ingest(database, "tracker", table, write_jsonl(tmp_path / name, records))
        with database.engine("tracker").connect() as conn:
            stats = conn.execute(
                text("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'fact_th1'")
            ).all()
        # Each index's first number is the rows it holds (exact below the sample bound).
        assert {idx for idx, _ in stats} >= {"idx_th1_me_first_key"}
        assert {int(stat.split()[0]) for _, stat in stats} == {len(TH1)}, stats
    finally:
        database.dispose()


def test_wrong_type_on_line_3_is_rejected_and_nothing_is_committed(
    base: Database, tmp_path: Path
) -> None:
    rows = [dict(TH1[0]), dict(TH1[1]), {**TH1[2], "ls_number": "3"}]
    error = _reject(
        base, "th1", write_jsonl(tmp_path / "th1.jsonl", rows),
        "th1.jsonl", "line 3", "field 'ls_number'", "expected an integer", "'3'",
    )  # fmt: skip
    assert (error.location, error.field) == ("line 3", "ls_number")


def test_missing_required_field_is_named(base: Database, tmp_path: Path) -> None:
    row = dict(TH2[0])
    del row["y_bin"]
    _reject(
        base,
        "th2",
        write_jsonl(tmp_path / "th2.jsonl", [TH2[1], row]),
        "line 2",
        "field 'y_bin'",
        "missing",
    )


def test_unknown_me_dims_are_rejected(base: Database, tmp_path: Path) -> None:
    _reject(
        base, "mes", write_jsonl(tmp_path / "mes.jsonl", [{"me": "A/b", "dim": 3}]),
        "line 1", "field 'dim'", "expected 1 or 2",
    )  # fmt: skip
    as_1d = {**TH1[0], "me": MAP}  # MAP is a 2-D ME
    _reject(base, "th1", write_jsonl(tmp_path / "th1.jsonl", [as_1d]), "line 1", "is 2-D", "1-D ME")


def test_parquet_rows_are_numbered(base: Database, tmp_path: Path) -> None:
    rows = [dict(TH1[0]), {**TH1[1], "data": [0.0, math.nan, 1.0, 2.0]}]
    _reject(
        base,
        "th1",
        write_parquet(tmp_path / "th1.parquet", rows),
        "row 2",
        "field 'data'",
        "finite",
    )


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"data": [1.0, 2.0]}, ("field 'data'", "a list of 4 numbers")),
        ({"file_id": 1}, ("field 'file_id'", "not in the file index")),
        ({"file_id": 3393809437}, ("field 'file_id'", "status COPY_ERROR")),
        ({"dataset_id": 5}, ("field 'dataset_id'", "not in the dataset index")),
        ({"x_max": -1.0}, ("field 'x_max'", "greater than x_min")),
        ({"ls_numbre": 3}, ("field 'ls_numbre'", "valid fields: dataset_id")),
        ({"me_id": 1, "me": MAP}, ("field 'me_id'",)),
    ],
)
def test_bad_histogram_rows(
    base: Database, tmp_path: Path, change: dict[str, Any], needles: tuple[str, ...]
) -> None:
    _reject(
        base,
        "th1",
        write_jsonl(tmp_path / "th1.jsonl", [TH1[0], {**TH1[1], **change}]),
        "line 2",
        *needles,
    )


def test_duplicates_are_rejected(base: Database, tmp_path: Path) -> None:
    ingest(base, "tracker", "th1", write_jsonl(tmp_path / "a.jsonl", TH1[:1]))
    _reject(base, "th1", write_jsonl(tmp_path / "b.jsonl", TH1[:1]), "line 1", "already exists")
    _reject(
        base,
        "th1",
        write_jsonl(tmp_path / "c.jsonl", [TH1[1], TH1[1]]),
        "line 2",
        "repeats the row at line 1",
    )


def test_unknown_table_workspace_and_suffix(base: Database, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", TH1[:1])
    with pytest.raises(IngestError, match="valid: dataset-index, file-index"):
        ingest(base, "tracker", "histograms", path)
    with pytest.raises(IngestError, match="unknown workspace 'nope'"):
        ingest(base, "nope", "th1", path)
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n")
    with pytest.raises(IngestError, match=r"valid suffixes: \.jsonl"):
        ingest(base, "tracker", "th1", csv)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text(orjson.dumps(TH1[0]).decode() + "\n{not json\n")
    with pytest.raises(IngestError, match="line 2: not valid JSON"):
        ingest(base, "tracker", "th1", bad_json)


@pytest.mark.postgres
def test_ingest_on_postgresql(new_postgres_database: Callable[[str], str], tmp_path: Path) -> None:
    """The same loader on PostgreSQL (a fresh database of the session's server)."""
    database = Database(url=new_postgres_database("dials_ingest_test"))
    try:
        ingest(database, "tracker", "dataset-index", write_jsonl(tmp_path / "d.jsonl", DATASETS))
        ingest(database, "tracker", "file-index", write_parquet(tmp_path / "f.parquet", FILES))
        ingest(database, "tracker", "mes", write_jsonl(tmp_path / "m.jsonl", MES))
        assert ingest(database, "tracker", "th1", write_parquet(tmp_path / "h.parquet", TH1)) == 4
        assert ingest(database, "tracker", "th2", write_jsonl(tmp_path / "h2.jsonl", TH2)) == 2
        before = digest(database, "tracker")
        bad = [TH2[0] | {"ls_number": 9}, TH2[1] | {"ls_number": 10, "y_bin": 5}]
        with pytest.raises(IngestError, match="line 2: field 'data'"):
            ingest(database, "tracker", "th2", write_jsonl(tmp_path / "bad.jsonl", bad))
        assert digest(database, "tracker") == before
        with database.engine("tracker").connect() as conn:
            from dials_local.db.schema import dim_monitoring_elements, fact_lumisection

            counts = {
                (r.run_number, r.ls_number): (r.th1_count, r.th2_count)
                for r in conn.execute(select(fact_lumisection))
            }
            mes = {r.me: r._mapping["count"] for r in conn.execute(select(dim_monitoring_elements))}
        assert counts[(367112, 2)] == (1, 1) and counts[(390000, 1)] == (1, 0)
        assert mes == {MAP: 2, CHARGE: 3, "My/Folder/counts": 1}
    finally:
        database.dispose()
