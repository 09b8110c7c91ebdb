"""The fast th1/th2 read paths read exactly what the plain path (pydantic row models, what
a client without numpy gets) reads from the same bytes: the compiled scanner
(``cmsdials._speedups``, the default where it was built) and pysimdjson -> columns (where
it was not, and for every page the scanner declines).  Every test runs with each.

Rows with awkward values (extreme floats, -0.0, names with non-ASCII characters, quotes,
backslashes and tabs, several binnings and datasets in one page) are ingested into a real
dials-local and read over HTTP both ways; hand-written page bodies cover what the server
never sends (NaN, Infinity, 1e999, cut-off bodies, wrong shapes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import requests

from cmsdials import Dials
from cmsdials._decode import _scan_histogram_page, compiled_decoder_enabled, page_decoder
from cmsdials._layout import LAYOUT_1D, LAYOUT_2D
from cmsdials.auth.secret_key import Credentials
from cmsdials.clients.h1d.models import PaginatedLumisectionHistogram1DList as Page1D
from cmsdials.clients.h2d.models import PaginatedLumisectionHistogram2DList as Page2D
from cmsdials.errors import ResponseDecodeError, ResponseFormatError
from cmsdials.filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters
from dials_local.data.ingest import ingest
from dials_local.db.engines import Database
from dials_local.testing import SECRET_HEADER, LocalServer

PLAIN = "/MyPD/Run2024X-MyReco-v3/DQMIO"
ODD = '/Zéro"Bias\\Ünï 😀/Run2024Y-Re\tco-v1/DQMIO'  # quote, backslash, tab, non-BMP
DATASETS = [{"dataset_id": 99000001, "dataset": PLAIN}, {"dataset_id": 99000002, "dataset": ODD}]
FILES = [
    {
        "dataset_id": dataset_id,
        "file_id": file_id,
        "file_size": 5000,
        "creation_date": "2024-11-01T00:00:00Z",
        "last_modification_date": "2024-11-01T00:00:00Z",
        "logical_file_name": f"/store/data/Run2024X/MyPD/DQMIO/MyReco-v3/000/{file_id}.root",
        "status": "FINISHED",
        "err_trace": None,
    }
    for dataset_id, file_id in ((99000001, 17000000037), (99000002, 17000000038))
]
NAMES = {d["dataset_id"]: d["dataset"] for d in DATASETS}
FILE_OF = {99000001: 17000000037, 99000002: 17000000038}
#: Values whose text round trip is easy to get wrong (sign of zero, subnormals, extremes).
EXTREMES = [1e308, 5e-324, -0.0, 1e-05, 0.1 + 0.2, -1.7976931348623157e308, 2.2250738585072014e-308]
TH1_MES = {"My/Folder/counts": 3, 'My/Ünï "q" \\ back/slash\t': 5}
TH2_MES = {"My/map a": (2, 3), "My/map é": (3, 2)}


@pytest.fixture(autouse=True, params=["compiled", "pysimdjson"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which fast path decodes th1/th2 pages (``CMSDIALS_SPEEDUPS``, read per page)."""
    monkeypatch.setenv("CMSDIALS_SPEEDUPS", "1" if request.param == "compiled" else "0")
    # The README's install compiles the scanner (setup.py): a missing one is a failure here.
    assert compiled_decoder_enabled() == (request.param == "compiled")
    return str(request.param)


def _values(count: int, seed: int) -> list[float]:
    """``count`` bin contents, cycling through :data:`EXTREMES` from ``seed``."""
    return [EXTREMES[(seed + i) % len(EXTREMES)] * (1 if i % 2 else -1) for i in range(count)]


def _th1_rows() -> list[dict[str, Any]]:
    rows = []
    for ls in (1, 2, 3, 4):
        for dataset_id in FILE_OF:
            for n, (me, bins) in enumerate(TH1_MES.items()):
                rows.append(
                    {
                        "dataset_id": dataset_id,
                        "dataset": NAMES[dataset_id],
                        "me": me,
                        "file_id": FILE_OF[dataset_id],
                        "run_number": 390000,
                        "ls_number": ls,
                        "x_min": -1.5,
                        "x_max": 1e300,
                        "x_bin": bins,
                        "entries": 2**40 + ls,
                        "data": _values(bins, ls + n),
                    }
                )
    return rows


