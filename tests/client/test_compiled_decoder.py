"""The compiled page scanner (``cmsdials._speedups``) against the reference path.

The scanner is a fast path: for every page it takes, its columns must be bit for bit
those of the pysimdjson path (the reference where numpy is installed, itself checked
against pydantic in test_fast_decode.py); every page it does not read exactly like the
reference must be declined (``None``), never misread, and no input may crash it.

* generated pages in the scanner's domain (any key order, whitespace, unknown keys,
  numbers written every way JSON allows, extreme floats, non-ASCII names): taken, and
  equal to the reference;
* the same pages with random bytes changed, inserted or removed: read alike with and
  without the scanner (the same columns, or the same kind of error);
* each case the scanner declines by design, with the exact input, and every prefix of a
  page.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cmsdials._columns import HistogramColumns
from cmsdials._decode import Head, _scan_histogram_page, decode_histogram_page, page_decoder
from cmsdials._layout import LAYOUT_1D, LAYOUT_2D
from cmsdials.clients.h1d.models import PaginatedLumisectionHistogram1DList as Page1D
from cmsdials.clients.h2d.models import PaginatedLumisectionHistogram2DList as Page2D
from cmsdials.errors import ResponseDecodeError, ResponseFormatError

scan_page: Any
try:
    from cmsdials._speedups import scan_page
except ImportError:  # pragma: no cover - reported by test_the_scanner_is_built
    scan_page = None

LAYOUTS = {1: LAYOUT_1D, 2: LAYOUT_2D}


def test_the_scanner_is_built() -> None:
    """The README's install compiles it (setup.py); without it every test here is moot."""
    assert scan_page is not None, "cmsdials._speedups was not compiled (is a C compiler there?)"


PAGES: dict[int, Any] = {1: Page1D, 2: Page2D}


def _read(body: bytes, dims: int, compiled: bool) -> tuple[Head, HistogramColumns] | str:
    """The page as the client's page decoder reads it, with or without the scanner (then
    pysimdjson, or pydantic for what pysimdjson refuses); the error's type if it refuses."""
    previous = os.environ.get("CMSDIALS_SPEEDUPS")
    os.environ["CMSDIALS_SPEEDUPS"] = "1" if compiled else "0"
    try:
        page: Any = page_decoder(PAGES[dims])(body)
    except (ResponseDecodeError, ResponseFormatError, ValidationError) as exc:
        return type(exc).__name__
    finally:
        if previous is None:
            del os.environ["CMSDIALS_SPEEDUPS"]
        else:
            os.environ["CMSDIALS_SPEEDUPS"] = previous
    links = (None if link is None else str(link) for link in (page.next, page.previous))
    return Head(*links), page.histogram_columns()


def _outcome(read: tuple[Head, HistogramColumns] | str) -> Any:
    return read if isinstance(read, str) else _bits(read)


def _bits(page: tuple[Head, HistogramColumns]) -> Any:
    """Everything a page holds, comparable bit for bit (dtypes included)."""
    head, columns = page
    numeric = {
        name: (column.dtype.str, column.tobytes())
        for name, column in columns.columns.items()
        if not isinstance(column, list)
    }
    strings = {name: c for name, c in columns.columns.items() if isinstance(c, list)}
    return head, numeric, strings, columns.values.dtype.str, columns.values.tobytes()


# ----------------------------------------------------------------- generated pages


def _number_texts(value: float) -> st.SearchStrategy[str]:
    """The ways JSON can write ``value`` exactly or nearly (each is read exactly)."""
    texts = [repr(value), f"{value:.17g}", f"{value:.3e}", f"{value:.20E}"]
    if value == int(value) and abs(value) < 1e18:
        texts.append(str(int(value)))
    return st.sampled_from([t for t in texts if math.isfinite(float(t))])  # 1.798e+308


