"""``caf/`` and ``brilws/brilcalc-lumi/`` (CONTRACT §7.11): the synthetic data set's
certification JSONs and luminosity (SQLite and PostgreSQL), and the files an operator
loads with ``dials-local load-certification`` / ``load-lumi``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from routes_truth import get, rows, service_rows

from dials_local.cli import main
from dials_local.data.seed_state import read_record
from dials_local.data.thirdparty_demo import MUON_WORKSPACES
from dials_local.testing import LocalServer
from dials_local.workspaces import WORKSPACES

RUN = 367112  # Run2023C, in the tiny data set (CONTRACT §12.9)
BRIL = "brilws/brilcalc-lumi/"


def pairs(content: dict[str, list[list[int]]]) -> set[tuple[int, int]]:
    return {
        (int(run), ls)
        for run, ranges in content.items()
        for first, last in ranges
        for ls in range(first, last + 1)
    }


def oms_lumisections(server: LocalServer) -> dict[tuple[int, int], dict[str, Any]]:
    found = {}
    for row in service_rows(server, "local_oms_records"):
        if row["endpoint"] == "lumisections":
            attributes = json.loads(row["attributes"])
            found[attributes["run_number"], attributes["lumisection_number"]] = attributes
    return found


def anomalous(server: LocalServer, workspaces: tuple[str, ...]) -> set[tuple[int, int]]:
    return {
        (row["run_number"], row["ls_number"])
        for workspace in workspaces
        for row in rows(server, workspace, "local_injected_anomalies")
    }


# ------------------------------------------------------------------------------- caf/


def test_caf_demo_files_agree_with_the_seeded_runs(any_server: LocalServer) -> None:
    oms = oms_lumisections(any_server)
    stable = {key for key, attributes in oms.items() if attributes["beams_stable"]}
    seeded_runs = {run for run, _ls in oms}
    masks = {}
    for kind in ("golden", "muon", "dcs"):
        body = get(any_server, "caf/", {"class_name": "Collisions23", "kind": kind})
        assert list(body) == ["name", "url", "last_modified", "size", "content"]
        assert body["url"].endswith(
            "/Collisions23/"
            + ("DCSOnly_JSONS/dailyDCSOnlyJSON/" if kind == "dcs" else "")
            + body["name"]
        )
        masks[kind] = pairs(body["content"])
        assert masks[kind], kind
        assert {run for run, _ls in masks[kind]} <= seeded_runs
        assert all(367080 <= run <= 369802 for run, _ls in masks[kind])  # Run2023C only
    assert body["name"].endswith("_DCSOnly_TkPx.json")
    # dcs = stable beams; muon and golden drop the injected anomalies
    assert masks["dcs"] == {key for key in stable if 367080 <= key[0] <= 369802}
    assert masks["golden"] == masks["dcs"] - anomalous(any_server, WORKSPACES)
    assert masks["muon"] == masks["dcs"] - anomalous(any_server, MUON_WORKSPACES)
    assert masks["golden"] <= masks["muon"] <= masks["dcs"]
    assert masks["golden"] != masks["dcs"]  # the anomalies of the tiny set reach it


def test_caf_ranges_are_compact_and_sorted(any_server: LocalServer) -> None:
    content = get(any_server, "caf/", {"class_name": "Collisions24", "kind": "golden"})["content"]
    assert list(content) == sorted(content, key=int)
    for ranges in content.values():
        assert ranges == sorted(ranges)
        assert all(a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:]))


def test_caf_errors(any_server: LocalServer) -> None:
    missing = get(any_server, "caf/", {"class_name": "Collisions99", "kind": "golden"}, status=404)
    assert missing["detail"] == "CAF entry for given class_name and kind could not be found"
    assert "Collisions24" in missing["available"]
    unknown = get(any_server, "caf/", {"class_name": "Collisions24", "kind": "gold"}, status=400)
    assert "golden, muon, dcs" in unknown["kind"][0] and "'gold'" in unknown["kind"][0]
    assert "kind is required" in get(any_server, "caf/", {"class_name": "C"}, status=400)["kind"][0]
    assert "class_name" in get(any_server, "caf/", {"kind": "dcs"}, status=400)


# ---------------------------------------------------------------------- brilcalc-lumi/


def test_brilcalc_byls_is_omss_luminosity_in_ub(any_server: LocalServer) -> None:
    oms = oms_lumisections(any_server)
    body = get(any_server, BRIL, {"runnumber": RUN, "byls": "true"})
    detailed = body["detailed"]
    expected_ls = sorted(ls for run, ls in oms if run == RUN)
    assert [int(row["ls"].split(":")[0]) for row in detailed] == expected_ls
    assert list(detailed[0]) == [
        "ls", "time", "beamstatus", "E(GeV)", "delivered(/ub)", "recorded(/ub)", "avgpu",
        "source", "run", "fill",
    ]  # fmt: skip
    for row in detailed:
        attributes = oms[RUN, int(row["ls"].split(":")[0])]
        assert row["run"] == RUN and row["fill"] == attributes["fill_number"]
        assert row["recorded(/ub)"] == pytest.approx(attributes["recorded_lumi"] * 1e6, rel=1e-6)
        assert row["delivered(/ub)"] == pytest.approx(attributes["delivered_lumi"] * 1e6, rel=1e-6)
        assert row["avgpu"] == pytest.approx(attributes["pileup"], abs=1e-3)
        assert (row["beamstatus"] == "STABLE BEAMS") == attributes["beams_stable"]
    summary = body["summary"]
    assert summary["nls"] == len(detailed) and summary["nrun"] == 1 and summary["nfill"] == 1
    total = sum(row["recorded(/ub)"] for row in detailed)
    assert summary["totrecorded(/ub)"] == pytest.approx(total)


def test_brilcalc_per_run_units_and_scopes(any_server: LocalServer) -> None:
    per_ls = get(any_server, BRIL, {"runnumber": RUN, "byls": "1", "scope": "detailed"})
    per_run = get(any_server, BRIL, {"runnumber": RUN, "unit": "/pb"})["detailed"]
    assert len(per_run) == 1 and per_run[0]["run"] == RUN
    assert per_run[0]["nls"] == str(len(per_ls))
    total_ub = sum(row["recorded(/ub)"] for row in per_ls)
    assert per_run[0]["recorded(/pb)"] == pytest.approx(total_ub / 1e6)
    summary = get(any_server, BRIL, {"runnumber": RUN, "unit": "/fb", "scope": "summary"})
    assert summary["totrecorded(/fb)"] == pytest.approx(total_ub / 1e9)
    stable = get(any_server, BRIL, {"runnumber": RUN, "beamstatus": "STABLE BEAMS", "byls": "y"})
    assert all(row["beamstatus"] == "STABLE BEAMS" for row in stable["detailed"])


def test_brilcalc_selects_by_fill_and_range(any_server: LocalServer) -> None:
    fill = get(any_server, BRIL, {"runnumber": RUN})["detailed"][0]["fill"]
    by_fill = get(any_server, BRIL, {"fillnum": fill})["detailed"]
    assert RUN in {row["run"] for row in by_fill} and {row["fill"] for row in by_fill} == {fill}
    ranged = get(any_server, BRIL, {"begin": 367000, "end": 369802})["detailed"]
    oms_runs = {run for run, _ls in oms_lumisections(any_server) if 367000 <= run <= 369802}
    assert {row["run"] for row in ranged} == oms_runs
    by_time = get(any_server, BRIL, {"begin": "05/01/23 00:00:00", "end": "07/31/23 00:00:00"})
    assert {row["run"] for row in by_time["detailed"]} == oms_runs


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "detail"),
        ({"runnumber": "abc"}, "runnumber"),
        ({"runnumber": RUN, "unit": "/zb"}, "unit"),
        ({"runnumber": RUN, "beamstatus": "WARM"}, "beamstatus"),
        ({"begin": "yesterday"}, "begin"),
        ({"fillnum": "99999999999999999999"}, "fillnum"),
    ],
)
def test_brilcalc_bad_input_is_400(
    any_server: LocalServer, params: dict[str, Any], field: str
) -> None:
    assert field in get(any_server, BRIL, params, status=400)


# ---------------------------------------------------------------------- load commands

CSV = """#Data tag : 24v1 , Norm tag: None
#run:fill,ls,time,beamstatus,E(GeV),delivered(/pb),recorded(/pb),avgpu,source
{run}:9999,1:1,05/08/23 19:45:00,STABLE BEAMS,6800,0.5,0.25,40.5,HFET
{run}:9999,2:2,05/08/23 19:45:23,STABLE BEAMS,6800,0.5,0.5,41.0,HFET
{run}:9999,3:0,05/08/23 19:45:46,FLAT TOP,6800,0.1,0.0,2.0,HFET
#Summary:
#nfill,nrun,nls,ncms,totdelivered(/pb),totrecorded(/pb)
#1,1,3,2,1.1,0.75
"""


@pytest.fixture(scope="module")
def loaded_dir(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("caf-load") / "data"
    shutil.copytree(tiny_data_dir, data)
    return data


def load(data: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(data)])


def test_loaded_files_are_served_latest_first(
    loaded_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "Cert_Collisions2024_378981_386951_Golden.json"
    golden.write_text(json.dumps({"386951": [[5, 9], [1, 4], [20, 20]], "378981": [[1, 1]]}))
    older = tmp_path / "old.json"
    older.write_text(json.dumps({"1": [[1, 1]]}))
    assert load(loaded_dir, "load-certification", str(golden), "--class-name", "Collisions24",
                "--kind", "golden", "--last-modified", "2099-01-02 03:04") == 0  # fmt: skip
    assert "2 runs, 11 lumisections" in capsys.readouterr().out
    assert load(loaded_dir, "load-certification", str(older), "--class-name", "Collisions24",
                "--kind", "golden", "--last-modified", "2000-01-01 00:00") == 0  # fmt: skip
    assert load(loaded_dir, "load-lumi", str(write_csv(tmp_path, RUN))) == 0
    with LocalServer(loaded_dir, in_thread=True) as server:
        body = get(server, "caf/", {"class_name": "Collisions24", "kind": "golden"})
        assert body["name"] == golden.name and body["last_modified"] == "2099-01-02 03:04"
        assert body["content"] == {"378981": [[1, 1]], "386951": [[1, 9], [20, 20]]}
        assert body["size"] == str(golden.stat().st_size)
        # a class name only loaded files have
        assert load(loaded_dir, "load-certification", str(older), "--class-name", "Special",
                    "--kind", "muon") == 0  # fmt: skip
        assert get(server, "caf/", {"class_name": "Special", "kind": "muon"})["name"] == "old.json"
        # the loaded run replaces the synthetic one; other runs stay synthetic
        lumi = get(server, BRIL, {"runnumber": RUN, "byls": "true", "unit": "/pb"})
        assert [row["ls"] for row in lumi["detailed"]] == ["1:1", "2:2", "3:0"]
        assert [row["recorded(/pb)"] for row in lumi["detailed"]] == pytest.approx([0.25, 0.5, 0])
        assert lumi["summary"]["ncms"] == 2 and lumi["detailed"][0]["fill"] == 9999
        other = get(server, BRIL, {"runnumber": 367188})["detailed"]
        assert other and other[0]["fill"] != 9999


def write_csv(directory: Path, run: int, text: str = CSV) -> Path:
    path = directory / f"lumi-{run}.csv"
    path.write_text(text.format(run=run))
    return path


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ("0.25,40.5", "line 3: field 'recorded(/pb)': 'oops' is not a non-negative number"),
        ("1:1,05/08/23", "line 3: field 'ls': 'x' is not LS:CMSLS"),
        ("05/08/23 19:45:00", "line 3: field 'time': '2023-05-08' is not mm/dd/yy HH:MM:SS"),
    ],
)
def test_a_bad_lumi_file_is_refused_with_line_and_field(
    loaded_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    replace: str,
    expected: str,
) -> None:
    bad_value = {"0.25,40.5": "oops,40.5", "1:1,05/08/23": "x,05/08/23",
                 "05/08/23 19:45:00": "2023-05-08"}[replace]  # fmt: skip
    run = 369000  # no run of the tiny set: nothing may appear for it
    text = CSV.replace(replace, bad_value, 1)
    assert load(loaded_dir, "load-lumi", str(write_csv(tmp_path, run, text))) == 1
    error = capsys.readouterr().err
    assert expected in error and "nothing loaded" in error
    # one transaction: the good line 4 before or after the bad one was not loaded either
    stored = [
        r for r in service_rows_of(loaded_dir, "local_brilcalc_lumi") if r["run_number"] == run
    ]
    assert stored == []


def test_a_bad_certification_file_is_refused(
    loaded_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "386951": [[1, 4]],\n  "386952": [[9, 3]]\n}\n')
    assert load(loaded_dir, "load-certification", str(bad), "--class-name", "Broken",
                "--kind", "dcs") == 1  # fmt: skip
    error = capsys.readouterr().err
    assert "line 3: run '386952'" in error and "[9,3]" in error and "nothing loaded" in error
    names = {r["class_name"] for r in service_rows_of(loaded_dir, "local_caf_files")}
    assert "Broken" not in names
    per_run = tmp_path / "per-run.csv"
    per_run.write_text("#run:fill,time,nls,ncms,delivered(/ub),recorded(/ub)\n1:2,x,1,1,1,1\n")
    assert load(loaded_dir, "load-lumi", str(per_run)) == 1
    assert "--byls" in capsys.readouterr().err


def service_rows_of(data: Path | str, table: str) -> list[dict[str, Any]]:
    """The rows of a service table of a data directory, or of a PostgreSQL URL."""
    from sqlalchemy import select

    from dials_local.data.certification import ensure_tables, thirdparty_metadata
    from dials_local.db.engines import Database

    database = Database(url=data) if isinstance(data, str) else Database(data_dir=data)
    try:
        engine = database.service_engine()
        ensure_tables(engine)
        with engine.connect() as conn:
            return [
                dict(r._mapping) for r in conn.execute(select(thirdparty_metadata.tables[table]))
            ]
    finally:
        database.dispose()


def test_the_seed_record_drives_the_demo_data(loaded_dir: Path) -> None:
    from dials_local.db.engines import Database

    database = Database(data_dir=loaded_dir)
    try:
        record = read_record(database)
    finally:
        database.dispose()
    assert record is not None and record.complete and record.size == "tiny"


@pytest.mark.postgres
def test_loads_on_postgresql(
    new_postgres_database: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """load-certification and load-lumi on PostgreSQL: each file one transaction, and what
    was loaded is what the server answers."""
    url = new_postgres_database("dials_caf_load")
    assert main(["seed", "--database-url", url, "--size", "tiny", "--quiet"]) == 0
    golden = tmp_path / "Cert_Collisions2024_378981_386951_Golden.json"
    golden.write_text(json.dumps({"386951": [[5, 9], [1, 4]], "378981": [[1, 1]]}))
    assert main(["load-certification", str(golden), "--class-name", "Collisions24",
                 "--kind", "golden", "--last-modified", "2099-01-02 03:04",
                 "--database-url", url]) == 0  # fmt: skip
    assert main(["load-lumi", str(write_csv(tmp_path, RUN)), "--database-url", url]) == 0
    bad_run = 369000
    bad = CSV.replace("0.25,40.5", "oops,40.5", 1)
    assert main(["load-lumi", str(write_csv(tmp_path, bad_run, bad)), "--database-url", url]) == 1
    assert "nothing loaded" in capsys.readouterr().err
    stored = service_rows_of(url, "local_brilcalc_lumi")
    assert {r["run_number"] for r in stored} == {RUN}
    with LocalServer(database_url=url, in_thread=True) as server:
        body = get(server, "caf/", {"class_name": "Collisions24", "kind": "golden"})
        assert body["name"] == golden.name and body["last_modified"] == "2099-01-02 03:04"
        assert body["content"] == {"378981": [[1, 1]], "386951": [[1, 9]]}
        lumi = get(server, BRIL, {"runnumber": RUN, "byls": "true", "unit": "/pb"})
        assert [row["ls"] for row in lumi["detailed"]] == ["1:1", "2:2", "3:0"]
        assert [row["recorded(/pb)"] for row in lumi["detailed"]] == pytest.approx([0.25, 0.5, 0])