def _th2_rows() -> list[dict[str, Any]]:
    rows = []
    for ls in (1, 2, 3):
        for dataset_id in FILE_OF:
            for n, (me, (y_bin, x_bin)) in enumerate(TH2_MES.items()):
                flat = _values(y_bin * x_bin, ls * 3 + n)
                rows.append(
                    {
                        "dataset_id": dataset_id,
                        "me": me,
                        "file_id": FILE_OF[dataset_id],
                        "run_number": 390000,
                        "ls_number": ls,
                        "x_min": 0.0,
                        "x_max": 0.30000000000000004,
                        "x_bin": x_bin,
                        "y_min": -5e-324,
                        "y_max": 2.0,
                        "y_bin": y_bin,
                        "entries": ls,
                        "data": [flat[i * x_bin : (i + 1) * x_bin] for i in range(y_bin)],
                    }
                )
    return rows


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


@pytest.fixture(scope="module")
def odd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A dials-local serving only the rows above (workspace ``tracker``)."""
    root = tmp_path_factory.mktemp("fast_decode")
    database = Database(data_dir=root / "data")
    try:
        for table, records in (
            ("dataset-index", DATASETS),
            ("file-index", FILES),
            ("th1", _th1_rows()),
            ("th2", _th2_rows()),
        ):
            assert ingest(database, "tracker", table, _write(root / f"{table}.jsonl", records))
    finally:
        database.dispose()
    with LocalServer(root / "data", in_thread=True) as server:
        yield server


def _raw_pages(server: LocalServer, route: str, page_size: int) -> list[bytes]:
    """Every page body of ``route``, fetched with plain requests (no cmsdials code)."""
    session = requests.Session()
    session.headers.update({SECRET_HEADER: server.secret_key, "Workspace": "tracker"})
    url: str | None = f"{server.api_url}{route}/?page_size={page_size}"
    bodies = []
    while url is not None:
        response = session.get(url, timeout=30)
        response.raise_for_status()
        bodies.append(response.content)
        url = orjson.loads(response.content)["next"]
    return bodies


def _exact(value: Any) -> str:
    """A text that tells -0.0 from 0.0 and every float bit pattern apart."""
    return repr(value)


def _cell(value: Any) -> Any:
    """A data cell of a DataFrame as (type, shape, bytes), nested lists element-wise."""
    if isinstance(value, list):
        return ("list", [_cell(item) for item in value])
    return (type(value).__name__, value.shape, value.dtype.str, value.tobytes())


@pytest.mark.parametrize(
    ("route", "page_model", "filters"),
    [
        ("th1", Page1D, LumisectionHistogram1DFilters),
        ("th2", Page2D, LumisectionHistogram2DFilters),
    ],
)
def test_http_reads_agree_with_the_plain_path(
    odd_server: LocalServer, route: str, page_model: Any, filters: Any
) -> None:
    page_size = 3  # pages that mix MEs, binnings and datasets
    bodies = _raw_pages(odd_server, route, page_size)
    assert len(bodies) > 2
    # The scanner takes exactly the pages whose strings have no escapes (the others go
    # to pysimdjson): both kinds are among these pages.
    layout = LAYOUT_1D if route == "th1" else LAYOUT_2D
    taken = [_scan_histogram_page(body, layout) is not None for body in bodies]
    assert taken == [b"\\" not in body for body in bodies]
    if route == "th2":
        assert any(taken) and not all(taken)
    plain = [row for body in bodies for row in page_model.from_json(body).results]
    assert len(plain) == len(_th1_rows() if route == "th1" else _th2_rows())
    assert {row.dataset for row in plain} == {PLAIN, ODD}
    by_hand = page_model.from_models(plain, next=None, previous=None)  # columns from models

    creds = Credentials(token=odd_server.secret_key)
    with Dials(creds, workspace="tracker", base_url=odd_server.base_url) as dials:
        resource = dials.h1d if route == "th1" else dials.h2d
        fast = resource.list_all(filters(page_size=page_size), enable_progress=False)
        streamed = resource.stream(filters(page_size=page_size), enable_progress=False)
        stream_arrays = streamed.to_numpy(by_me=True)
        first_page = resource.list(filters(page_size=page_size))

    # .results: every field, every bit of every float (repr tells -0.0 from 0.0)
    assert _exact([row.model_dump() for row in fast.results]) == _exact(
        [row.model_dump() for row in plain]
    )
    assert _exact([row.model_dump() for row in first_page.results]) == _exact(
        [row.model_dump() for row in page_model.from_json(bodies[0]).results]
    )

    # numpy, one array per ME (several binnings): list_all, stream and the models' columns
    arrays = fast.to_numpy(by_me=True)
    expected = by_hand.to_numpy(by_me=True)
    assert isinstance(arrays, dict) and isinstance(expected, dict)
    assert isinstance(stream_arrays, dict)
    assert set(arrays) == set(expected) == set(stream_arrays) == {row.me for row in plain}
    for me, array in arrays.items():
        for other in (expected[me], stream_arrays[me]):
            assert array.data.dtype == other.data.dtype == np.float64
            assert array.data.shape == other.data.shape
            assert array.data.tobytes() == other.data.tobytes()  # bit for bit
            for name in ("dataset_id", "run_number", "ls_number", "me_id", "entries", "file_id"):
                assert getattr(array, name).dtype == getattr(other, name).dtype
                assert getattr(array, name).tolist() == getattr(other, name).tolist()
            assert array.x_edges.tobytes() == other.x_edges.tobytes()
            assert array.dataset_names == other.dataset_names
            assert array.me_names == other.me_names

    # pandas: same columns, dtypes and values (data cells bit for bit)
    frame, want = fast.to_pandas(), by_hand.to_pandas()
    assert list(frame.columns) == list(want.columns)
    assert list(frame.dtypes) == list(want.dtypes)
    for column in frame.columns:
        if column == "data":
            # th2 cells are lists of per-line arrays: compare their types and bits
            assert [_cell(a) for a in frame[column]] == [_cell(b) for b in want[column]]
        else:
            assert _exact(frame[column].tolist()) == _exact(want[column].tolist())

    # Arrow: the same table as the models give
    table, want_table = fast.to_arrow(), by_hand.to_arrow()
    assert table.schema.equals(want_table.schema)
    assert _exact(table.to_pylist()) == _exact(want_table.to_pylist())


# ------------------------------------------------------------------- hand-written bodies

ROW1 = (
    '{"dataset_id":1,"dataset":%s,"me":%s,"file_id":2,"run_number":3,"ls_number":4,'
    '"me_id":5,"x_min":0.0,"x_max":1.0,"x_bin":%s,"entries":7,"data":[%s]}'
)


def _page(*rows: str) -> bytes:
    return ('{"next":null,"previous":null,"results":[' + ",".join(rows) + "]}").encode()


def _row(data: str, bins: str = "2", dataset: str = '"/A/B/C"', me: str = '"m"') -> str:
    return ROW1 % (dataset, me, bins, data)


def _both(body: bytes) -> tuple[Any, Any]:
    """The page decoded by the fast path and by the plain path."""
    return page_decoder(Page1D)(body), Page1D.from_json(body)


@pytest.mark.parametrize(
    "body",
    [
        _page(),
        _page(_row("1e308,5e-324"), _row("-0.0,1e-05"), _row("0.30000000000000004,-5e-324")),
        _page(_row("1,2", bins="2"), _row("1,2,3", bins="3"), _row("", bins="0")),
        _page(_row("1E+2,-2e-2", bins="2.0")),  # a bin count sent as a double
        _page(_row("NaN,1"), _row("Infinity,-Infinity")),  # not JSON, but pydantic reads it
        _page(_row("1e999,-1e999")),  # beyond float64
        _page(
            _row("1,2", dataset=r'"/\u00e9\"q\\/\ud83d\ude00/\t"', me=r'"\u00fc\n\/x"'),
            _row("3,4", dataset='"/é/ü/😀"', me='"m"'),
        ),
        # an integer beyond 64 bits (pysimdjson raised RuntimeError, which escaped)
        _page(_row("1,2")).replace(b'"results"', b'"count":18446744073709551616,"results"'),
    ],
    ids=["empty", "extremes", "shapes", "int-as-float", "nan-inf", "overflow", "strings", "bigint"],
)
def test_hand_written_pages_agree(body: bytes) -> None:
    fast, plain = _both(body)
    assert _exact([r.model_dump() for r in fast.results]) == _exact(
        [r.model_dump() for r in plain.results]
    )
    got, want = fast.histogram_columns(), plain.histogram_columns()
    assert got.values.tobytes() == want.values.tobytes()
    for name, column in want.columns.items():
        assert _exact(list(got.columns[name])) == _exact(list(column)), name
    assert len(fast.to_pandas()) == len(plain.results)


def test_float_bins_are_not_integers() -> None:
    body = _page(_row("1,2", bins="2.5"))
    with pytest.raises(ResponseFormatError, match="x_bin"):
        page_decoder(Page1D)(body)


@pytest.mark.parametrize(
    "value",
    # uint64 for pysimdjson; beyond 64 bits (pydantic reads the page); integral doubles
    ["9223372036854775808", "-9223372036854775809", "92233720368547758e7", "-9.3e18"],
)
def test_integers_beyond_64_bits_are_refused(value: str) -> None:
    body = _page(_row("1,2")).replace(b'"me_id":5', b'"me_id":' + value.encode())
    with pytest.raises(ResponseFormatError, match="me_id"):
        page_decoder(Page1D)(body).histogram_columns()


@pytest.mark.parametrize("data", ["1,2,3", "NaN,1,3"], ids=["parsed", "plain-fallback"])
def test_a_row_of_the_wrong_shape_is_refused(data: str) -> None:
    with pytest.raises(ResponseFormatError, match="row 0 of the page"):
        page_decoder(Page1D)(_page(_row(data, bins="2")))


@pytest.mark.parametrize(
    "body",
    [
        _page(_row("1,2"))[:-5],
        _page(_row("1,2")) + b"x",
        b"",
        _page(_row("1,2")).replace(b"[1", b"[01"),
    ],
    ids=["cut", "trailing", "empty", "leading-zero"],
)
def test_broken_json_is_a_decode_error_on_both_paths(body: bytes) -> None:
    with pytest.raises(ResponseDecodeError):
        page_decoder(Page1D)(body)
    with pytest.raises(Exception) as plain:
        Page1D.from_json(body)
    assert "json_invalid" in str(plain.value) or "Invalid JSON" in str(plain.value)


_IMPORTS = """
import json, sys
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.filters import LumisectionHistogram1DFilters
dials = Dials(Credentials(token=sys.argv[1]), workspace="tracker", base_url=sys.argv[2])
result = dials.h1d.list_all(LumisectionHistogram1DFilters(page_size=5), enable_progress=False)
loaded = {}
for method in sys.argv[3:]:
    getattr(result, method)(**({"by_me": True} if method == "to_numpy" else {}))
    loaded[method] = sorted(m for m in ("pandas", "pyarrow") if m in sys.modules)