finite = st.floats(allow_nan=False, allow_infinity=False)
interesting = st.sampled_from(
    [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1e22, 1e23,
     9007199254740993.0, 123456789012345678.0, 8.0, 1878.0, 0.30000000000000004]
)  # fmt: skip
number_text = st.one_of(finite, interesting, st.integers(-(10**6), 10**6).map(float)).flatmap(
    _number_texts
)
name_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'),
    min_size=0,
    max_size=12,
)
plain_ascii = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters='"\\'),
    max_size=8,
)
json_extra = st.recursive(
    st.one_of(
        st.sampled_from(["null", "true", "false"]),
        st.integers(-(10**30), 10**30).map(str),
        finite.map(repr),
        plain_ascii.map(lambda t: f'"{t}"'),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        st.dictionaries(plain_ascii, inner, max_size=3).map(
            lambda d: "{" + ",".join(f'"{k}":{v}' for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=6,
)


@st.composite
def pages(draw: st.DrawFn, dims: int) -> bytes:
    """A page in the scanner's domain, written the many ways JSON allows."""
    layout = LAYOUTS[dims]
    space = draw(st.sampled_from(["", " ", "\n  ", "\t\r\n"]))

    def obj(pairs: list[tuple[str, str]]) -> str:
        pairs = draw(st.permutations(pairs))
        extra = draw(st.dictionaries(plain_ascii, json_extra, max_size=2))
        pairs += [(f"x-{key}", value) for key, value in extra.items()]
        inner = f",{space}".join(f'{space}"{key}"{space}:{space}{value}' for key, value in pairs)
        return "{" + inner + space + "}"

    rows = []
    names = draw(st.lists(name_text, min_size=1, max_size=3))
    for _ in range(draw(st.integers(0, 5))):
        x_bin = draw(st.integers(0, 6))
        y_bin = draw(st.integers(0, 3)) if dims == 2 else 1
        bins = [draw(number_text) for _ in range(x_bin * y_bin)]
        if dims == 1:
            data = "[" + f",{space}".join(bins) + "]"
        else:
            lines = [bins[i * x_bin : (i + 1) * x_bin] for i in range(y_bin)]
            data = "[" + ",".join("[" + f",{space}".join(line) + "]" for line in lines) + "]"
        fields = {name: str(draw(st.integers(-(2**63), 2**63 - 1))) for name in layout.ints}
        fields["x_bin"] = str(x_bin)
        if dims == 2:
            fields["y_bin"] = str(y_bin)
        fields.update({name: draw(number_text) for name in layout.floats})
        fields.update({name: '"' + draw(st.sampled_from(names)) + '"' for name in layout.strings})
        fields["data"] = data
        rows.append(obj(list(fields.items())))
    link = draw(st.sampled_from(["null", '"http://h/api/v1/th1/?next_token=a%3D&page_size=5"']))
    results = "[" + f",{space}".join(rows) + space + "]"
    page = obj([("next", link), ("previous", "null"), ("results", results)])
    return (space + page + space).encode()


#: The same examples on every run (CI stays deterministic); CMSDIALS_FUZZ_EXAMPLES=N runs N
#: fresh random ones instead, to search further.
_FRESH = os.environ.get("CMSDIALS_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_FRESH) if _FRESH else 300,
    derandomize=not _FRESH,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("dims", [1, 2])
@FUZZ
@given(data=st.data())
def test_generated_pages_are_taken_and_read_like_the_reference(dims: int, data: Any) -> None:
    body = data.draw(pages(dims))
    want = _read(body, dims, compiled=False)
    assert not isinstance(want, str), (want, body)
    got = _scan_histogram_page(body, LAYOUTS[dims])
    assert got is not None, body
    assert _bits(got) == _bits(want)
    assert _outcome(_read(body, dims, compiled=True)) == _bits(want)


@st.composite
def mutated(draw: st.DrawFn, dims: int) -> bytes:
    body = bytearray(draw(pages(dims)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(body)))
        what = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(list(b'{}[],:"\\-+.eE0123456789 nlu\x00\xc3\xff')))
        if what == "insert" or where == len(body):
            body[where:where] = bytes([byte])
        elif what == "replace":
            body[where] = byte
        else:
            del body[where]
    return bytes(body)


@pytest.mark.parametrize("dims", [1, 2])
@FUZZ
@given(data=st.data())
def test_damaged_pages_are_declined_or_read_like_the_reference(dims: int, data: Any) -> None:
    """Whatever the bytes, the client reads them alike with and without the scanner (the
    same columns, or the same kind of error); what the scanner takes, it reads exactly."""
    body = data.draw(mutated(dims))
    want = _read(body, dims, compiled=False)
    assert _outcome(_read(body, dims, compiled=True)) == _outcome(want), body
    got = _scan_histogram_page(body, LAYOUTS[dims])
    if got is not None and not isinstance(want, str):
        # The rows; the links as sent (the page model normalises URLs, on both paths).
        assert _bits(got)[1:] == _bits(want)[1:]


# ----------------------------------------------------------------- exact inputs

ROW = (
    '{"dataset_id":1,"dataset":%(dataset)s,"me":"m","file_id":2,"run_number":3,'
    '"ls_number":4,"me_id":5,"x_min":%(x_min)s,"x_max":1.0,"x_bin":%(x_bin)s,'
    '"entries":%(entries)s,"data":[%(data)s]%(extra)s}'
)


def _page(head: str = '"next":null,"previous":null', **row: str) -> bytes:
    values = {"dataset": '"/A/B/C"', "x_min": "0.0", "x_bin": "2", "entries": "7",
              "data": "1.5,2", "extra": ""}  # fmt: skip
    values.update(row)
    return ("{" + head + ',"results":[' + ROW % values + "]}").encode()


def test_a_plain_page_is_taken() -> None:
    got = _scan_histogram_page(_page(), LAYOUT_1D)
    assert got is not None
    head, columns = got
    assert head == Head(None, None)
    assert columns.values.tolist() == [1.5, 2.0]
    assert columns.columns["entries"].tolist() == [7]
    assert columns.columns["dataset"] == ["/A/B/C"]


@pytest.mark.parametrize(
    "body",
    [
        _page(dataset=r'"/A\"/B/C"'),  # an escape in a name
        _page().replace(b"/A/B/C", b"/A/\xff/C"),  # not UTF-8
        _page(data="NaN,1"),
        _page(data="Infinity,1"),
        _page(data="1e999,1"),
        _page(data="null,1"),
        _page(data='"1",2'),
        _page(data="1,2,3"),  # three bins for x_bin 2
        _page(x_bin="2.0"),  # read by the reference path (an integral double)
        _page(x_bin="-1", data=""),
        _page(entries="null"),
        _page(entries="9223372036854775808"),  # beyond int64
        _page(x_min="true"),
        _page(extra=',"entries":8'),  # a duplicate key
        _page(extra=',"x-extra":' + "[" * 20 + "]" * 20),  # nested too deep to skip
        _page(extra=',"x-extra":"caf\xc3\xa9"'),  # non-ASCII in a skipped string
        _page(extra=',"x-extra":"a\\nb"'),  # an escape in a skipped string
        _page(data="01,2"),
        _page(data="1.,2"),
        _page(data="-,2"),
        _page(data="1e,2"),
        _page(data=".5,2"),
        _page(data="+1,2"),
        _page(data="1,2,"),
        _page(head='"next":null'),  # no previous
        _page(head='"next":null,"previous":null,"next":null'),
        _page() + b"x",
        _page() + b"{}",
        b"",
        b"[]",
        b"null",
        ROW.encode(),
    ],
)
def test_declined(body: bytes) -> None:
    assert _scan_histogram_page(body, LAYOUT_1D) is None


def test_every_prefix_is_declined() -> None:
    body = _page(data="1.25,-3e-7", extra=',"x-extra":{"a":[1,true,null,"s"]}')
    assert _scan_histogram_page(body, LAYOUT_1D) is not None
    for end in range(len(body)):
        assert _scan_histogram_page(body[:end], LAYOUT_1D) is None, body[:end]


def test_a_ragged_map_is_declined_and_the_reference_words_the_error() -> None:
    row = (
        '{"dataset_id":1,"dataset":"d","me":"m","file_id":2,"run_number":3,"ls_number":4,'
        '"me_id":5,"x_min":0,"x_max":1,"x_bin":2,"y_min":0,"y_max":1,"y_bin":2,'
        '"entries":1,"data":[[1,2],[3]]}'
    )
    body = ('{"next":null,"previous":null,"results":[' + row + "]}").encode()
    assert _scan_histogram_page(body, LAYOUT_2D) is None
    with pytest.raises(ResponseFormatError, match="row 0"):
        decode_histogram_page(body, LAYOUT_2D)


@pytest.mark.parametrize(
    "text",
    ["0.1", "1e23", "9007199254740993", "2.2250738585072011e-308", "4.9e-324", "1e-400",
     "-0", "-0.0", "123456789012345678901234567890", "0.000001234567890123456789",
     "1.7976931348623157e308", "7.2057594037927933e16", "1" + "0" * 400 + "e-400"],
)  # fmt: skip
def test_numbers_are_read_as_json_loads_reads_them(text: str) -> None:
    """Correctly rounded; a JSON integer is an integer ("-0" is 0, not -0.0)."""
    got = _scan_histogram_page(_page(x_min=text, data="0,0"), LAYOUT_1D)
    assert got is not None
    want = float(json.loads(text))
    assert struct.pack("<d", got[1].columns["x_min"][0]) == struct.pack("<d", want)


def test_integers_keep_every_digit() -> None:
    for text in ("9223372036854775807", "-9223372036854775808", "-0", "0"):
        got = _scan_histogram_page(_page(entries=text), LAYOUT_1D)
        assert got is not None
        assert got[1].columns["entries"].tolist() == [int(text)]


def test_a_large_page_grows_its_buffers() -> None:
    """More bins than the first guess from the body's size (one-digit numbers, no space)."""
    count = 200_000
    body = _page(x_bin=str(count), data=",".join(["1"] * count))
    got = _scan_histogram_page(body, LAYOUT_1D)
    assert got is not None
    assert len(got[1].values) == count and math.fsum(got[1].values) == count


def test_bad_arguments_are_errors() -> None:
    assert scan_page is not None
    with pytest.raises(ValueError, match="dims"):
        scan_page(b"{}", 3, ("x_bin",), (), ())
    with pytest.raises(ValueError, match="x_bin"):
        scan_page(b"{}", 1, ("entries",), (), ())
    with pytest.raises(TypeError):
        scan_page(b"{}", 1, ["x_bin"], (), ())
    with pytest.raises(TypeError):
        scan_page("{}", 1, ("x_bin",), (), ())


def test_the_decoder_falls_back_for_declined_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page the scanner declines is still read (here by the plain path: NaN)."""
    monkeypatch.setenv("CMSDIALS_SPEEDUPS", "1")
    body = _page(data="NaN,1")
    assert _scan_histogram_page(body, LAYOUT_1D) is None
    page = page_decoder(Page1D)(body)
    assert math.isnan(page.results[0].data[0]) and page.results[0].data[1] == 1.0
