"""The same calls through cmsdials 2.4.1 (the incumbent, a black box in its own Python) and
through this client give results that compare equal.

One script (:data:`SCRIPT`) makes the calls with the API both clients share.  It runs in a
subprocess under the incumbent's Python (``tests/incumbent.py``) and in this process with
our ``cmsdials``, against the same dials-local; each side pickles plain Python values
(model dumps, frames column by column with their dtypes, ``next`` as seen through the
``AnyUrl`` API), which are compared here.

Known, documented differences (docs/client.md, "What is different from the incumbent
client") are not asserted equal: extra fields after 2.4.1's (ML routes), the ``data``
cells of the default ``to_pandas()`` (numpy; ``data_as="list"`` gives 2.4.1's exactly).
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
from pathlib import Path
from typing import Any

import pytest
from client_support import JETMET_DATASET, JETMET_RUNS

import incumbent
from dials_local.testing import LocalServer

pytestmark = pytest.mark.timeout(600)

#: Runs under both clients: only the API that cmsdials 2.4.1 and this client share.
SCRIPT = r'''
import datetime
import math
import pickle
import sys
import warnings

import pandas
import pydantic
import cmsdials.filters as filters
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials


def plain(value):
    """Builtins only (both sides unpickle it, whatever their pandas/pydantic versions)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (datetime.datetime, pandas.Timestamp)):
        return ("datetime", value.isoformat())
    if isinstance(value, pydantic.AnyUrl):
        return ("url", str(value))
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return plain(value.tolist())
    return value


def kinds(value):
    """The type structure of a cell: 'list[float]', 'list[list[float]]', 'ndarray', ..."""
    name = type(value).__name__
    if isinstance(value, list):
        return f"{name}[{kinds(value[0]) if value else ''}]"
    return name