print(json.dumps(loaded))
"""


def test_the_numpy_and_arrow_paths_do_not_import_pandas(odd_server: LocalServer) -> None:
    """pandas costs 0.25-0.4 s to import: only ``to_pandas`` pays for it."""
    args = [sys.executable, "-c", _IMPORTS, odd_server.secret_key, odd_server.base_url]
    done = subprocess.run(
        [*args, "to_numpy", "to_arrow"], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == {"to_numpy": [], "to_arrow": ["pyarrow"]}


_WITHOUT_SIMDJSON = """
import json, sys
sys.modules["simdjson"] = None  # as if pysimdjson were not installed
from cmsdials import Dials
from cmsdials.auth.secret_key import Credentials
from cmsdials.filters import LumisectionHistogram1DFilters, LumisectionHistogram2DFilters
dials = Dials(Credentials(token=sys.argv[1]), workspace="tracker", base_url=sys.argv[2])
if sys.argv[3] == "th1":
    result = dials.h1d.list_all(LumisectionHistogram1DFilters(page_size=3), enable_progress=False)
else:
    result = dials.h2d.list_all(LumisectionHistogram2DFilters(page_size=3), enable_progress=False)
arrays = result.to_numpy(by_me=True)
print(json.dumps({
    "columns": result._decoded is not None,
    "arrays": {me: [a.data.tobytes().hex(), a.ls_number.tolist(), a.dataset_names]
               for me, a in sorted(arrays.items())},
}))
"""


@pytest.mark.parametrize("route", ["th1", "th2"])
def test_without_pysimdjson_pages_still_become_columns(odd_server: LocalServer, route: str) -> None:
    """numpy without pysimdjson (``pip install cmsdials[pandas]``): the compiled scanner
    reads the pages it takes, pydantic the others (here those with escaped names), and
    the rows are columns all the same, equal to what a full install reads."""
    args = [sys.executable, "-c", _WITHOUT_SIMDJSON, odd_server.secret_key, odd_server.base_url]
    done = subprocess.run([*args, route], capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(done.stdout)
    creds = Credentials(token=odd_server.secret_key)
    with Dials(creds, workspace="tracker", base_url=odd_server.base_url) as dials:
        resource: Any = dials.h1d if route == "th1" else dials.h2d
        filters = LumisectionHistogram1DFilters if route == "th1" else LumisectionHistogram2DFilters
        arrays = resource.list_all(filters(page_size=3), enable_progress=False).to_numpy(by_me=True)
    assert isinstance(arrays, dict)
    want = {
        me: [a.data.tobytes().hex(), a.ls_number.tolist(), a.dataset_names]
        for me, a in sorted(arrays.items())
    }
    assert got == {"columns": True, "arrays": json.loads(json.dumps(want))}