def frame_record(frame):
    return {
        "columns": [str(name) for name in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "values": {str(name): plain(frame[name].tolist()) for name in frame.columns},
        "cell": kinds(frame["data"].iloc[0]) if "data" in frame and len(frame) else None,
    }


def link(url):
    """``next``/``previous`` through the AnyUrl API that 2.4.1's users call."""
    if url is None:
        return None
    return {
        "anyurl": isinstance(url, pydantic.AnyUrl),
        "str": str(url),
        "query_params": [list(pair) for pair in url.query_params()],
        "host": url.host,
        "path": url.path,
        "query": url.query,
        "self_equal": url == url,
        "token": dict(url.query_params()).get("next_token"),
    }


def page_record(page, frame_options):
    record = {
        "rows": [plain(row.model_dump()) for row in page.results],
        "next": link(page.next),
        "previous": link(page.previous),
        "exc_type": page.exc_type,
        "failed_message": (page.exc_formatted or "").strip().splitlines()[-1:],
    }
    for key, options in frame_options.items():
        record[key] = frame_record(page.to_pandas(**options))
    return record


def run(base_url, secret, plan, frame_options):
    creds = Credentials(token=secret)
    clients = {}
    out = {"pandas": pandas.__version__}
    for call in plan:
        workspace = call["workspace"]
        if workspace not in clients:
            clients[workspace] = Dials(creds, workspace=workspace, base_url=base_url)
        resource = getattr(clients[workspace], call["route"])
        kind = call["kind"]
        if kind == "get":
            out[call["name"]] = plain(resource.get(*call["keys"]).model_dump())
            continue
        if kind == "mes":
            out[call["name"]] = [plain(row.model_dump()) for row in resource.list()]
            continue
        chosen = getattr(filters, call["filters"])(**call.get("values", {}))
        if kind == "list":
            page = resource.list(chosen)
            out[call["name"]] = page_record(page, frame_options)
            if call.get("follow") and page.next is not None:
                # The 2.4.1 idiom: the cursor from the next link, for the second page.
                token = dict(page.next.query_params())["next_token"]
                chosen.next_token = token
                second = resource.list(chosen)
                out[call["name"] + "/2"] = page_record(second, frame_options)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 2.4.1 warns on keep_failed results
                page = resource.list_all(chosen, **call.get("options", {}))
            out[call["name"]] = page_record(page, frame_options)
    return out


if __name__ == "__main__":
    base_url, secret, plan_path, out_path = sys.argv[1:5]
    with open(plan_path) as file:
        plan = __import__("json").load(file)
    result = run(base_url, secret, plan, {"frame": {}})
    with open(out_path, "wb") as file:
        pickle.dump(result, file, protocol=4)
'''

J = {"workspace": "jetmet"}
TH2 = {"me__regex": "PXBarrel", "ls_number": 78}

#: The calls compared: every route of the jetmet workspace (and th2 of the tracker: jetmet
#: has no th2 rows), list() (with the second page), list_all(max_pages), get().
PLAN: list[dict[str, Any]] = [
    {**J, "name": "dataset_index", "route": "dataset_index", "kind": "list_all",
     "filters": "DatasetIndexFilters"},
    {**J, "name": "file_index", "route": "file_index", "kind": "list",
     "filters": "FileIndexFilters", "values": {"page_size": 4}, "follow": True},
    {**J, "name": "file_index_all", "route": "file_index", "kind": "list_all",
     "filters": "FileIndexFilters", "values": {"page_size": 3}, "options": {"max_pages": 2}},
    {**J, "name": "run", "route": "run", "kind": "list_all", "filters": "RunFilters",
     "values": {"page_size": 1}, "options": {"max_pages": 3}},
    {**J, "name": "lumi", "route": "lumi", "kind": "list", "filters": "LumisectionFilters",
     "values": {"run_number": JETMET_RUNS[0], "page_size": 5}, "follow": True},
    {**J, "name": "h1d", "route": "h1d", "kind": "list",
     "filters": "LumisectionHistogram1DFilters",
     "values": {"dataset_id": JETMET_DATASET, "page_size": 7}, "follow": True},
    {**J, "name": "h1d_all", "route": "h1d", "kind": "list_all",
     "filters": "LumisectionHistogram1DFilters",
     "values": {"run_number": JETMET_RUNS[1], "me_id": 3, "page_size": 20},
     "options": {"max_pages": 3}},
    {**J, "name": "h2d_jetmet", "route": "h2d", "kind": "list",
     "filters": "LumisectionHistogram2DFilters", "values": {"page_size": 5}},
    {"workspace": "tracker", "name": "h2d", "route": "h2d", "kind": "list",
     "filters": "LumisectionHistogram2DFilters", "values": {**TH2, "page_size": 6},
     "follow": True},
    {"workspace": "tracker", "name": "h2d_all", "route": "h2d", "kind": "list_all",
     "filters": "LumisectionHistogram2DFilters", "values": {**TH2, "page_size": 10},
     "options": {"max_pages": 2}},
    {**J, "name": "ml_models_index", "route": "ml_models_index", "kind": "list_all",
     "filters": "MLModelsIndexFilters", "values": {"page_size": 6}},
    {**J, "name": "ml_bad_lumis", "route": "ml_bad_lumis", "kind": "list_all",
     "filters": "MLBadLumisectionFilters", "values": {"page_size": 5},
     "options": {"max_pages": 3}},
    {**J, "name": "mes", "route": "mes", "kind": "mes"},
    {**J, "name": "get_file", "route": "file_index", "kind": "get", "keys": "file_index"},
    {**J, "name": "get_run", "route": "run", "kind": "get", "keys": "run"},
    {**J, "name": "get_lumi", "route": "lumi", "kind": "get", "keys": "lumi"},
    {**J, "name": "get_h1d", "route": "h1d", "kind": "get", "keys": "h1d"},
    {"workspace": "tracker", "name": "get_h2d", "route": "h2d", "kind": "get", "keys": "h2d"},
    {**J, "name": "get_ml_model", "route": "ml_models_index", "kind": "get", "keys": [1]},
    {**J, "name": "get_ml_bad_lumi", "route": "ml_bad_lumis", "kind": "get",
     "keys": "ml_bad_lumis"},
    {**J, "name": "get_me", "route": "mes", "kind": "get", "keys": [1]},
]  # fmt: skip

#: Key fields of the ``get`` calls, taken from the first row of a listing.
GET_KEYS = {
    "file_index": ("file_index", ("dataset_id", "file_id")),
    "run": ("run", ("dataset_id", "run_number")),
    "lumi": ("lumi", ("dataset_id", "run_number", "ls_number")),
    "h1d": ("h1d", ("dataset_id", "run_number", "ls_number", "me_id")),
    "h2d": ("h2d", ("dataset_id", "run_number", "ls_number", "me_id")),
    "ml_bad_lumis": ("ml_bad_lumis", ("model_id", "dataset_id", "run_number", "ls_number")),
}

#: A walk broken by the server on its 3rd request, not retried: kept pages and exc_type.
FAILED_PLAN: list[dict[str, Any]] = [
    {**J, "name": "failed", "route": "h1d", "kind": "list_all",
     "filters": "LumisectionHistogram1DFilters",
     "values": {"run_number": JETMET_RUNS[1], "me_id": 3, "page_size": 10},
     "options": {"keep_failed": True, "retries": 0}},
]  # fmt: skip


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "parity_script.py"
    path.write_text(SCRIPT)
    return path


def _incumbent(python: Path, server: LocalServer, plan: list[dict[str, Any]], tmp: Path) -> Any:
    plan_path, out_path = tmp / "plan.json", tmp / "incumbent.pickle"
    plan_path.write_text(json.dumps(plan))
    done = subprocess.run(
        [str(python), str(_script(tmp)), server.base_url, server.secret_key, str(plan_path),
         str(out_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp,
        env=incumbent.clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    with out_path.open("rb") as file:
        return pickle.load(file)


def _ours(server: LocalServer, plan: list[dict[str, Any]]) -> Any:
    namespace: dict[str, Any] = {"__name__": "parity_script"}
    exec(compile(SCRIPT, "parity_script", "exec"), namespace)
    options = {"frame": {}, "frame_list": {"data_as": "list"}}
    return namespace["run"](server.base_url, server.secret_key, plan, options)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(a: Any, b: Any, loose: bool = False) -> bool:
    """Equality with NaN equal to NaN (missing floats in frames).

    ``loose``: frames of different pandas major versions, where a missing string is
    ``None`` (object column, pandas < 3) or NaN (``str`` column, pandas 3).
    """
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if loose and _missing(a) and _missing(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, loose) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], loose) for k in a)
    return bool(a == b) and type(a) is type(b)


def _dtype(name: str, same_pandas: bool) -> str:
    """A dtype as compared: exact with the same pandas; across pandas major versions,
    string columns (``str`` from pandas 3, ``object`` before) and datetime units differ
    by pandas alone, not by the client."""
    if same_pandas:
        return name
    if name in ("str", "string", "object"):
        return "object-or-str"
    if name.startswith("datetime64["):
        return "datetime64[" + name.split(",", 1)[-1] if "," in name else "datetime64"
    return name


def _rows_equal(theirs: list[dict[str, Any]], ours: list[dict[str, Any]], where: str) -> None:
    assert len(ours) == len(theirs), where
    for k, (their_row, our_row) in enumerate(zip(theirs, ours)):
        # Our models may carry fields 2.4.1's lack (ML routes, after its fields).
        assert set(their_row) <= set(our_row), f"{where} row {k}: missing fields"
        for name, value in their_row.items():
            assert _same_value(value, our_row[name]), f"{where} row {k} {name}"


def _same_value(theirs: Any, ours: Any) -> bool:
    # 2.4.1 declares x_bin/y_bin as float in its models (the server sends integers): the
    # dumps then differ in type only (docs/client.md).
    if isinstance(theirs, float) and isinstance(ours, int) and not isinstance(ours, bool):
        return float(ours) == theirs
    return _same(theirs, ours)


def _frames_equal(
    theirs: dict[str, Any], ours: dict[str, Any], same_pandas: bool, where: str, exact: bool
) -> None:
    names = theirs["columns"]
    if not names:  # 2.4.1's frame of no rows has no columns; ours keeps them
        assert ours["values"] == {} or all(v == [] for v in ours["values"].values()), where
        return
    assert ours["columns"][: len(names)] == names, f"{where}: 2.4.1's columns first, in order"
    dtypes = dict(zip(ours["columns"], ours["dtypes"]))
    for name, dtype in zip(names, theirs["dtypes"]):
        assert _dtype(dtypes[name], same_pandas) == _dtype(dtype, same_pandas), (where, name)
        if name == "data" and not exact:
            assert ours["values"][name] == theirs["values"][name], (where, name)  # as lists
        else:
            loose = not same_pandas and _dtype(dtype, False) == "object-or-str"
            assert _same(theirs["values"][name], ours["values"][name], loose), (where, name)
    if exact:
        assert ours["cell"] == theirs["cell"], where


@pytest.fixture(scope="module")
def incumbent_python() -> Path:
    return incumbent.incumbent_python(("pandas",))


@pytest.fixture(scope="module")
def plan(server: LocalServer) -> list[dict[str, Any]]:
    """:data:`PLAN` with the ``get`` keys of rows that exist (read with our client)."""
    found = _ours(server, [c for c in PLAN if c["name"] in {k for k, _ in GET_KEYS.values()}])
    calls = []
    for call in PLAN:
        if isinstance(call.get("keys"), str):
            source, fields = GET_KEYS[call["keys"]]
            row = found[source]["rows"][0]
            call = {**call, "keys": [row[name] for name in fields]}
        calls.append(call)
    return calls


@pytest.fixture(scope="module")
def both(
    incumbent_python: Path,
    server: LocalServer,
    plan: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], dict[str, Any]]:
    theirs = _incumbent(incumbent_python, server, plan, tmp_path_factory.mktemp("incumbent"))
    return theirs, _ours(server, plan)


@pytest.mark.parametrize("call", [c["name"] for c in PLAN if c["kind"] in ("list", "list_all")])
def test_pages_and_frames_equal(both: tuple[dict[str, Any], dict[str, Any]], call: str) -> None:
    theirs, ours = both
    same_pandas = theirs["pandas"].split(".")[0] == ours["pandas"].split(".")[0]
    names = [call, call + "/2"] if call + "/2" in theirs else [call]
    assert (call + "/2" in ours) == (len(names) == 2)
    for name in names:
        their_page, our_page = theirs[name], ours[name]
        _rows_equal(their_page["rows"], our_page["rows"], name)
        assert our_page["next"] == their_page["next"], f"{name}: next"
        assert our_page["previous"] == their_page["previous"], f"{name}: previous"
        assert our_page["exc_type"] == their_page["exc_type"] is None
        # The default frame: 2.4.1's columns, dtypes and values (data cells as lists).
        _frames_equal(their_page["frame"], our_page["frame"], same_pandas, name, exact=False)
        # data_as="list": 2.4.1's cells exactly (lists of Python floats).
        _frames_equal(their_page["frame"], our_page["frame_list"], same_pandas, name, True)


def test_the_plan_reads_data(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The comparisons above are not vacuous: rows, second pages and links exist."""
    theirs, _ = both
    for name in ("h1d", "h2d", "lumi", "file_index"):
        assert theirs[name]["rows"] and theirs[name]["next"] is not None, name
        assert theirs[name + "/2"]["previous"] is not None, name
        assert theirs[name]["next"]["anyurl"] and theirs[name]["next"]["token"], name
    for name in ("h1d_all", "run", "file_index_all", "ml_bad_lumis"):
        assert theirs[name]["next"] is not None, f"{name}: stopped by max_pages"
    assert theirs["h2d"]["frame"]["cell"] == "list[list[float]]"
    assert theirs["h1d"]["frame"]["cell"] == "list[float]"
    assert theirs["h2d_jetmet"]["rows"] == []
    # Our extra ML columns are real fields the server sends, after 2.4.1's.
    _, ours = both
    models = ours["ml_models_index"]["frame"]
    assert models["columns"][-3:] == ["model_id", "filename", "target_me"]
    assert all(v is not None for v in models["values"]["filename"])
    flags = ours["ml_bad_lumis"]["frame"]
    assert flags["columns"][-3:] == ["file_id", "me_id", "mse"]
    assert flags["values"]["mse"] == flags["values"]["metric_value"]


@pytest.mark.parametrize("call", [c["name"] for c in PLAN if c["kind"] in ("get", "mes")])
def test_gets_and_mes_equal(both: tuple[dict[str, Any], dict[str, Any]], call: str) -> None:
    theirs, ours = both
    their_rows, our_rows = theirs[call], ours[call]
    if isinstance(their_rows, dict):
        their_rows, our_rows = [their_rows], [our_rows]
    assert their_rows
    _rows_equal(their_rows, our_rows, call)


def test_keep_failed_reports_what_the_incumbent_reports(
    incumbent_python: Path, server: LocalServer, faults: Any, tmp_path: Path
) -> None:
    """A walk broken on its 3rd request (no retries) keeps two pages in both clients and
    reports the same ``exc_type``: 2.4.1's ``requests.HTTPError`` name."""
    faults("503@3x1")
    theirs = _incumbent(incumbent_python, server, FAILED_PLAN, tmp_path)["failed"]
    faults("503@3x1")  # counters restart
    ours = _ours(server, FAILED_PLAN)["failed"]
    assert theirs["exc_type"] == ours["exc_type"] == "HTTPError"
    assert len(theirs["rows"]) == 20
    _rows_equal(theirs["rows"], ours["rows"], "failed")
    assert ours["next"] == theirs["next"] and ours["next"] is not None
    assert "503 Server Error" in theirs["failed_message"][0]
    assert "503 Server Error" in ours["failed_message"][0]
